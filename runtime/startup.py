"""One start-up error handler for every entry point (`python worker.py`, `python run.py`,
`python starter.py …`, `python cli.py …`, `makeright …`): a setting that is missing or wrong stops the
process with one line on stderr naming it (`makeright: …`) and exit status 2 (bad usage), never a stack
trace."""

from __future__ import annotations

import sys
from collections.abc import Callable

from config import ConfigError

# exit status of a start refused for its configuration (CONTRACT.md: 2 is bad usage)
CONFIG_ERROR_EXIT = 2


def report(message: str) -> None:
    """One line on stderr, as every entry point says what stopped it."""
    print(f"makeright: {message}", file=sys.stderr, flush=True)


def guarded(main: Callable[[], int]) -> int:
    """Run an entry point's body; a ConfigError from it (settings loaded, keys read, TLS files read) is
    reported in one line and turns into exit status 2."""
    try:
        return main()
    except ConfigError as exc:
        report(str(exc))
        return CONFIG_ERROR_EXIT
