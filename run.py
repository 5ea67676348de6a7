"""`make run`: the whole system on embedded defaults, in one terminal.

Migrates the database, starts the Temporal dev server (unless TEMPORAL_ADDRESS points at one; its state
lives in VAR_DIR so cases survive a restart), the worker and the web app; prints where they listen; stops
everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import signal
from types import FrameType

from config import load_settings
from runtime.startup import guarded, report
from runtime.supervisor import Supervisor
from store.db import migrate


def _run() -> int:
    settings = load_settings()
    settings.key_ring()  # made once in VAR_DIR before the processes that share it start
    migrate(settings.database_url)
    supervisor = Supervisor(settings)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        supervisor.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.start()
    except RuntimeError as exc:
        report(str(exc))
        supervisor.stop()
        return 1
    return supervisor.watch()


def main() -> int:
    return guarded(_run)


if __name__ == "__main__":
    raise SystemExit(main())
