"""Runs the Temporal worker (runtime/worker.py) with the providers the config chooses.

python worker.py
"""

from __future__ import annotations

import sys

try:
    from config import load_settings
    from runtime.startup import guarded
    from runtime.worker import serve
except ModuleNotFoundError as missing:  # a Python without makeright's packages (not the venv's)
    raise SystemExit(
        f"makeright: this Python ({sys.executable}) lacks the package {missing.name!r}. "
        "Set up the venv with `make setup`, then run "
        "`.venv/bin/python worker.py …` (or `make run`, `make test`)."
    ) from None


def main() -> int:
    return guarded(lambda: serve(load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
