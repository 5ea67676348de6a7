"""Engineers' command line: cases, refused input, workflow histories, re-running failed cases, users,
the ledger (commands/ holds every command; `python cli.py --help` lists them, and so does
`makeright --help` in the venv).
"""

from __future__ import annotations

from commands import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
