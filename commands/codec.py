"""`codec new-key KEY_ID`: a fresh CODEC_KEYS entry, for rotation."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from encryption.codec import new_key_spec

codec_app = typer.Typer(help="payload encryption keys", no_args_is_help=True)


@codec_app.command("new-key")
def codec_new_key(
    key_id: Annotated[str, typer.Argument(help="a name for the key, e.g. k2 or 2026-11")],
) -> None:
    """Print a fresh CODEC_KEYS entry (KEY_ID:BASE64_32_BYTES). To rotate, put it first in CODEC_KEYS and
    keep the old keys after it until no history needs them (docs/deploy.md)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", key_id):
        raise typer.BadParameter("letters, digits, '.', '_' or '-', at most 40", param_hint="KEY_ID")
    sys.stdout.write(new_key_spec(key_id) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(codec_app, name="codec")
