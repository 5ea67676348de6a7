"""The relay: events wait in the inbox while Temporal is away and go through once it is back; several
relays at once never act on an event twice; events for one appointment are applied in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from temporalio.testing import WorkflowEnvironment

from config import Settings
from dispatch.dispatcher import Dispatcher
from domain.events import BookingEvent
from domain.signing import sign
from runtime.worker import build_worker
from store import inbox, relay
from store.db import Store
from store.models import ReceivedEvent, utcnow
from tests.support.cli_process import cli_env
from tests.support.http import LiveServer, free_port
from tests.support.settings import ROOT, TEST_CONVERTER, example_event, make_settings, venv_binary


class RecordingDispatcher(Dispatcher):
    """A relay whose acting is recorded instead of reaching Temporal: what is under test is who acts."""

    def __init__(self, settings: Settings, store: Store, acted: list[tuple[str, int]]) -> None:
        super().__init__(settings, store)
        self.acted = acted

    async def _dispatch(self, event_row_id: int) -> str:
        self.acted.append((self.relay_id, event_row_id))
        await asyncio.sleep(0.001 * (event_row_id % 3))  # interleave the two relays
        return "dispatched"


def add_pending(store: Store, count: int, appointments: int) -> list[int]:
    old = utcnow() - timedelta(minutes=1)
    with store.session() as s:
        rows = [
            ReceivedEvent(
                source="booking",
                external_id=f"evt-{n}",
                type="booking.appointment_booked",
                appointment_id=f"appt-{n % appointments}",
                raw=b"{}",
                parsed={},
                status="pending",
                received_at=old,
            )
            for n in range(count)
        ]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]


async def test_two_relays_over_500_events_act_on_each_exactly_once_and_in_order(
    any_db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(any_db_url, tmp_path)
    store = Store(any_db_url)
    ids = add_pending(store, 500, appointments=50)
    acted: list[tuple[str, int]] = []
    relays = [RecordingDispatcher(settings, store, acted) for _ in range(2)]

    def waiting() -> int:
        with store.session() as s:
            return int(s.scalar(select(func.count()).where(ReceivedEvent.status == "pending")) or 0)

    async def drain(r: Dispatcher) -> None:
        r.relay_batch = 10
        while await asyncio.to_thread(waiting):
            if await r.relay_once() == 0:
                await asyncio.sleep(0.01)

    await asyncio.gather(*(drain(r) for r in relays))

    counts = Counter(row_id for _, row_id in acted)
    assert sorted(counts) == ids and set(counts.values()) == {1}  # every event, each once
    assert len({relay_id for relay_id, _ in acted}) == 2  # both relays did work
    with store.session() as s:
        statuses = Counter(s.scalars(select(ReceivedEvent.status)).all())
    assert statuses == {"dispatched": 500}
    # per appointment, in the order they arrived
    by_appointment: dict[int, list[int]] = defaultdict(list)
    for _, row_id in acted:
        by_appointment[(row_id - ids[0]) % 50].append(row_id)
    assert all(seen == sorted(seen) for seen in by_appointment.values())


def test_a_relay_that_dies_holding_events_lets_go_when_its_lease_lapses(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    ids = add_pending(store, 3, appointments=3)
    assert relay.claim(store, "relay-a", lease=timedelta(seconds=-1)) == ids  # held, then "dies"
    assert relay.claim(store, "relay-b") == ids  # the lease has lapsed: b takes them
    assert relay.claim(store, "relay-c") == []  # b holds them now
    relay.finish(store, ids[0], "relay-b", "dispatched")
    relay.finish(store, ids[0], "relay-a", "pending", "late")  # a finishing late changes nothing
    with store.session() as s:
        assert s.get(ReceivedEvent, ids[0]).status == "dispatched"  # type: ignore[union-attr]


def test_a_later_event_for_an_appointment_waits_for_the_earlier_one(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    first, second = add_pending(store, 2, appointments=1)
    assert relay.claim(store, "relay-a", [second]) == []  # the earlier one is still pending
    assert relay.claim(store, "relay-a") == [first]
    relay.finish(store, first, "relay-a", "dispatched")
    assert relay.claim(store, "relay-a") == [second]


async def test_events_accepted_while_temporal_is_down_go_through_once_it_is_back(
    sqlite_url: str, tmp_path: Path
) -> None:
    from web.app import create_app

    web_port, temporal_port = free_port(), free_port()
    settings = make_settings(
        sqlite_url,
        tmp_path,
        temporal_address=f"127.0.0.1:{temporal_port}",
        public_base_url=f"http://127.0.0.1:{web_port}",
    )
    store = Store(sqlite_url)
    events = [example_event() for _ in range(12)]
    with LiveServer(create_app(settings, relay=False), web_port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for event in events:
                body = json.dumps(event).encode()
                headers = {
                    "Content-Type": "application/cloudevents+json",
                    "X-Makeright-Signature": sign(settings.events_signing_secret, body, int(time.time())),
                }
                answer = await http.post("/events", content=body, headers=headers)
                assert answer.status_code == 202, answer.text  # accepted: stored, though Temporal is away
    with store.session() as s:
        assert s.scalar(select(func.count()).where(ReceivedEvent.status == "pending")) == 12

    path = venv_binary("temporal")
    assert path
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=path, port=temporal_port, data_converter=TEST_CONVERTER
    )
    try:
        async with build_worker(env.client, settings, store):
            relays = [Dispatcher(settings, store), Dispatcher(settings, store)]
            deadline = time.monotonic() + 60
            while True:
                await asyncio.gather(*(r.relay_once() for r in relays))
                with store.session() as s:
                    waiting = s.scalar(select(func.count()).where(ReceivedEvent.status == "pending"))
                if waiting == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            with store.session() as s:
                rows = s.scalars(select(ReceivedEvent)).all()
            assert {row.status for row in rows} == {"dispatched"}
            workflow_ids = [row.workflow_id or "" for row in rows]
            assert len(set(workflow_ids)) == 12
            started: list[Any] = []
            async for execution in env.client.list_workflows("WorkflowType = 'BookingConflictRecovery'"):
                started.append(execution.id)
            assert sorted(started) == sorted(workflow_ids)  # each case started once
    finally:
        await env.shutdown()


class HangingDispatcher(Dispatcher):
    """An inline dispatch that never finishes: Temporal does not answer, and the process is about to die."""

    async def _dispatch(self, event_row_id: int) -> str:
        await asyncio.Event().wait()
        return "dispatched"


async def test_an_event_claimed_inline_by_a_process_that_dies_goes_to_the_relay_within_seconds(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    [row_id] = add_pending(store, 1, appointments=1)
    inline = asyncio.create_task(HangingDispatcher(settings, store).dispatch(row_id))
    for _ in range(200):
        with store.session() as s:
            claimed = s.get(ReceivedEvent, row_id).claimed_by  # type: ignore[union-attr]
        if claimed:
            break
        await asyncio.sleep(0.01)
    inline.cancel()  # the web app is killed mid-dispatch: its claim stays behind, never finished
    with contextlib.suppress(asyncio.CancelledError):
        await inline

    now = utcnow()
    assert relay.claim(store, "relay-b", now=now) == []  # held by the dead process for now
    # a few seconds later (not the relay's minute) the lease has lapsed and the relay takes the event
    assert relay.claim(store, "relay-b", now=now + timedelta(seconds=15)) == [row_id]


def _blackhole() -> socket.socket:
    """A port that takes TCP connections and never answers: a Temporal that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


@pytest.mark.e2e
async def test_web_app_killed_right_after_accepting_an_event_delays_it_by_seconds_not_a_minute(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Over real HTTP to a real web app process, SIGKILLed while its inline dispatch holds the event."""
    hole = _blackhole()
    port = free_port()
    env = cli_env(sqlite_url, tmp_path, f"127.0.0.1:{hole.getsockname()[1]}")
    env.update(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", EVENTS_SIGNING_SECRET="kill-test-secret")
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = Store(sqlite_url)
    try:
        body = json.dumps(example_event()).encode()
        headers = {
            "Content-Type": "application/cloudevents+json",
            "X-Makeright-Signature": sign("kill-test-secret", body, int(time.time())),
        }
        async with httpx.AsyncClient(timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and web.poll() is None, "web app did not start"
                    await asyncio.sleep(0.2)
            posting = asyncio.create_task(
                http.post(f"http://127.0.0.1:{port}/events", content=body, headers=headers)
            )

            def claimed() -> ReceivedEvent | None:
                with store.session() as s:
                    return s.scalars(
                        select(ReceivedEvent).where(ReceivedEvent.claimed_by.is_not(None))
                    ).first()

            row = None
            while row is None:
                assert time.monotonic() < deadline, "the inline dispatch never claimed the event"
                await asyncio.sleep(0.05)
                row = await asyncio.to_thread(claimed)
            web.kill()  # committed and claimed, Temporal not answered yet: killed now
            web.wait()
            killed_at = time.monotonic()
            with contextlib.suppress(httpx.TransportError):
                await posting

        acted: list[tuple[str, int]] = []
        relay_b = RecordingDispatcher(make_settings(sqlite_url, tmp_path), store, acted)
        while not acted:
            assert time.monotonic() - killed_at < 25, "the relay did not take the event over within seconds"
            await relay_b.relay_once()
            await asyncio.sleep(0.5)
        assert acted == [(relay_b.relay_id, row.id)]
        assert time.monotonic() - killed_at < 20  # measured: ~12 s (the inline lease), not 60 s
    finally:
        if web.poll() is None:
            web.kill()
            web.wait()
        hole.close()


async def test_temporal_away_is_tried_once_then_left_to_the_next_pass(
    any_db_url: str, tmp_path: Path
) -> None:
    """Nothing listens where Temporal should be: the relay's first try notes it, lets go of the rest of its
    batch at once (no attempt counted, no lease left to lapse), and neither the next pass nor an inline
    dispatch within the pause claims or tries anything; after the pause, they try again."""
    settings = make_settings(any_db_url, tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    store = Store(any_db_url)
    ids = []
    for _ in range(5):
        raw = json.dumps(example_event()).encode()
        event = BookingEvent.received(json.loads(raw))
        ids.append(inbox.accept_booking_event(store, raw, event).event_row_id)
    with store.session() as s:  # stored a minute ago: past the relay's grace for the inline dispatch
        s.execute(update(ReceivedEvent).values(received_at=utcnow() - timedelta(minutes=1)))
    dispatcher = Dispatcher(settings, store)

    assert await dispatcher.relay_once() == 1 and dispatcher.temporal_away()
    with store.session() as s:
        rows = {row.id: row for row in s.scalars(select(ReceivedEvent)).all()}
    assert {row.status for row in rows.values()} == {"pending"}
    assert [rows[i].attempts for i in ids] == [1, 0, 0, 0, 0]
    assert all(row.claimed_by is None and row.lease_until is None for row in rows.values())

    assert await dispatcher.relay_once() == 0
    await dispatcher.dispatch(ids[1])
    with store.session() as s:
        assert sum(s.scalars(select(ReceivedEvent.attempts)).all()) == 1

    dispatcher._temporal_away_until = 0.0  # the pause is over
    await dispatcher.dispatch(ids[1])
    with store.session() as s:
        row = s.get(ReceivedEvent, ids[1])
        assert row is not None and row.attempts == 1 and row.status == "pending" and row.claimed_by is None


async def test_inline_dispatch_past_the_limit_is_left_to_the_relay(any_db_url: str, tmp_path: Path) -> None:
    settings = make_settings(any_db_url, tmp_path, inline_dispatch_limit=1)
    store = Store(any_db_url)
    first, second = add_pending(store, 2, appointments=2)
    acted: list[tuple[str, int]] = []

    class SlowDispatcher(RecordingDispatcher):
        async def _dispatch(self, event_row_id: int) -> str:
            await asyncio.sleep(0.3)
            return await super()._dispatch(event_row_id)

    dispatcher = SlowDispatcher(settings, store, acted)
    busy = asyncio.create_task(dispatcher.dispatch(first))
    await asyncio.sleep(0.1)
    await dispatcher.dispatch(second)  # one already under way: this one stays for the relay
    await busy
    assert [row_id for _, row_id in acted] == [first]
    with store.session() as s:
        row = s.get(ReceivedEvent, second)
        assert row is not None and row.status == "pending" and row.attempts == 0 and row.claimed_by is None
    await dispatcher.relay_once()
    assert sorted(row_id for _, row_id in acted) == [first, second]
