"""`migrate`: bring the database schema up to date."""

from __future__ import annotations

import typer

from commands.common import load, out
from store.db import migrate


def migrate_command() -> None:
    """Bring the database schema up to date (run once per deploy, before the new workers and web app)."""
    settings = load()
    migrate(settings.database_url)
    out.print("database schema is up to date")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
