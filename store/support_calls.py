"""Patients calling the support line: each call stored as it arrives (store first), recognised by number,
and what the router must hear of it (offer the caller's work, withdraw it, offer a callback instead) kept
in the inbox as one row the dispatcher acts on (inline, or the relay after a failure): a call whose
router signal failed is not lost.

The times are Twilio's own (the webhook's arrival, the rep's accept, the status callback's hang-up) as
makeright received them. `first_ring`: a rep accepted within FIRST_RING_SECONDS of the arrival."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.cases import CaseStatus
from domain.conversation import QuestionKind
from store import inbox, views
from store.conversation import newest_case, open_questions
from store.db import Store
from store.models import Case, CheckInWatchRow, SupportCall, utcnow

# the inbox rows that tell the router about a call (dispatch/dispatcher.py acts on them)
SOURCE = "twilio_support_call"
# a call is answered at the first ring when a rep accepted it within this of its arrival (CONTRACT.md:
# a North American ring cadence is 2 s on, 4 s off)
FIRST_RING_SECONDS = 6
OPEN = (CaseStatus.OPEN.value, CaseStatus.WAITING_PATIENT.value, CaseStatus.ESCALATED.value)
LIVE = ("waiting", "offered")  # statuses of a call still held for a rep


def caller_work_id(call_sid: str) -> str:
    return f"call-{call_sid}"


def callback_work_id(call_sid: str) -> str:
    return f"callback-{call_sid}"


def call_sid_of(work_id: str) -> str | None:
    """The CallSid of a `call-…` or `callback-…` work id, else None."""
    for prefix in ("call-", "callback-"):
        if work_id.startswith(prefix):
            return work_id.removeprefix(prefix)
    return None


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the store knows them by number (no case: a stranger)."""

    case_id: str | None
    case_kind: str = ""
    practice: str = ""
    offer_open: bool = False  # an open booking-conflict offer: they may just press their choice


def recognise(store: Store, phone: str) -> Caller:
    """The caller's case: their newest open case, else their check-in watch's latest case, else their
    newest case of any status; and whether a booking-conflict offer of theirs is open."""
    with store.session() as s:
        case = s.scalars(
            select(Case)
            .where(Case.patient_phone == phone, Case.status.in_(OPEN))
            .order_by(Case.opened_at.desc())
        ).first()
        if case is None:
            watched = s.scalar(
                select(CheckInWatchRow.case_id)
                .where(CheckInWatchRow.patient_phone == phone, CheckInWatchRow.case_id.is_not(None))
                .order_by(CheckInWatchRow.updated_at.desc())
            )
            case = s.get(Case, watched) if watched else None
        if case is None:
            case = newest_case(s, phone)
        offer_open = any(q.kind is QuestionKind.OFFER for q in open_questions(s, phone))
    if case is None:
        return Caller(None, offer_open=offer_open)
    # the rep's whisper names the practice as patients know it (the booking system's name, not its id)
    booking = views.booking_data(store, case)
    practice = booking.practice.name if booking is not None else case.practice_id
    return Caller(case.case_id, case.kind, practice, offer_open)


def _tell_router(s: Session, call_sid: str, step: str, parsed: dict[str, Any], case_id: str | None) -> int:
    return inbox.work_row(s, SOURCE, "call", call_sid, step, parsed, case_id)


def arrived(
    store: Store,
    call_sid: str,
    from_number: str,
    caller: Caller,
    language: str,
    work: dict[str, Any],
    at: datetime | None = None,
) -> int | None:
    """Keep the call and, in the same transaction, the router's instruction to offer `work` (a WorkItem
    as JSON). The inbox row to dispatch, or None when Twilio asked again for a call kept already."""
    try:
        with store.session() as s:
            s.add(
                SupportCall(
                    call_sid=call_sid,
                    from_number=from_number,
                    case_id=caller.case_id,
                    language=language,
                    arrived_at=at or utcnow(),
                    status="waiting",
                    first_ring=False,
                )
            )
            s.flush()
            return _tell_router(s, call_sid, "arrived", {"offer": [work]}, caller.case_id)
    except IntegrityError:
        return None


def get(store: Store, call_sid: str) -> SupportCall | None:
    with store.session() as s:
        return s.scalar(select(SupportCall).where(SupportCall.call_sid == call_sid))


def wants_callback(store: Store, call_sid: str, work: dict[str, Any]) -> int | None:
    """The caller pressed 1 for a callback: the call is `callback`, and the router is told to withdraw the
    caller's work and offer the callback (`work`) instead. The inbox row to dispatch; None when the call
    is unknown or no longer held (a rep took it meanwhile, or it was asked already)."""
    try:
        with store.session() as s:
            call = s.scalar(select(SupportCall).where(SupportCall.call_sid == call_sid).with_for_update())
            if call is None or call.status not in LIVE:
                return None
            call.status = "callback"
            call.ended_at = utcnow()
            parsed = {"withdraw": [caller_work_id(call_sid)], "offer": [work]}
            return _tell_router(s, call_sid, "callback", parsed, call.case_id)
    except IntegrityError:
        return None


def answered(store: Store, call_sid: str, user: str | None, at: datetime | None = None) -> bool:
    """A rep accepted the caller's offer: answered by them, at the first ring when within 6 s of the
    arrival. False when the call is unknown or no longer held (the caller hung up first)."""
    at = at or utcnow()
    with store.session() as s:
        call = s.scalar(select(SupportCall).where(SupportCall.call_sid == call_sid).with_for_update())
        if call is None or call.status not in LIVE:
            return False
        call.status = "answered"
        call.answered_at = at
        call.answered_by = user
        call.first_ring = at - call.arrived_at <= timedelta(seconds=FIRST_RING_SECONDS)
        return True


def ended(store: Store, call_sid: str, at: datetime | None = None, outcome: str = "abandoned") -> int | None:
    """The caller's leg is over (the number's status callback: `completed`, `canceled`, …). Still held
    for a rep: `outcome` (abandoned; `keypad` for a caller who pressed their booking choice and needs no
    one), and the router is told to withdraw the work (a ringing rep's phone stops); the inbox row to
    dispatch. Otherwise only the end time is kept; None."""
    at = at or utcnow()
    try:
        with store.session() as s:
            call = s.scalar(select(SupportCall).where(SupportCall.call_sid == call_sid).with_for_update())
            if call is None:
                return None
            if call.ended_at is None or call.status in LIVE:
                call.ended_at = at
            if call.status not in LIVE:
                return None
            call.status = outcome
            return _tell_router(s, call_sid, "ended", {"withdraw": [caller_work_id(call_sid)]}, None)
    except IntegrityError:
        return None


@dataclass(frozen=True)
class CallFigures:
    calls_in: int
    answered: int
    answered_first_ring: int
    abandoned: int
    callback: int
    answer_seconds: list[float]


def figures(store: Store, since: datetime) -> CallFigures:
    """Calls that arrived since `since`, by what became of them."""
    with store.session() as s:
        rows = s.execute(
            select(
                SupportCall.status, SupportCall.first_ring, SupportCall.arrived_at, SupportCall.answered_at
            ).where(SupportCall.arrived_at >= since)
        ).all()
    answer_seconds = [
        (answered_at - arrived_at).total_seconds()
        for status, _, arrived_at, answered_at in rows
        if status == "answered" and answered_at is not None
    ]
    return CallFigures(
        calls_in=len(rows),
        answered=sum(1 for row in rows if row[0] == "answered"),
        answered_first_ring=sum(1 for row in rows if row[0] == "answered" and row[1]),
        abandoned=sum(1 for row in rows if row[0] == "abandoned"),
        callback=sum(1 for row in rows if row[0] == "callback"),
        answer_seconds=answer_seconds,
    )


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def outcome_totals(store: Store) -> dict[str, int]:
    """Every call ever, by outcome (answered | abandoned | callback), for /metrics."""
    found = {"answered": 0, "abandoned": 0, "callback": 0}
    with store.session() as s:
        for status, n in s.execute(
            select(SupportCall.status, func.count())
            .where(SupportCall.status.in_(tuple(found)))
            .group_by(SupportCall.status)
        ):
            found[str(status)] = int(n)
    return found


def answer_seconds_all(store: Store) -> list[float]:
    """Every answered call's arrival → accept, in seconds (for /metrics' histogram)."""
    with store.session() as s:
        rows = s.execute(
            select(SupportCall.arrived_at, SupportCall.answered_at).where(
                SupportCall.answered_at.is_not(None)
            )
        ).all()
    return [(answered - arrived).total_seconds() for arrived, answered in rows if answered is not None]


def on_the_line(store: Store, phone: str) -> list[SupportCall]:
    """The caller's calls to the support line still going (held, rung through, or with a rep), newest
    first: for the local phone (/dev/phone), which plays the caller's side."""
    with store.session() as s:
        return list(
            s.scalars(
                select(SupportCall)
                .where(
                    SupportCall.from_number == phone,
                    SupportCall.status.in_((*LIVE, "answered")),
                    SupportCall.ended_at.is_(None),
                )
                .order_by(SupportCall.arrived_at.desc())
                .limit(3)
            )
        )
