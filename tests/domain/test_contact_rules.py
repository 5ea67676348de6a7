"""Quiet hours and frequency caps across time zones and DST changes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.contact_rules import after_caps, is_conversation, next_allowed, outside_quiet_hours

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
