"""Provider callbacks: Twilio message and call status, SendGrid's event webhook. Each is verified, stored,
de-duplicated, and a delivery failure moves the case on to the next channel."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from config import Settings
from store import callbacks
from store.db import Store
from store.models import DeadLetter, OutboundMessageRow, ReceivedEvent, TimelineItem
from tests.support.http import LiveServer, offline_web
from tests.support.prism import add_case
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, running

PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


@pytest.fixture
def app(any_db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings, Store]]:
    from web.app import create_app

    # nothing there: reports wait in the inbox
    settings, port = offline_web(
        any_db_url,
        tmp_path,
        sendgrid_webhook_public_key=PUBLIC_KEY,
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings, Store(any_db_url)


def sent_message(store: Store, channel: str, provider_id: str, key: str = "offer-1") -> str:
    case_id = add_case(store)
    with store.session() as s:
        s.add(
            OutboundMessageRow(
                case_id=case_id,
                key=key,
                channel=channel,
                to_address="+31612345678" if channel != "email" else "patient@example.com",
                body="offer",
                status="sent",
                provider_id=provider_id,
            )
        )
    return case_id


def twilio(
    server: LiveServer, settings: Settings, path: str, params: dict[str, str], token: str | None = None
) -> httpx.Response:
    url = f"{settings.public_base_url}{path}"
    signature = RequestValidator(token or settings.twilio_auth_token).compute_signature(url, params)
    return httpx.post(f"{server.url}{path}", data=params, headers={"X-Twilio-Signature": signature})


def reports(store: Store) -> list[tuple[str, str]]:
    with store.session() as s:
        rows = s.scalars(
            select(ReceivedEvent).where(ReceivedEvent.type.like("delivery.%")).order_by(ReceivedEvent.id)
        )
        return [(row.type, row.status) for row in rows]


def test_sms_status_callbacks_are_verified_stored_and_a_failure_is_queued(
    app: tuple[LiveServer, Settings, Store],
) -> None:
    server, settings, store = app
    sid = "SM" + uuid.uuid4().hex
    sent_message(store, "sms", sid)
    path = "/webhooks/twilio/sms/status"
    forged = twilio(server, settings, path, {"MessageSid": sid, "MessageStatus": "failed"}, token="wrong")
    assert forged.status_code == 403
    assert twilio(server, settings, path, {"MessageSid": sid, "MessageStatus": "sent"}).status_code == 200
    assert (
        twilio(
            server, settings, path, {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
        ).status_code
        == 200
    )
    assert (
        twilio(server, settings, path, {"MessageSid": sid, "MessageStatus": "undelivered"}).status_code == 200
    )  # again
    # recorded; the failure waits (Temporal is away) to be passed to the case's workflow
    assert reports(store) == [("delivery.sent", "recorded"), ("delivery.undelivered", "pending")]
    with store.session() as s:
        assert s.scalars(select(OutboundMessageRow.delivery_status)).one() == "undelivered"
    missing = twilio(server, settings, path, {"MessageSid": sid})
    assert missing.status_code == 422 and missing.json()["errors"] == [
        {"field": "MessageStatus", "reason": "required"}
    ]


def test_call_status_no_answer_busy_or_machine_counts_as_not_reached(
    app: tuple[LiveServer, Settings, Store],
) -> None:
    server, settings, store = app
    path = "/webhooks/twilio/voice/status"
    for params in (
        {"CallStatus": "no-answer"},
        {"CallStatus": "completed", "AnsweredBy": "machine_end_beep"},
        {"CallStatus": "completed", "AnsweredBy": "human"},
    ):
        sid = "CA" + uuid.uuid4().hex
        sent_message(store, "voice", sid, key="offer-1-call")
        assert twilio(server, settings, path, {"CallSid": sid, **params}).status_code == 200
    assert reports(store) == [
        ("delivery.no-answer", "pending"),
        ("delivery.machine", "pending"),
        ("delivery.completed", "recorded"),
    ]


def signed(body: bytes, at: int | None = None) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    signature = PRIVATE_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def test_sendgrid_events_are_verified_deduplicated_and_a_bounce_is_queued(
    app: tuple[LiveServer, Settings, Store],
) -> None:
    server, _, store = app
    case_id = sent_message(store, "email", "sgmsg123")
    events = [
        {
            "sg_event_id": "ev-1",
            "event": "delivered",
            "sg_message_id": "sgmsg123.filter1",
            "email": "patient@example.com",
        },
        {
            "sg_event_id": "ev-2",
            "event": "bounce",
            "makeright_ref": f"{case_id}:offer-1",
            "reason": "550 no such user",
        },
    ]
    body = json.dumps(events).encode()
    url = f"{server.url}/webhooks/sendgrid/events"
    assert httpx.post(url, content=body, headers=signed(body)).json() == {"accepted": 2}
    assert httpx.post(url, content=body, headers=signed(body)).status_code == 200  # SendGrid retries
    assert reports(store) == [("delivery.delivered", "recorded"), ("delivery.bounce", "pending")]

    tampered = body.replace(b"bounce", b"open")
    assert httpx.post(url, content=tampered, headers=signed(body)).status_code == 403
    stale = httpx.post(url, content=body, headers=signed(body, at=int(time.time()) - 600))
    assert stale.status_code == 403 and "stale" in stale.json()["error"]
    no_signature = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    assert no_signature.status_code == 403

    bad = json.dumps([{"event": "bounce"}, "nonsense"]).encode()
    refused = httpx.post(url, content=bad, headers=signed(bad))
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["[0].sg_event_id", "[1]."]
    with store.session() as s:
        assert s.scalars(select(DeadLetter.endpoint)).all() == ["/webhooks/sendgrid/events"]


async def twilio_reports(h: Harness, source: str, channel: str, sid: str, status: str) -> callbacks.Stored:
    """A Twilio status callback as the webhook stores it, then relayed to the case."""
    report = callbacks.Report(
        source=source, external_id=f"{sid}:{status}", channel=channel, status=status, provider_id=sid
    )
    stored = callbacks.accept(h.store, report, {})
    await h.dispatcher.dispatch(stored.row_id)
    return stored


async def test_an_undelivered_offer_moves_on_to_email_at_once(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        offer = (await h.wait_for(lambda: h.deliveries("sms")))[0]
        assert accepted.workflow_id
        await h.until_waiting(accepted.workflow_id)
        stored = await twilio_reports(h, "twilio_sms_status", "sms", offer.provider_id, "undelivered")
        assert stored.act
        # long before the reply deadline, the offer goes again by email, with choice links
        email = (await h.wait_for(lambda: h.deliveries("email")))[0]
        assert "/choose/" in email.body
        with h.store.session() as s:
            steps = s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == accepted.case_id)).all()
        assert "delivery_failed" in steps
        assert h.event_status(stored.row_id) == "dispatched"
        await h.end(handle)


async def test_an_unanswered_call_hands_the_case_to_a_rep_without_waiting_out_the_keypad(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path, policy={"call_answer_deadline_seconds": 86400})
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id and accepted.workflow_id
        await own_time_skipping_env.sleep(900 + 5)  # no answer to the SMS: the call goes out
        call = (await h.wait_for(lambda: h.deliveries("voice")))[0]
        await h.until_waiting(accepted.workflow_id)
        await twilio_reports(h, "twilio_call_status", "voice", call.provider_id, "no-answer")
        # a day of keypad deadline, yet the escalation opens now: nobody heard the choices
        escalation_id = await h.escalation(accepted.case_id)
        assert escalation_id.startswith(f"esc-{accepted.case_id}")
        with h.store.session() as s:
            steps = s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == accepted.case_id)).all()
        assert steps.index("delivery_failed") < steps.index("escalation_opened")
        await h.end(handle)


@pytest.fixture
def live_twilio_app(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings, Store]]:
    """The web app with Twilio live (no local phone): callbacks come from Twilio itself, signed with the
    account's auth token against the public URL."""
    from web.app import create_app

    settings, port = offline_web(
        sqlite_url,
        tmp_path,
        twilio_mode="live",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="live-auth-token-" + uuid.uuid4().hex,
        twilio_from_number="+15005550006",
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings, Store(sqlite_url)


def _case_timeline(store: Store, case_id: str) -> list[tuple[str, dict[str, object]]]:
    with store.session() as s:
        items = s.scalars(
            select(TimelineItem).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id)
        )
        return [(i.what, i.detail) for i in items if i.what.startswith("bridge_")]


def test_call_patient_status_callbacks_in_live_mode_tell_the_timeline_what_happened(
    live_twilio_app: tuple[LiveServer, Settings, Store],
) -> None:
    """The bridge call's two legs report every step, as Twilio sends them (the patient's leg with
    ParentCallSid); each lands once on the case's timeline; an unsigned or forged report is refused."""
    from urllib.parse import urlencode

    server, settings, store = live_twilio_app
    assert httpx.get(f"{server.url}/dev/phone").status_code == 404  # no local phone with Twilio live
    key = "bridge-esc-case-1-1"
    case_id = add_case(store)
    with store.session() as s:  # placed; Twilio's first report may come before its sid is recorded
        s.add(
            OutboundMessageRow(
                case_id=case_id, key=key, channel="voice", to_address="+12125550101", body="bridge",
                status="sending",
            )
        )  # fmt: skip
    rep_sid, patient_sid = "CA" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
    rep_path = "/webhooks/twilio/voice/status?" + urlencode({"ref": f"{case_id}:{key}", "leg": "rep"})
    patient_path = "/webhooks/twilio/voice/status?" + urlencode({"ref": f"{case_id}:{key}", "leg": "patient"})
    rep = {"CallSid": rep_sid, "AccountSid": settings.twilio_account_sid, "Direction": "outbound-api"}
    patient = {"CallSid": patient_sid, "ParentCallSid": rep_sid, "Direction": "outbound-dial"}

    unsigned = httpx.post(f"{server.url}{rep_path}", data={**rep, "CallStatus": "in-progress"})
    assert unsigned.status_code == 403
    forged = twilio(server, settings, rep_path, {**rep, "CallStatus": "in-progress"}, token="wrong")
    assert forged.status_code == 403
    # the same report signed for another URL (a replay against the patient's leg) is refused too
    url = f"{settings.public_base_url}{rep_path}"
    params = {**patient, "CallStatus": "in-progress"}
    elsewhere = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    answer = httpx.post(f"{server.url}{patient_path}", data=params, headers={"X-Twilio-Signature": elsewhere})
    assert answer.status_code == 403
    assert _case_timeline(store, case_id) == []

    for path, params in [
        (rep_path, {**rep, "CallStatus": "initiated"}),
        (rep_path, {**rep, "CallStatus": "ringing"}),
        (rep_path, {**rep, "CallStatus": "in-progress"}),
        (patient_path, {**patient, "CallStatus": "initiated"}),
        (patient_path, {**patient, "CallStatus": "ringing"}),
        (patient_path, {**patient, "CallStatus": "in-progress"}),
        (patient_path, {**patient, "CallStatus": "in-progress"}),  # Twilio retried: counted once
        (patient_path, {**patient, "CallStatus": "completed", "CallDuration": "130"}),
        (rep_path, {**rep, "CallStatus": "completed", "CallDuration": "151"}),
    ]:
        assert twilio(server, settings, path, params).status_code == 200, params
    assert _case_timeline(store, case_id) == [
        ("bridge_rep_ringing", {"status": "ringing"}),
        ("bridge_rep_answered", {"status": "in-progress"}),
        ("bridge_patient_ringing", {"status": "ringing"}),
        ("bridge_patient_answered", {"status": "in-progress"}),
        ("bridge_ended", {"status": "completed", "duration": 130}),
    ]
    # recorded, and nothing for the case's workflow to act on
    assert {status for _, status in reports(store)} == {"recorded"}

    from web.timeline import describe

    assert [describe(what, detail)[0] for what, detail in _case_timeline(store, case_id)] == [
        "The rep's phone is ringing",
        "Rep answered, calling the patient",
        "The patient's phone is ringing",
        "Patient answered: connected",
        "Call ended (2 min 10 s)",
    ]

    # a second call: the patient does not pick up
    second_rep, second_patient = "CA" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
    with store.session() as s:
        s.add(
            OutboundMessageRow(
                case_id=case_id, key="bridge-esc-case-1-2", channel="voice", to_address="+12125550101",
                body="bridge", status="sent", provider_id=second_rep,
            )
        )  # fmt: skip
    no_answer = {"CallSid": second_patient, "ParentCallSid": second_rep, "CallStatus": "no-answer"}
    assert twilio(server, settings, "/webhooks/twilio/voice/status", no_answer).status_code == 200
    what, detail = _case_timeline(store, case_id)[-1]
    assert describe(what, detail)[0] == "Patient did not answer"
