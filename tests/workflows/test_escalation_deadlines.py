"""Escalation deadlines hold: a release or a hand-over gives nobody more time, and every escalation ends
(resolved or expired) by its final deadline, the sum of its levels' claim SLAs plus the work SLA.

The pure rules (domain.escalation) and the Escalation workflow on the time-skipping server, each with
directed cases and a hypothesis property over random sequences of what reps and supervisors do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain import escalation as rules
from domain.base import CaseKind
from domain.escalation import (
    Actor,
    ApproveRequest,
    ByActor,
    DenyRequest,
    EscalationLevel,
    EscalationPolicy,
    EscalationState,
    EscalationStatus,
    Money,
    ReassignRequest,
    Refusal,
    ResolveRequest,
)
from store.db import migrate
from tests.support.escalations import ANN, BOB, POLICY, SUE, row, sms_to, start
from tests.support.settings import TEST_CONVERTER, make_settings, venv_binary
from tests.support.workflow_harness import Harness, running
from workflows.escalation import Escalation

CLOSED = (EscalationStatus.RESOLVED, EscalationStatus.EXPIRED)
SAM = Actor(user="sam", role="supervisor")
PEOPLE = (ANN, BOB, SUE, SAM)
# POLICY: reps 600 s, supervisor 600 s, on_call 1200 s to claim; 3600 s to work a claim
FINAL = 600 + 600 + 1200 + 3600


async def current(handle: WorkflowHandle[Any, EscalationState]) -> EscalationState:
    return await handle.query(Escalation.current)


@contextlib.asynccontextmanager
async def started(h: Harness) -> AsyncIterator[tuple[str, WorkflowHandle[Any, EscalationState]]]:
    """An escalation under POLICY that is over when the test is, failed or not: a workflow left waiting
    on a timer would stop the shared server's time skipping for every later test."""
    escalation_id, handle = await start(h)
    try:
        yield escalation_id, handle
    finally:
        await h.end(handle)


def age(state: EscalationState, at: datetime | None = None) -> float:
    return ((at or state.closed_at or state.opened_at) - state.opened_at).total_seconds()


# ------------------------------------------------------------------ the workflow, directed


async def test_claim_and_release_does_not_hold_an_escalation_at_its_level(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """A rep who claims and releases over and over does not restart the reps' ten minutes: when they have
    passed since the level began, it moves up to the supervisor, breached."""
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        async with started(h) as (escalation_id, handle):
            opened = await current(handle)
            for _ in range(3):  # 3 x (120 s claimed + 60 s open) = 540 s, still within the reps' 600 s
                await h.act(escalation_id, "claim", ByActor(actor=ANN))
                await time_skipping_env.sleep(120)
                released = await h.act(escalation_id, "release", ByActor(actor=ANN))
                assert released.sla_deadline == opened.sla_deadline  # due when the level was always due
                await time_skipping_env.sleep(60)
            assert (await current(handle)).level_name == "reps"
            await time_skipping_env.sleep(70)  # 610 s since the level began
            moved = await current(handle)
            assert (moved.level_name, moved.status, moved.breached) == (
                "supervisor",
                EscalationStatus.OPEN,
                True,
            )
            assert 1200 <= age(moved, moved.level_deadline) < 1230  # the supervisor's own ten minutes
            assert row(h, escalation_id).level_name == "supervisor"  # what the console shows
            assert len(sms_to(h, "+15005550101")) == 1  # and the supervisor was told


async def test_a_release_after_the_levels_deadline_moves_it_up_at_once(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """A claim held past the level's deadline and then released does not hide the breach: the next level
    gets it there and then, with its own claim SLA."""
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        async with started(h) as (escalation_id, handle):
            await h.act(escalation_id, "claim", ByActor(actor=ANN))
            await time_skipping_env.sleep(900)  # past the reps' 600 s, within ann's work SLA
            await h.act(escalation_id, "release", ByActor(actor=ANN))
            state = await current(handle)
            assert (state.level_name, state.status, state.breached) == (
                "supervisor",
                EscalationStatus.OPEN,
                True,
            )
            assert 1490 <= age(state, state.sla_deadline) < 1530  # released at ~900 s, + 600 s to claim


async def test_a_hand_over_keeps_the_claims_work_deadline(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """A supervisor handing ann's claim to bob gives bob what is left of it, not a new hour."""
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        async with started(h) as (escalation_id, handle):
            claimed = await h.act(escalation_id, "claim", ByActor(actor=ANN))
            await time_skipping_env.sleep(3000)
            handed = await h.act(escalation_id, "reassign", ReassignRequest(actor=SUE, to=BOB))
            assert (handed.claimed_by, handed.sla_deadline) == ("bob", claimed.sla_deadline)
            await time_skipping_env.sleep(601)  # ann's hour is up
            state = await current(handle)
            assert (state.level_name, state.status, state.claimed_by) == (
                "supervisor",
                EscalationStatus.OPEN,
                None,
            )


async def test_claims_at_the_last_minute_of_every_level_end_by_the_final_deadline(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Each level claims just in time and lets the claim lapse: the escalation still ends, expired with
    the on-call alert, when the levels' SLAs plus one work SLA have passed since it opened."""
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        async with started(h) as (escalation_id, handle):
            await time_skipping_env.sleep(590)
            await h.act(escalation_id, "claim", ByActor(actor=ANN))
            await time_skipping_env.sleep(3600 + 590)  # ann's hour lapses: the supervisor level, almost over
            assert (await current(handle)).level_name == "supervisor"
            supervisor = await h.act(escalation_id, "claim", ByActor(actor=SUE))
            assert age(supervisor, supervisor.sla_deadline) == pytest.approx(FINAL, abs=2)  # not a new hour
            final = await h.result(handle)
    assert (final.status, final.level_name, final.breached) == (EscalationStatus.EXPIRED, "supervisor", True)
    assert FINAL <= age(final) < FINAL + 5
    assert any("ALERT" in body for body in sms_to(h, "+15005550102"))  # on-call hears of it all the same


# ------------------------------------------------------------------ the workflow, random sequences

# weighted towards what moves deadlines; a resolution ends the story early, so it is rare
ACTIONS = ("claim", "release", "claim", "release", "reassign", "wait", "approve", "deny", "call", "resolve")
PROPERTY_POLICIES = st.builds(
    lambda slas, work: EscalationPolicy(
        levels=tuple(
            EscalationLevel(
                name=name,
                claim_sla_seconds=sla,
                claim_roles=("rep", "supervisor") if i == 0 else ("supervisor",),
                notify_sms="+15005550101" if i else None,
            )
            for i, (name, sla) in enumerate(zip(("reps", "supervisor", "on_call"), slas, strict=False))
        ),
        work_sla_seconds=work,
    ),
    st.lists(st.sampled_from((300, 600, 900)), min_size=1, max_size=3),
    st.sampled_from((600, 1800, 3600)),
)
STEPS, ESCALATIONS = 8, 10
STEP = st.tuples(st.sampled_from(ACTIONS), st.sampled_from(PEOPLE), st.sampled_from(PEOPLE))
SCENARIO = st.tuples(PROPERTY_POLICIES, st.lists(STEP, min_size=STEPS, max_size=STEPS))
BATCH = st.tuples(
    st.lists(SCENARIO, min_size=ESCALATIONS, max_size=ESCALATIONS),
    # the time that passes after each step, the same for every escalation of the batch
    st.lists(st.sampled_from((250, 60, 600, 0, 1300)), min_size=STEPS, max_size=STEPS),
)


def request(action: str, actor: Actor, other: Actor) -> Any:
    return {
        "claim": ByActor(actor=actor),
        "release": ByActor(actor=actor),
        "call": ByActor(actor=actor),
        "reassign": ReassignRequest(actor=actor, to=other),
        "approve": ApproveRequest(actor=actor, amount=Money(amount=Decimal("5.00"))),
        "deny": DenyRequest(actor=actor, reason="not this time"),
        "resolve": ResolveRequest(actor=actor, notes="sorted out"),
    }[action]


@dataclass
class Tracked:
    policy: EscalationPolicy
    steps: list[tuple[str, Actor, Actor]]
    escalation_id: str
    handle: WorkflowHandle[Any, EscalationState]
    last: EscalationState


async def attempt(h: Harness, escalation_id: str, action: str, actor: Actor, other: Actor) -> None:
    """What a person does; a refusal (wrong state or role) or an escalation already over is part of it."""
    if action == "wait":
        return
    update = "call_patient" if action == "call" else action
    with contextlib.suppress(WorkflowUpdateFailedError, RPCError):
        await h.act(escalation_id, update, request(action, actor, other))


@pytest.fixture(scope="module")
async def property_harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    """One store and worker for every example, on a time-skipping server of their own (the pauses here
    skip hours of its clock)."""
    tmp = tmp_path_factory.mktemp("deadlines")
    url = f"sqlite:///{tmp / 'makeright.db'}"
    migrate(url)
    path = venv_binary("temporal-test-server")
    assert path
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=TEST_CONVERTER
    )
    try:
        async with running(make_settings(url, tmp), env) as h:
            yield h
    finally:
        await env.shutdown()


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,  # the same sequences on every CI run
    phases=[Phase.explicit, Phase.generate],  # a failure shows its whole batch: shrinking takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=BATCH)
async def test_every_escalation_ends_by_its_final_deadline_whatever_people_do(
    property_harness: Harness, batch: tuple[list[Any], list[int]]
) -> None:
    """Ten escalations at a time, each with its own policy and its own random claims, releases, hand-overs,
    approvals, denials, calls and resolutions, with time passing between the steps: each one is resolved
    or expired within the sum of its levels' claim SLAs plus the work SLA, and while it stays at a level
    that level's claim deadline never moves."""
    h = property_harness
    scenarios, pauses = batch
    started = await asyncio.gather(*(start(h, policy=policy) for policy, _ in scenarios))
    try:
        tracked = [
            Tracked(policy, steps, escalation_id, handle, await current(handle))
            for (policy, steps), (escalation_id, handle) in zip(scenarios, started, strict=True)
        ]
        for n, pause in enumerate(pauses):
            await asyncio.gather(
                *(attempt(h, t.escalation_id, *t.steps[n]) for t in tracked if t.last.status not in CLOSED)
            )
            await h.env.sleep(pause)
            await asyncio.sleep(0.3)  # let timers that fired finish their work before the next Updates
            states = await asyncio.gather(*(current(t.handle) for t in tracked))
            for t, state in zip(tracked, states, strict=True):
                final = rules.final_deadline(t.policy, state.opened_at)
                assert state.sla_deadline <= final
                if state.level == t.last.level:
                    assert state.level_deadline == t.last.level_deadline, (t.steps[: n + 1], state)
                t.last = state
        for t in tracked:
            state = await h.result(t.handle)
            bound = rules.final_deadline(t.policy, state.opened_at)
            assert state.status in CLOSED
            assert state.closed_at is not None
            # ends by the bound (a timer's workflow task may start a moment after it fires)
            assert state.closed_at <= bound + timedelta(seconds=5), (t.policy, t.steps, pauses, state)
    finally:  # nothing left waiting on a timer of the shared server
        await asyncio.gather(*(h.end(handle) for _, handle in started))


# ------------------------------------------------------------------ the pure rules

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


def opened(policy: EscalationPolicy) -> EscalationState:
    state = EscalationState(
        escalation_id="esc-1",
        case_id="case-1",
        appointment_id="appt-1",
        kind=CaseKind.BOOKING_CONFLICT,
        reason="unreachable",
        level_name=policy.levels[0].name,
        sla_deadline=T0,
        opened_at=T0,
    )
    return rules.opened(state, policy, T0)


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_release_returns_to_the_levels_own_deadline() -> None:
    state = opened(POLICY)
    claimed = rules.claimed(state, POLICY, "ann", after(100))
    assert claimed.sla_deadline == after(100 + 3600)
    released = rules.released(claimed, after(200))
    assert (released.status, released.claimed_by, released.sla_deadline) == (
        EscalationStatus.OPEN,
        None,
        after(600),
    )


def test_a_last_minute_claim_at_the_last_level_keeps_its_whole_work_sla() -> None:
    state = rules.ran_out(opened(POLICY), POLICY, after(600))  # supervisor level, due at 1200
    state = rules.ran_out(state, POLICY, after(1200))  # on_call, due at 2400
    assert (state.level_name, state.level_deadline) == ("on_call", after(2400))
    late = rules.claimed(state, POLICY, "sue", after(2399))
    assert late.sla_deadline == after(2399 + 3600)  # within the final deadline: nothing taken away
    assert rules.ran_out(late, POLICY, late.sla_deadline).status is EscalationStatus.EXPIRED


def test_a_lapse_at_the_final_deadline_expires_below_the_last_level() -> None:
    claimed = rules.claimed(opened(POLICY), POLICY, "ann", after(599))
    moved = rules.ran_out(claimed, POLICY, after(599 + 3600))
    assert (moved.level_name, moved.breached, moved.sla_deadline) == ("supervisor", True, after(4799))
    again = rules.claimed(moved, POLICY, "sue", after(4700))
    assert again.sla_deadline == after(FINAL)
    ended = rules.ran_out(again, POLICY, after(FINAL))
    assert (ended.status, ended.level_name, ended.closed_at) == (
        EscalationStatus.EXPIRED,
        "supervisor",
        after(FINAL),
    )


PURE_STEP = st.tuples(
    st.sampled_from(ACTIONS),
    st.sampled_from(PEOPLE),
    st.sampled_from(PEOPLE),
    st.integers(min_value=0, max_value=5000),
)


@settings(max_examples=500, derandomize=True)
@given(
    policy=st.builds(
        lambda slas, work: EscalationPolicy(
            levels=tuple(
                EscalationLevel(
                    name=f"level{i}",
                    claim_sla_seconds=sla,
                    claim_roles=("rep", "supervisor") if i == 0 else ("supervisor",),
                )
                for i, sla in enumerate(slas)
            ),
            work_sla_seconds=work,
        ),
        st.lists(st.integers(min_value=1, max_value=3600), min_size=1, max_size=4),
        st.integers(min_value=1, max_value=8 * 3600),
    ),
    steps=st.lists(PURE_STEP, max_size=40),
)
def test_the_rules_end_every_escalation_by_its_final_deadline(
    policy: EscalationPolicy, steps: list[tuple[str, Actor, Actor, int]]
) -> None:
    """The decisions alone, as the workflow takes them: time passes (deadlines run out in order), people
    act when the rules let them; the escalation is over by the final deadline, and a level's claim
    deadline moves only when the level changes."""
    final = rules.final_deadline(policy, T0)
    state, now = opened(policy), T0

    def run_out_until(moment: datetime) -> EscalationState:
        nonlocal now
        current = state
        while current.status not in CLOSED and current.sla_deadline <= moment:
            now = max(now, current.sla_deadline)
            moved = rules.ran_out(current, policy, now)
            assert moved.status is EscalationStatus.EXPIRED or moved.level == current.level + 1
            current = moved
        now = max(now, moment)
        return current

    for action, actor, other, pause in steps:
        state = run_out_until(now)  # what an action left due already (a release past the deadline)
        if state.status in CLOSED:
            break
        assert state.sla_deadline <= final
        before = state
        if action != "wait":
            try:
                rules.check(
                    state,
                    policy,
                    action,  # type: ignore[arg-type]
                    actor,
                    amount=Money(amount=Decimal("5.00")) if action == "approve" else None,
                    to=other,
                    has_patient_phone=True,
                )
            except Refusal:
                pass
            else:
                if action == "claim":
                    state = rules.claimed(state, policy, actor.user, now)
                elif action == "release":
                    state = rules.released(state, now)
                elif action == "reassign":
                    state = rules.reassigned(state, policy, other.user, now)
                elif action == "resolve":
                    state = state.model_copy(update={"status": EscalationStatus.RESOLVED, "closed_at": now})
        assert (state.level, state.level_deadline) == (before.level, before.level_deadline)
        state = run_out_until(now + timedelta(seconds=pause))
    state = run_out_until(datetime.max.replace(tzinfo=UTC))  # nobody does anything more
    assert state.status in CLOSED and state.closed_at is not None
    assert state.closed_at <= final
