"""Runs the Temporal worker (runtime/worker.py) with the providers the config chooses.

python worker.py
"""

from __future__ import annotations

from config import load_settings
from runtime.startup import guarded
from runtime.worker import serve


def main() -> int:
    return guarded(lambda: serve(load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
