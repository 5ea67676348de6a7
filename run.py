"""`make run`: the whole system on embedded defaults, in one terminal.

Migrates the database, starts the Temporal dev server (unless TEMPORAL_ADDRESS points at one; its state
lives in VAR_DIR so cases survive a restart), the worker and the web app; prints where they listen; stops
everything cleanly on Ctrl-C (runtime/supervisor.py).
"""

from __future__ import annotations

from config import load_settings
from runtime.startup import guarded
from runtime.supervisor import supervise


def main() -> int:
    return guarded(lambda: supervise(load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
