"""`codec new-key KEY_ID`: a fresh CODEC_KEYS entry, for rotation. `codec ui-token --hours 8`: a short-lived
token for the Temporal UI's codec endpoint (`/codec/t/<ui-token>`)."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from commands.common import current_user, load
from encryption import ui_tokens
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


@codec_app.command("ui-token")
def codec_ui_token(
    hours: Annotated[
        float,
        typer.Option(min=0.01, max=ui_tokens.MAX_HOURS, help="how long it works (at most 24 hours)"),
    ] = 8.0,
    user: Annotated[str | None, typer.Option(help="who it names in the web app's log (default: you)")] = None,
) -> None:
    """Print a ui-token for the Temporal UI's codec endpoint, `<PUBLIC_BASE_URL>/codec/t/<ui-token>`: it reads
    encrypted payloads until it expires (the address lands in browser history, so an API token never goes
    there). Signed with a key derived from CODEC_KEYS' first key: it takes CODEC_KEYS to mint one, and
    rotating that key ends every ui-token it signed."""
    settings = load()
    expires_at = int(time.time() + hours * 3600)
    token = ui_tokens.mint(settings.key_ring(), user or current_user(), expires_at)
    until = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    sys.stdout.write(token + "\n")
    sys.stderr.write(
        f"works until {until}; set the Temporal UI's codec endpoint to "
        f"{settings.public_base_url}/codec/t/{token}\n"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(codec_app, name="codec")
