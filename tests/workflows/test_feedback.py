"""Patient feedback: after a resolved case the patient is asked once to rate it ("reply 1-5"), on the
time-skipping test server with the local providers and a real store."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain import feedback as rules
from domain.cases import CaseStatus
from domain.escalation import PATIENT_UNHAPPY, Actor, ApproveRequest, ByActor, Money, ResolveRequest
from domain.ids import feedback_workflow_id, reply_escalation_id
from store import feedback, inbox, wall
from store.db import Store
from store.models import Case, EscalationRow, Feedback, OutboundMessageRow, ReceivedEvent, TimelineItem
from store.views import case_view, load_cases
from tests.support.http import LiveServer, offline_web
from tests.support.provider_stubs import InvalidNumberPhone
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, running
from workflows.feedback import FeedbackRequest, feedback_escalation_id

PHONE = "+31612345678"


def feedback_settings(sqlite_url: str, tmp_path: Path, **changes: Any) -> Settings:
    # asked at once after the close (the default waits an hour; the test server would skip it too)
    policy = {"feedback": {"enabled": True, "delay_seconds": 0, **changes}}
    return make_settings(sqlite_url, tmp_path, policy=policy)


async def resolved_case(h: Harness, **event: Any) -> tuple[str, WorkflowHandle[Any, Any]]:
    """A booking conflict the patient answers by SMS ("2"): rebooked and resolved. Its case id and the
    handle of the FeedbackRequest it started, once that has asked."""
    accepted, handle = await h.open_case(example_event(**event))
    await h.wait_for(lambda: h.deliveries("sms", PHONE) or h.deliveries("email"))
    if h.deliveries("sms", PHONE):
        await h.sms_reply(PHONE, "2")
    result = await outcome(h, handle)
    assert result.status is CaseStatus.RESOLVED
    assert accepted.case_id is not None
    return accepted.case_id, await asked(h, accepted.case_id)


async def asked(h: Harness, case_id: str) -> WorkflowHandle[Any, Any]:
    """The case's FeedbackRequest once it has asked and is idle (the Java test server mishandles a signal
    that lands while a workflow task is in flight)."""
    handle = h.client.get_workflow_handle(feedback_workflow_id(case_id))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if await handle.query(FeedbackRequest.asked):
                await asyncio.sleep(0.3)
                return handle
        except RPCError:
            pass  # not started yet
        await asyncio.sleep(0.05)
    raise AssertionError("the feedback request was never sent")


async def outcome(h: Harness, handle: WorkflowHandle[Any, Any]) -> Any:
    """The request's result (the score, or None)."""
    return await h.result(handle)


async def reply(h: Harness, text: str) -> ReceivedEvent:
    row = await h.patient_sms(PHONE, text)
    await asyncio.sleep(0.3)
    return row


async def stop(h: Harness, handle: WorkflowHandle[Any, Any], case_id: str) -> None:
    for workflow_id in (handle.id, feedback_escalation_id(case_id), reply_escalation_id(case_id, 1)):
        try:
            await h.client.get_workflow_handle(workflow_id).terminate("test over")
        except RPCError:
            pass


def sent(h: Harness, case_id: str, key: str) -> list[OutboundMessageRow]:
    with h.store.session() as s:
        return list(
            s.scalars(
                select(OutboundMessageRow).where(
                    OutboundMessageRow.case_id == case_id, OutboundMessageRow.key == key
                )
            )
        )


def case_json(store: Store, case_id: str) -> dict[str, Any]:
    """GET /api/cases/{id} as an auditor sees it (contact details masked)."""
    ((case, ledger, items),) = load_cases(store, case_id=case_id)
    return case_view(case, ledger, items, unmasked=False, currency="USD")


def row(store: Store, case_id: str) -> Feedback:
    found = feedback.for_case(store, case_id)
    assert found is not None
    return found


# ---------------------------------------------------------------------- what a reply says


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("5", 5, ""),
        (" 4 - quick and friendly ", 4, "quick and friendly"),
        ("1. Nobody called me back!", 1, "Nobody called me back!"),
        ("3/5 ok", 3, "5 ok"),
        ("10", None, ""),  # not a digit 1-5 on its own
        ("6 great", None, ""),
        ("0", None, ""),
        ("great, thanks", None, ""),
        ("", None, ""),
    ],
)
def test_a_reply_that_starts_with_1_to_5_is_the_score_and_the_rest_the_comment(
    text: str, score: int | None, comment: str
) -> None:
    parsed = rules.parse(text)
    assert (parsed.score, parsed.comment) == (score, comment)
    assert not parsed.opt_out


def test_stop_is_an_opt_out_not_a_score() -> None:
    assert rules.parse("STOP").opt_out and rules.parse("STOP").score is None


# ---------------------------------------------------------------------- the story


async def test_a_score_is_kept_and_shown_on_the_case(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = feedback_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        case_id, handle = await resolved_case(h)
        try:
            request = h.deliveries("sms", PHONE)[-1].body
            # in the patient's language (nl), one GSM-7 segment, once
            assert "cijfer 1 (slecht) tot 5 (prima)" in request and "STOP" in request
            assert len(sent(h, case_id, "feedback")) == 1
            assert case_json(h.store, case_id)["feedback"] is None  # asked, not answered yet
            routed = await reply(h, "5")
            # the case is resolved: the reply went to its feedback request, by phone number
            assert (routed.case_id, routed.workflow_id) == (case_id, feedback_workflow_id(case_id))
            assert await outcome(h, handle) == 5
        finally:
            await stop(h, handle, case_id)

    view = case_json(h.store, case_id)
    assert view["status"] == "resolved"
    assert view["feedback"]["score"] == 5 and view["feedback"]["comment"] is None
    assert datetime.fromisoformat(view["feedback"]["at"])
    assert any(item["what"] == "feedback_received" for item in view["timeline"])
    assert h.count(EscalationRow, EscalationRow.case_id == case_id) == 0  # a happy patient: nobody called
    now = datetime.now(UTC)
    shown = wall.wall(
        h.store, since=now - timedelta(days=1), now=now, sla_seconds=600, currency="USD", daily_budget=None
    ).as_json()
    assert shown["csat_pct"] == 100.0


async def test_a_score_with_a_comment_keeps_the_comment(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = feedback_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        case_id, handle = await resolved_case(h)
        try:
            await reply(h, "4 - snel geholpen, call me on +31612345678")
            assert await outcome(h, handle) == 4
            await reply(h, "1 changed my mind")  # the request has ended: a second answer changes nothing
        finally:
            await stop(h, handle, case_id)

    stored = row(h.store, case_id)
    assert (stored.status, stored.score) == ("answered", 4)
    assert stored.comment == "snel geholpen, call me on +31612345678"
    view = case_json(h.store, case_id)
    # the patient's own words, with their number masked for those who need no contact details
    assert view["feedback"]["score"] == 4
    assert view["feedback"]["comment"].startswith("snel geholpen, call me on +316")
    assert "+31612345678" not in view["feedback"]["comment"]
    # and the wall shows it: the score and the words, without the number
    now = datetime.now(UTC)
    shown = wall.wall(
        h.store, since=now - timedelta(days=1), now=now, sla_seconds=600, currency="USD", daily_budget=None
    ).as_json()
    assert (shown["feedback_count"], shown["csat_pct"]) == (1, 100.0)
    ((quote),) = shown["recent_feedback"]
    assert quote["score"] == 4 and "snel geholpen" in quote["comment"] and "12345678" not in quote["comment"]


async def test_no_answer_within_24_hours_ends_the_request_quietly(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    # its own server: the day it skips must not depend on what earlier tests left on the shared clock
    settings = feedback_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        case_id, handle = await resolved_case(h)
        try:
            texts = len(h.deliveries("sms", PHONE))
            assert await outcome(h, handle) is None  # the test server skips the day
            late = await reply(h, "5")
        finally:
            await stop(h, handle, case_id)

    assert row(h.store, case_id).status == "expired"
    # no request listens any more: the late "5" fits no open question, so a person reads it (never dropped)
    assert late.workflow_id == reply_escalation_id(case_id, 1)
    assert len(h.deliveries("sms", PHONE)) == texts  # no reminder, no goodbye
    assert case_json(h.store, case_id)["feedback"] is None
    unhappy = h.count(
        EscalationRow, EscalationRow.reason == PATIENT_UNHAPPY, EscalationRow.case_id == case_id
    )

    assert unhappy == 0


async def test_words_that_are_not_a_score_go_to_a_person_and_the_request_still_takes_a_score(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Words without a score fit no open question (the request asks for 1-5): a person reads them with the
    conversation, rather than a re-ask that would misread "my gift card does not work" as a missing
    score; the request keeps listening for the score."""
    settings = feedback_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        case_id, handle = await resolved_case(h)
        try:
            words = await reply(h, "thank you so much")
            assert words.workflow_id == reply_escalation_id(case_id, 1)
            await h.wait_for(
                lambda: h.count(EscalationRow, EscalationRow.escalation_id == reply_escalation_id(case_id, 1))
            )
            assert sent(h, case_id, "feedback-reask") == []  # no re-ask
            await reply(h, "3 ok")
            assert await outcome(h, handle) == 3
        finally:
            await stop(h, handle, case_id)

    stored = row(h.store, case_id)
    assert (stored.score, stored.comment) == (3, "ok")
    with h.store.session() as s:
        escalation = s.get(EscalationRow, reply_escalation_id(case_id, 1))
        assert escalation is not None and escalation.reason == "patient_wrote"


async def test_a_low_score_opens_a_patient_unhappy_escalation(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = feedback_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        case_id, handle = await resolved_case(h)
        try:
            await reply(h, "1 nobody told me the new time")
            escalation_id = await h.escalation(case_id)
            assert escalation_id == feedback_escalation_id(case_id)
            with h.store.session() as s:
                esc = s.get(EscalationRow, escalation_id)
                assert esc is not None and esc.reason == "patient_unhappy" and esc.status == "open"
                case = s.get(Case, case_id)
                assert case is not None and case.status == "resolved"  # the case itself stays resolved

            # a rep calls and listens; nothing would pay a grant here, so none is accepted
            rep = Actor(user="rita", role="rep")
            await h.act(escalation_id, "claim", ByActor(actor=rep))
            ten = Money(amount=Decimal("10.00"), currency="USD")
            for update, request in (
                ("approve", ApproveRequest(actor=rep, amount=ten)),
                ("resolve", ResolveRequest(actor=rep, notes="Called her.", compensation=ten)),
            ):
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await h.act(escalation_id, update, request)
                assert "cannot pay compensation" in str(refused.value.cause)
            done = await h.act(escalation_id, "resolve", ResolveRequest(actor=rep, notes="Called her."))
            assert done.status.value == "resolved" and done.compensation is None
        finally:
            await stop(h, handle, case_id)

    assert (row(h.store, case_id).score, row(h.store, case_id).comment) == (1, "nobody told me the new time")
    assert case_json(h.store, case_id)["feedback"]["score"] == 1
    with h.store.session() as s:
        opened = s.scalars(
            select(TimelineItem.what).where(
                TimelineItem.case_id == case_id, TimelineItem.what == "escalation_opened"
            )
        ).all()
    assert opened  # on the case's timeline, for the rep who opens it from the console


async def test_stop_ends_the_request_without_a_score(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = feedback_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        case_id, handle = await resolved_case(h)
        try:
            await reply(h, "STOP")
            assert await outcome(h, handle) is None
        finally:
            await stop(h, handle, case_id)
    assert row(h.store, case_id).status == "opted_out"
    assert sent(h, case_id, "feedback-reask") == []


async def test_a_patient_texts_cannot_reach_rates_by_the_emails_links(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = feedback_settings(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    async with running(settings, own_time_skipping_env, phone=InvalidNumberPhone(store, "+15005550006")) as h:
        accepted, case = await h.open_case(example_event(data__patient__locale="en"))
        case_id = accepted.case_id or ""
        await h.wait_for(lambda: h.deliveries("email", "ada@example.com"))
        assert accepted.workflow_id is not None
        await h.until_waiting(accepted.workflow_id)
        row_id, _, _ = link_answer(h, case_id, "1")
        await h.dispatcher.dispatch(row_id)
        assert (await h.result(case)).status is CaseStatus.RESOLVED
        handle = await asked(h, case_id)
        try:
            email = [e for e in h.deliveries("email", "ada@example.com") if e.subject == "How did we do?"]
            assert len(email) == 1
            links = re.findall(r"http\S+/feedback/\S+", email[0].body)
            assert [link.split("?")[0].rsplit("/", 1)[1] for link in links] == ["1", "2", "3", "4", "5"]
            # the patient clicks 5 and adds a comment (what POST /feedback/{case}/5 stores)
            row_id, routed, _ = link_answer(h, case_id, "5 very kind people")
            assert routed == case_id
            await h.dispatcher.dispatch(row_id)
            assert await outcome(h, handle) == 5
        finally:
            await stop(h, handle, case_id)
    assert h.deliveries("sms") == []
    stored = row(h.store, case_id)
    assert (stored.channel, stored.score, stored.comment) == ("email", 5, "very kind people")


def link_answer(h: Harness, case_id: str, text: str) -> tuple[int, str | None, bool]:
    """What the patient-link pages (`POST /choose/...`, `POST /feedback/...`) store for a click."""
    return inbox.accept_patient_answer(
        h.store,
        "patient_link",
        f"link-{text}",
        "ada@example.com",
        text,
        case_id,
        {"channel": "email", "text": text},
    )


# ---------------------------------------------------------------------- the score pages


def test_the_score_link_shows_a_page_and_its_post_goes_to_the_feedback_request(
    sqlite_url: str, tmp_path: Path
) -> None:
    from web.app import create_app

    settings, port = offline_web(
        sqlite_url,
        tmp_path,
    )
    store = Store(sqlite_url)
    event = example_event()
    import json

    from domain.events import BookingEvent

    accepted = inbox.accept_booking_event(store, json.dumps(event).encode(), BookingEvent.received(event))
    case_id = accepted.case_id or ""
    now = datetime.now(UTC)
    with store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        case.status, token = "resolved", case.reply_token
    from domain.feedback import FeedbackAsked
    from domain.messaging import Channel

    feedback.asked(
        store,
        FeedbackAsked(
            case_id=case_id,
            workflow_id=feedback_workflow_id(case_id),
            channel=Channel.EMAIL,
            address="ada@example.com",
            language="nl",
            asked_at=now,
            expires_at=now + timedelta(days=1),
        ),
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        page = httpx.get(f"{server.url}/feedback/{case_id}/4", params={"t": token})
        assert page.status_code == 200 and "Uw cijfer: 4 van 5" in page.text and "<textarea" in page.text
        assert httpx.get(f"{server.url}/feedback/{case_id}/4", params={"t": "forged"}).status_code == 404
        assert httpx.get(f"{server.url}/feedback/{case_id}/9", params={"t": token}).status_code == 404
        with store.session() as s:
            assert s.scalars(select(ReceivedEvent).where(ReceivedEvent.type == "patient.replied")).all() == []
        done = httpx.post(
            f"{server.url}/feedback/{case_id}/4", data={"t": token, "comment": "fijn"}, timeout=30
        )
        assert done.status_code == 200 and "Dank u" in done.text
    with store.session() as s:
        (answer,) = s.scalars(select(ReceivedEvent).where(ReceivedEvent.type == "patient.replied")).all()
    # stored in the inbox for the case's feedback request (the relay hands it over)
    assert (answer.case_id, answer.workflow_id) == (case_id, feedback_workflow_id(case_id))
    assert answer.parsed["text"] == "4 fijn"


async def test_a_request_due_in_the_patients_quiet_hours_waits_for_the_morning(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """The case is resolved at 19:30 at the patient's; the request, due two hours later (21:30), waits
    until 08:00 their time."""
    from zoneinfo import ZoneInfo

    from tests.support.clock import at_local

    env, zone = own_time_skipping_env, "Europe/Amsterdam"
    await at_local(env, zone, 19, 30)
    policy = {"contact": {"enabled": True}, "feedback": {"enabled": True, "delay_seconds": 2 * 3600}}
    settings = make_settings(sqlite_url, tmp_path, policy=policy)
    async with running(settings, env) as h:
        accepted, case = await h.open_case(example_event(data__patient__timezone=zone))
        case_id = accepted.case_id or ""
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "2")
        assert (await h.result(case)).status is CaseStatus.RESOLVED
        await env.sleep(timedelta(hours=2, minutes=30))  # 22:00 at the patient's
        deferred = await h.wait_for(lambda: timeline_detail(h.store, case_id, "feedback_deferred"))
        until = datetime.fromisoformat(str(deferred["until"])).astimezone(ZoneInfo(zone))
        assert (until.hour, until.minute) == (8, 0)
        assert sent(h, case_id, "feedback") == [], "the patient was asked to rate us at night"
        await env.sleep(until - (await env.get_current_time()) + timedelta(seconds=5))
        handle = await asked(h, case_id)
        try:
            assert len(sent(h, case_id, "feedback")) == 1
            assert row(h.store, case_id).asked_at >= until
        finally:
            await stop(h, handle, case_id)


def timeline_detail(store: Store, case_id: str, what: str) -> dict[str, Any] | None:
    with store.session() as s:
        item = s.scalars(
            select(TimelineItem).where(TimelineItem.case_id == case_id, TimelineItem.what == what)
        ).first()
        return dict(item.detail) if item is not None else None
