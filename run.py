"""`make run`: the whole system on embedded defaults, in one terminal.

Migrates the database, starts the Temporal dev server (unless TEMPORAL_ADDRESS points at one; its state
lives in VAR_DIR so cases survive a restart), the worker and the web app; prints where they listen; stops
everything cleanly on Ctrl-C (runtime/supervisor.py).
"""

from __future__ import annotations

import sys

try:
    from config import load_settings
    from runtime.startup import guarded
    from runtime.supervisor import supervise
except ModuleNotFoundError as missing:  # a Python without makeright's packages (not the venv's)
    raise SystemExit(
        f"makeright: this Python ({sys.executable}) lacks the package {missing.name!r}. "
        "Set up the venv with `make setup`, then run "
        "`.venv/bin/python run.py …` (or `make run`, `make test`)."
    ) from None


def main() -> int:
    return guarded(lambda: supervise(load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
