"""The system's counts for `/metrics`, read from the database at scrape time: every web replica answers
with the same numbers, and none of them is lost when a process restarts. No contact details leave here:
only kinds, statuses, channels, currencies, levels and counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store import feedback
from store.db import Store
from store.models import (
    Case,
    EscalationRow,
    EventTally,
    LedgerEntry,
    OutboundMessageRow,
    ReceivedEvent,
    TimelineItem,
)

# what `makeright_events_received_total{result}` can say
EVENT_RESULTS = ("accepted", "duplicate", "invalid", "unauthorized")
# an outbound message still on its way has no result yet
UNFINISHED_MESSAGES = ("intent", "sending")
BREACH_ENTRIES = ("escalation_breached", "escalation_expired")


@dataclass
class Snapshot:
    """Everything /metrics shows, as plain label tuples and numbers."""

    events: dict[tuple[str, str], int] = field(default_factory=dict)  # (type, result)
    cases_opened: dict[str, int] = field(default_factory=dict)  # kind
    cases_closed: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (kind, status, outcome)
    first_contact: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (kind, channel)
    messages: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, result)
    breaches: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, level)
    compensation: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount issued
    feedback: dict[str, int] = field(default_factory=dict)  # score -> answers


def count_event(store: Store, event_type: str, result: str) -> None:
    """One more booking event of `event_type` received with `result` that leaves no inbox row of its own
    (a refused request, a repeat of a known event id). One upsert: concurrent replicas add up."""
    with store.session() as s:
        add_event_tally(s, event_type, result)


def add_event_tally(s: Session, event_type: str, result: str) -> None:
    """The upsert, inside the caller's transaction."""
    dialect = s.get_bind().dialect.name
    values = {"type": event_type[:100], "result": result, "count": 1}
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(EventTally).values(**values)
    else:
        stmt = sqlite.insert(EventTally).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["type", "result"], set_={"count": EventTally.count + 1})
    s.execute(stmt)


def snapshot(store: Store) -> Snapshot:
    """The counts as of now, in one read transaction."""
    snap = Snapshot()
    with store.session() as s:
        # accepted events are the inbox's own rows (a duplicate report of a known conflict is stored too,
        # marked as such); what left no row was tallied as it was refused or repeated
        stored = s.execute(
            select(ReceivedEvent.type, ReceivedEvent.status, func.count())
            .where(ReceivedEvent.source == "booking")
            .group_by(ReceivedEvent.type, ReceivedEvent.status)
        )
        for event_type, status, n in stored:
            result = "duplicate" if status == "duplicate" else "accepted"
            key = (event_type, result)
            snap.events[key] = snap.events.get(key, 0) + n
        for tally in s.scalars(select(EventTally)):
            key = (tally.type, tally.result)
            snap.events[key] = snap.events.get(key, 0) + tally.count

        for kind, n in s.execute(select(Case.kind, func.count()).group_by(Case.kind)):
            snap.cases_opened[kind] = n
        closed = s.execute(
            select(Case.kind, Case.status, Case.outcome, func.count())
            .where(Case.closed_at.is_not(None))
            .group_by(Case.kind, Case.status, Case.outcome)
        )
        for kind, status, outcome, n in closed:
            snap.cases_closed[(kind, status, outcome or "")] = n

        snap.first_contact = _first_contacts(s)

        messages = s.execute(
            select(OutboundMessageRow.channel, OutboundMessageRow.status, func.count())
            .where(OutboundMessageRow.status.not_in(UNFINISHED_MESSAGES))
            .group_by(OutboundMessageRow.channel, OutboundMessageRow.status)
        )
        for channel, status, n in messages:
            snap.messages[(channel, status)] = n

        snap.breaches = _breaches(s)

        issued = s.execute(
            select(LedgerEntry.currency, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.status == "issued")
            .group_by(LedgerEntry.currency)
        )
        for currency, amount in issued:
            snap.compensation[currency] = Decimal(amount or 0)
        snap.feedback = feedback.counts_by_score(s)
    return snap


@dataclass(frozen=True)
class FirstContact:
    """A case's first message to the patient that reached the provider, `seconds` after the case opened
    (the event's arrival)."""

    case_id: str
    kind: str
    opened_at: datetime
    channel: str
    seconds: float


def first_contacts(s: Session, opened_since: datetime | None = None) -> list[FirstContact]:
    """Per case (opened at or after `opened_since`, when given): its first contact with the patient."""
    to_patient = or_(
        OutboundMessageRow.to_address == Case.patient_phone,
        OutboundMessageRow.to_address == Case.patient_email,
    )
    query = (
        select(
            Case.case_id, Case.kind, Case.opened_at, OutboundMessageRow.channel, OutboundMessageRow.sent_at
        )
        .join(OutboundMessageRow, and_(OutboundMessageRow.case_id == Case.case_id, to_patient))
        .where(OutboundMessageRow.status == "sent", OutboundMessageRow.sent_at.is_not(None))
    )
    if opened_since is not None:
        query = query.where(Case.opened_at >= opened_since)
    first: dict[str, tuple[str, datetime, str, datetime]] = {}
    for case_id, kind, opened_at, channel, sent_at in s.execute(query):
        seen = first.get(case_id)
        if sent_at is not None and (seen is None or sent_at < seen[3]):
            first[case_id] = (kind, opened_at, channel, sent_at)
    return [
        FirstContact(case_id, kind, opened_at, channel, max((sent_at - opened_at).total_seconds(), 0.0))
        for case_id, (kind, opened_at, channel, sent_at) in first.items()
    ]


def _first_contacts(s: Session) -> dict[tuple[str, str], list[float]]:
    """First contact in seconds, by case kind and that message's channel."""
    out: dict[tuple[str, str], list[float]] = {}
    for contact in first_contacts(s):
        out.setdefault((contact.kind, contact.channel), []).append(contact.seconds)
    return out


def _breaches(s: Session) -> dict[tuple[str, str], int]:
    """Every time an escalation's SLA ran out (it moved up a level, or expired at the last), by the
    escalation's kind and the level it stood at afterwards. Each is one timeline entry (written once)."""
    details = list(s.scalars(select(TimelineItem.detail).where(TimelineItem.what.in_(BREACH_ENTRIES))))
    ids = {str(detail.get("escalation_id")) for detail in details}
    kinds: dict[str, str] = {}
    if ids:
        found = s.execute(
            select(EscalationRow.escalation_id, EscalationRow.kind).where(
                EscalationRow.escalation_id.in_(ids)
            )
        )
        kinds = {escalation_id: kind for escalation_id, kind in found}
    out: dict[tuple[str, str], int] = {}
    for detail in details:
        kind = kinds.get(str(detail.get("escalation_id")), "unknown")
        key = (kind, str(detail.get("level") or "unknown"))
        out[key] = out.get(key, 0) + 1
    return out
