"""A booking event's body judged as `POST /events` judges it: the event, or each bad field and why. One
function for the web endpoint and for dead-letter resubmission, so a stored body is judged by exactly the
code that would receive it now."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from domain.events import BookingEvent
from domain.jsonload import BadJson, load_json


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Each bad field by its dotted path, with the reason in words."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"]) or "body"
        errors.append({"field": path, "reason": error["msg"]})
    return errors


def parse_booking_event(raw: bytes) -> tuple[BookingEvent | None, list[dict[str, Any]]]:
    """A body as `POST /events` reads it: the event, or why not (each bad field). Dead-letter
    resubmission (dispatch/dead_letters.py) uses this too, so a stored body is judged by exactly the code
    that would receive it now."""
    try:
        payload = load_json(raw)
    except BadJson as exc:
        return None, [{"field": "body", "reason": str(exc)}]
    if not isinstance(payload, dict):
        return None, [{"field": "body", "reason": "must be a JSON object"}]
    try:
        return BookingEvent.received(payload), []
    except ValidationError as exc:
        return None, field_errors(exc)
