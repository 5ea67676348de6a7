"""A provider that stays down is a branch of the story, not a crash: staff notifications that cannot be
sent leave an alert and the escalation goes on; "Call patient" tells the rep within seconds."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.escalation import ByActor, EscalationState, EscalationStatus, Refusal
from store import users
from store.db import Store
from store.models import Case, EscalationRow, OutboundMessageRow
from tests.support.escalations import ANN, row, start, timeline
from tests.support.http import LiveServer, free_port
from tests.support.provider_stubs import DownGiftCards, DownMail, DownPhone
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, as_web, running
from web.app import create_app

PHONE = "+31612345678"


async def test_failed_staff_notifications_do_not_end_the_escalation(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    phone = DownPhone(Store(settings.database_url))
    async with running(settings, own_time_skipping_env, phone=phone) as h:
        escalation_id, handle = await start(h)
        # nobody claims; every SMS to the supervisor and on-call fails for longer than its hour
        final: EscalationState = await h.result(handle)

    assert final.status is EscalationStatus.EXPIRED and final.level_name == "on_call"
    assert row(h, escalation_id).status == "expired"
    steps = timeline(h, final.case_id)
    assert steps.count("staff_notification_failed") >= 2  # breached → supervisor, → on-call, expired
    assert "escalation_expired" in steps
    assert phone.attempts > 3  # it did keep trying within the budget


@pytest.mark.e2e
async def test_call_patient_with_the_phone_provider_down_answers_within_seconds(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(
        sqlite_url,
        tmp_path,
        api_tokens="rep:ann:tok-ann",
        temporal_address=dev_server_env.client.service_client.config.target_host,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    store = Store(settings.database_url)
    users.add_user(store, "ann", "rep", "a-long-password-1", phone="+12125550101")
    async with running(settings, dev_server_env, phone=DownPhone(store)) as h:
        escalation_id, handle = await start(h)
        await h.act(escalation_id, "claim", ByActor(actor=ANN))
        began = time.monotonic()
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(
                "call_patient",
                as_web(h.settings, escalation_id, "call_patient", ByActor(actor=ANN)),
                result_type=EscalationState,
            )
        took = time.monotonic() - began
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == Refusal.UNAVAILABLE
        assert "try again" in cause.message
        assert took < 25
        # the escalation is still there, claimed, for the rep to try again
        state = await handle.query("current", result_type=EscalationState)
        assert state.status is EscalationStatus.CLAIMED
        # and over HTTP, as the console and integrations ask: a 503 the rep can read, with Retry-After
        with LiveServer(create_app(settings, relay=False), port) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=40) as http:
                answer = await http.post(
                    f"/api/escalations/{escalation_id}/call", headers={"Authorization": "Bearer tok-ann"}
                )
        assert answer.status_code == 503 and answer.headers["retry-after"].isdigit()
        assert "phone provider did not answer" in answer.json()["error"]
        await handle.terminate(reason="test over")


def case_row(h: Harness, case_id: str) -> Case:
    with h.store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case


async def test_every_channel_down_hands_the_case_to_a_rep_with_an_alert(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    async with running(
        settings, own_time_skipping_env, phone=DownPhone(store), mail=DownMail(store, "care@x.test")
    ) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        # the SMS, the email and the call each exhaust their hour of retries; then people have it, and
        # with nobody claiming, the escalation climbs its levels and expires: the workflow itself ends well
        result = await h.result(handle)
        case = case_row(h, accepted.case_id)
        with h.store.session() as s:
            esc = s.scalars(select(EscalationRow).where(EscalationRow.case_id == accepted.case_id)).one()
        steps = timeline(h, accepted.case_id)
    assert result.status.value == "failed" and case.failure_kind == "escalation_expired"
    assert esc.reason == "provider_outage"
    assert steps.count("provider_unavailable") >= 2  # the offer SMS, the offer email (and the call)
    assert "needs_rep" in steps


async def test_gift_card_provider_down_fails_the_case_on_record(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env, gift_cards=DownGiftCards()) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        with pytest.raises(WorkflowFailureError) as caught:
            await h.result(handle)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CompensationFailed"
    steps = timeline(h, accepted.case_id)
    assert "compensation_failed" in steps
    # the patient was rebooked and told before the payment failed: that stays done
    confirmed = OutboundMessageRow.case_id == accepted.case_id, OutboundMessageRow.key == "confirmation"
    assert h.count(OutboundMessageRow, *confirmed) == 2  # the SMS and the email
