"""Engineers' command line: cases, refused input, workflow histories, re-running failed cases, users,
the ledger (commands/ holds every command; `python cli.py --help` lists them, and so does
`makeright --help` in the venv).
"""

from __future__ import annotations

import sys

try:
    from commands import main
except ModuleNotFoundError as missing:  # a Python without makeright's packages (not the venv's)
    raise SystemExit(
        f"makeright: this Python ({sys.executable}) lacks the package {missing.name!r}. "
        "Set up the venv with `make setup`, then run "
        "`.venv/bin/python cli.py …` (or `make run`, `make test`)."
    ) from None

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
