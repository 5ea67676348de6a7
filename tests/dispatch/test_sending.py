"""`starter.py send`: the example events read true on any day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from dispatch.sending import prepare_event
from domain.events import BookingEvent
from tests.support.settings import EXAMPLES


def example(name: str = "booking_conflict.json") -> dict[str, object]:
    loaded: dict[str, object] = json.loads((EXAMPLES / name).read_text())
    return loaded


def test_the_examples_slot_moves_to_the_same_time_a_week_from_now() -> None:
    now = datetime(2027, 3, 2, 9, 15, tzinfo=UTC)
    event = BookingEvent.model_validate(prepare_event(example(), now=now))
    written = BookingEvent.model_validate(example()).data.slot
    assert event.data.slot.start > now + timedelta(days=6)
    assert event.data.slot.start.date() == datetime(2027, 3, 9).date()
    assert event.data.slot.start.timetz() == written.start.timetz()  # 10:00 -05:00, as the file says
    assert event.data.slot.end - event.data.slot.start == written.end - written.start


def test_as_is_keeps_the_ids_and_sends_the_same_body_twice_on_one_day() -> None:
    now = datetime(2027, 3, 2, 9, 15, tzinfo=UTC)
    first = prepare_event(example(), as_is=True, now=now)
    again = prepare_event(example(), as_is=True, now=now + timedelta(hours=3))
    assert first == again and first["id"] == example()["id"]  # a duplicate, recognised by its id
    assert BookingEvent.model_validate(first).data.slot.start > now


def test_a_slot_still_to_come_is_sent_as_written() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    event = prepare_event(example(), now=now)
    assert event["data"]["slot"] == example()["data"]["slot"]  # type: ignore[index]
