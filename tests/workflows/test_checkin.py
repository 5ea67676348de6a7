"""Check-in: the watch that texts the check-in prompt at the right time and listens for trouble, and the
check-in-trouble case a rep works, on the time-skipping test server with the local providers.

Time moves only when a test says so (`env.sleep`, or waiting for a result): between steps the virtual
clock stands still, so "within the SLA" and "before the prompt" are facts of the test, not of timing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain import ids, messages
from domain.cases import CaseResult, CaseStatus, Outcome
from domain.checkin import WatchResult
from domain.escalation import Actor, ApproveRequest, ByActor, EscalationState, Money, ResolveRequest
from domain.events import BookingEvent
from store import inbox, users, views
from store.models import (
    Case,
    CheckInWatchRow,
    EscalationRow,
    LedgerEntry,
    ReceivedEvent,
    Ticket,
    TicketLink,
    TimelineItem,
)
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, as_web, running
from workflows.checkin import CheckInWatch

PHONE = "+31612345678"
REP_PHONE = "+31201234567"
PRACTICE_TZ = "America/New_York"


# ---------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def checkin_running(settings: Settings, env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    """`running`, and a safety net for a test that fails halfway: whatever it left open is terminated. (The
    time-skipping server is shared; a timer of a workflow whose worker is gone would hold its clock still.
    Tests end their own workflows: terminating one while its task is in flight can do the same.)"""
    async with running(settings, env) as h:
        try:
            yield h
        finally:
            with h.store.session() as s:
                left = [
                    *s.scalars(select(CheckInWatchRow.workflow_id)),
                    *s.scalars(select(Case.workflow_id)),
                    *s.scalars(select(EscalationRow.escalation_id)),
                ]
            for workflow_id in left:
                with contextlib.suppress(Exception):
                    await h.client.get_workflow_handle(workflow_id).terminate("test over")


def booked(start: datetime, type: str = "booking.appointment_booked", **changes: Any) -> dict[str, Any]:
    event = example_event("appointment_booked.json", type=type, **changes)
    event["data"]["slot"] = {
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
    }
    return event


def follow_up(event: dict[str, Any], type: str, start: datetime | None = None) -> dict[str, Any]:
    """Another event for the same appointment (rescheduled to `start`, or cancelled)."""
    other = json.loads(json.dumps(event))
    other["id"] = f"evt-{uuid.uuid4().hex[:10]}"
    other["type"] = type
    if start is not None:
        other["data"]["slot"] = {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
        }
    return other


async def send(h: Harness, event: dict[str, Any]) -> int:
    """A booking event as `POST /events` stores and dispatches it; returns the inbox row id."""
    accepted = await asyncio.to_thread(
        inbox.accept_booking_event, h.store, json.dumps(event).encode(), BookingEvent.model_validate(event)
    )
    assert accepted.case_id is None  # a case opens only when something goes wrong
    await h.dispatcher.dispatch(accepted.event_row_id)
    return accepted.event_row_id


async def sms_from_patient(h: Harness, text: str, phone: str = PHONE) -> ReceivedEvent:
    """An SMS as the Twilio webhook stores it, then relayed to whatever the inbox routed it to."""
    return await h.patient_sms(phone, text)


async def book_and_wait(
    h: Harness, start: datetime, **changes: Any
) -> tuple[dict[str, Any], int, WorkflowHandle[Any, WatchResult]]:
    """Book (or send another booking event for) an appointment at `start`; its watch waits for check-in.
    Returns the event, its inbox row and the watch."""
    event = booked(start, **changes)
    row_id = await send(h, event)
    handle = watch_handle(h, event)
    await until_status(h, handle.id, "waiting")
    return event, row_id, handle


def watch_handle(h: Harness, event: dict[str, Any]) -> WorkflowHandle[Any, WatchResult]:
    workflow_id = ids.checkin_watch_workflow_id(event["data"]["appointment_id"])
    return h.client.get_workflow_handle(workflow_id, result_type=WatchResult)


async def until_status(h: Harness, workflow_id: str, wanted: str, query: Any = CheckInWatch.status) -> None:
    """Until the workflow reports `wanted` and is idle: the Java test server mishandles a signal or update
    that lands while a workflow task is in flight (sdk-java #1903)."""
    handle = h.client.get_workflow_handle(workflow_id)
    seen = None
    for _ in range(300):
        try:
            seen = await handle.query(query)
        except Exception:  # not started yet
            seen = None
        if seen == wanted:
            await asyncio.sleep(0.3)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never reached {wanted!r} (last seen {seen!r})")


async def until_escalation(h: Harness, escalation_id: str, wanted: str) -> None:
    handle = h.client.get_workflow_handle(escalation_id)
    for _ in range(300):
        state = await handle.query("current", result_type=EscalationState)
        if state.status.value == wanted:
            await asyncio.sleep(0.3)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{escalation_id} never reached {wanted!r}")


async def until_answered(h: Harness, workflow_id: str, replies: int) -> None:
    """Until the watch has finished acting on `replies` replies (and is idle again)."""
    handle = h.client.get_workflow_handle(workflow_id)
    for _ in range(300):
        if await handle.query(CheckInWatch.replies_answered) >= replies:
            await asyncio.sleep(0.3)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never answered {replies} replies")


def watch_row(h: Harness, event: dict[str, Any]) -> CheckInWatchRow | None:
    with h.store.session() as s:
        return s.get(CheckInWatchRow, event["data"]["appointment_id"])


def prompts(h: Harness) -> list[str]:
    return [d.body for d in h.deliveries("sms", PHONE) if "formulieren" in d.body or "paperwork" in d.body]


def at(start: datetime, lang: str = "nl") -> str:
    return messages.when(start, PRACTICE_TZ, lang)


async def prompt_sent_at(handle: WorkflowHandle[Any, Any]) -> list[datetime]:
    """The virtual times at which the workflow asked for an SMS (its own history is the clock)."""
    times = []
    async for event in handle.fetch_history_events():
        if event.event_type == HistoryEventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "send_sms":
                times.append(event.event_time.ToDatetime(tzinfo=UTC))
    return times


def timeline(h: Harness, case_id: str) -> list[str]:
    with h.store.session() as s:
        return list(
            s.scalars(
                select(TimelineItem.what).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id)
            )
        )


# ---------------------------------------------------------------------- the prompt


@pytest.mark.parametrize("lead", [10, 0])
async def test_prompt_goes_out_at_check_in_time_and_not_before(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path, lead: int
) -> None:
    settings = make_settings(sqlite_url, tmp_path, checkin_prompt_lead_minutes=lead)
    env = time_skipping_env
    async with checkin_running(settings, env) as h:
        start = (await env.get_current_time()).replace(microsecond=0) + timedelta(hours=3)
        event, row_id, handle = await book_and_wait(h, start)
        assert h.event_status(row_id) == "dispatched"
        row = watch_row(h, event)
        assert row is not None and row.status == "waiting"
        assert row.prompt_at == start - timedelta(minutes=lead)
        assert row.listen_until == start + timedelta(minutes=60)

        await env.sleep(timedelta(hours=3, minutes=-lead - 1))  # a minute before check-in time
        await h.until_idle(handle)  # whatever was due by now has been acted on
        assert h.deliveries("sms") == []
        assert await handle.query(CheckInWatch.status) == "waiting"

        await env.sleep(timedelta(minutes=2))
        [prompt] = await h.wait_for(lambda: prompts(h))
        await until_status(h, handle.id, "listening")
        row = watch_row(h, event)
        assert row is not None and row.status == "listening"
        result = await h.result(handle)  # nobody answers: it listens to the end of the window

    [sent_at] = await prompt_sent_at(handle)
    due = start - timedelta(minutes=lead)
    assert due <= sent_at < due + timedelta(minutes=1)
    # the patient's language (nl), the practice and the time in the practice's zone; no name, no reason
    assert prompt.startswith("Uptown Orthopedics: inchecken voor " + at(start))
    assert "Ada" not in prompt and "Dr. Kim" not in prompt
    assert len(prompt) <= 160
    assert (result.ended_because, result.prompts_sent, result.case_id) == ("listen_window_over", 1, None)


async def test_moved_appointment_moves_the_prompt(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    async with checkin_running(settings, env) as h:
        now = (await env.get_current_time()).replace(microsecond=0)
        first, second, third = now + timedelta(hours=1), now + timedelta(hours=3), now + timedelta(hours=6)
        event, _, handle = await book_and_wait(h, first)

        moved = await send(h, follow_up(event, "booking.appointment_rescheduled", second))
        assert h.event_status(moved) == "dispatched"
        await h.wait_for(lambda: (row := watch_row(h, event)) is not None and row.slot_start == second)
        await env.sleep(timedelta(hours=1, minutes=5))  # past the old time: nothing
        await h.until_idle(handle)  # whatever was due by now has been acted on
        assert h.deliveries("sms") == []

        await env.sleep(timedelta(hours=2))  # past the new time: the prompt, for the new time
        await h.wait_for(lambda: prompts(h))
        await until_status(h, handle.id, "listening")
        assert prompts(h) == [
            messages.checkin_prompt_sms("nl", "Uptown Orthopedics", _slot(second), PRACTICE_TZ)
        ]

        # moved again after the prompt went out: a new prompt for the new time (a new send-once key)
        await send(h, follow_up(event, "booking.appointment_rescheduled", third))
        await until_status(h, handle.id, "waiting")
        await env.sleep(timedelta(hours=3, minutes=1))
        await h.wait_for(lambda: len(prompts(h)) == 2)
        result = await h.result(handle)  # time runs on to the end of the new listening window

    assert at(third) in prompts(h)[1] and at(second) in prompts(h)[0]
    sent_at = await prompt_sent_at(handle)
    assert second <= sent_at[0] < second + timedelta(minutes=1)
    assert third <= sent_at[1] < third + timedelta(minutes=1)
    assert (result.ended_because, result.prompts_sent) == ("listen_window_over", 2)
    row = watch_row(h, event)
    assert row is not None and (row.status, row.slot_start) == ("ended", third)


def _slot(start: datetime) -> Any:
    from domain.events import Slot

    return Slot(start=start, end=start + timedelta(minutes=30))


async def test_cancelled_appointment_ends_the_watch_without_a_prompt(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    async with checkin_running(settings, env) as h:
        start = (await env.get_current_time()) + timedelta(hours=2)
        event, _, handle = await book_and_wait(h, start)

        cancelled = await send(h, follow_up(event, "booking.appointment_cancelled"))
        result = await h.result(handle)
        assert h.event_status(cancelled) == "dispatched"
        await env.sleep(timedelta(hours=3))  # well past the appointment: still nothing

    assert (result.ended_because, result.prompts_sent) == ("cancelled", 0)
    assert h.deliveries() == []
    row = watch_row(h, event)
    assert row is not None and row.status == "ended"


async def test_events_for_an_appointment_without_a_watch_behave(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Rescheduled with no watch running starts one on the new slot; cancelled with no watch does nothing;
    an SMS from a patient whose watch has not prompted yet is kept, unrouted."""
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    async with checkin_running(settings, env) as h:
        start = (await env.get_current_time()).replace(microsecond=0) + timedelta(hours=2)
        event, row_id, handle = await book_and_wait(h, start, type="booking.appointment_rescheduled")
        assert h.event_status(row_id) == "dispatched"
        row = watch_row(h, event)
        assert row is not None and row.slot_start == start

        early = await sms_from_patient(h, "hello?")
        assert (early.status, early.workflow_id) == ("unrouted", None)

        nothing = booked(start, type="booking.appointment_cancelled")  # another appointment, never watched
        assert h.event_status(await send(h, nothing)) == "ignored"
        assert watch_row(h, nothing) is None

        await send(h, follow_up(event, "booking.appointment_cancelled"))
        result = await h.result(handle)
    assert result.ended_because == "cancelled"


# ---------------------------------------------------------------------- replies and trouble


async def test_trouble_reply_opens_a_case_a_rep_calls_and_resolves_with_compensation(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    rep = Actor(user="rita", role="rep")
    async with checkin_running(settings, env) as h:
        users.add_user(h.store, "rita", "rep", "rita-password-1", phone=REP_PHONE)
        start = (await env.get_current_time()) + timedelta(minutes=30)
        event, _, watch = await book_and_wait(h, start)
        await env.sleep(timedelta(minutes=31))
        await h.wait_for(lambda: prompts(h))
        await until_status(h, watch.id, "listening")

        # the patient is at the desk and the insurance form will not go through
        reply = await sms_from_patient(h, "Het formulier van mijn verzekering lukt niet")
        assert (reply.status, reply.workflow_id, reply.case_id) == ("dispatched", watch.id, None)

        case: Case = await h.wait_for(lambda: _case(h, event, status="escalated"))
        assert case.kind == "checkin_trouble" and case.needs_rep
        # the reply arrived before its case existed: it is the case's own first message for the rep, and
        # the appointment's booking tells the console who the patient is
        assert [m["text"] for m in views.patient_messages(h.store, case)] == [
            "Het formulier van mijn verzekering lukt niet"
        ]
        booking = views.booking_data(h.store, case)
        assert booking is not None and booking.patient.locale == "nl"
        assert booking.practice.name == "Uptown Orthopedics"
        assert case.workflow_id == f"checkin-trouble-{case.case_id}"
        will_call = await h.wait_for(
            lambda: [d.body for d in h.deliveries("sms", PHONE) if "belt u" in d.body]
        )
        assert will_call == [
            "Uptown Orthopedics: vervelend! Een collega belt u binnen enkele minuten om het op te lossen."
        ]

        escalation_id = f"esc-{case.case_id}-1"
        esc: EscalationRow = await h.wait_for(lambda: _escalation(h, escalation_id))
        assert (esc.kind, esc.status, esc.level_name) == ("checkin_trouble", "open", "reps")
        assert esc.sla_deadline - esc.opened_at == timedelta(minutes=5)  # the urgent SLA
        assert await watch.query(CheckInWatch.status) == "trouble"

        # within the SLA (the clock stands still): the rep claims it and has the system call the patient
        handle = h.client.get_workflow_handle(escalation_id)
        await until_escalation(h, escalation_id, "open")
        claimed = await handle.execute_update(
            "claim",
            as_web(h.settings, escalation_id, "claim", ByActor(actor=rep)),
            result_type=EscalationState,
        )
        assert claimed.claimed_by == "rita" and claimed.sla_deadline > await env.get_current_time()
        await asyncio.sleep(0.3)
        await handle.execute_update(
            "call_patient",
            as_web(h.settings, escalation_id, "call_patient", ByActor(actor=rep)),
            result_type=EscalationState,
        )
        [call] = await h.wait_for(lambda: h.deliveries("voice", REP_PHONE))
        assert "dialling +316****5678" in call.body and PHONE not in call.body
        assert h.deliveries("voice", PHONE) == []  # the patient is dialled in by the rep's call

        await asyncio.sleep(0.3)
        await handle.execute_update(
            "resolve",
            as_web(
                h.settings,
                escalation_id,
                "resolve",
                ResolveRequest(
                    actor=rep,
                    notes="Front desk had an old insurer on file; updated it with the patient on the phone.",
                    root_cause="insurer_data_outdated",
                    compensation=Money(amount=Decimal("15.00")),
                ),
            ),
            result_type=EscalationState,
        )
        trouble = h.client.get_workflow_handle(case.workflow_id, result_type=CaseResult)
        result = await h.result(trouble)
        watch_result = await h.result(watch)

    assert (result.status, result.outcome, result.compensation_amount) == (
        CaseStatus.RESOLVED,
        Outcome.RESOLVED_BY_REP,
        Decimal("15.00"),
    )
    with h.store.session() as s:
        closed = s.get(Case, case.case_id)
        assert closed is not None
        assert (closed.status, closed.outcome, closed.root_cause) == (
            "resolved",
            "resolved_by_rep",
            "insurer_data_outdated",
        )
        ledger = list(s.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case.case_id)))
        assert [(e.amount, e.status) for e in ledger] == [(Decimal("15.00"), "issued")]
        ticket = s.scalars(
            select(Ticket)
            .join(TicketLink, TicketLink.ticket_id == Ticket.ticket_id)
            .where(TicketLink.case_id == case.case_id)
        ).one()
        assert (ticket.cause, ticket.ticket_id) == ("insurer_data_outdated", closed.ticket_id)
    followed_up = [d.body for d in h.deliveries("sms", PHONE) if "opgelost" in d.body]
    # a Dutch patient's SMS says the amount as Dutch writes it (GSM-7: a plain space, not a no-break one)
    assert (
        len(followed_up) == 1
        and "cadeaubon van US$ 15,00: " in followed_up[0]
        and "/gift/" in followed_up[0]
        and "/gift/GC-" not in followed_up[0]  # the link is a random token, never the order id
    )
    gift_email = [e for e in h.deliveries("email", "ada@example.com") if "cadeaubon" in (e.subject or "")]
    assert len(gift_email) == 1 and "inchecken" in gift_email[0].body and "US$\xa015,00" in gift_email[0].body
    steps = timeline(h, case.case_id)
    for step in ["case_opened", "sms_sent", "needs_rep", "escalation_claimed", "call_requested",
                 "escalation_resolved", "compensation_issued", "ticket_linked", "case_closed"]:  # fmt: skip
        assert step in steps, (step, steps)
    # the case outlives nothing: the watch listened to the end of its window and ended as usual
    assert watch_result.ended_because == "listen_window_over" and watch_result.case_id == case.case_id


async def test_all_good_gets_thanks_and_a_second_trouble_reply_opens_no_second_case(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    async with checkin_running(settings, env) as h:
        start = (await env.get_current_time()) + timedelta(minutes=10)
        event, _, watch = await book_and_wait(h, start, data__patient__locale="en")
        await env.sleep(timedelta(minutes=11))
        await h.wait_for(lambda: prompts(h))
        await until_status(h, watch.id, "listening")

        await sms_from_patient(h, "All good!")
        thanks = await h.wait_for(lambda: [d.body for d in h.deliveries("sms", PHONE) if "thanks" in d.body])
        assert thanks == ["Uptown Orthopedics: thanks, glad all is well. See you soon!"]
        await until_answered(h, watch.id, 1)
        assert h.count(Case) == 0

        await sms_from_patient(h, "actually the kiosk says my form is incomplete")
        case: Case = await h.wait_for(lambda: _case(h, event, status="escalated"))
        await h.wait_for(lambda: _escalation(h, f"esc-{case.case_id}-1"))
        await until_answered(h, watch.id, 2)
        await until_status(h, case.workflow_id, "escalated")

        again = await sms_from_patient(h, "still stuck at the desk")
        assert (again.status, again.workflow_id, again.case_id) == ("dispatched", watch.id, case.case_id)
        # nobody claims it: the escalation climbs every level and expires; the case fails, still ticketed
        await until_answered(h, watch.id, 3)  # passed on to the case, not a case of its own
        trouble = h.client.get_workflow_handle(case.workflow_id, result_type=CaseResult)
        result = await h.result(trouble)
        watch_result = await h.result(watch)

    assert h.count(Case) == 1 and watch_result.case_id == case.case_id
    assert (result.status, result.needs_rep) == (CaseStatus.FAILED, True)
    with h.store.session() as s:
        failed = s.get(Case, case.case_id)
        assert failed is not None and (failed.status, failed.needs_rep) == ("failed", True)
        assert failed.ticket_id is not None and failed.root_cause == "checkin_paperwork"
    steps = timeline(h, case.case_id)
    assert "reply_received" in steps and "escalation_expired" in steps
    assert len([d for d in h.deliveries("sms", PHONE) if "call you" in d.body]) == 1  # one "we'll call"


async def test_stop_ends_the_watch_and_nothing_more_is_sent(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    async with checkin_running(settings, env) as h:
        start = (await env.get_current_time()) + timedelta(minutes=10)
        _, _, watch = await book_and_wait(h, start)
        await env.sleep(timedelta(minutes=11))
        await h.wait_for(lambda: prompts(h))
        await until_status(h, watch.id, "listening")
        await sms_from_patient(h, "STOP")
        result = await h.result(watch)
        late = await sms_from_patient(h, "my form does not work")

    assert result.ended_because == "opted_out"
    assert late.status == "unrouted"  # the watch no longer listens
    assert len(h.deliveries("sms", PHONE)) == 1 and h.count(Case) == 0


def _case(h: Harness, event: dict[str, Any], status: str) -> Case | None:
    with h.store.session() as s:
        return s.scalars(
            select(Case).where(Case.appointment_id == event["data"]["appointment_id"], Case.status == status)
        ).first()


def _escalation(h: Harness, escalation_id: str) -> EscalationRow | None:
    with h.store.session() as s:
        return s.get(EscalationRow, escalation_id)


def test_example_booking_can_be_played_minutes_from_now() -> None:
    """`starter.py send examples/appointment_booked.json --in-minutes 3` (and a reschedule of it)."""
    from dispatch.sending import prepare_event
    from tests.support.settings import EXAMPLES

    now = datetime(2026, 11, 23, 12, 0, 30, 123456, tzinfo=UTC)
    raw = json.loads((EXAMPLES / "appointment_booked.json").read_text())
    event = BookingEvent.model_validate(prepare_event(raw, in_minutes=3, now=now))
    assert event.type.value == "booking.appointment_booked"
    assert event.data.appointment_id != "appt-456" and event.id != "example-appointment-booked"
    assert event.data.slot.start == datetime(2026, 11, 23, 12, 3, 30, tzinfo=UTC)
    assert event.data.slot.end - event.data.slot.start == timedelta(minutes=30)

    raw = json.loads((EXAMPLES / "appointment_booked.json").read_text())
    moved = prepare_event(
        raw, in_minutes=10, appointment_id="appt-mine", event_type="booking.appointment_rescheduled", now=now
    )
    assert BookingEvent.model_validate(moved).data.appointment_id == "appt-mine"
    assert moved["type"] == "booking.appointment_rescheduled"


async def test_a_rep_grants_compensation_with_nothing_pending_and_it_is_paid_at_resolve(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """CONTRACT.md: `/approve` with nothing pending grants the amount given (within the caller's limit);
    the check-in-trouble case pays it when the rep resolves."""
    settings = make_settings(sqlite_url, tmp_path)
    env = time_skipping_env
    rep = Actor(user="rita", role="rep")
    async with checkin_running(settings, env) as h:
        start = (await env.get_current_time()) + timedelta(minutes=30)
        event, _, watch = await book_and_wait(h, start)
        await env.sleep(timedelta(minutes=31))
        await h.wait_for(lambda: prompts(h))
        await until_status(h, watch.id, "listening")
        await sms_from_patient(h, "De kiosk weigert mijn pas")
        case: Case = await h.wait_for(lambda: _case(h, event, status="escalated"))
        escalation_id = f"esc-{case.case_id}-1"
        await h.wait_for(lambda: _escalation(h, escalation_id))
        handle = h.client.get_workflow_handle(escalation_id)
        await until_escalation(h, escalation_id, "open")
        await handle.execute_update(
            "claim",
            as_web(h.settings, escalation_id, "claim", ByActor(actor=rep)),
            result_type=EscalationState,
        )
        await asyncio.sleep(0.3)
        granted = await handle.execute_update(
            "approve",
            as_web(
                h.settings,
                escalation_id,
                "approve",
                ApproveRequest(actor=rep, amount=Money(amount=Decimal("15.00"))),
            ),
            result_type=EscalationState,
        )
        assert granted.approved == Money(amount=Decimal("15.00")) and granted.pending_approval is None
        await asyncio.sleep(0.3)
        await handle.execute_update(
            "resolve",
            as_web(
                h.settings,
                escalation_id,
                "resolve",
                ResolveRequest(
                    actor=rep, notes="Kiosk reset; checked in at the desk.", root_cause="kiosk_fault"
                ),
            ),
            result_type=EscalationState,
        )
        trouble = h.client.get_workflow_handle(case.workflow_id, result_type=CaseResult)
        result = await h.result(trouble)
        await h.result(watch)

    assert (result.status, result.compensation_amount) == (CaseStatus.RESOLVED, Decimal("15.00"))
    with h.store.session() as s:
        ledger = list(s.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case.case_id)))
        assert [(e.amount, e.status) for e in ledger] == [(Decimal("15.00"), "issued")]
    assert any("US$ 15,00" in d.body for d in h.deliveries("sms", PHONE) if "opgelost" in d.body)
