"""Reps on duty as the router workflow (workflows/rep_router.py) last saved them. The router holds the truth
of who is available and what is offered to whom; after every change its activity saves a `FloorSnapshot`
here, for GET /api/reps, the console and the wall. No phone numbers are kept: the router has them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from domain.routing import FloorSnapshot, RepStatus, RepView
from store.db import Store
from store.models import RepOnDuty


def save_floor(store: Store, snapshot: FloorSnapshot) -> None:
    """Every rep in the snapshot, inserted or updated; a rep whose stored row came from a later snapshot
    (by `snapshot.at`) is left as it is, so a retried or late write of an older snapshot cannot roll a rep
    back. Reps the snapshot leaves out are left as they are."""
    if not snapshot.reps:
        return
    names = [rep.user for rep in snapshot.reps]
    for attempt in range(2):
        try:
            with store.session() as s:
                rows = {
                    row.user: row
                    for row in s.scalars(select(RepOnDuty).where(RepOnDuty.user.in_(names)).with_for_update())
                }
                for rep in snapshot.reps:
                    row = rows.get(rep.user)
                    if row is None:
                        row = RepOnDuty(user=rep.user)
                        s.add(row)
                    elif row.updated_at > snapshot.at:
                        continue
                    _copy(row, rep, snapshot)
            return
        except IntegrityError:
            # another save inserted one of these reps meanwhile: once more, over what it wrote
            if attempt:
                raise


def _copy(row: RepOnDuty, rep: RepView, snapshot: FloorSnapshot) -> None:
    row.status = rep.status.value
    row.since = rep.since
    row.languages = list(rep.languages)
    row.missed_in_a_row = rep.missed_in_a_row
    row.missed_total = rep.missed_total
    row.work_id = rep.work_id
    row.offer_expires_at = rep.offer_expires_at
    row.updated_at = snapshot.at


def _view(row: RepOnDuty) -> RepView:
    return RepView(
        user=row.user,
        status=RepStatus(row.status),
        since=row.since,
        languages=tuple(row.languages),
        missed_in_a_row=row.missed_in_a_row,
        missed_total=row.missed_total,
        work_id=row.work_id,
        offer_expires_at=row.offer_expires_at,
    )


def list_reps(store: Store) -> list[RepView]:
    """Every rep the router has known, by name."""
    with store.session() as s:
        return [_view(row) for row in s.scalars(select(RepOnDuty).order_by(RepOnDuty.user))]


def get(store: Store, user: str) -> RepView | None:
    with store.session() as s:
        row = s.get(RepOnDuty, user)
        return _view(row) if row is not None else None


def by_work(store: Store) -> dict[str, RepView]:
    """work id (an escalation's, a call's, an email's) → the rep it is offered to or who works on it (in
    wrap-up after it too, until they are free again): the console's queue shows who has what."""
    with store.session() as s:
        rows = s.scalars(select(RepOnDuty).where(RepOnDuty.work_id.is_not(None)).order_by(RepOnDuty.user))
        found: dict[str, RepView] = {}
        for row in rows:
            assert row.work_id is not None
            view = _view(row)
            held = found.get(row.work_id)
            # one piece of work is with one rep at a time; should two rows name it (one saved a moment
            # behind the other), the one who is working on it, or was offered it last, is shown
            if held is None or _hold(view) > _hold(held):
                found[row.work_id] = view
        return found


def _hold(view: RepView) -> tuple[int, float]:
    rank = {RepStatus.BUSY: 3, RepStatus.OFFERED: 2, RepStatus.WRAP_UP: 1}.get(view.status, 0)
    return rank, view.since.timestamp()


def counts(store: Store) -> dict[str, int]:
    """How many reps are in each status (every status named, 0 when none): for the wall."""
    found = {status.value: 0 for status in RepStatus}
    with store.session() as s:
        for status, n in s.execute(select(RepOnDuty.status, func.count()).group_by(RepOnDuty.status)):
            found[str(status)] = int(n)
    return found
