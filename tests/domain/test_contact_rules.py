"""Quiet hours and frequency caps across time zones and DST changes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.contact_rules import (
    ContactRules,
    SentMessage,
    after_caps,
    conversation_of,
    conversations,
    is_conversation,
    latest_useful,
    next_allowed,
    next_allowed_for_news,
    outside_quiet_hours,
)

AMS, NYC, TOKYO = "Europe/Amsterdam", "America/New_York", "Asia/Tokyo"


def at(zone: str, *parts: int) -> datetime:
    year, month, day, hour, minute = parts
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(
    ("zone", "local", "expected_local"),
    [
        (AMS, (2026, 11, 23, 12, 0), (2026, 11, 23, 12, 0)),  # midday: now
        (AMS, (2026, 11, 23, 8, 0), (2026, 11, 23, 8, 0)),  # the first allowed minute
        (AMS, (2026, 11, 23, 20, 59), (2026, 11, 23, 20, 59)),
        (AMS, (2026, 11, 23, 21, 0), (2026, 11, 24, 8, 0)),  # quiet from 21:00
        (AMS, (2026, 11, 24, 3, 30), (2026, 11, 24, 8, 0)),  # before opening: the same morning
        (NYC, (2026, 11, 23, 22, 15), (2026, 11, 24, 8, 0)),
        (TOKYO, (2026, 11, 23, 7, 59), (2026, 11, 23, 8, 0)),
        # DST ends in Amsterdam on 25 Oct 2026 (03:00 CEST -> 02:00 CET): 08:00 on the wall clock
        (AMS, (2026, 10, 24, 23, 0), (2026, 10, 25, 8, 0)),
        # DST starts in New York on 8 Mar 2026 (02:00 -> 03:00)
        (NYC, (2026, 3, 7, 21, 30), (2026, 3, 8, 8, 0)),
    ],
)
def test_quiet_hours_in_the_patients_zone(
    zone: str, local: tuple[int, ...], expected_local: tuple[int, ...]
) -> None:
    moment = at(zone, *local)
    allowed = outside_quiet_hours(moment, zone)
    assert allowed.astimezone(ZoneInfo(zone)) == at(zone, *expected_local)
    assert allowed >= moment


def test_the_night_across_a_dst_change_is_an_hour_longer() -> None:
    evening = at(AMS, 2026, 10, 24, 21, 0)
    assert outside_quiet_hours(evening, AMS) - evening == timedelta(hours=12)  # 11 h on the clock + 1 h


def test_one_a_day_and_three_a_week() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert after_caps(now, []) == now
    assert after_caps(now, [now - timedelta(hours=25)]) == now
    assert after_caps(now, [now - timedelta(hours=2)]) == now + timedelta(hours=22)
    week = [now - timedelta(days=6), now - timedelta(days=4), now - timedelta(days=2)]
    assert after_caps(now, week) == now + timedelta(days=1)  # the oldest of the three leaves the week


def test_next_allowed_combines_caps_and_quiet_hours_and_spares_a_conversation() -> None:
    # a message at 20:30 in New York today: the next may go after 24 hours, but that lands at 20:30
    # tomorrow, inside the hours; one sent at 20:59 pushes the next to 20:59 tomorrow
    sent = at(NYC, 2026, 11, 23, 20, 59)
    now = at(NYC, 2026, 11, 23, 21, 30)
    assert next_allowed(now, NYC, [sent]).astimezone(ZoneInfo(NYC)) == at(NYC, 2026, 11, 24, 20, 59)
    late = at(NYC, 2026, 11, 23, 22, 0)
    # caps would allow 21:30 tomorrow: quiet, so 08:00 the day after
    assert next_allowed(late, NYC, [at(NYC, 2026, 11, 23, 21, 30)]).astimezone(ZoneInfo(NYC)) == at(
        NYC, 2026, 11, 25, 8, 0
    )
    assert next_allowed(late, NYC, [late], in_conversation=True) == late


@pytest.mark.parametrize(
    ("status", "sent", "heard", "conversation"),
    [
        ("open", 0, 0, False),  # deferred until the morning: it has said nothing yet
        ("open", 1, 0, True),  # texted them and goes on
        ("waiting_patient", 1, 0, True),  # waits on their answer
        ("escalated", 0, 1, True),  # they wrote to us in it
        ("resolved", 2, 1, False),  # over
        ("failed", 1, 0, False),
    ],
)
def test_only_a_case_in_progress_that_exchanged_messages_is_a_conversation(
    status: str, sent: int, heard: int, conversation: bool
) -> None:
    assert is_conversation(status, sent, heard) is conversation


def test_a_second_case_at_night_waits_while_the_first_is_still_deferred() -> None:
    """03:22 in Amsterdam: the first case sleeps until 08:00, having sent nothing; the second case asks
    the same rules and must wait too, not count the first as a conversation."""
    night = at(AMS, 2026, 11, 24, 3, 22)
    first_case = is_conversation("open", sent=0, heard=0)
    allowed = next_allowed(night, AMS, [], in_conversation=first_case)
    assert allowed.astimezone(ZoneInfo(AMS)) == at(AMS, 2026, 11, 24, 8, 0)


# ---------------------------------------------------------------------- the caps count conversations


def message(case_id: str, key: str, sent_at: datetime, kind: str | None = "booking_conflict") -> SentMessage:
    return SentMessage(case_id=case_id, key=key, sent_at=sent_at, kind=kind)


@pytest.mark.parametrize(
    ("case_id", "key", "kind", "conversation"),
    [
        ("case-1", "offer-1", "booking_conflict", "case-1:case"),
        ("case-1", "confirmation", "booking_conflict", "case-1:case"),  # within the case's conversation
        ("case-1", "offer-1-call", "booking_conflict", "case-1:case"),
        ("case-1", "feedback", "booking_conflict", "case-1:feedback"),  # the rating request: one of its own
        ("case-1", "feedback-reask", "booking_conflict", "case-1:feedback"),
        ("watch-ab", "checkin-prompt-0-20261124T0900Z", None, "watch-ab:checkin-prompt-0-20261124T0900Z"),
        ("watch-ab", "checkin-thanks-0", None, None),  # answers the patient's reply to the prompt
        ("case-2", "rep-will-call", "checkin_trouble", None),  # the patient reported the trouble
    ],
)
def test_which_conversation_a_message_belongs_to(
    case_id: str, key: str, kind: str | None, conversation: str | None
) -> None:
    assert conversation_of(case_id, key, kind) == conversation


def test_a_conversation_counts_once_at_its_first_message() -> None:
    nine = datetime(2026, 11, 23, 9, tzinfo=UTC)
    sent = [
        message("case-1", "offer-1", nine),
        message("case-1", "confirmation", nine + timedelta(minutes=5)),
        message("case-1", "feedback", nine + timedelta(hours=1)),
        message("watch-ab", "checkin-prompt-0-x", nine + timedelta(hours=2), kind=None),
        message("watch-ab", "checkin-thanks-0", nine + timedelta(hours=2, minutes=1), kind=None),
    ]
    found = conversations(sent)
    assert [(c.case_id, c.started_at) for c in found] == [
        ("case-1", nine),
        ("case-1", nine + timedelta(hours=1)),
        ("watch-ab", nine + timedelta(hours=2)),
    ]
    # a conversation that started before the window does not start again with its later messages
    assert [c.started_at for c in conversations(sent, since=nine + timedelta(minutes=1))] == [
        nine + timedelta(hours=1),
        nine + timedelta(hours=2),
    ]


# ---------------------------------------------------------------------- news about their own appointment


def test_the_last_useful_moment_is_a_margin_before_the_start_and_awake() -> None:
    rules = ContactRules(news_margin_seconds=3 * 3600)
    afternoon = at(AMS, 2026, 11, 24, 17, 0)
    assert latest_useful(afternoon, AMS, rules) == at(AMS, 2026, 11, 24, 14, 0)
    # 09:00 less three hours is 06:00, in the night: the last waking minute is the evening before
    morning = at(AMS, 2026, 11, 24, 9, 0)
    assert latest_useful(morning, AMS, rules) == at(AMS, 2026, 11, 23, 20, 59)
    late = at(AMS, 2026, 11, 24, 23, 30)  # 20:30 is still awake
    assert latest_useful(late, AMS, rules) == at(AMS, 2026, 11, 24, 20, 30)


def test_a_check_in_prompt_in_the_morning_does_not_hold_a_cancellation_that_afternoon_until_tomorrow() -> (
    None
):
    """The report: a check-in prompt at 09:00, the practice cancels her next appointment (tomorrow 09:00)
    at 14:00. The day's cap alone would hold the offer until 09:00 tomorrow, after the appointment it is
    about; as news about her own appointment it goes today, at once."""
    prompt = at(AMS, 2026, 11, 23, 9, 0)
    now = at(AMS, 2026, 11, 23, 14, 0)
    appointment = at(AMS, 2026, 11, 24, 9, 0)
    assert next_allowed(now, AMS, [prompt]) == at(AMS, 2026, 11, 24, 9, 0)  # what the offer got before
    assert next_allowed_for_news(now, AMS, appointment, [prompt]) == now
    # an appointment later today: the same
    assert next_allowed_for_news(now, AMS, at(AMS, 2026, 11, 23, 17, 30), [prompt]) == now


def test_news_with_time_to_spare_still_keeps_the_cap() -> None:
    """The appointment is in three days: waiting for tomorrow's 09:00 still leaves her time to act."""
    prompt = at(AMS, 2026, 11, 23, 9, 0)
    now = at(AMS, 2026, 11, 23, 14, 0)
    appointment = at(AMS, 2026, 11, 26, 9, 0)
    assert next_allowed_for_news(now, AMS, appointment, [prompt]) == at(AMS, 2026, 11, 24, 9, 0)


def test_news_keeps_the_quiet_hours() -> None:
    """Cancelled at 22:00 for 09:00 tomorrow, after a prompt this morning: not at night, but at 08:00."""
    prompt = at(AMS, 2026, 11, 23, 9, 0)
    now = at(AMS, 2026, 11, 23, 22, 0)
    appointment = at(AMS, 2026, 11, 24, 9, 0)
    assert next_allowed_for_news(now, AMS, appointment, [prompt]) == at(AMS, 2026, 11, 24, 8, 0)
    # and without anything sent today, news at night waits for the morning like any first message
    assert next_allowed_for_news(now, AMS, appointment) == at(AMS, 2026, 11, 24, 8, 0)


def test_news_in_a_conversation_goes_at_once_and_with_the_rules_off_too() -> None:
    now = at(AMS, 2026, 11, 23, 22, 0)
    appointment = at(AMS, 2026, 11, 24, 9, 0)
    assert next_allowed_for_news(now, AMS, appointment, [now], in_conversation=True) == now
    assert next_allowed_for_news(now, AMS, appointment, [now], rules=ContactRules(enabled=False)) == now
