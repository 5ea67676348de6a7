"""Each provider's activities run on its own task queue, rate-limited from config: a burst of cases
queues its messages rather than exceeding the provider's limit or failing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from domain.messaging import OutboundMessage
from providers.phone.local import LocalPhone
from store.db import Store
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import running


class TimedPhone(LocalPhone):
    """The local phone, noting when each SMS reached it."""

    def __init__(self, store: Store, from_number: str) -> None:
        super().__init__(store, from_number)
        self.sent_at: list[float] = []

    def send_sms(self, msg: OutboundMessage) -> str:
        self.sent_at.append(time.monotonic())
        return super().send_sms(msg)


async def test_provider_activities_run_on_their_own_queue(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        _, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms"))
        history = await handle.fetch_history()
        await h.end(handle)
    queues = {
        e.activity_task_scheduled_event_attributes.activity_type.name: (
            e.activity_task_scheduled_event_attributes.task_queue.name
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert queues["send_sms"] == f"{settings.task_queue}-twilio"
    # our own store is not rate-limited: its steps are local activities, in the worker that runs the
    # case (a marker in history), never a task on any queue
    assert "find_alternatives" not in queues
    local_steps = {
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)["activity_type"]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and "data" in e.marker_recorded_event_attributes.details
    }
    assert {"note_conflict", "contact_history", "find_alternatives"} <= local_steps


@pytest.mark.e2e
async def test_a_burst_of_cases_is_held_to_the_twilio_rate_and_every_message_goes(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path, rate_limits={"twilio": 2.0})
    phone = TimedPhone(Store(sqlite_url), settings.twilio_from_number)
    async with running(settings, dev_server_env, phone=phone) as h:
        handles = []
        for n in range(6):
            event = example_event()
            event["data"]["patient"]["phone"] = f"+3161234560{n}"
            handles.append((await h.open_case(event))[1])
        await h.wait_for(lambda: len(h.deliveries("sms")) == 6, timeout=30)
        for handle in handles:
            await h.end(handle)
    # six messages at two a second: at least 2.5 s from the first to the last, none refused
    assert len(phone.sent_at) == 6
    assert phone.sent_at[-1] - phone.sent_at[0] >= 2.0
