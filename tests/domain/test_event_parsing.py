"""domain.events.BookingEvent: CloudEvents envelopes, and errors that name the bad field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from domain.events import CONFLICT_TYPES, BookingEvent, EventType
from tests.support.settings import EXAMPLES

EXAMPLE = EXAMPLES / "booking_conflict.json"

ALL_TYPES = [
    "booking.slot_cancelled_by_practice",
    "booking.slot_double_booked",
    "booking.appointment_moved_by_practice",
    "booking.appointment_booked",
    "booking.appointment_rescheduled",
    "booking.appointment_cancelled",
]


def event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(EXAMPLE.read_text())
    body = copy.deepcopy(body)
    body.update(changes)
    return body


def errors_of(body: dict[str, Any]) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        BookingEvent.received(body)  # as POST /events reads it
    return list(caught.value.errors())


def error_at(body: dict[str, Any], loc: tuple[str | int, ...]) -> Any:
    errors = errors_of(body)
    found = [e for e in errors if tuple(e["loc"]) == loc]
    assert found, f"no error at {loc}: {[e['loc'] for e in errors]}"
    return found[0]


def test_the_example_parses() -> None:
    parsed = BookingEvent.model_validate_json(EXAMPLE.read_bytes())
    assert parsed.specversion == "1.0"
    assert parsed.id == "example-booking-conflict"
    assert parsed.type is EventType.SLOT_CANCELLED_BY_PRACTICE
    assert parsed.time == datetime(2026, 11, 22, 14, 3, tzinfo=UTC)
    data = parsed.data
    assert data.appointment_id == "appt-123"
    assert data.patient.phone == "+31612345678"
    assert data.patient.email == "ada@example.com"
    assert data.patient.language == "nl"
    assert data.patient.timezone == "Europe/Amsterdam"
    assert data.practice.timezone == "America/New_York"
    assert data.provider.specialty == "orthopedics"
    assert data.slot.start == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert data.slot.end - data.slot.start == timedelta(minutes=30)
    assert data.cause == "practice_calendar_out_of_sync"


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_each_contract_type_parses(kind: str) -> None:
    parsed = BookingEvent.model_validate(event(type=kind))
    assert parsed.type == kind
    assert parsed.type.value == kind


def test_the_three_conflict_types_are_the_conflicts() -> None:
    assert {t.value for t in CONFLICT_TYPES} == set(ALL_TYPES[:3])
    assert {t.value for t in EventType} == set(ALL_TYPES)


def test_cause_is_optional() -> None:
    body = event()
    del body["data"]["cause"]
    assert BookingEvent.model_validate(body).data.cause is None


def test_contact_details_and_time_are_optional() -> None:
    body = event()
    del body["time"]
    del body["data"]["patient"]["phone"]
    del body["data"]["patient"]["email"]
    parsed = BookingEvent.model_validate(body)
    assert parsed.time is None
    assert parsed.data.patient.phone is None
    assert parsed.data.patient.email is None


def test_unknown_fields_are_ignored() -> None:
    body = event(datacontenttype="application/json")
    body["data"]["patient"]["favourite_colour"] = "blue"
    assert BookingEvent.model_validate(body).data.patient.id == "pat-1"


@pytest.mark.parametrize("phone", ["0612345678", "+0612345678", "+31991234567", "+31", "phone"])
def test_bad_phone_names_its_path(phone: str) -> None:
    body = event()
    body["data"]["patient"]["phone"] = phone
    error_at(body, ("data", "patient", "phone"))


def test_a_phone_written_with_spaces_is_normalised_to_e164() -> None:
    body = event()
    body["data"]["patient"]["phone"] = "+31 6 1234 5678"
    assert BookingEvent.received(body).data.patient.phone == "+31612345678"


def test_bad_practice_phone_names_its_path() -> None:
    body = event()
    body["data"]["practice"]["phone"] = "12125550100"
    error_at(body, ("data", "practice", "phone"))


def test_bad_email_names_its_path() -> None:
    body = event()
    body["data"]["patient"]["email"] = "ada at example"
    error_at(body, ("data", "patient", "email"))


def test_missing_slot_start_names_its_path() -> None:
    body = event()
    del body["data"]["slot"]["start"]
    assert error_at(body, ("data", "slot", "start"))["type"] == "missing"


def test_missing_data_names_it() -> None:
    body = event()
    del body["data"]
    assert error_at(body, ("data",))["type"] == "missing"


@pytest.mark.parametrize("field", ["start", "end"])
def test_naive_datetime_in_slot_is_rejected_mentioning_the_offset(field: str) -> None:
    body = event()
    body["data"]["slot"][field] = "2026-11-24T10:15:00"
    if field == "start":
        body["data"]["slot"]["end"] = "2026-11-24T10:45:00-05:00"
    error = error_at(body, ("data", "slot", field))
    assert "offset" in error["msg"]


def test_naive_event_time_is_rejected() -> None:
    error = error_at(event(time="2026-11-22T14:03:00"), ("time",))
    assert "offset" in error["msg"]


@pytest.mark.parametrize(
    "end", ["2026-11-24T09:30:00-05:00", "2026-11-24T10:00:00-05:00", "2026-11-24T15:00:00Z"]
)
def test_slot_end_not_after_start_is_rejected(end: str) -> None:
    body = event()
    body["data"]["slot"]["end"] = end
    error = error_at(body, ("data", "slot", "end"))
    assert "after start" in error["msg"]


def test_slot_end_after_start_in_another_offset_is_fine() -> None:
    body = event()
    body["data"]["slot"]["end"] = "2026-11-24T16:30:00+01:00"  # 15:30Z, start is 15:00Z
    assert BookingEvent.model_validate(body).data.slot.end == datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "kind", ["booking.unknown", "booking.slot_cancelled", "", "BOOKING.SLOT_DOUBLE_BOOKED"]
)
def test_unknown_type_is_rejected(kind: str) -> None:
    error_at(event(type=kind), ("type",))


@pytest.mark.parametrize("version", ["0.3", "1", "2.0"])
def test_other_specversion_is_rejected(version: str) -> None:
    error_at(event(specversion=version), ("specversion",))


def test_missing_specversion_is_rejected() -> None:
    body = event()
    del body["specversion"]
    assert error_at(body, ("specversion",))["type"] == "missing"


@pytest.mark.parametrize("who", ["patient", "practice"])
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America", "", "../etc/passwd", "EST5EDT/", "A" * 300])
def test_unknown_timezone_is_rejected(who: str, zone: str) -> None:
    body = event()
    body["data"][who]["timezone"] = zone
    error = error_at(body, ("data", who, "timezone"))
    assert "time zone" in error["msg"]


def test_every_bad_field_is_named() -> None:
    body = event(specversion="0.3", type="booking.nope")
    body["data"]["patient"]["phone"] = "nope"
    del body["data"]["slot"]["start"]
    locs = {tuple(e["loc"]) for e in errors_of(body)}
    assert {
        ("specversion",),
        ("type",),
        ("data", "patient", "phone"),
        ("data", "slot", "start"),
    } <= locs


def test_cause_must_be_a_category() -> None:
    body = event()
    body["data"]["cause"] = "Calendar out of sync!"
    error_at(body, ("data", "cause"))


def test_parsed_event_is_frozen() -> None:
    parsed = BookingEvent.model_validate(event())
    with pytest.raises(ValidationError):
        parsed.id = "other"  # type: ignore[misc]
