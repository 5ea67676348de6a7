"""Stable identifiers: the same conflict always maps to the same case and workflow."""

from __future__ import annotations

import hashlib
from datetime import UTC

from domain.events import BookingEventData, Slot


def conflict_key(data: BookingEventData) -> str:
    """A booked slot taken back is one conflict, however many events (or event types) report it."""
    start = data.slot.start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    return f"{data.appointment_id}@{start}"


def case_id_for(key: str) -> str:
    return "case-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def booking_conflict_workflow_id(case_id: str) -> str:
    return f"booking-conflict-{case_id}"


def checkin_watch_workflow_id(appointment_id: str) -> str:
    return f"checkin-watch-{appointment_id}"


def checkin_conflict_key(appointment_id: str, slot: Slot) -> str:
    """Check-in trouble is one case per appointment and time, however many replies report it."""
    start = slot.start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    return f"checkin:{appointment_id}@{start}"


def checkin_trouble_workflow_id(case_id: str) -> str:
    return f"checkin-trouble-{case_id}"


def inquiry_key(email_id: str) -> str:
    """An inquiry is one case per email that opened it (the email's id is random: no patient data)."""
    return f"inquiry:{email_id}"


def inquiry_workflow_id(case_id: str) -> str:
    return f"inquiry-{case_id}"


FEEDBACK_PREFIX = "feedback-"


def feedback_workflow_id(case_id: str) -> str:
    """The one feedback request of a case (a re-run of the case finds it started already)."""
    return f"{FEEDBACK_PREFIX}{case_id}"


REPLY_ESCALATION_MARK = "-reply-"


def reply_escalation_id(case_id: str, number: int) -> str:
    """The escalation that hands a person the patient's `number`th reply (on this case) that fitted no open
    question: one per reply, so a relayed repeat starts nothing new."""
    return f"esc-{case_id}{REPLY_ESCALATION_MARK}{number}"


def watch_ref(appointment_id: str) -> str:
    """What a watch's own messages (the prompt, a thank-you) are filed under before any case exists:
    send-once needs a short, stable owner id (the outbox's case_id column is 40 characters)."""
    return "watch-" + hashlib.sha256(appointment_id.encode()).hexdigest()[:16]


def gift_card_key(case_id: str) -> str:
    """Idempotency key for a case's compensation (Tango externalRefID ≤ 100 chars, Amazon ≤ 40)."""
    key = f"mr-{case_id}-comp"
    if len(key) <= 40:
        return key
    # cutting a long id would make two cases that share a prefix share one gift card: hash it instead
    return f"mr-{hashlib.sha256(case_id.encode()).hexdigest()[:32]}-comp"
