"""Stable identifiers: the same conflict always maps to the same case and workflow."""

from __future__ import annotations

import hashlib
from datetime import UTC

from domain.models import BookingEventData


def conflict_key(data: BookingEventData) -> str:
    """A booked slot taken back is one conflict, however many events (or event types) report it."""
    start = data.slot.start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    return f"{data.appointment_id}@{start}"


def case_id_for(key: str) -> str:
    return "case-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def booking_conflict_workflow_id(case_id: str) -> str:
    return f"booking-conflict-{case_id}"


def gift_card_key(case_id: str) -> str:
    """Idempotency key for a case's compensation (Tango externalRefID ≤ 100 chars, Amazon ≤ 40)."""
    key = f"mr-{case_id}-comp"
    if len(key) <= 40:
        return key
    # cutting a long id would make two cases that share a prefix share one gift card: hash it instead
    return f"mr-{hashlib.sha256(case_id.encode()).hexdigest()[:32]}-comp"
