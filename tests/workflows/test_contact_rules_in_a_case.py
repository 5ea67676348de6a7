"""Quiet hours and frequency caps in a running case, with time skipping: the first message waits on a
durable timer until it may go, in the patient's own time zone; nothing is dropped."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from store.models import Case, OutboundMessageRow, TimelineItem
from tests.support.clock import at_local
from tests.support.prism import add_case
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, running

PHONE = "+31612345678"
RULES_ON: dict[str, Any] = {"contact": {"enabled": True}}


def zone_where_it_is(now: datetime, local_hour: int) -> str:
    """A fixed-offset zone in which `now` falls at about `local_hour`."""
    offset = ((local_hour - now.hour + 12) % 24) - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def a_week_ahead(now: datetime) -> dict[str, str]:
    """A slot a week after `now` (the example's is in the past): news the caps may hold for a day, since
    it still helps then (`contact_rules.next_allowed_for_news`)."""
    start = now + timedelta(days=7)
    return {
        "data__slot__start": start.isoformat(),
        "data__slot__end": (start + timedelta(minutes=30)).isoformat(),
    }


def texted_by_another_case(h: Harness, sent_at: datetime) -> None:
    """The patient already got an SMS from another case at `sent_at`; that case has closed since (an offer
    still open would hold a new one back: one offer at a time)."""
    other_case = add_case(h.store)
    with h.store.session() as s:
        s.execute(update(Case).where(Case.case_id == other_case).values(status="resolved"))
        s.add(
            OutboundMessageRow(
                case_id=other_case,
                key="offer-1",
                channel="sms",
                to_address=PHONE,
                body="an earlier message",
                status="sent",
                provider_id="SM" + uuid.uuid4().hex,
                sent_at=sent_at,
            )
        )


def timeline_of(h: Harness, case_id: str) -> list[str]:
    with h.store.session() as s:
        return list(s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == case_id)))


def deferrals(h: Harness, case_id: str) -> list[datetime]:
    with h.store.session() as s:
        items = s.scalars(
            select(TimelineItem).where(
                TimelineItem.case_id == case_id, TimelineItem.what == "outreach_deferred"
            )
        ).all()
        return [datetime.fromisoformat(str(item.detail["until"])) for item in items]


async def test_a_case_opened_at_night_texts_the_patient_at_eight_in_their_zone(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    now = await own_time_skipping_env.get_current_time()
    zone = zone_where_it_is(now, 2)  # 02:xx at the patient's
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event(data__patient__timezone=zone))
        assert accepted.case_id
        until = (await h.wait_for(lambda: deferrals(h, accepted.case_id or "")))[0]
        local = until.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (8, 0) and until > now
        assert h.deliveries("sms", PHONE) == []  # not at night
        await own_time_skipping_env.sleep(until - now + timedelta(seconds=5))
        offer = await h.wait_for(lambda: h.deliveries("sms", PHONE))
        assert "Uptown Orthopedics" in offer[0].body
        await h.end(handle)


async def test_a_patient_texted_two_hours_ago_by_another_case_hears_from_us_a_day_later(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    now = await own_time_skipping_env.get_current_time()
    zone = zone_where_it_is(now, 11)  # late morning: a day later is within the hours too
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, own_time_skipping_env) as h:
        sent_at = now - timedelta(hours=2)
        texted_by_another_case(h, sent_at)
        accepted, handle = await h.open_case(example_event(data__patient__timezone=zone, **a_week_ahead(now)))
        until = (await h.wait_for(lambda: deferrals(h, accepted.case_id or "")))[0]
        assert abs((until - (sent_at + timedelta(days=1))).total_seconds()) < 1  # one a day
        assert h.deliveries("sms", PHONE) == []
        await own_time_skipping_env.sleep(until - now + timedelta(seconds=5))
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.end(handle)


async def test_without_recent_messages_in_daytime_the_offer_goes_at_once(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    now = await own_time_skipping_env.get_current_time()
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event(data__patient__timezone=zone_where_it_is(now, 14)))
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        assert deferrals(h, accepted.case_id or "") == []
        await h.end(handle)


def next_spring_forward(after: datetime, zone: str) -> date:
    """The first day after tomorrow on which the clocks in `zone` go forward."""
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date() + timedelta(days=2)  # its evening before is still ahead
    while True:
        before, later = (datetime.combine(day, t, tz).utcoffset() for t in (time(0), time(12)))
        assert before is not None and later is not None
        if later > before:
            return day
        day += timedelta(days=1)


async def test_a_night_across_the_spring_dst_change_defers_to_eight_on_the_new_clock(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Its own test server: the clock is moved months ahead, to the evening before the next night
    Amsterdam springs forward (02:00 CET becomes 03:00 CEST; the last Sunday of March)."""
    from tests.support.settings import TEST_CONVERTER, venv_binary

    path = venv_binary("temporal-test-server")
    assert path
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=TEST_CONVERTER
    )
    try:
        amsterdam = ZoneInfo("Europe/Amsterdam")
        now = await env.get_current_time()
        spring = next_spring_forward(now, "Europe/Amsterdam")
        utc = ZoneInfo("UTC")
        evening = datetime.combine(spring - timedelta(days=1), time(23, 30), amsterdam).astimezone(utc)  # CET
        eight = datetime.combine(spring, time(8, 0), amsterdam).astimezone(utc)  # 08:00 CEST
        assert eight - evening == timedelta(hours=7, minutes=30)  # an hour of the night is skipped
        await env.sleep(evening - now)
        settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
        async with running(settings, env) as h:
            accepted, handle = await h.open_case(example_event(data__patient__timezone="Europe/Amsterdam"))
            until = (await h.wait_for(lambda: deferrals(h, accepted.case_id or "")))[0]
            assert until == eight  # 08:00 on the new clock, not 09:00
            assert until.astimezone(amsterdam).hour == 8
            assert h.deliveries("sms", PHONE) == []
            await env.sleep(until - (await env.get_current_time()) + timedelta(seconds=5))
            await h.wait_for(lambda: h.deliveries("sms", PHONE))
            await h.end(handle)
    finally:
        await env.shutdown()


async def test_a_patient_in_a_conversation_is_answered_at_once(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """They texted us an hour ago (about another case): the caps and the night are no reason to wait."""
    from store.models import InboundMessage

    now = await own_time_skipping_env.get_current_time()
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, own_time_skipping_env) as h:
        texted_by_another_case(h, now - timedelta(hours=2))
        with h.store.session() as s:
            s.add(
                InboundMessage(
                    channel="sms",
                    provider_id="SMfrompatient",
                    from_address=PHONE,
                    body="2",
                    received_at=now - timedelta(hours=1),
                )
            )
        accepted, handle = await h.open_case(example_event(data__patient__timezone=zone_where_it_is(now, 2)))
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        assert deferrals(h, accepted.case_id or "") == []
        await h.end(handle)


async def test_two_conflicts_at_night_for_one_patient_both_wait_for_the_morning(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """The reproduction: 03:22 at the patient's, a first conflict is deferred until 08:00; a second one for
    the same patient must not count the first (open, but it has not said a word yet) as a conversation
    and text them at once."""
    env, zone = own_time_skipping_env, "Europe/Amsterdam"
    night = await at_local(env, zone, 3, 22)
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, env) as h:
        first, first_handle = await h.open_case(example_event(data__patient__timezone=zone))
        until = (await h.wait_for(lambda: deferrals(h, first.case_id or "")))[0]
        second, second_handle = await h.open_case(example_event(data__patient__timezone=zone))
        assert second.case_id != first.case_id
        await h.wait_for(lambda: deferrals(h, second.case_id or "") or h.deliveries("sms", PHONE))
        assert h.deliveries("sms", PHONE) == [], "a patient was texted at 03:22 their time"
        assert deferrals(h, second.case_id or "") == [until]
        morning = until.astimezone(ZoneInfo(zone))
        assert (morning.hour, morning.minute) == (8, 0) and until > night
        await env.sleep(until - night + timedelta(seconds=5))
        # in the morning the first offer goes; the second waits until she has answered it (one offer
        # open at a time, so a "1" means one thing)
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.wait_for(lambda: "offer_waits" in timeline_of(h, second.case_id or ""))
        assert len(h.deliveries("sms", PHONE)) == 1
        await h.end(first_handle)
        await h.end(second_handle)


async def test_a_case_that_slept_through_the_night_asks_again_and_keeps_the_days_cap(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Deferred at 03:22 until 08:00; at 07:00 another case texts the patient. At 08:00 the caps are asked
    again: one a day, so the offer waits until 08:00 the next day instead of going out on waking."""
    env, zone = own_time_skipping_env, "Europe/Amsterdam"
    night = await at_local(env, zone, 3, 22)
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, env) as h:
        accepted, handle = await h.open_case(
            example_event(data__patient__timezone=zone, **a_week_ahead(night))
        )
        case_id = accepted.case_id or ""
        until = (await h.wait_for(lambda: deferrals(h, case_id)))[0]
        seven = await at_local(env, zone, 7, 0)
        texted_by_another_case(h, seven)
        await env.sleep(until - seven + timedelta(seconds=5))  # past 08:00: the case wakes up
        again = await h.wait_for(lambda: deferrals(h, case_id)[1:] or h.deliveries("sms", PHONE))
        assert h.deliveries("sms", PHONE) == [], "texted twice within a day"
        next_morning = again[0].astimezone(ZoneInfo(zone))
        assert next_morning.date() == (until + timedelta(days=1)).astimezone(ZoneInfo(zone)).date()
        assert (next_morning.hour, next_morning.minute) == (8, 0)
        now = await env.get_current_time()
        await env.sleep(again[0] - now + timedelta(seconds=5))
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.end(handle)


async def test_a_check_in_prompt_this_morning_does_not_hold_news_about_tomorrows_appointment(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """The report: a check-in prompt at 09:00, and at 14:00 the practice cancels her appointment at 09:00
    tomorrow. The day's cap (one conversation a day) would have held the offer until 09:00 tomorrow, when
    the slot is gone; it is news about her own appointment, so it goes today, at once."""
    from domain.ids import watch_ref

    env, zone = own_time_skipping_env, "Europe/Amsterdam"
    afternoon = await at_local(env, zone, 14, 0)
    settings = make_settings(sqlite_url, tmp_path, policy=RULES_ON)
    async with running(settings, env) as h:
        with h.store.session() as s:
            s.add(
                OutboundMessageRow(
                    case_id=watch_ref("appt-this-morning"),
                    key="checkin-prompt-0-this-morning",
                    channel="sms",
                    to_address=PHONE,
                    body="Checking in? Reply OK",
                    status="sent",
                    provider_id="SM" + uuid.uuid4().hex,
                    sent_at=afternoon - timedelta(hours=5),
                )
            )
        tomorrow = (afternoon + timedelta(days=1)).astimezone(ZoneInfo(zone)).replace(hour=9, minute=0)
        event = example_event(
            data__patient__timezone=zone,
            data__slot__start=tomorrow.isoformat(),
            data__slot__end=(tomorrow + timedelta(minutes=30)).isoformat(),
        )
        accepted, handle = await h.open_case(event)
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        assert deferrals(h, accepted.case_id or "") == []
        await h.end(handle)
