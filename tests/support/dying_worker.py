"""A worker process (settings from the environment, as `python worker.py`) whose one activity hangs, for tests
that SIGKILL a worker mid-activity:

python -m tests.support.dying_worker ACTIVITY_NAME MARKER_FILE

The marker file is written when the hanging activity has started (the moment to kill the process).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from temporalio import activity

from config import load_settings
from dispatch.connection import connect
from runtime.worker import build_worker
from store.db import Store


def hanging(name: str, marker: Path) -> Any:
    @activity.defn(name=name)
    async def hang(argument: Any) -> Any:
        marker.write_text(f"{name} attempt {activity.info().attempt}")
        await asyncio.Event().wait()  # Temporal or the database never answers; the process is killed

    hang.__name__ = name  # the activity's Python name routes it to its provider's queue (worker.build_worker)
    return hang


async def main(name: str, marker: Path) -> None:
    settings = load_settings()
    client = await connect(settings)
    store = Store(settings.database_url)
    await build_worker(client, settings, store, overrides={name: hanging(name, marker)}).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
