"""The inbox's accept path (store/inbox.py) on both databases: a new event is its row (and its case) at once;
a repeat, by event id or by conflict, is recognised however many arrive at the same moment."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from domain.events import BookingEvent
from store import inbox
from store.db import Store
from store.metrics import snapshot
from store.models import Case, ReceivedEvent, TimelineItem
from tests.support.settings import example_event


def accept(store: Store, body: dict[str, Any]) -> inbox.Accepted:
    return inbox.accept_booking_event(store, json.dumps(body).encode(), BookingEvent.received(body))


def rows(store: Store) -> list[tuple[str, str | None, str, int | None]]:
    with store.session() as s:
        found = s.execute(
            select(
                ReceivedEvent.external_id,
                ReceivedEvent.case_id,
                ReceivedEvent.status,
                ReceivedEvent.duplicate_of,
            ).order_by(ReceivedEvent.id)
        )
        return [tuple(r) for r in found]  # type: ignore[misc]


def test_a_conflict_opens_its_case_and_another_report_of_it_is_kept_as_a_duplicate(any_db_url: str) -> None:
    store = Store(any_db_url)
    event = example_event()
    first = accept(store, event)
    assert first.duplicate is False and first.case_id
    second = accept(store, dict(event, id="evt-second-report", type="booking.slot_double_booked"))
    assert (second.duplicate, second.case_id, second.workflow_id) == (True, first.case_id, first.workflow_id)
    assert rows(store) == [
        (event["id"], first.case_id, "pending", None),
        ("evt-second-report", first.case_id, "duplicate", first.event_row_id),
    ]
    with store.session() as s:
        assert s.scalars(select(Case.case_id)).all() == [first.case_id]
        assert s.scalars(select(TimelineItem.what)).all() == ["case_opened"]


def test_the_same_event_id_again_leaves_no_row_and_is_counted(any_db_url: str) -> None:
    store = Store(any_db_url)
    event = example_event()
    first = accept(store, event)
    again = accept(store, event)
    assert again == inbox.Accepted(first.event_row_id, first.case_id, first.workflow_id, duplicate=True)
    assert len(rows(store)) == 1
    assert snapshot(store).events.get((event["type"], "duplicate")) == 1


def test_a_booking_is_a_row_for_its_check_in_watch_and_opens_no_case(any_db_url: str) -> None:
    store = Store(any_db_url)
    booked = example_event("appointment_booked.json")
    accepted = accept(store, booked)
    assert accepted.case_id is None and accepted.workflow_id == (
        f"checkin-watch-{booked['data']['appointment_id']}"
    )
    assert accept(store, booked).duplicate is True
    assert [r[2] for r in rows(store)] == ["pending"]


def test_reports_of_one_conflict_arriving_at_once_open_one_case(any_db_url: str) -> None:
    """Twelve posts at the same moment: four of one event id, eight other reports of the same conflict.
    One case, one row that starts it, every other report a duplicate row of it, the repeats no row."""
    store = Store(any_db_url)
    event = example_event()
    bodies = [event] * 4 + [dict(event, id=f"evt-report-{n}") for n in range(8)]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda body: accept(store, body), bodies))
    case_ids = {a.case_id for a in answers}
    assert len(case_ids) == 1
    found = rows(store)
    starters = [r for r in found if r[2] == "pending"]
    assert len(found) == 9 and len(starters) == 1
    assert sum(not a.duplicate for a in answers) == 1
    with store.session() as s:
        starter_id = s.scalars(select(ReceivedEvent.id).where(ReceivedEvent.status == "pending")).one()
        assert len(s.scalars(select(Case)).all()) == 1
    assert {r[3] for r in found if r[2] == "duplicate"} == {starter_id}


def test_a_new_conflicts_case_is_written_whole_on_either_database(any_db_url: str) -> None:
    """PostgreSQL writes the event, the case and its first entry in one statement, SQLite in three: the
    stored case reads the same."""
    store = Store(any_db_url)
    event = example_event()
    first = accept(store, event)
    data = BookingEvent.received(event).data
    with store.session() as s:
        case = s.get(Case, first.case_id)
        entry = s.scalars(select(TimelineItem)).one()
    assert case is not None
    assert (case.workflow_id, case.kind, case.status, case.needs_rep) == (
        first.workflow_id,
        "booking_conflict",
        "open",
        False,
    )
    assert (case.appointment_id, case.patient_id, case.patient_phone, case.patient_email) == (
        data.appointment_id,
        data.patient.id,
        data.patient.phone,
        data.patient.email,
    )
    assert case.original_slot == data.slot.model_dump(mode="json") and case.root_cause == data.cause
    assert case.event_type == event["type"] and len(case.reply_token) >= 20
    assert case.opened_at == case.updated_at == entry.at
    assert (entry.case_id, entry.what, entry.key) == (first.case_id, "case_opened", "opened")
    assert entry.detail == {"event_id": event["id"], "type": event["type"], "source": event["source"]}
