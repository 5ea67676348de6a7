"""The automatic call survives its processes dying (CONTRACT.md, "Reps on duty and routing"): the real
processes (Temporal dev server on its file, `worker.py`, the web app; System supports one web process), a
check-in trouble rings the one available rep, and while the phone rings the worker and the web app are
SIGKILLed and started again, as the fault harness does. Then either the rep presses 1 (exactly one accept,
the escalation theirs) or nobody does (the offer times out and goes to the second rep, who takes it). In
both, no offer rings a phone twice and the router's floor ends consistent."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from domain.routing import Floor, RepStatus, RoutingPolicy
from store.db import Store
from tests.support import rep_floor
from tests.support.rep_floor import Ring
from tests.support.system import System
from tests.support.waiting import wait_for

# the whole system, started for real, twice
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ANN = "+12125550201"
BOB = "+12125550202"


async def until_floor(client: Client, system: System, check: Any, what: str, seconds: float = 30) -> Floor:
    """The router's floor once it shows `check` (queried through the worker, so it also waits for one)."""
    seen: Floor | None = None
    for _ in range(int(seconds / 0.2)):
        try:
            seen = await rep_floor.floor(client, system)
        except Exception:  # no worker yet: the query waits for one, or fails
            seen = None
        if seen is not None and check(seen):
            return seen
        await asyncio.sleep(0.2)
    raise AssertionError(f"the floor never showed {what}: {seen}\n{system.tail('worker')}")


async def kill_and_restart(system: System) -> None:
    """The worker and the web app SIGKILLed one right after the other, each started again (System.kill)."""
    await asyncio.to_thread(system.kill, "worker", 0.5)
    await asyncio.to_thread(system.kill, "web", 0.5)
    assert (system.kills["worker"], system.kills["web"]) == (1, 1)


def rings_of(store: Store, phone: str, count: int) -> list[Ring]:
    return list(wait_for(lambda: len(found := rep_floor.rings(store, [phone])) >= count and found, 30,
                         f"{count} offer call(s) to {phone}"))  # fmt: skip


@pytest.mark.parametrize("answered", [True, False], ids=["rep presses 1", "nobody answers"])
async def test_a_rep_rung_while_worker_and_web_app_die_takes_the_work_once_or_it_passes_on_once(
    answered: bool, sqlite_url: str, tmp_path: Path
) -> None:
    # unanswered offers go after 5 s; an answered one has time for the restart before the rep's 1
    policy = RoutingPolicy(
        offer_seconds=30 if answered else 5, wrap_up_seconds=1, auto_call_reasons=("checkin_trouble",)
    )
    system = System(sqlite_url, tmp_path / "var", "processes", **rep_floor.routing_env(policy))
    store = Store(sqlite_url)
    try:
        await asyncio.to_thread(system.start)
        client = await rep_floor.connect(system)
        await rep_floor.start_router(client, system, policy)
        await rep_floor.presence(client, system, "ann", "available", ANN)

        [patient] = rep_floor.make_patients(1)
        await asyncio.to_thread(rep_floor.book, system, patient)
        await asyncio.to_thread(
            wait_for, lambda: rep_floor.listening(store, [patient]), 60, "the check-in prompt"
        )
        assert (await asyncio.to_thread(rep_floor.text_trouble, system, patient)).status_code == 200
        [ring] = await asyncio.to_thread(rings_of, store, ANN, 1)
        case = rep_floor.trouble_case(store, patient)
        assert case is not None and ring.case_id == case.case_id
        escalation_id = ring.escalation_id
        if not answered:
            await rep_floor.presence(client, system, "bob", "available", BOB)  # while ann's phone rings

        # the phone still rings, the offer open, when both processes die
        ringing = await rep_floor.floor(client, system)
        assert ringing.reps["ann"].offer_id == ring.offer_id and ring.offer_id in ringing.offers
        assert time.time() < ring.created_at.timestamp() + policy.offer_seconds - 1
        await kill_and_restart(system)

        if answered:
            # the rep answers once a worker runs the floor again (before, the web app tells them to retry)
            await until_floor(client, system, lambda f: f.reps["ann"].status is RepStatus.OFFERED, "ann rung")
            taken = await asyncio.to_thread(rep_floor.press, system, ring, "1")
            assert taken.status_code == 200 and rep_floor.connected(taken.text), taken.text
            # Twilio asks again (same call, same key): not a second accept
            again = await asyncio.to_thread(rep_floor.press, system, ring, "1")
            assert again.status_code == 200 and not rep_floor.connected(again.text), again.text
            taker, taken_ring = "ann", ring
        else:
            # nobody presses: after 5 s the offer is withdrawn (ann's phone stops) and bob is rung
            [bob_ring] = await asyncio.to_thread(rings_of, store, BOB, 1)
            assert bob_ring.offer_id == f"{escalation_id}.o2"
            stopped = lambda: rep_floor.rings(store, [ANN])[0].call_status == "canceled"  # noqa: E731
            await asyncio.to_thread(wait_for, stopped, 30, "ann's phone to stop ringing")
            taken = await asyncio.to_thread(rep_floor.press, system, bob_ring, "1")
            assert taken.status_code == 200 and rep_floor.connected(taken.text), taken.text
            # ann's late 1 for the offer that timed out takes nothing
            late = await asyncio.to_thread(rep_floor.press, system, ring, "1")
            assert late.status_code == 200 and not rep_floor.connected(late.text), late.text
            taker, taken_ring = "bob", bob_ring

        state = await _until_claimed(client, escalation_id)
        assert state.claimed_by == taker
        busy = await until_floor(client, system, lambda f: f.reps[taker].status is RepStatus.BUSY, "busy")
        assert busy.offers == {} and busy.queue == () and escalation_id in busy.handled
        assert rep_floor.floor_problems(busy) == []

        # the call ends: wrap-up, then the floor is as it started, the work handled
        ended = await asyncio.to_thread(rep_floor.call_ended, system, taken_ring, 42)
        assert ended.status_code == 200
        end = await until_floor(
            client,
            system,
            lambda f: all(r.status is RepStatus.AVAILABLE for r in f.reps.values()),
            "every rep available again",
        )
        assert end.offers == {} and end.queue == () and rep_floor.floor_problems(end) == []
        assert end.reps["ann"].missed_in_a_row == (0 if answered else 1)

        # nobody rung twice for the same offer: one local call and one send-once row per offer
        all_rings = rep_floor.rings(store)
        expected = {ring.offer_id: ANN} if answered else {ring.offer_id: ANN, f"{escalation_id}.o2": BOB}
        assert {r.offer_id: r.to for r in all_rings} == expected
        assert len(all_rings) == len(expected)
        assert rep_floor.offer_rows(store, list(expected)) == dict.fromkeys(expected, 1)
        steps = rep_floor.timeline(store, case.case_id)
        assert steps.count("offer_accepted") == 1 and steps.count("escalation_claimed") == 1
        assert steps.count("offer_missed") == (0 if answered else 1)
        assert steps.count("rep_rung") == len(expected)
        assert system.unexpected_exits == {}
    finally:
        system.close()


async def _until_claimed(client: Client, escalation_id: str) -> Any:
    for _ in range(150):
        state = await rep_floor.escalation(client, escalation_id)
        if state.claimed_by:
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"{escalation_id} was never claimed")


def test_the_floor_check_sees_a_rep_with_two_offers_and_work_offered_to_two_reps() -> None:
    """What the fault test and bench/routing.py count is not empty by construction: a floor where one rep
    holds two offers, and one piece of work is out to two reps, is reported both ways."""
    from datetime import UTC, datetime

    from domain.routing import Offer, Rep, WorkItem, WorkKind

    now = datetime.now(UTC)

    def offer(offer_id: str, work: str, user: str) -> Offer:
        return Offer(offer_id=offer_id, work_id=work, user=user, phone=ANN, at=now, expires_at=now)

    offers = {o.offer_id: o for o in (offer("w1.o1", "w1", "ann"), offer("w2.o1", "w2", "ann"),
                                      offer("w2.o2", "w2", "bob"))}  # fmt: skip
    reps = {
        user: Rep(user=user, status=RepStatus.OFFERED, since=now, phone=ANN, offer_id=held)
        for user, held in (("ann", "w1.o1"), ("bob", "w2.o2"))
    }
    queue = tuple(
        WorkItem(work_id=w, kind=WorkKind.ESCALATION, arrived_at=now, offer_id=o)
        for w, o in (("w1", "w1.o1"), ("w2", "w2.o2"))
    )
    problems = rep_floor.floor_problems(Floor(reps=reps, queue=queue, offers=offers))
    assert any("ann holds" in p for p in problems)
    assert any("w2 offered to" in p for p in problems)
    assert (
        rep_floor.floor_problems(
            Floor(reps=reps, queue=queue, offers={k: offers[k] for k in ("w1.o1", "w2.o2")})
        )
        == []
    )
