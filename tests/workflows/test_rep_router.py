"""The floor end to end on the time-skipping server: a check-in trouble case's escalation rings the next
free rep (the one who speaks the patient's language first), an offer that rings out goes to the next rep,
pressing 1 claims the escalation, a call's end starts wrap-up, a console claim withdraws the offer, and a
patient the rep's call did not reach is texted and goes back to the queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.escalation import Actor, ByActor, EscalationState, ResolveRequest
from domain.routing import (
    Floor,
    OfferAnswer,
    OfferCallStatus,
    OfferDecision,
    PatientCallResult,
    PresenceChange,
    RepStatus,
    RepView,
    RouterInput,
    router_workflow_id,
)
from store.models import Case
from tests.support.settings import make_settings
from tests.support.workflow_harness import Harness, as_web
from tests.workflows.test_checkin import (
    PHONE,
    book_and_wait,
    checkin_running,
    sms_from_patient,
    timeline,
    until_escalation,
    until_status,
)

ANNA = "+31201110001"  # speaks Dutch and English
BOB = "+31201110002"  # English only


def floor_settings(sqlite_url: str, tmp_path: Path, **routing: Any) -> Settings:
    rules = {"offer_seconds": 20, "max_missed": 2, "wrap_up_seconds": 30, **routing}
    rules.setdefault("auto_call_reasons", ["checkin_trouble"])
    return make_settings(sqlite_url, tmp_path, routing=rules)


@contextlib.asynccontextmanager
async def floor_running(settings: Settings, env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    """The check-in harness, and the router ended with the test (it runs for good otherwise)."""
    async with checkin_running(settings, env) as h:
        try:
            yield h
        finally:
            with contextlib.suppress(Exception):
                await router(h).terminate("test over")


def router(h: Harness) -> Any:
    return h.client.get_workflow_handle(router_workflow_id(h.settings.task_queue))


async def start_router(h: Harness) -> None:
    await h.client.start_workflow(
        "RepRouter",
        RouterInput(policy=h.settings.routing, public_base_url=h.settings.public_base_url),
        id=router_workflow_id(h.settings.task_queue),
        task_queue=h.settings.task_queue,
    )


async def presence(h: Harness, user: str, status: str, phone: str | None = None, **kw: Any) -> RepView:
    change = PresenceChange(user=user, status=status, phone=phone, **kw)
    result: RepView = await router(h).execute_update("set_presence", change, result_type=RepView)
    return result


async def floor(h: Harness) -> Floor:
    result: Floor = await router(h).query("floor", result_type=Floor)
    return result


async def until_floor(h: Harness, check: Any, what: str) -> Floor:
    seen = None
    for _ in range(300):
        seen = await floor(h)
        if check(seen):
            await asyncio.sleep(0.3)
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"the floor never showed {what}: {seen}")


async def trouble_case(h: Harness, env: WorkflowEnvironment) -> tuple[Case, str]:
    """A Dutch patient at check-in texts that the paperwork fails: the case and its escalation's id."""
    start = (await env.get_current_time()) + timedelta(minutes=30)
    event, _, watch = await book_and_wait(h, start)
    await env.sleep(timedelta(minutes=31))
    await until_status(h, watch.id, "listening")
    await sms_from_patient(h, "Het formulier lukt niet")
    case: Case = await h.wait_for(lambda: _case(h, event["data"]["appointment_id"]))
    return case, f"esc-{case.case_id}-1"


def _case(h: Harness, appointment_id: str) -> Case | None:
    from sqlalchemy import select

    with h.store.session() as s:
        return s.scalars(
            select(Case).where(Case.appointment_id == appointment_id, Case.kind == "checkin_trouble")
        ).first()


async def answer(h: Harness, offer_id: str, digits: str) -> OfferDecision:
    result: OfferDecision = await router(h).execute_update(
        "answer_offer", OfferAnswer(offer_id=offer_id, digits=digits), result_type=OfferDecision
    )
    return result


async def resolve_and_end(h: Harness, client: Client, escalation_id: str, user: str) -> None:
    """The rep resolves it, so the case ends (the harness terminates whatever a failed test left)."""
    req = ResolveRequest(actor=Actor(user=user, role="rep"), notes="sorted", root_cause="checkin_paperwork")
    with contextlib.suppress(Exception):
        await client.get_workflow_handle(escalation_id).execute_update(
            "resolve", as_web(h.settings, escalation_id, "resolve", req), result_type=EscalationState
        )


async def test_the_dutch_speaker_is_rung_first_then_the_next_rep_who_presses_1_and_owns_it(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    settings = floor_settings(sqlite_url, tmp_path)
    async with floor_running(settings, env) as h:
        await start_router(h)
        # bob went available first (idle longest), but anna speaks the patient's language
        bob = await presence(h, "bob", "available", BOB, languages=("en",))
        anna = await presence(h, "anna", "available", ANNA, languages=("nl", "en"))
        assert (bob.status, anna.status) == (RepStatus.AVAILABLE, RepStatus.AVAILABLE)

        case, escalation_id = await trouble_case(h, env)
        [ring] = await h.wait_for(lambda: h.deliveries("voice", ANNA))
        assert "Check-in trouble" in ring.body and "Dutch" in ring.body and PHONE not in ring.body
        assert h.deliveries("voice", BOB) == []
        offered = await until_floor(h, lambda f: f.reps["anna"].status is RepStatus.OFFERED, "anna offered")
        assert offered.reps["bob"].status is RepStatus.AVAILABLE

        # anna lets it ring out: after the offer time it goes to bob, and anna has one miss
        await env.sleep(timedelta(seconds=21))
        [ring_bob] = await h.wait_for(lambda: h.deliveries("voice", BOB))
        assert "Press 1" in ring_bob.body
        now = await until_floor(h, lambda f: f.reps["bob"].status is RepStatus.OFFERED, "bob offered")
        assert (now.reps["anna"].status, now.reps["anna"].missed_in_a_row) == (RepStatus.AVAILABLE, 1)
        assert len(h.deliveries("voice", ANNA)) == 1  # nobody rung twice for the same offer

        # a late 1 from anna is refused; bob's 1 takes it and the escalation is his
        late = await answer(h, f"{escalation_id}.o1", "1")
        assert not late.accepted and late.reason and "no longer open" in late.reason
        took = await answer(h, f"{escalation_id}.o2", "1")
        assert took.accepted and took.escalation_id == escalation_id and took.case_id == case.case_id
        state = await _until_claimed(h, escalation_id)
        assert state.claimed_by == "bob"
        busy = await until_floor(h, lambda f: f.reps["bob"].status is RepStatus.BUSY, "bob busy")
        assert busy.queue == () and busy.offers == {}

        # the call ends: wrap-up, then available again
        await router(h).signal(
            "offer_call_status", OfferCallStatus(offer_id=took_offer(escalation_id, 2), status="completed")
        )
        await until_floor(h, lambda f: f.reps["bob"].status is RepStatus.WRAP_UP, "bob wrapping up")
        await env.sleep(timedelta(seconds=31))
        await until_floor(h, lambda f: f.reps["bob"].status is RepStatus.AVAILABLE, "bob free again")
        steps = timeline(h, case.case_id)
        assert "rep_rung" in steps and "offer_missed" in steps and "offer_accepted" in steps
        await resolve_and_end(h, h.client, escalation_id, "bob")


def took_offer(escalation_id: str, n: int) -> str:
    return f"{escalation_id}.o{n}"


async def _until_claimed(h: Harness, escalation_id: str) -> EscalationState:
    handle = h.client.get_workflow_handle(escalation_id)
    for _ in range(300):
        state: EscalationState = await handle.query("current", result_type=EscalationState)
        if state.claimed_by:
            await asyncio.sleep(0.3)
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{escalation_id} was never claimed")


async def test_a_console_claim_withdraws_the_offer_and_stops_the_ringing(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    settings = floor_settings(sqlite_url, tmp_path)
    async with floor_running(settings, env) as h:
        await start_router(h)
        await presence(h, "anna", "available", ANNA)
        _, escalation_id = await trouble_case(h, env)
        await h.wait_for(lambda: h.deliveries("voice", ANNA))
        await until_escalation(h, escalation_id, "open")
        rita = Actor(user="rita", role="rep")
        await h.client.get_workflow_handle(escalation_id).execute_update(
            "claim",
            as_web(h.settings, escalation_id, "claim", ByActor(actor=rita)),
            result_type=EscalationState,
        )
        after = await until_floor(h, lambda f: f.reps["anna"].status is RepStatus.AVAILABLE, "anna freed")
        assert after.queue == () and after.reps["anna"].missed_in_a_row == 0
        [call] = h.deliveries("voice", ANNA)
        assert await h.wait_for(lambda: _ended(h, call.provider_id))
        await resolve_and_end(h, h.client, escalation_id, "rita")


def _ended(h: Harness, provider_id: str) -> bool:
    from store import local_calls

    with h.store.session() as s:
        from sqlalchemy import select

        from store.models import LocalDelivery

        row = s.scalars(select(LocalDelivery).where(LocalDelivery.provider_id == provider_id)).one()
        return row.call_status in local_calls.ENDED


async def test_nobody_free_the_work_waits_and_goes_to_the_first_rep_who_becomes_available(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    settings = floor_settings(sqlite_url, tmp_path)
    async with floor_running(settings, env) as h:
        await start_router(h)
        _, escalation_id = await trouble_case(h, env)
        await until_floor(h, lambda f: len(f.queue) == 1, "the work waiting")
        assert h.deliveries("voice", BOB) == []
        await presence(h, "bob", "available", BOB, languages=("en",))
        [ring] = await h.wait_for(lambda: h.deliveries("voice", BOB))
        assert "Dutch" in ring.body  # nobody speaks it: the free rep gets it rather than nobody
        await resolve_and_end(h, h.client, escalation_id, "bob")


async def test_a_patient_the_call_did_not_reach_is_texted_and_the_escalation_goes_back_to_the_queue(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    settings = floor_settings(sqlite_url, tmp_path)
    async with floor_running(settings, env) as h:
        await start_router(h)
        await presence(h, "anna", "available", ANNA)
        case, escalation_id = await trouble_case(h, env)
        await h.wait_for(lambda: h.deliveries("voice", ANNA))
        took = await answer(h, f"{escalation_id}.o1", "1")
        assert took.accepted
        await _until_claimed(h, escalation_id)
        await h.client.get_workflow_handle(escalation_id).signal(
            "patient_not_reached", PatientCallResult(offer_id=f"{escalation_id}.o1", status="no-answer")
        )
        await until_escalation(h, escalation_id, "open")
        [text] = await h.wait_for(
            lambda: [d.body for d in h.deliveries("sms", PHONE) if "probeerden u net te bellen" in d.body]
        )
        assert "Uptown Orthopedics" in text
        assert "patient_not_reached" in timeline(h, case.case_id)
        await resolve_and_end(h, h.client, escalation_id, "anna")


async def test_a_patient_who_asks_for_a_person_in_a_booking_conflict_gets_the_call_from_a_rep(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """The article's call, for a lost booking: "call me" rings the next free rep, not only a queue."""
    from tests.support.settings import example_event

    env = own_time_skipping_env
    settings = floor_settings(sqlite_url, tmp_path, auto_call_reasons=["patient_person"])
    async with floor_running(settings, env) as h:
        await start_router(h)
        await presence(h, "anna", "available", ANNA)
        accepted, _ = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "bel me aub")
        [ring] = await h.wait_for(lambda: h.deliveries("voice", ANNA))
        assert "A lost booking" in ring.body and "Dutch" in ring.body
        escalation_id = await h.escalation(accepted.case_id)
        took = await answer(h, f"{escalation_id}.o1", "1")
        assert took.accepted and took.case_id == accepted.case_id
        assert (await _until_claimed(h, escalation_id)).claimed_by == "anna"
        await resolve_and_end(h, h.client, escalation_id, "anna")


async def test_a_long_day_goes_on_in_a_new_run_with_the_floor_as_it_was(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    settings = floor_settings(sqlite_url, tmp_path, history_limit=50)
    async with floor_running(settings, env) as h:
        await start_router(h)
        first_run = (await router(h).describe()).run_id
        await presence(h, "anna", "available", ANNA)
        run = first_run
        bob = "away"
        for n in range(40):  # bob comes and goes: each change is some ten events of the router's history
            await asyncio.sleep(0.3)  # the test server mishandles an Update during a workflow task
            bob = "away" if n % 2 == 0 else "available"
            await presence(h, "bob", bob, BOB)
            run = (await router(h).describe()).run_id
            if run != first_run:
                break
        assert run != first_run, "the router never continued as new"
        await asyncio.sleep(0.3)
        seen = await floor(h)
        # the new run has the floor the old one ended with: anna still available, bob as he last said
        assert seen.reps["anna"].status is RepStatus.AVAILABLE
        assert seen.reps["bob"].status is RepStatus(bob)
        assert (await router(h).describe()).raw_description.workflow_execution_info.history_length < 50
