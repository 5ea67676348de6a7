"""The one wait of the suite: poll (in real time) until a check is truthy, or fail saying what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    check: Callable[[], Any],
    seconds: float = 20.0,
    what: str = "the condition",
    *,
    interval: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> Any:
    """`check()`'s first truthy value within `seconds`; else an AssertionError naming `what` (and
    `detail()`, a log's tail say). In an async test: `await asyncio.to_thread(wait_for, ...)`, so the
    event loop (a worker on it) keeps running meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            more = f"\n{detail()}" if detail else ""
            raise AssertionError(f"timed out after {seconds}s waiting for {what}{more}")
        time.sleep(interval)
