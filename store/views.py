"""Read models: a case as the API shows it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from domain.events import BookingEventData, EventType
from domain.masking import mask_email, mask_phone, mask_value
from store.db import Store
from store.models import Case, InboundEmail, InboundMessage, LedgerEntry, ReceivedEvent, TimelineItem

# the bookings a check-in-trouble case is about: the appointment as booked, or as last moved
_APPOINTMENT_EVENTS = (EventType.APPOINTMENT_BOOKED.value, EventType.APPOINTMENT_RESCHEDULED.value)


def case_view(
    case: Case, ledger: LedgerEntry | None, timeline: list[TimelineItem], unmasked: bool, currency: str
) -> dict[str, Any]:
    def contact(value: Any) -> Any:
        return value if unmasked else mask_value(value)

    return {
        "case_id": case.case_id,
        "workflow_id": case.workflow_id,
        "kind": case.kind,
        "status": case.status,
        "outcome": case.outcome,
        "needs_rep": case.needs_rep,
        "appointment_id": case.appointment_id,
        "patient_id": case.patient_id,
        "patient": {
            "id": case.patient_id,
            "phone": case.patient_phone if unmasked else mask_phone(case.patient_phone),
            "email": case.patient_email if unmasked else mask_email(case.patient_email),
        },
        "practice_id": case.practice_id,
        "event_type": case.event_type,
        "original_slot": case.original_slot,
        "new_slot": case.new_slot,
        "compensation": (
            {
                "amount": f"{ledger.amount:.2f}",
                "currency": ledger.currency,
                "status": ledger.status,
                **({"denied_reason": ledger.denied_reason} if ledger.status == "denied" else {}),
                # why it waits for a person: the patient's yearly cap or today's budget it would break
                **(
                    {"reason": ledger.hold_reason}
                    if ledger.status == "pending_approval" and ledger.hold_reason
                    else {}
                ),
            }
            if ledger
            else {"amount": "0.00", "currency": currency, "status": "none"}
        ),
        "root_cause": case.root_cause,
        "ticket_id": case.ticket_id,
        "failure": (
            {
                "kind": case.failure_kind,
                "message": case.failure_message,
                "at": case.failure_at.isoformat() if case.failure_at else None,
            }
            if case.status == "failed" and case.failure_kind
            else None
        ),
        # once the patient answered the request to rate the case (their own words: contact details masked)
        "feedback": (
            {
                "score": case.feedback.score,
                "comment": contact(case.feedback.comment),
                "at": case.feedback.answered_at.isoformat() if case.feedback.answered_at else None,
            }
            if case.feedback is not None and case.feedback.score is not None
            else None
        ),
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "timeline": [
            {"at": item.at.isoformat(), "what": item.what, "detail": contact(item.detail)}
            for item in timeline
        ],
    }


def load_cases(
    store: Store,
    case_id: str | None = None,
    appointment_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
    kind: str | None = None,
) -> list[tuple[Case, LedgerEntry | None, list[TimelineItem]]]:
    with store.session() as s:
        query = select(Case).order_by(Case.opened_at.desc()).limit(limit)
        if case_id is not None:
            query = query.where(Case.case_id == case_id)
        if appointment_id is not None:
            query = query.where(Case.appointment_id == appointment_id)
        if status is not None:
            query = query.where(Case.status == status)
        if kind is not None:
            query = query.where(Case.kind == kind)
        found = list(s.scalars(query))
        ids = [c.case_id for c in found]
        ledger = {e.case_id: e for e in s.scalars(select(LedgerEntry).where(LedgerEntry.case_id.in_(ids)))}
        timeline: dict[str, list[TimelineItem]] = {i: [] for i in ids}
        for item in s.scalars(
            select(TimelineItem)
            .where(TimelineItem.case_id.in_(ids))
            .order_by(TimelineItem.at, TimelineItem.id)
        ):
            timeline[item.case_id].append(item)
        return [(c, ledger.get(c.case_id), timeline[c.case_id]) for c in found]


def patient_messages(store: Store, case: Case) -> list[dict[str, str]]:
    """The patient's own words in this case (their replies to its offer, the check-in reply that opened
    it, the emails they wrote to it, and what they added since), never another case's. Health
    information: only for those who see the contact details."""
    with store.session() as s:
        found = s.scalars(
            select(InboundMessage)
            .where(InboundMessage.case_id == case.case_id)
            .order_by(InboundMessage.received_at, InboundMessage.id)
            .limit(50)
        ).all()
        emails = s.scalars(
            select(InboundEmail)
            .where(InboundEmail.case_id == case.case_id, InboundEmail.status != "ignored")
            .order_by(InboundEmail.received_at)
            .limit(50)
        ).all()
    said = [(m.received_at, m.channel, m.body) for m in found]
    said += [(e.received_at, "email_message", _email_words(e)) for e in emails]
    said.sort(key=lambda one: one[0])
    return [{"at": at.isoformat(), "channel": channel, "text": text} for at, channel, text in said[-50:]]


def _email_words(email: InboundEmail) -> str:
    return f"{email.subject}: {email.text}" if email.subject else email.text


def booking_data(store: Store, case: Case) -> BookingEventData | None:
    """What the booking system said about the case's appointment (patient, practice, provider, slot): the
    event that opened a booking-conflict case, or for a check-in-trouble case the appointment's newest
    booking or reschedule received before the case opened. None when no such event is stored."""
    with store.session() as s:
        parsed = s.scalars(
            select(ReceivedEvent.parsed)
            .where(
                ReceivedEvent.source == "booking",
                ReceivedEvent.case_id == case.case_id,
                ReceivedEvent.status != "duplicate",
            )
            .order_by(ReceivedEvent.id)
            .limit(1)
        ).first()
        if parsed is None:
            parsed = s.scalars(
                select(ReceivedEvent.parsed)
                .where(
                    ReceivedEvent.source == "booking",
                    ReceivedEvent.appointment_id == case.appointment_id,
                    ReceivedEvent.type.in_(_APPOINTMENT_EVENTS),
                    ReceivedEvent.received_at <= case.opened_at,
                )
                .order_by(ReceivedEvent.received_at.desc(), ReceivedEvent.id.desc())
                .limit(1)
            ).first()
    if not isinstance(parsed, dict):
        return None
    try:
        return BookingEventData.model_validate(parsed.get("data"))
    except ValidationError:
        return None


def patient_locale(store: Store, case_id: str) -> str | None:
    """The patient's locale ("nl", "en-US") as the booking system sent it for the case; None when the
    case or its booking event is unknown."""
    with store.session() as s:
        case = s.get(Case, case_id)
    if case is None:
        return None
    data = booking_data(store, case)
    return data.patient.locale if data is not None else None
