"""A provider that stays down is a branch of the story, not a crash: staff notifications that cannot be
sent leave an alert and the escalation goes on; "Call patient" tells the rep within seconds."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.errors import ProviderNotProcessed
from activities.twilio_phone import LocalPhone
from domain.escalation import ByActor, EscalationState, EscalationStatus, Refusal
from domain.models import OutboundMessage
from store import users
from store.db import Store
from tests.conftest import make_settings
from tests.test_escalation_workflow import ANN, row, start, timeline
from tests.workflow_harness import running
from web.escalation_actions import _status


class DownPhone(LocalPhone):
    """Twilio unreachable: nothing is ever processed."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, "+15005550006")
        self.attempts = 0

    def send_sms(self, msg: OutboundMessage) -> str:
        self.attempts += 1
        raise ProviderNotProcessed("twilio unreachable: ConnectError")

    def place_call(self, msg: OutboundMessage) -> str:
        self.attempts += 1
        raise ProviderNotProcessed("twilio unreachable: ConnectError")

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        return None


async def test_failed_staff_notifications_do_not_end_the_escalation(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    phone = DownPhone(Store(settings.database_url))
    async with running(settings, time_skipping_env, phone=phone) as h:
        escalation_id, handle = await start(h)
        # nobody claims; every SMS to the supervisor and on-call fails for longer than its hour
        final: EscalationState = await h.result(handle)

    assert final.status is EscalationStatus.EXPIRED and final.level_name == "on_call"
    assert row(h, escalation_id).status == "expired"
    steps = timeline(h, final.case_id)
    assert steps.count("staff_notification_failed") >= 2  # breached → supervisor, → on-call, expired
    assert "escalation_expired" in steps
    assert phone.attempts > 3  # it did keep trying within the budget


async def test_call_patient_with_the_phone_provider_down_answers_within_seconds(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    users.add_user(store, "ann", "rep", "a-long-password-1", phone="+12125550101")
    async with running(settings, dev_server_env, phone=DownPhone(store)) as h:
        escalation_id, handle = await start(h)
        await h.act(escalation_id, "claim", ByActor(actor=ANN))
        began = time.monotonic()
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update("call_patient", ByActor(actor=ANN), result_type=EscalationState)
        took = time.monotonic() - began
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == Refusal.UNAVAILABLE
        assert "try again" in cause.message
        assert took < 25
        # the escalation is still there, claimed, for the rep to try again
        state = await handle.query("current", result_type=EscalationState)
        assert state.status is EscalationStatus.CLAIMED
        await handle.terminate(reason="test over")
    assert _status(Refusal.UNAVAILABLE) == 503
