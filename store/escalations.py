"""Escalations as the console and the API read them. The Escalation workflow is the authority; these rows
are its projection, written by an activity before each Update returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from domain.cases import TimelineEntry
from domain.escalation import EscalationPolicy, EscalationRecord, EscalationState, EscalationStatus
from store import cases
from store.db import Store
from store.models import EscalationRow, utcnow

OPEN_STATUSES = (EscalationStatus.OPEN.value, EscalationStatus.CLAIMED.value)


def record(store: Store, rec: EscalationRecord) -> None:
    """Write the state (newer records only: a retried older write never rolls it back) and the timeline
    entry (once, by its sequence number)."""
    state = rec.state
    for _ in range(2):
        try:
            with store.session() as s:
                row = s.get(EscalationRow, state.escalation_id, with_for_update=True)
                if row is None:
                    row = EscalationRow(
                        escalation_id=state.escalation_id,
                        case_id=state.case_id,
                        appointment_id=state.appointment_id,
                        kind=state.kind.value,
                        reason=state.reason,
                        policy=(rec.policy or EscalationPolicy()).model_dump(mode="json"),
                        opened_at=state.opened_at,
                        seq=-1,
                    )
                    s.add(row)
                if rec.seq > row.seq:
                    _copy(row, state, rec)
            break
        except IntegrityError:
            continue  # the first record written concurrently by a retry: apply over it
    cases.add_timeline(
        store,
        TimelineEntry(
            case_id=state.case_id,
            what=rec.what,
            key=f"esc:{state.escalation_id}:{rec.seq}",
            detail={"escalation_id": state.escalation_id, "level": state.level_name, **rec.detail},
        ),
    )


def _copy(row: EscalationRow, state: EscalationState, rec: EscalationRecord) -> None:
    row.seq = rec.seq
    row.level = state.level
    row.level_name = state.level_name
    row.status = state.status.value
    row.claimed_by = state.claimed_by
    row.sla_deadline = state.sla_deadline
    row.breached = state.breached
    row.pending_amount = state.pending_approval.amount if state.pending_approval else None
    row.pending_currency = state.pending_approval.currency if state.pending_approval else None
    row.approved_amount = state.approved.amount if state.approved else None
    row.approved_by = state.approved_by
    row.denied_reason = state.denied_reason
    row.resolved_by = state.resolved_by
    row.notes = state.notes
    row.root_cause = state.root_cause
    row.compensation_amount = state.compensation.amount if state.compensation else None
    row.calls_placed = state.calls_placed
    row.alerted = row.alerted or rec.alert
    row.state = state.model_dump(mode="json")
    row.closed_at = state.closed_at
    row.updated_at = utcnow()


def list_escalations(store: Store, status: str | None = None, limit: int = 200) -> list[EscalationRow]:
    """Soonest SLA deadline first (the queue's order)."""
    with store.session() as s:
        query = select(EscalationRow).order_by(EscalationRow.sla_deadline, EscalationRow.opened_at)
        if status is not None:
            query = query.where(EscalationRow.status == status)
        return list(s.scalars(query.limit(limit)))


def get(store: Store, escalation_id: str) -> EscalationRow | None:
    with store.session() as s:
        return s.get(EscalationRow, escalation_id)


def for_case(store: Store, case_id: str) -> list[EscalationRow]:
    with store.session() as s:
        return list(
            s.scalars(
                select(EscalationRow)
                .where(EscalationRow.case_id == case_id)
                .order_by(EscalationRow.opened_at)
            )
        )


def cases_held_by(store: Store, user: str) -> set[str]:
    """The cases whose escalation `user` holds the claim on."""
    with store.session() as s:
        return set(
            s.scalars(
                select(EscalationRow.case_id).where(
                    EscalationRow.claimed_by == user,
                    EscalationRow.status == EscalationStatus.CLAIMED.value,
                )
            )
        )


def contact_details_visible(store: Store, role: str, user: str) -> Callable[[str], bool]:
    """Minimum necessary: supervisors see patients' contact details (and words) in full, and so does the
    rep who holds the claim on the case's escalation while they hold it; engineers and auditors never
    need them. Returns the rule for one caller, with their claims read once."""
    if role == "supervisor":
        return lambda case_id: True
    held = cases_held_by(store, user) if role == "rep" else set()
    return lambda case_id: case_id in held


def state_of(row: EscalationRow) -> EscalationState:
    return EscalationState.model_validate(row.state)


def policy_of(row: EscalationRow) -> EscalationPolicy:
    return EscalationPolicy.model_validate(row.policy)


def view(row: EscalationRow, now: datetime | None = None) -> dict[str, Any]:
    """An escalation as CONTRACT.md shows it (plus a few fields the console uses)."""
    now = now or utcnow()
    open_now = row.status in OPEN_STATUSES
    seconds_left = int((row.sla_deadline - now).total_seconds()) if open_now else None
    return {
        "escalation_id": row.escalation_id,
        "case_id": row.case_id,
        "appointment_id": row.appointment_id,
        "kind": row.kind,
        "reason": row.reason,
        "level": row.level_name,
        "level_index": row.level,
        "status": row.status,
        "claimed_by": row.claimed_by,
        "sla_deadline": row.sla_deadline.isoformat(),
        "seconds_left": seconds_left,
        "breached": row.breached or (seconds_left is not None and seconds_left < 0),
        "pending_approval": (
            {"amount": f"{row.pending_amount:.2f}", "currency": row.pending_currency}
            if row.pending_amount is not None
            else None
        ),
        "approved": (
            {"amount": f"{row.approved_amount:.2f}", "by": row.approved_by}
            if row.approved_amount is not None
            else None
        ),
        "denied_reason": row.denied_reason,
        "resolved_by": row.resolved_by,
        "notes": row.notes,
        "root_cause": row.root_cause,
        "alerted": row.alerted,
        "calls_placed": row.calls_placed,
        "opened_at": row.opened_at.isoformat(),
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
    }


def breaches(store: Store, limit: int = 200) -> list[EscalationRow]:
    """Escalations that missed an SLA (still open or claimed first, soonest deadline first), then the
    expired ones, newest first: what a supervisor looks at."""
    with store.session() as s:
        live = list(
            s.scalars(
                select(EscalationRow)
                .where(EscalationRow.breached.is_(True), EscalationRow.status.in_(OPEN_STATUSES))
                .order_by(EscalationRow.sla_deadline)
                .limit(limit)
            )
        )
        expired = list(
            s.scalars(
                select(EscalationRow)
                .where(EscalationRow.status == EscalationStatus.EXPIRED.value)
                .order_by(EscalationRow.closed_at.desc())
                .limit(limit)
            )
        )
        return live + expired


def overdue(store: Store, now: datetime | None = None, limit: int = 200) -> list[EscalationRow]:
    """Open or claimed escalations whose deadline has passed but whose workflow has not moved them up yet."""
    now = now or utcnow()
    with store.session() as s:
        return list(
            s.scalars(
                select(EscalationRow)
                .where(
                    EscalationRow.status.in_(OPEN_STATUSES),
                    EscalationRow.breached.is_(False),
                    EscalationRow.sla_deadline < now,
                )
                .order_by(EscalationRow.sla_deadline)
                .limit(limit)
            )
        )


@dataclass
class Workload:
    user: str
    claimed_now: int = 0
    resolved_today: int = 0
    resolved_total: int = 0


def workload(store: Store, since: datetime) -> dict[str, Workload]:
    """Per user: escalations claimed now, resolved since `since`, and resolved in all."""
    found: dict[str, Workload] = {}

    def of(user: str | None) -> Workload:
        name = user or "?"
        return found.setdefault(name, Workload(user=name))

    with store.session() as s:
        claimed = s.execute(
            select(EscalationRow.claimed_by, func.count())
            .where(
                EscalationRow.status == EscalationStatus.CLAIMED.value,
                EscalationRow.claimed_by.is_not(None),
            )
            .group_by(EscalationRow.claimed_by)
        ).all()
        resolved = s.execute(
            select(
                EscalationRow.resolved_by,
                func.count(),
                func.count().filter(EscalationRow.closed_at >= since),
            )
            .where(
                EscalationRow.status == EscalationStatus.RESOLVED.value,
                EscalationRow.resolved_by.is_not(None),
            )
            .group_by(EscalationRow.resolved_by)
        ).all()
    for user, count in claimed:
        of(user).claimed_now = int(count)
    for user, total, today in resolved:
        of(user).resolved_total = int(total)
        of(user).resolved_today = int(today)
    return found
