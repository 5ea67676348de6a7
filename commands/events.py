"""`send FILE` and `relay` (also `python starter.py send|relay`): sign and post an event file to the
running system (dispatch/sending.py), and dispatch stored events that are still pending, then keep
watching (dispatch/dispatcher.py).

python starter.py send examples/booking_conflict.json   sign and send a sample event to the running system
python starter.py send examples/appointment_booked.json --in-minutes 3
                                                         a booking whose check-in prompt comes in 3 minutes
python starter.py send examples/appointment_booked.json --type booking.appointment_rescheduled \\
    --appointment-id appt-1234abcd --in-minutes 10       move that appointment (or cancel it:
                                                         --type booking.appointment_cancelled)
python starter.py relay                                  dispatch stored events that are still pending
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from commands.common import load
from config import logs, tracing
from dispatch.sending import send_file
from store.db import Store


def send_command(
    file: Annotated[Path, typer.Argument(help="an event file, e.g. examples/booking_conflict.json")],
    url: Annotated[str | None, typer.Option(help="events endpoint (default: PUBLIC_BASE_URL/events)")] = None,
    as_is: Annotated[bool, typer.Option("--as-is", help="send the file exactly, without fresh ids")] = False,
    in_minutes: Annotated[
        float | None,
        typer.Option("--in-minutes", metavar="N", help="set the slot to start N minutes from now"),
    ] = None,
    appointment_id: Annotated[
        str | None,
        typer.Option("--appointment-id", help="use this appointment id (to reschedule or cancel it)"),
    ] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="the event type, e.g. booking.appointment_cancelled")
    ] = None,
) -> None:
    """Sign and send an event file to the running system (fresh event and appointment ids and time, unless
    --as-is). Exit 1 when it is not accepted or nothing answers."""
    settings = load()
    code = send_file(settings, file, url, as_is, in_minutes, appointment_id, event_type)
    if code:
        raise typer.Exit(code)


def relay_command() -> None:
    """Dispatch stored events that are still pending, then keep watching (any number of relays may run
    together; each web process runs one too)."""
    from dispatch.dispatcher import Dispatcher

    settings = load()
    logs.configure(settings.log_format, logging.INFO)
    tracing.configure(settings.otel_exporter_otlp_endpoint, "makeright-relay")
    asyncio.run(Dispatcher(settings, Store(settings.database_url)).relay_forever())


def register(app: typer.Typer) -> None:
    app.command("send")(send_command)
    app.command("relay")(relay_command)


# `python starter.py send|relay`: these two commands alone
starter_app = typer.Typer(
    name="starter.py",
    help="Stored events → workflow starts and signals: send an event file, or run a relay.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register(starter_app)
