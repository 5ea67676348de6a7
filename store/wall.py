"""The numbers of the SLA wall (`GET /wall`, `GET /api/wall`; CONTRACT.md, "Operations"), read from the
database so every web replica shows the same. Only counts, durations, causes, ticket ids and feedback
scores with their words leave here: no names, no phone numbers, no email addresses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.escalation import UNPAID_REASONS
from domain.masking import mask_contacts_everywhere
from store import feedback as feedback_store
from store import inbound_email, ledger, reps, support_calls
from store.db import Store
from store.escalations import OPEN_STATUSES
from store.metrics import first_contacts
from store.models import (
    Case,
    EscalationRow,
    InboundEmail,
    InboundMessage,
    OutboundMessageRow,
    SupportCall,
    Ticket,
    TicketLink,
    TimelineItem,
)

HOURS = 24  # the chart: the last 24 hours, one bar per hour
TOP_CAUSES = 5
RECENT_FEEDBACK = 5
# a feedback score (1-5) of at least this counts as satisfied for CSAT
SATISFIED = 4


@dataclass(frozen=True)
class Feedback:
    score: int
    comment: str | None
    at: datetime


@dataclass
class Wall:
    since: datetime
    cases_opened: int = 0
    cases_resolved: int = 0
    resolved_without_rep_pct: float | None = None
    first_contact_p50_seconds: float | None = None
    first_contact_p90_seconds: float | None = None
    first_contact_within_sla_pct: float | None = None
    first_contact_sla_seconds: int = 600
    escalations_open: int = 0
    escalations_claimed_within_sla_pct: float | None = None
    oldest_open_escalation_seconds: float | None = None
    compensation: dict[str, str | None] = field(default_factory=dict)
    csat_pct: float | None = None
    feedback_count: int = 0
    top_root_causes: list[dict[str, Any]] = field(default_factory=list)
    recent_feedback: list[dict[str, Any]] = field(default_factory=list)
    hourly: list[dict[str, Any]] = field(default_factory=list)
    # people (CONTRACT.md, "The wall and metrics: people"): the support line and the reps on duty
    calls_in: int = 0
    calls_answered_first_ring_pct: float | None = None
    calls_abandoned_pct: float | None = None
    reps_available: int = 0
    reps_busy: int = 0
    auto_call_p90_seconds: float | None = None
    # patients writing in (store/inbound_email.figures)
    emails_in: int = 0
    emails_answered_within_hour_pct: float | None = None
    email_first_reply_p90_seconds: float | None = None
    oldest_waiting_email_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "cases_opened": self.cases_opened,
            "cases_resolved": self.cases_resolved,
            "resolved_without_rep_pct": self.resolved_without_rep_pct,
            "first_contact_p50_seconds": self.first_contact_p50_seconds,
            "first_contact_p90_seconds": self.first_contact_p90_seconds,
            "first_contact_within_sla_pct": self.first_contact_within_sla_pct,
            "first_contact_sla_seconds": self.first_contact_sla_seconds,
            "escalations_open": self.escalations_open,
            "escalations_claimed_within_sla_pct": self.escalations_claimed_within_sla_pct,
            "oldest_open_escalation_seconds": self.oldest_open_escalation_seconds,
            "compensation": self.compensation,
            "csat_pct": self.csat_pct,
            "feedback_count": self.feedback_count,
            "top_root_causes": self.top_root_causes,
            "recent_feedback": self.recent_feedback,
            "hourly": self.hourly,
            "calls_in": self.calls_in,
            "calls_answered_first_ring_pct": self.calls_answered_first_ring_pct,
            "calls_abandoned_pct": self.calls_abandoned_pct,
            "reps_available": self.reps_available,
            "reps_busy": self.reps_busy,
            "auto_call_p90_seconds": self.auto_call_p90_seconds,
            "emails_in": self.emails_in,
            "emails_answered_within_hour_pct": self.emails_answered_within_hour_pct,
            "email_first_reply_p90_seconds": self.email_first_reply_p90_seconds,
            "oldest_waiting_email_seconds": self.oldest_waiting_email_seconds,
        }


def start_of_day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def wall(
    store: Store,
    *,
    since: datetime,
    now: datetime,
    sla_seconds: int,
    currency: str,
    daily_budget: Decimal | None,
    offer_seconds: int = 20,
) -> Wall:
    """Everything the wall shows for cases opened (and things that happened) from `since` to `now`."""
    out = Wall(since=since, first_contact_sla_seconds=sla_seconds)
    chart_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    with store.session() as s:
        _cases(s, out, since, now, sla_seconds, chart_start)
        _escalations(s, out, since, now)
        out.top_root_causes = _root_causes(s, since)
        feedback = feedback_since(s, since)
    out.feedback_count = len(feedback)
    out.csat_pct = _pct(sum(1 for f in feedback if f.score >= SATISFIED), len(feedback))
    # the patient's own words may hold a phone number or an address: never on a wall
    out.recent_feedback = [
        {
            "score": f.score,
            "comment": mask_contacts_everywhere(f.comment) if f.comment else None,
            "at": _iso(f.at),
        }
        for f in sorted(feedback, key=lambda f: f.at, reverse=True)[:RECENT_FEEDBACK]
    ]
    out.compensation = _compensation(store, since, now, currency, daily_budget)
    _people(store, out, since, offer_seconds)
    _emails(store, out, since, now)
    with store.session() as s:
        _people_by_hour(s, out, chart_start, now)
    return out


def _people_by_hour(s: Session, out: Wall, chart_start: datetime, now: datetime) -> None:
    """The two headline numbers per hour of the chart, beside each hour's cases (`hourly`): the calls
    that came in that hour and the share a rep took at the first ring (of all of them, abandoned ones
    included); the patients' emails that came in that hour and the share answered (or acted on) within
    the hour, of those whose hour is decided (one still waiting but younger than an hour does not count
    yet). `null` for an hour with nothing to count."""
    calls: dict[datetime, list[bool]] = {}
    for arrived_at, first_ring in s.execute(
        select(SupportCall.arrived_at, SupportCall.first_ring).where(SupportCall.arrived_at >= chart_start)
    ):
        calls.setdefault(_hour(arrived_at), []).append(bool(first_ring))
    emails: dict[datetime, list[bool | None]] = {}
    rows = s.scalars(
        select(InboundEmail).where(
            InboundEmail.received_at >= chart_start, InboundEmail.status != inbound_email.IGNORED
        )
    )
    for row in rows:
        seconds = inbound_email.first_reply_seconds(row)
        received = _utc(row.received_at)
        within: bool | None
        if seconds is not None:
            within = seconds <= inbound_email.WITHIN
        elif (now - received).total_seconds() > inbound_email.WITHIN:
            within = False  # still waiting, and past its hour
        else:
            within = None  # still waiting within its hour: not decided yet
        emails.setdefault(_hour(received), []).append(within)
    for hour in out.hourly:
        at = datetime.fromisoformat(hour["hour"].replace("Z", "+00:00"))
        rung = calls.get(at, [])
        mail = emails.get(at, [])
        decided = [w for w in mail if w is not None]
        hour["calls_in"] = len(rung)
        hour["calls_answered_first_ring_pct"] = _pct(sum(rung), len(rung))
        hour["emails_in"] = len(mail)
        hour["emails_answered_within_hour_pct"] = _pct(sum(1 for w in decided if w), len(decided))


def _hour(moment: datetime) -> datetime:
    return _utc(moment).replace(minute=0, second=0, microsecond=0)


def _utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _emails(store: Store, out: Wall, since: datetime, now: datetime) -> None:
    """Patients' emails since `since`: the share answered (or acted on) within the hour, of those whose
    hour is decided; the p90 to a first reply; the oldest still waiting for a person."""
    mail = inbound_email.figures(store, since, now)
    out.emails_in = mail.emails_in
    out.emails_answered_within_hour_pct = _pct(mail.answered_within_hour, mail.decided)
    out.email_first_reply_p90_seconds = _percentile(mail.first_reply_seconds, 90)
    out.oldest_waiting_email_seconds = mail.oldest_waiting_seconds


# reps on duty who are not free for new work: taking a call, being rung, or wrapping one up
NOT_FREE = ("busy", "offered", "wrap_up")


def _people(store: Store, out: Wall, since: datetime, offer_seconds: int) -> None:
    """The support line's calls since `since` (answered at the first ring and abandoned: shares of ALL
    calls that came in), the reps available and not free now, and the automatic call's reply → ring p90."""
    calls = support_calls.figures(store, since)
    out.calls_in = calls.calls_in
    out.calls_answered_first_ring_pct = _pct(calls.answered_first_ring, calls.calls_in)
    out.calls_abandoned_pct = _pct(calls.abandoned, calls.calls_in)
    counts = reps.counts(store)
    out.reps_available = counts.get("available", 0)
    out.reps_busy = sum(counts.get(status, 0) for status in NOT_FREE)
    with store.session() as s:
        out.auto_call_p90_seconds = _percentile(auto_call_seconds(s, since, offer_seconds), 90)


def auto_call_seconds(s: Session, since: datetime, offer_seconds: int) -> list[float]:
    """For each automatic call since `since` (an escalation's first offer call to a rep, `offer-<id>.o1`,
    not a caller's or a callback's): its creation less the arrival of the patient's reply that caused it
    (the case's newest reply before it).

    "Counting only replies that arrived while a rep was available": the floor's history is not kept (the
    reps_on_duty table holds the latest snapshot only), so a reply counts when its first ring came within
    one offer's time (ROUTING__OFFER_SECONDS). The router rings a free rep within milliseconds (bench/
    RESULTS.md: p99 332 ms); a first ring later than an offer's time means the work waited for a rep to
    become free, which is a staffing figure, not the router's."""
    rows = s.execute(
        select(OutboundMessageRow.case_id, OutboundMessageRow.created_at).where(
            OutboundMessageRow.key.like("offer-%.o1"),
            OutboundMessageRow.key.not_like("offer-call-%"),
            OutboundMessageRow.key.not_like("offer-callback-%"),
            OutboundMessageRow.case_id != "",
            OutboundMessageRow.created_at >= since,
        )
    ).all()
    seconds: list[float] = []
    for case_id, rung_at in rows:
        replied_at = s.scalar(
            select(func.max(InboundMessage.received_at)).where(
                InboundMessage.case_id == case_id, InboundMessage.received_at <= rung_at
            )
        )
        if replied_at is None:
            continue  # not caused by a patient's reply
        waited = (rung_at - replied_at).total_seconds()
        if waited <= offer_seconds:
            seconds.append(waited)
    return seconds


def feedback_since(s: Session, since: datetime) -> list[Feedback]:
    """Patient feedback received since `since` (score 1-5 and the patient's words, never who said them)."""
    return [Feedback(score, comment, at) for score, comment, at in feedback_store.answered_since(s, since)]


def _cases(
    s: Session, out: Wall, since: datetime, now: datetime, sla_seconds: int, chart_start: datetime
) -> None:
    from_ = min(since, chart_start)
    opened = list(s.execute(select(Case.case_id, Case.opened_at).where(Case.opened_at >= from_)))
    contacts = {c.case_id: c.seconds for c in first_contacts(s, from_)}
    window = [(case_id, at) for case_id, at in opened if at >= since]
    out.cases_opened = len(window)

    seconds = sorted(contacts[case_id] for case_id, _ in window if case_id in contacts)
    out.first_contact_p50_seconds = _percentile(seconds, 50)
    out.first_contact_p90_seconds = _percentile(seconds, 90)
    # a case still waiting for its first contact past the SLA has missed it already; one still within
    # its time is not counted either way yet
    waiting_too_long = sum(
        1 for case_id, at in window if case_id not in contacts and (now - at).total_seconds() > sla_seconds
    )
    within = sum(1 for v in seconds if v <= sla_seconds)
    out.first_contact_within_sla_pct = _pct(within, len(seconds) + waiting_too_long)

    resolved = list(s.scalars(select(Case.case_id).where(Case.status == "resolved", Case.closed_at >= since)))
    out.cases_resolved = len(resolved)
    with_person: set[str] = set()
    if resolved:
        # a follow-up opened after the case closed (a patient who rated it 1-2) does not mean a person
        # resolved the case
        with_person = set(
            s.scalars(
                select(EscalationRow.case_id).where(
                    EscalationRow.case_id.in_(resolved), EscalationRow.reason.not_in(UNPAID_REASONS)
                )
            )
        )
    out.resolved_without_rep_pct = _pct(len(resolved) - len(with_person), len(resolved))

    by_hour: dict[datetime, list[str]] = {}
    for case_id, at in opened:
        if at >= chart_start:
            by_hour.setdefault(at.replace(minute=0, second=0, microsecond=0), []).append(case_id)
    out.hourly = []
    for n in range(HOURS):
        hour = chart_start + timedelta(hours=n)
        ids = by_hour.get(hour, [])
        values = sorted(contacts[i] for i in ids if i in contacts)
        out.hourly.append(
            {
                "hour": _iso(hour),
                "cases_opened": len(ids),
                "first_contact_p90_seconds": _percentile(values, 90),
            }
        )


def _escalations(s: Session, out: Wall, since: datetime, now: datetime) -> None:
    # what is open now, however old
    open_now = list(s.scalars(select(EscalationRow.opened_at).where(EscalationRow.status.in_(OPEN_STATUSES))))
    out.escalations_open = len(open_now)
    if open_now:
        out.oldest_open_escalation_seconds = round(max((now - min(open_now)).total_seconds(), 0.0))

    # claimed within SLA: of the escalations opened since `since`, the share first claimed before their
    # claim deadline ran out; one not claimed and past its deadline counts against, one still within it
    # does not count yet
    rows = list(
        s.execute(
            select(EscalationRow.escalation_id, EscalationRow.status, EscalationRow.sla_deadline).where(
                EscalationRow.opened_at >= since
            )
        )
    )
    if not rows:
        return
    ids = [escalation_id for escalation_id, _, _ in rows]
    case_ids = list(s.scalars(select(EscalationRow.case_id).where(EscalationRow.escalation_id.in_(ids))))
    first_claim: dict[str, datetime] = {}
    first_breach: dict[str, datetime] = {}
    items = s.execute(
        select(TimelineItem.what, TimelineItem.at, TimelineItem.detail)
        .where(
            TimelineItem.case_id.in_(case_ids),
            TimelineItem.what.in_(("escalation_claimed", "escalation_breached", "escalation_expired")),
        )
        .order_by(TimelineItem.at, TimelineItem.id)
    )
    for what, at, detail in items:
        escalation_id = str((detail or {}).get("escalation_id"))
        target = first_claim if what == "escalation_claimed" else first_breach
        target.setdefault(escalation_id, at)
    within = counted = 0
    for escalation_id, status, deadline in rows:
        claimed_at = first_claim.get(escalation_id)
        breached_at = first_breach.get(escalation_id)
        if claimed_at is not None and (breached_at is None or claimed_at <= breached_at):
            within += 1
            counted += 1
        elif claimed_at is not None or breached_at is not None:
            counted += 1
        elif status in OPEN_STATUSES and deadline < now:
            counted += 1  # overdue, and the breach not recorded yet
        elif status not in OPEN_STATUSES:
            counted += 1  # closed without anyone claiming it (e.g. resolved by the patient's reply)
    out.escalations_claimed_within_sla_pct = _pct(within, counted)


def _root_causes(s: Session, since: datetime) -> list[dict[str, Any]]:
    """The problems that came back most often since `since`, with their problem tickets."""
    occurrences = func.count(TicketLink.id)
    rows = s.execute(
        select(Ticket, occurrences)
        .join(TicketLink, TicketLink.ticket_id == Ticket.ticket_id)
        .where(TicketLink.linked_at >= since)
        .group_by(Ticket.ticket_id)
        .order_by(occurrences.desc(), Ticket.cause)
        .limit(TOP_CAUSES)
    )
    return [
        {
            "cause": ticket.cause,
            "practice_id": ticket.practice_id,
            "occurrences": n,
            "ticket_id": ticket.ticket_id,
            "status": ticket.status,
            "url": ticket.external_url,
        }
        for ticket, n in rows
    ]


def _compensation(
    store: Store, since: datetime, now: datetime, currency: str, daily_budget: Decimal | None
) -> dict[str, str | None]:
    days = ledger.day_totals(
        store, since.astimezone(UTC).date(), now.astimezone(UTC).date(), currency, daily_budget
    )
    issued = sum((d.issued for d in days), Decimal(0))
    pending = sum((d.pending for d in days), Decimal(0))
    return {
        "issued": f"{issued:.2f}",
        "pending_approval": f"{pending:.2f}",
        "budget": f"{daily_budget:.2f}" if daily_budget is not None else None,
        "currency": currency,
    }


def _percentile(values: list[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)], 1)


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
