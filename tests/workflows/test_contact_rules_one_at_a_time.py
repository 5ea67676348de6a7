"""Issue 17, point 2, played as the report tells it: Ada's check-in prompt in the morning, then a booking
conflict she answers with `1` (rebooked), then two more conflicts, all closed within minutes. Counts what
reached her: news about her own appointments is not held by the day's cap, and of the three resolved
cases only the latest will ask her to rate our help, once, when the contact rules allow (a day after the
check-in prompt: the one conversation that request does not close). Its own time-skipping server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from domain import ids
from domain.events import BookingEvent
from store import feedback, inbox
from store.models import Case, OutboundMessageRow, TimelineItem
from tests.support.clock import at_local
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, running

PHONE, EMAIL, ZONE = "+31612345678", "ada@example.com", "Europe/Amsterdam"
POLICY: dict[str, Any] = {"contact": {"enabled": True}, "feedback": {"enabled": True}}  # the defaults


def with_slot(event: dict[str, Any], start: datetime) -> dict[str, Any]:
    event["data"]["slot"] = {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    return event


def status(h: Harness, case_id: str) -> str:
    with h.store.session() as s:
        case = s.get(Case, case_id)
        return case.status if case is not None else ""


def timeline(h: Harness, case_id: str, what: str) -> list[dict[str, Any]]:
    with h.store.session() as s:
        items = s.scalars(
            select(TimelineItem).where(TimelineItem.case_id == case_id, TimelineItem.what == what)
        ).all()
        return [dict(item.detail) for item in items]


def first_sent(h: Harness, case_id: str) -> datetime:
    with h.store.session() as s:
        times = s.scalars(
            select(OutboundMessageRow.sent_at).where(
                OutboundMessageRow.case_id == case_id, OutboundMessageRow.status == "sent"
            )
        ).all()
        return min(t for t in times if t is not None)


async def conflict_answered_with_1(h: Harness, start: datetime) -> str:
    """A booking conflict about her appointment at `start`; she answers the offer `1` and is rebooked."""
    accepted, _ = await h.open_case(with_slot(example_event(data__patient__timezone=ZONE), start))
    case_id = accepted.case_id or ""
    offers = len([d for d in h.deliveries("sms", PHONE) if "1" in d.body])
    await h.wait_for(lambda: len([d for d in h.deliveries("sms", PHONE) if "1" in d.body]) > offers)
    await h.sms_reply(PHONE, "1")
    await h.wait_for(lambda: status(h, case_id) == "resolved", timeout=30)
    return case_id


async def test_ada_gets_the_news_at_once_and_one_request_to_rate_the_latest_case(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    morning = await at_local(env, ZONE, 8, 58)
    settings = make_settings(sqlite_url, tmp_path, policy=POLICY)
    async with running(settings, env) as h:
        # 09:00: her check-in prompt (a conversation makeright starts); she does not answer it
        booked = with_slot(example_event("appointment_booked.json"), morning + timedelta(minutes=2))
        accepted = await asyncio.to_thread(
            inbox.accept_booking_event,
            h.store,
            json.dumps(booked).encode(),
            BookingEvent.model_validate(booked),
        )
        await h.dispatcher.dispatch(accepted.event_row_id)
        await env.sleep(timedelta(minutes=3))
        (prompt,) = await h.wait_for(lambda: h.deliveries("sms", PHONE))
        prompted_at = first_sent(h, ids.watch_ref(booked["data"]["appointment_id"]))

        # then the practice cancels her appointment at 11:00 today, and two more: news, each one. (The
        # store stamps what was sent with the wall clock, which the test server's clock runs ahead of by up
        # to a day, depending on when the suite runs: the day's cap would hold news about an appointment
        # further away until a wall-clock time this test cannot fix. News less than the margin before its
        # appointment goes at once whatever that time, which is what this test is about.)
        first = morning.astimezone(ZoneInfo(ZONE)).replace(hour=11, minute=0)
        starts = [first, first + timedelta(hours=2), first + timedelta(days=1)]
        cases = [await conflict_answered_with_1(h, start) for start in starts]
        opened = await env.get_current_time()
        assert opened - morning < timedelta(minutes=15)  # all closed within minutes

        # none of the offers was held back: the first despite the morning's prompt (news about her own
        # appointment in two hours), the others because she was talking to us
        for case_id in cases:
            assert timeline(h, case_id, "outreach_deferred") == []
            assert first_sent(h, case_id) - prompted_at < timedelta(minutes=15)

        # an hour after the closes: the first two cases' requests give way to the latest's (waiting on a
        # result lets the server skip to their timers: a workflow ending inside `env.sleep` leaves the Java
        # test server unable to skip time)
        requests = [h.client.get_workflow_handle(ids.feedback_workflow_id(c)) for c in cases]
        for case_id, request in zip(cases[:2], requests[:2], strict=True):
            assert await h.result(request) is None
            assert timeline(h, case_id, "feedback_not_asked") == [
                {"reason": "superseded", "superseded_by": cases[2]}
            ]
        # the latest waits: her check-in prompt began a conversation today that it does not close
        (waits,) = await h.wait_for(lambda: timeline(h, cases[2], "feedback_deferred"))
        until = datetime.fromisoformat(waits["until"])
        assert waits["reason"] == "contact_rules"
        # a day after the prompt (as the store stamped it: the wall clock, behind the test server's), awake
        local = until.astimezone(ZoneInfo(ZONE))
        assert prompted_at + timedelta(days=1) <= until <= prompted_at + timedelta(days=1, hours=12)
        assert 8 <= local.hour < 21
        assert [d for d in h.deliveries("sms", PHONE) if "cijfer" in d.body] == []

        # the one request left is hers to get a day after the prompt (this test stops here: with the day to
        # skip, the Java test server would not advance its clock past that timer, for a reason not found yet)
        await h.until_idle(requests[2])
        await requests[2].terminate("test over")

        with h.store.session() as s:
            keys = Counter(
                (row.channel, row.key)
                for row in s.scalars(select(OutboundMessageRow).where(OutboundMessageRow.status == "sent"))
            )
    # no request to rate our help today: the earlier cases' requests were dropped for the latest's, and
    # that one waits a day after the prompt (an answer would be kept on the latest case only)
    assert keys[("sms", "feedback")] == 0
    assert [feedback.for_case(h.store, c) for c in cases] == [None, None, None]
    # what reached her today, per channel: the check-in prompt, three offers, three confirmations and
    # three gift cards by SMS; three confirmations and three gift cards by email; no call
    per_channel = Counter(d.channel for d in h.deliveries() if d.to_address in (PHONE, EMAIL))
    assert per_channel == {"sms": 10, "email": 6}, per_channel
    assert prompt.body and Counter(key for _, key in keys.elements()) == {
        "checkin-prompt-0-" + (morning + timedelta(minutes=2)).astimezone(UTC).strftime("%Y%m%dT%H%MZ"): 1,
        "offer-1": 3,
        "confirmation": 6,
        "compensation": 6,
    }
