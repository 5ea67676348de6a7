"""`starter.py send` / `makeright send`: sign and post an event file to the running system, with fresh
ids and times so every run opens a new case."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config import Settings


def send_file(
    settings: Settings,
    path: Path,
    url: str | None = None,
    as_is: bool = False,
    in_minutes: float | None = None,
    appointment_id: str | None = None,
    event_type: str | None = None,
) -> int:
    """Sign and post an event file. Unless `as_is`, it gets a fresh event id, appointment id and time,
    so every run opens a new case. A slot in the past (the examples') moves to the same time a week from
    now, `as_is` or not; `in_minutes` moves it to start that many minutes from now (its length kept);
    `appointment_id` and `event_type` steer an appointment sent before (reschedule it, cancel it)."""
    import httpx

    from domain.signing import sign

    event = prepare_event(json.loads(path.read_text()), as_is, in_minutes, appointment_id, event_type)
    body = json.dumps(event).encode()
    target = url or f"{settings.public_base_url}/events"
    headers = {
        "Content-Type": "application/cloudevents+json",
        "X-Makeright-Signature": sign(settings.events_signing_secret, body, int(time.time())),
    }
    try:
        response = httpx.post(target, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(
            f"could not reach {target}: {reason} (is `make run` running? it listens on WEB_PORT, "
            f"now {settings.web_port}; or pass --url)",
            file=sys.stderr,
        )
        return 1
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    if isinstance(data, dict) and isinstance(data.get("slot"), dict):
        print(
            f"{event.get('type')}: appointment {data.get('appointment_id')}, slot {data['slot'].get('start')}"
        )
    print(f"{response.status_code} {response.text}")
    return 0 if response.status_code < 300 else 1


def prepare_event(
    event: dict[str, Any],
    as_is: bool = False,
    in_minutes: float | None = None,
    appointment_id: str | None = None,
    event_type: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    data = event.get("data") if isinstance(event.get("data"), dict) else None
    if not as_is:
        event["id"] = f"evt-{uuid.uuid4().hex[:12]}"
        event["time"] = now.isoformat()
        if data is not None:
            data["appointment_id"] = f"appt-{uuid.uuid4().hex[:8]}"
    if event_type:
        event["type"] = event_type
    if data is not None and appointment_id:
        data["appointment_id"] = appointment_id
    if data is not None and isinstance(data.get("slot"), dict):
        slot = data["slot"]
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        if in_minutes is not None:
            moved = (now + timedelta(minutes=in_minutes)).replace(microsecond=0)
        elif start < now:
            moved = a_week_from(now, start)
        else:
            return event  # a slot still to come is sent as written
        slot["start"], slot["end"] = moved.isoformat(), (moved + (end - start)).isoformat()
    return event


def a_week_from(now: datetime, written: datetime) -> datetime:
    """A slot written for a day gone by (the examples were written on one day), moved to the same time
    of day, in the same offset, a week from now: the walk-through reads true on any day, and sending the
    same file twice on one day (`--as-is`) sends the same body."""
    day = (now + timedelta(days=7)).astimezone(written.tzinfo).date()
    return written.replace(year=day.year, month=day.month, day=day.day)
