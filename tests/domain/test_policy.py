"""domain.policy (compensation, approval, root cause) and domain.ids (stable keys)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain import ids
from domain.base import CaseKind
from domain.events import BookingEvent, BookingEventData, EventType
from domain.policy import CompensationPolicy, CompensationRule, auto_approved, compensation_amount, root_cause
from tests.support.settings import EXAMPLES

EXAMPLE = EXAMPLES / "booking_conflict.json"

POLICY = CompensationPolicy(
    currency="USD",
    auto_approve_up_to=Decimal("10.00"),
    default_amount=Decimal("5.00"),
    rules=(
        CompensationRule(kind=CaseKind.BOOKING_CONFLICT, cause="*", amount=Decimal("10.00")),
        CompensationRule(kind=CaseKind.BOOKING_CONFLICT, cause="double_booking", amount=Decimal("25.00")),
        CompensationRule(kind=CaseKind.CHECKIN_TROUBLE, cause="form_broken", amount=Decimal("7.50")),
    ),
)


# ---------------------------------------------------------------- compensation_amount


def test_kind_and_cause_rule_wins_even_when_listed_after_the_wildcard() -> None:
    assert compensation_amount(POLICY, CaseKind.BOOKING_CONFLICT, "double_booking") == Decimal("25.00")


def test_kind_wildcard_rule_when_no_cause_rule_matches() -> None:
    assert compensation_amount(POLICY, CaseKind.BOOKING_CONFLICT, "moved_by_practice") == Decimal("10.00")


def test_default_when_no_rule_for_the_kind_matches() -> None:
    assert compensation_amount(POLICY, CaseKind.CHECKIN_TROUBLE, "something_else") == Decimal("5.00")


def test_cause_rule_of_another_kind_does_not_apply() -> None:
    # "form_broken" has a rule, but only for check-in trouble
    assert compensation_amount(POLICY, CaseKind.BOOKING_CONFLICT, "form_broken") == Decimal("10.00")
    assert compensation_amount(POLICY, CaseKind.CHECKIN_TROUBLE, "form_broken") == Decimal("7.50")


def test_no_rules_means_the_default() -> None:
    policy = CompensationPolicy(default_amount=Decimal("3.00"))
    assert compensation_amount(policy, CaseKind.BOOKING_CONFLICT, "double_booking") == Decimal("3.00")


# ---------------------------------------------------------------- auto_approved


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", False),
        ("0.00", False),
        ("-1.00", False),
        ("0.01", True),
        ("9.99", True),
        ("10.00", True),  # equal to the limit
        ("10", True),
        ("10.01", False),  # above the limit
        ("25.00", False),
    ],
)
def test_auto_approved_boundaries(amount: str, expected: bool) -> None:
    assert auto_approved(POLICY, Decimal(amount)) is expected


def test_auto_approve_limit_comes_from_the_policy() -> None:
    generous = CompensationPolicy(auto_approve_up_to=Decimal("25.00"))
    assert auto_approved(generous, Decimal("25.00")) is True
    assert auto_approved(POLICY, Decimal("25.00")) is False


# ---------------------------------------------------------------- root_cause


def test_root_cause_prefers_the_hint() -> None:
    assert root_cause(EventType.SLOT_DOUBLE_BOOKED, "practice_calendar_out_of_sync") == (
        "practice_calendar_out_of_sync"
    )


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        (EventType.SLOT_CANCELLED_BY_PRACTICE, "slot_cancelled_by_practice"),
        (EventType.SLOT_DOUBLE_BOOKED, "double_booking"),
        (EventType.APPOINTMENT_MOVED_BY_PRACTICE, "moved_by_practice"),
    ],
)
@pytest.mark.parametrize("hint", [None, ""])
def test_root_cause_without_a_hint_comes_from_the_event_type(
    event_type: EventType, expected: str, hint: str | None
) -> None:
    assert root_cause(event_type, hint) == expected


def test_root_cause_is_never_empty() -> None:
    for event_type in EventType:
        assert root_cause(event_type, None)


# ---------------------------------------------------------------- ids


def data(
    appointment_id: str = "appt-123", start: str = "2026-11-24T10:00:00-05:00", **slot: str
) -> BookingEventData:
    body: dict[str, Any] = json.loads(EXAMPLE.read_text())
    body["data"]["appointment_id"] = appointment_id
    end = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()
    body["data"]["slot"] = {"start": start, "end": slot.get("end", end)}
    return BookingEvent.model_validate(body).data


def test_conflict_key_ignores_the_utc_offset_it_was_written_in() -> None:
    new_york = data(start="2026-11-24T10:00:00-05:00")
    amsterdam = data(start="2026-11-24T16:00:00+01:00")
    utc = data(start="2026-11-24T15:00:00Z")
    assert ids.conflict_key(new_york) == ids.conflict_key(amsterdam) == ids.conflict_key(utc)
    assert ids.case_id_for(ids.conflict_key(new_york)) == ids.case_id_for(ids.conflict_key(amsterdam))


def test_conflict_key_ignores_the_slot_end_and_the_rest_of_the_event() -> None:
    short = data(end="2026-11-24T10:15:00-05:00")
    long = data(end="2026-11-24T11:00:00-05:00")
    assert ids.conflict_key(short) == ids.conflict_key(long)


def test_conflict_key_differs_for_another_slot_or_appointment() -> None:
    base = ids.conflict_key(data())
    assert ids.conflict_key(data(start="2026-11-24T10:30:00-05:00")) != base
    assert ids.conflict_key(data(start="2026-11-25T10:00:00-05:00")) != base
    # the same wall-clock time in another offset is another moment
    assert ids.conflict_key(data(start="2026-11-24T10:00:00+01:00")) != base
    assert ids.conflict_key(data(appointment_id="appt-124")) != base


def test_case_and_workflow_ids_are_stable_and_distinct() -> None:
    key = ids.conflict_key(data())
    case_id = ids.case_id_for(key)
    assert case_id == ids.case_id_for(key)
    assert case_id.startswith("case-")
    assert case_id != ids.case_id_for(ids.conflict_key(data(appointment_id="appt-124")))
    assert ids.booking_conflict_workflow_id(case_id) == f"booking-conflict-{case_id}"


@pytest.mark.parametrize(
    "case_id",
    ["case-0123456789abcdef", "c", "case-" + "x" * 200, "checkin-appt-123-" + "9" * 40],
)
def test_gift_card_key_is_short_and_stable(case_id: str) -> None:
    key = ids.gift_card_key(case_id)
    assert 0 < len(key) <= 40
    assert key == ids.gift_card_key(case_id)


def test_gift_card_key_of_a_usual_case_id_is_readable() -> None:
    assert ids.gift_card_key("case-0123456789abcdef") == "mr-case-0123456789abcdef-comp"


def test_gift_card_keys_differ_between_cases() -> None:
    assert ids.gift_card_key("case-0123456789abcdef") != ids.gift_card_key("case-0123456789abcdee")
    # long ids that share a prefix must not share a gift card
    prefix = "checkin-" + "a" * 40
    assert ids.gift_card_key(prefix + "-1") != ids.gift_card_key(prefix + "-2")
