"""A worker killed in the middle of an activity costs the case seconds: the interrupted attempt is noticed by
its missing heartbeats (worker.Heartbeating beats for every activity while it runs), and a second worker
carries on. On a real Temporal dev server, with the first worker a real process that is SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.twilio_phone import TwilioActivities
from dispatch.dispatcher import Dispatcher
from domain.events import BookingEvent
from domain.messaging import OutboundMessage, SendResult
from runtime.providers import phone_gateway
from runtime.worker import build_worker
from store import inbox
from store.db import Store
from store.models import Case
from tests.support.cli_process import cli_env
from tests.support.settings import ROOT, example_event, make_settings

pytestmark = pytest.mark.e2e  # every test here starts real processes


@pytest.mark.parametrize("activity_name", ["note_conflict", "send_sms"])
async def test_a_worker_killed_mid_activity_delays_the_case_by_seconds_and_a_second_worker_finishes_it(
    activity_name: str, dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    target = dev_server_env.client.service_client.config.target_host
    env = cli_env(sqlite_url, tmp_path, target, settings.task_queue)
    marker = tmp_path / "hanging"
    event = example_event()
    accepted = await asyncio.to_thread(
        inbox.accept_booking_event, store, json.dumps(event).encode(), BookingEvent.model_validate(event)
    )
    assert accepted.workflow_id
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.support.dying_worker", activity_name, str(marker)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await Dispatcher(settings, store, dev_server_env.client).dispatch(accepted.event_row_id)
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert first.poll() is None, "the first worker exited"
            assert time.monotonic() < deadline, f"{activity_name} never started on the first worker"
            await asyncio.sleep(0.1)
        first.kill()  # mid-activity: the attempt is never answered
        first.wait()
        killed = time.monotonic()

        def status() -> str | None:
            with store.session() as s:
                return s.scalar(select(Case.status).where(Case.case_id == accepted.case_id))

        async with build_worker(dev_server_env.client, settings, store):
            while await asyncio.to_thread(status) != "waiting_patient":
                assert time.monotonic() - killed < 45, "the second worker never took the case over"
                await asyncio.sleep(0.2)
        taken_over = time.monotonic() - killed
        # the attempt's missing heartbeats (5 s), the retry, then the dead worker's sticky workflow task
        # (3 s, worker.STICKY_TIMEOUT): measured ~10 s. Before: 30 s (store) and 60 s (provider) for the
        # attempt's start-to-close alone, then 10 s for the sticky task.
        assert taken_over < 20, f"{activity_name}: the case waited {taken_over:.0f} s for a dead worker"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        with contextlib.suppress(RPCError):
            await dev_server_env.client.get_workflow_handle(accepted.workflow_id).terminate("test over")


async def test_a_provider_activity_slower_than_its_heartbeat_timeout_is_not_cut_while_its_worker_lives(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """The heartbeats are real: a send that takes 7 s (a slow provider, a loaded machine) on a live worker
    runs to the end once, though it is scheduled with a heartbeat timeout of 5 s. (This was a store step;
    store steps became local activities, which have no heartbeat timeout, so it could no longer fail: a
    provider send is still an activity task with one, and the history shows it was.)"""
    settings = make_settings(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    real = TwilioActivities(store, phone_gateway(settings, store))
    attempts: list[int] = []

    @activity.defn(name="send_sms")
    async def send_sms(msg: OutboundMessage) -> SendResult:
        attempts.append(activity.info().attempt)
        await asyncio.sleep(7)
        return await real.send_sms(msg)

    event = example_event()
    accepted = await asyncio.to_thread(
        inbox.accept_booking_event, store, json.dumps(event).encode(), BookingEvent.model_validate(event)
    )
    assert accepted.workflow_id

    handle = dev_server_env.client.get_workflow_handle(accepted.workflow_id)

    async def sends() -> tuple[list[Any], int, int]:
        """send_sms as the history has it: its scheduled events, attempts completed, attempts timed out."""
        events = [event async for event in handle.fetch_history_events()]
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes
            for e in events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == "send_sms"
        }
        completed = sum(
            e.activity_task_completed_event_attributes.scheduled_event_id in scheduled for e in events
        )
        timed_out = sum(
            e.activity_task_timed_out_event_attributes.scheduled_event_id in scheduled for e in events
        )
        return list(scheduled.values()), completed, timed_out

    async with build_worker(dev_server_env.client, settings, store, overrides={"send_sms": send_sms}):
        await Dispatcher(settings, store, dev_server_env.client).dispatch(accepted.event_row_id)
        deadline = time.monotonic() + 45
        while (await sends())[1] == 0:
            assert time.monotonic() < deadline, "the SMS was never sent"
            await asyncio.sleep(0.2)
    scheduled, _, timed_out = await sends()
    with contextlib.suppress(RPCError):
        await handle.terminate("test over")
    heartbeat_timeout = scheduled[0].heartbeat_timeout.ToTimedelta().total_seconds()
    assert 0 < heartbeat_timeout < 7  # scheduled so that a 7 s attempt without heartbeats would be cut
    assert timed_out == 0
    assert attempts == [1]  # one attempt, never cut
