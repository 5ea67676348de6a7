"""The inbox: accepted events and patient answers are committed here before anything acts on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain import ids
from domain.base import CaseKind
from domain.conversation import Route, route
from domain.events import CONFLICT_TYPES, BookingEvent
from store import cases, conversation, feedback, metrics
from store.db import Store, insert_once
from store.models import Case, DeadLetter, InboundMessage, ReceivedEvent, utcnow


@dataclass(frozen=True)
class Accepted:
    event_row_id: int
    case_id: str | None
    workflow_id: str | None
    duplicate: bool


def accept_booking_event(store: Store, raw: bytes, event: BookingEvent) -> Accepted:
    """Store the event (and open its case) in one transaction. The same event id, or the same conflict
    for the same appointment, is recognised as a duplicate and starts nothing, also when both arrive at
    once: each INSERT does nothing where its unique key is taken (waiting for a concurrent one to commit),
    and only then is the row that holds it read. A new event costs no look-ups."""
    row: dict[str, Any] = {
        "source": "booking",
        "external_id": event.id,
        "type": event.type.value,
        "appointment_id": event.data.appointment_id,
        "raw": raw,
        "parsed": event.model_dump(mode="json"),
        "status": "pending",
        "attempts": 0,
        "received_at": utcnow(),
    }
    conflict = event.type in CONFLICT_TYPES
    if conflict:
        key = ids.conflict_key(event.data)
        case_id = ids.case_id_for(key)
        workflow_id = ids.booking_conflict_workflow_id(case_id)
        row["case_id"] = case_id
    else:
        # booked / rescheduled / cancelled steer the appointment's check-in watch; no case (yet)
        workflow_id = ids.checkin_watch_workflow_id(event.data.appointment_id)
    row["workflow_id"] = workflow_id
    with store.session() as s:
        opened = {"event_id": event.id, "type": event.type.value, "source": event.source}
        kind = CaseKind.BOOKING_CONFLICT
        new: cases.NewCase | None = None
        if conflict and s.get_bind().dialect.name == "postgresql":
            # the event, its case and the case's first entry in one statement (one round trip)
            row_id, new = cases.insert_with_case(
                s,
                row,
                kind,
                key,
                event.type.value,
                event.data,
                opened,
                case_id,
                workflow_id,
            )
        else:
            row_id = _insert_event(s, row)
            if row_id is not None and conflict:
                new = cases.new_case(s, case_id, workflow_id, kind, key, event.type.value, event.data, opened)
        if row_id is None:
            # a repeat of a known event id leaves no row of its own: /metrics counts it here
            seen = (
                s.connection()
                .execute(
                    select(ReceivedEvent.id, ReceivedEvent.case_id, ReceivedEvent.workflow_id).where(
                        ReceivedEvent.source == "booking", ReceivedEvent.external_id == event.id
                    )
                )
                .one()
            )
            metrics.add_event_tally(s, event.type.value, "duplicate")
            return Accepted(seen.id, seen.case_id, seen.workflow_id, duplicate=True)
        if not conflict:
            return Accepted(row_id, None, workflow_id, duplicate=False)
        if new is not None:
            return Accepted(row_id, case_id, workflow_id, duplicate=False)
        return _same_conflict(s, row_id, key)


def _same_conflict(s: Session, row_id: int, key: str) -> Accepted:
    """Another event about a conflict that has its case: the row stays, marked a duplicate of the case's
    first event."""
    conn = s.connection()
    case = conn.execute(select(Case.case_id, Case.workflow_id).where(Case.conflict_key == key)).one()
    first = conn.execute(
        select(ReceivedEvent.id)
        .where(
            ReceivedEvent.case_id == case.case_id,
            ReceivedEvent.status != "duplicate",
            ReceivedEvent.id != row_id,
        )
        .order_by(ReceivedEvent.id)
        .limit(1)
    ).scalar()
    conn.execute(
        update(ReceivedEvent)
        .where(ReceivedEvent.id == row_id)
        .values(case_id=case.case_id, workflow_id=case.workflow_id, status="duplicate", duplicate_of=first)
    )
    return Accepted(row_id, case.case_id, case.workflow_id, duplicate=True)


def _insert_event(s: Session, values: dict[str, Any]) -> int | None:
    """The inbox row, or None where this source's event id is there already."""
    statement = insert_once(s, ReceivedEvent, ("source", "external_id")).returning(ReceivedEvent.id)
    row_id = s.connection().execute(statement, values).scalar()
    return None if row_id is None else int(row_id)


def accept_patient_answer(
    store: Store,
    source: str,
    provider_id: str,
    from_address: str,
    body: str,
    case_id: str | None,
    raw: dict[str, Any],
    received_at: datetime | None = None,
) -> tuple[int, str | None, bool]:
    """Store an inbound answer and route it. An answer that names its case (a choice link, a keypad
    answer to our call) goes to that case, or to the closed case's open rating request. Anything else is
    on the patient's conversation (store/conversation.py) and answers the newest open question that can
    take it (domain/conversation.py); one that fits none goes to a person: an escalation on the patient's
    newest case, with the conversation shown. Returns (event row id, case id, duplicate).
    `received_at`: when it reached us, if that was earlier than now (taken from the local spool)."""
    try:
        with store.session() as s:
            seen = s.scalars(
                select(ReceivedEvent).where(
                    ReceivedEvent.source == source, ReceivedEvent.external_id == provider_id
                )
            ).first()
            if seen is not None:
                return seen.id, seen.case_id, True
            at = received_at or utcnow()
            named = s.get(Case, case_id) if case_id else None
            if named is not None:
                routing = _to_named_case(s, named, source)
            else:
                routing = _on_the_conversation(s, from_address, body, at)
            channel = {"twilio_sms": "sms", "twilio_voice": "voice"}.get(source, "email")
            message = InboundMessage(
                channel=channel,
                provider_id=provider_id,
                from_address=from_address,
                body=body,
                case_id=routing.case_id,
                received_at=at,
                answered=routing.answered,
                why=routing.why[:200],
            )
            s.add(message)
            row = ReceivedEvent(
                source=source,
                external_id=provider_id,
                type="patient.replied",
                appointment_id=routing.appointment_id,
                raw=b"",
                parsed={**raw, "route": routing.answered} if routing.answered == PERSON else raw,
                case_id=routing.case_id,
                workflow_id=routing.workflow_id,
                status=routing.status,
                received_at=at,
            )
            s.add(row)
            s.flush()
            return row.id, row.case_id, False
    except IntegrityError:
        with store.session() as s:
            seen = s.scalars(
                select(ReceivedEvent).where(
                    ReceivedEvent.source == source, ReceivedEvent.external_id == provider_id
                )
            ).one()
            return seen.id, seen.case_id, True


PERSON = "person"


@dataclass(frozen=True)
class _Routing:
    case_id: str | None
    workflow_id: str | None
    appointment_id: str | None
    answered: str
    why: str

    @property
    def status(self) -> str:
        if self.answered == "consent":
            return "consent"  # the patient's word on being contacted: recorded at intake, for no case
        return "pending" if self.workflow_id else "unrouted"


def _to_named_case(s: Session, case: Case, source: str) -> _Routing:
    if source == "patient_link" and case.status not in ("open", "waiting_patient"):
        # a link from the feedback email names its closed case: its request takes the answer
        asking = feedback.open_for_case(s, case.case_id)
        if asking is not None:
            return _Routing(
                asking.case_id, asking.workflow_id, case.appointment_id, "rating", "a score link of the case"
            )
    return _Routing(case.case_id, case.workflow_id, case.appointment_id, "link", "named its case")


def _on_the_conversation(s: Session, phone: str, body: str, now: datetime) -> _Routing:
    questions = conversation.open_questions(s, phone, now)
    routed = route(body, questions, now)
    if routed.route is Route.QUESTION:
        question = routed.question
        assert question is not None
        return _Routing(
            question.case_id, question.workflow_id, question.appointment_id, question.kind.value, routed.why
        )
    if routed.route is Route.CONSENT:
        return _Routing(None, None, None, "consent", routed.why)
    newest = conversation.newest_case(s, phone)
    if newest is None:
        # nobody to hand it to yet: kept on the conversation (and the patient's consent words applied)
        return _Routing(None, None, None, PERSON, f"{routed.why}; no case to take it up")
    number = conversation.person_escalations(s, newest.case_id) + 1
    return _Routing(
        newest.case_id,
        ids.reply_escalation_id(newest.case_id, number),
        newest.appointment_id,
        PERSON,
        routed.why,
    )


def keep_dead_letter(
    store: Store,
    endpoint: str,
    content_type: str | None,
    raw: bytes,
    status_code: int,
    errors: list[dict[str, Any]],
) -> int:
    with store.session() as s:
        letter = DeadLetter(
            endpoint=endpoint, content_type=content_type, raw=raw, status_code=status_code, errors=errors
        )
        s.add(letter)
        s.flush()
        return letter.id


def stored_event(store: Store, row_id: int) -> tuple[ReceivedEvent, Case | None]:
    """An inbox row as the dispatcher acts on it, with the case it belongs to (if one is open yet)."""
    with store.session() as s:
        row = s.get(ReceivedEvent, row_id)
        if row is None:
            raise LookupError(f"no stored event {row_id}")
        case = s.get(Case, row.case_id) if row.case_id else None
        return row, case


def event_status(store: Store, row_id: int) -> str | None:
    with store.session() as s:
        row = s.get(ReceivedEvent, row_id)
        return row.status if row else None


def work_row(
    s: Session, source: str, what: str, key: str, step: str, parsed: dict[str, Any], case_id: str | None
) -> int:
    """An inbox row (in the caller's transaction) that hands the rep router one step of a piece of work
    (`what` "call" or "email", its `key`): offered, called back, ended, done. The relay acts on one key's
    rows in order (store/relay.py), so a piece of work's end never overtakes its offer still waiting for
    Temporal. Its id, to dispatch at once."""
    row = ReceivedEvent(
        source=source,
        external_id=f"{key}:{step}",
        type=f"{what}.{step}",
        appointment_id=f"{what}:{key}",  # the relay's ordering key
        raw=b"",
        parsed=parsed,
        case_id=case_id,
        status="pending",
    )
    s.add(row)
    s.flush()
    return row.id
