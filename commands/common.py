"""What every command shares: the consoles, `--json`, failing with one line and an exit status, the
settings and the store."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from config import Settings, load_settings
from store.db import Store


def _width() -> int | None:
    # piped or captured output gets wide lines (ids are never wrapped); a terminal keeps its own width
    return None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200


out = Console(highlight=False, width=_width())
err = Console(stderr=True, highlight=False, width=_width())

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON instead of tables")]
LimitOpt = Annotated[int, typer.Option(min=1, help="at most this many, newest first")]


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"makeright: {escape(message)}")
    return typer.Exit(code)


def load() -> Settings:
    """The settings; a ConfigError ends the command with one line and exit 2 (runtime/startup.py, around
    every command in commands.run)."""
    return load_settings()


def store_for(settings: Settings) -> Store:
    return Store(settings.database_url)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "engineer"
