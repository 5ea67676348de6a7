"""Reps on duty as the router saves them (store/reps.py), on SQLite and PostgreSQL: every rep upserted, an
older snapshot never rolling a rep back, the queue's work → rep map and the counts per status."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from domain.routing import FloorSnapshot, RepStatus, RepView
from store import reps
from store.db import Store

T0 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def rep(user: str, status: RepStatus, at: datetime = T0, **changes: object) -> RepView:
    values: dict[str, object] = {
        "user": user,
        "status": status,
        "since": at,
        "languages": ("en", "nl"),
        "missed_in_a_row": 0,
    }
    values.update(changes)
    return RepView.model_validate(values)


def snapshot(at: datetime, *views: RepView, waiting: int = 0) -> FloorSnapshot:
    return FloorSnapshot(reps=views, waiting=waiting, at=at)


def test_a_snapshot_is_saved_and_read_back_rep_by_rep(any_db_url: str) -> None:
    store = Store(any_db_url)
    expires = T0 + timedelta(seconds=20)
    reps.save_floor(
        store,
        snapshot(
            T0,
            rep("bob", RepStatus.AVAILABLE, languages=("nl",)),
            rep("ann", RepStatus.OFFERED, work_id="esc-1", offer_expires_at=expires, missed_total=3),
        ),
    )
    listed = reps.list_reps(store)
    assert [r.user for r in listed] == ["ann", "bob"]  # by name
    ann, bob = listed
    assert ann == rep("ann", RepStatus.OFFERED, work_id="esc-1", offer_expires_at=expires, missed_total=3)
    assert bob.languages == ("nl",) and bob.status is RepStatus.AVAILABLE and bob.work_id is None
    assert ann.since == T0 and ann.since.tzinfo is not None
    assert reps.get(store, "ann") == ann and reps.get(store, "nobody") is None

    # the next change: ann took it (busy), bob went away; both rows follow
    later = T0 + timedelta(seconds=5)
    reps.save_floor(
        store,
        snapshot(
            later,
            rep("ann", RepStatus.BUSY, later, work_id="esc-1", missed_total=3),
            rep("bob", RepStatus.AWAY, later, languages=("nl",), missed_in_a_row=2, missed_total=2),
        ),
    )
    ann, bob = reps.list_reps(store)
    assert (ann.status, ann.since, ann.work_id) == (RepStatus.BUSY, later, "esc-1")
    assert ann.offer_expires_at is None
    assert (bob.status, bob.missed_in_a_row, bob.missed_total) == (RepStatus.AWAY, 2, 2)


def test_an_older_snapshot_saved_late_does_not_roll_a_rep_back(any_db_url: str) -> None:
    store = Store(any_db_url)
    later = T0 + timedelta(seconds=30)
    reps.save_floor(store, snapshot(later, rep("ann", RepStatus.AWAY, later)))
    # a retried save of the snapshot before it arrives after: ann stays away; a rep it alone names is added
    reps.save_floor(store, snapshot(T0, rep("ann", RepStatus.AVAILABLE), rep("cid", RepStatus.AVAILABLE)))
    assert reps.get(store, "ann") == rep("ann", RepStatus.AWAY, later)
    assert reps.get(store, "cid") == rep("cid", RepStatus.AVAILABLE)
    # the same snapshot twice changes nothing; a newer one applies
    reps.save_floor(store, snapshot(later, rep("ann", RepStatus.AWAY, later)))
    assert reps.get(store, "ann") == rep("ann", RepStatus.AWAY, later)
    newest = later + timedelta(seconds=1)
    reps.save_floor(store, snapshot(newest, rep("ann", RepStatus.AVAILABLE, newest)))
    assert reps.get(store, "ann") == rep("ann", RepStatus.AVAILABLE, newest)
    # a snapshot that leaves a rep out leaves them as they were; an empty one changes nothing
    reps.save_floor(store, snapshot(newest + timedelta(seconds=1), rep("dee", RepStatus.AWAY)))
    reps.save_floor(store, snapshot(newest + timedelta(seconds=2)))
    assert [r.user for r in reps.list_reps(store)] == ["ann", "cid", "dee"]


def test_concurrent_saves_of_new_reps_both_land(any_db_url: str) -> None:
    """Two saves inserting the same new reps at once (an activity retried while its first try still ran):
    no error, and the newer snapshot wins."""
    store = Store(any_db_url)
    names = [f"rep{i:02d}" for i in range(20)]
    older = snapshot(T0, *(rep(n, RepStatus.AVAILABLE) for n in names))
    newer_at = T0 + timedelta(seconds=1)
    newer = snapshot(newer_at, *(rep(n, RepStatus.AWAY, newer_at) for n in names))
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(reps.save_floor, store, s) for s in (older, newer)]:
            future.result()
    assert {r.status for r in reps.list_reps(store)} == {RepStatus.AWAY}
    assert len(reps.list_reps(store)) == 20


def test_by_work_names_who_is_offered_or_working_on_each_piece_of_work(any_db_url: str) -> None:
    store = Store(any_db_url)
    reps.save_floor(
        store,
        snapshot(
            T0,
            rep("ann", RepStatus.OFFERED, work_id="esc-1", offer_expires_at=T0 + timedelta(seconds=20)),
            rep("bob", RepStatus.BUSY, work_id="esc-2"),
            rep("cid", RepStatus.WRAP_UP, work_id="esc-3"),
            rep("dee", RepStatus.AVAILABLE),
            rep("eve", RepStatus.AWAY),
        ),
    )
    found = reps.by_work(store)
    assert {work: (r.user, r.status) for work, r in found.items()} == {
        "esc-1": ("ann", RepStatus.OFFERED),
        "esc-2": ("bob", RepStatus.BUSY),
        "esc-3": ("cid", RepStatus.WRAP_UP),
    }
    # two rows naming one piece of work (one saved a moment behind): the one working on it is shown
    later = T0 + timedelta(seconds=3)
    reps.save_floor(store, snapshot(later, rep("dee", RepStatus.BUSY, later, work_id="esc-1")))
    assert reps.by_work(store)["esc-1"].user == "dee"


def test_counts_name_every_status(any_db_url: str) -> None:
    store = Store(any_db_url)
    assert reps.counts(store) == {"available": 0, "offered": 0, "busy": 0, "wrap_up": 0, "away": 0}
    reps.save_floor(
        store,
        snapshot(
            T0,
            rep("ann", RepStatus.AVAILABLE),
            rep("bob", RepStatus.AVAILABLE),
            rep("cid", RepStatus.BUSY, work_id="esc-2"),
            rep("dee", RepStatus.AWAY),
        ),
    )
    assert reps.counts(store) == {"available": 2, "offered": 0, "busy": 1, "wrap_up": 0, "away": 1}
