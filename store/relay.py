"""Taking events from the inbox to act on them, safely with many relays at once.

A relay (or the inline dispatch right after an event is accepted) claims rows with a lease before acting:
`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL so concurrent relays pass each other by, and a conditional
UPDATE on every backend so two relays can never both hold a row. Only the oldest pending event of an
appointment can be claimed: events for one appointment are applied in order. A relay that dies leaves its
lease to lapse, and another relay picks the row up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from store.db import Store
from store.models import ReceivedEvent, utcnow

# a relay pass claims a batch and acts on it row after row: its lease covers the whole batch
LEASE = timedelta(seconds=60)
# The inline dispatch (right after an event or a reply is accepted) acts on one row and gives up after
# INLINE_WAIT, leaving the row to the relay. Its claim lapses soon after: a process killed mid-dispatch
# delays that event by seconds, not by the relay's minute.
INLINE_WAIT = timedelta(seconds=10)
INLINE_LEASE = INLINE_WAIT + timedelta(seconds=2)


def claim(
    store: Store,
    relay_id: str,
    row_ids: Sequence[int] | None = None,
    limit: int = 100,
    grace_seconds: float = 5.0,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> list[int]:
    """Claim pending events for `relay_id`, oldest first: the given rows, or up to `limit` that have waited
    `grace_seconds` (the newest are left to the inline dispatch). Returns the ids now held. `now` is the
    clock (tests move it)."""
    now = now or utcnow()
    earlier = aliased(ReceivedEvent)
    free = or_(ReceivedEvent.lease_until.is_(None), ReceivedEvent.lease_until < now)
    first_of_appointment = ~exists().where(
        and_(
            earlier.appointment_id == ReceivedEvent.appointment_id,
            earlier.id < ReceivedEvent.id,
            earlier.status == "pending",
        )
    )
    query = select(ReceivedEvent.id).where(ReceivedEvent.status == "pending", free, first_of_appointment)
    if row_ids is not None:
        query = query.where(ReceivedEvent.id.in_(list(row_ids)))
    else:
        query = query.where(ReceivedEvent.received_at <= now - timedelta(seconds=grace_seconds))
    query = query.order_by(ReceivedEvent.id).limit(limit)
    if store.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ReceivedEvent)
    held: list[int] = []
    try:
        with store.session() as s:
            for row_id in s.scalars(query).all():
                taken = s.execute(
                    update(ReceivedEvent)
                    .where(ReceivedEvent.id == row_id, ReceivedEvent.status == "pending", free)
                    .values(claimed_by=relay_id, lease_until=now + lease)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    held.append(row_id)
    except OperationalError:
        if store.engine.dialect.name != "sqlite":
            raise  # PostgreSQL away: the caller says so (an outage must not pass in silence)
        return []  # SQLite: another relay wrote first; the next pass sees its claims
    return held


def finish(store: Store, row_id: int, relay_id: str, status: str, error: str | None = None) -> None:
    """Record how acting on a claimed event ended, and let go of it (`pending` retries on a later pass)."""
    with store.session() as s:
        row = s.get(ReceivedEvent, row_id, with_for_update=True)
        assert row is not None
        if row.status != "pending":
            return  # our lease lapsed and another relay took the row over and finished it
        row.status = status
        row.attempts += 1
        row.last_error = error
        row.claimed_by = None
        row.lease_until = None
        if status == "dispatched":
            row.dispatched_at = utcnow()


def release(store: Store, row_ids: Sequence[int], relay_id: str) -> None:
    """Let go of claimed rows not acted on (no attempt counted): the next pass of any relay may take them
    at once instead of after the lease."""
    if not row_ids:
        return
    with store.session() as s:
        s.execute(
            update(ReceivedEvent)
            .where(ReceivedEvent.id.in_(list(row_ids)), ReceivedEvent.claimed_by == relay_id)
            .values(claimed_by=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
