"""Shared test helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment


async def at_local(env: WorkflowEnvironment, zone: str, hour: int, minute: int) -> datetime:
    """Move the server's clock on to the next `hour:minute` on the wall clock in `zone`."""
    now = await env.get_current_time()
    local = now.astimezone(ZoneInfo(zone))
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    await env.sleep(target - now)
    return await env.get_current_time()
