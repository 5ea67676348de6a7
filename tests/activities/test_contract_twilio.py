"""LiveTwilio against Twilio's own OpenAPI document (Prism): the requests our SDK calls make are ones
Twilio's contract accepts, and the answers parse into what send-once needs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from activities.twilio_phone import TwilioActivities
from domain.messaging import Channel, OutboundMessage
from providers.errors import ProviderRejected
from providers.phone.twilio import LiveTwilio
from store.db import Store
from store.models import OutboundMessageRow, TimelineItem
from tests.support.prism import add_case, request_violations

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM_NUMBER = "+15005550006"
PATIENT = "+31612345678"
# the spec's examples, which Prism answers with
EXAMPLE_MESSAGE_SID = "SM" + "a" * 32
EXAMPLE_CALL_SID = "CA" + "a" * 32
EXAMPLE_LISTED_BODY = "testing"  # first message of the Messages list example
EXAMPLE_LISTED_SID = "SMded05904ccb347238880ca9264e8fe1c"
EXAMPLE_LISTED_CREATED = datetime(2019, 5, 24, 17, 44, 46, tzinfo=UTC)  # its date_created
EXAMPLE_CALLS_CREATED = datetime(2019, 10, 18, 16, 0, tzinfo=UTC)  # the calls example's oldest date_created


@pytest.fixture
def gateway(prism_twilio: str) -> LiveTwilio:
    return LiveTwilio(ACCOUNT_SID, "auth-token", FROM_NUMBER, prism_twilio)


def last_exchange(gateway: LiveTwilio) -> tuple[Any, Any]:
    """The SDK's own record of the last request and response (after our base-URL rewrite)."""
    http = gateway.client.http_client
    return http._test_only_last_request, http._test_only_last_response


def assert_accepted(gateway: LiveTwilio, status: int, path: str) -> None:
    request, response = last_exchange(gateway)
    assert request.url.endswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/{path}"), request.url
    assert request.url.startswith("http://127.0.0.1:"), "the base URL rewrite must reach the mock"
    assert response.status_code == status, response.text
    assert request_violations(response.headers) == []


def sms(case_id: str = "case-1", key: str = "offer", body: str = "Moved. Reply 1 or 2.") -> OutboundMessage:
    return OutboundMessage(case_id=case_id, key=key, channel=Channel.SMS, to=PATIENT, body=body)


def call(case_id: str = "case-1", key: str = "offer-call") -> OutboundMessage:
    return OutboundMessage(
        case_id=case_id,
        key=key,
        channel=Channel.VOICE,
        to=PATIENT,
        body="Your appointment moved. Press 1 to accept, 2 for another time.",
        gather_action_url="https://makeright.example/twilio/gather/case-1/offer-call",
        language="nl",
    )


def test_send_sms_meets_the_contract(gateway: LiveTwilio) -> None:
    sid = gateway.send_sms(sms())

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert sid == EXAMPLE_MESSAGE_SID
    assert_accepted(gateway, 201, "Messages.json")
    request, _ = last_exchange(gateway)
    assert request.data == {"To": PATIENT, "From": FROM_NUMBER, "Body": sms().body}


def test_place_call_with_gather_meets_the_contract(gateway: LiveTwilio) -> None:
    sid = gateway.place_call(call())

    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)
    assert sid == EXAMPLE_CALL_SID
    assert_accepted(gateway, 201, "Calls.json")
    request, _ = last_exchange(gateway)
    twiml = request.data["Twiml"]
    assert request.data["To"] == PATIENT and request.data["From"] == FROM_NUMBER
    assert '<Gather action="https://makeright.example/twilio/gather/case-1/offer-call"' in twiml
    assert 'numDigits="1"' in twiml and 'language="nl-NL"' in twiml


def test_a_request_that_breaks_the_contract_is_rejected(gateway: LiveTwilio) -> None:
    """The control: Prism does catch a request the spec forbids, and the gateway maps its 422 to a refusal."""
    with pytest.raises(ProviderRejected) as refused:
        gateway._call_api(
            gateway.client.messages.create, to=PATIENT, from_=FROM_NUMBER, body="hi", status_callback="no url"
        )

    assert refused.value.status == 422
    _, response = last_exchange(gateway)
    problems = json.loads(response.text)["validation"]
    assert [p["location"] for p in problems] == [["body", "StatusCallback"]]
    assert 'must match format "uri"' in problems[0]["message"]


def test_find_sent_reads_one_page_of_messages(gateway: LiveTwilio) -> None:
    since = EXAMPLE_LISTED_CREATED - timedelta(minutes=1)

    assert gateway.find_sent(sms(body=EXAMPLE_LISTED_BODY), since) == EXAMPLE_LISTED_SID
    assert_accepted(gateway, 200, "Messages.json")
    request, _ = last_exchange(gateway)
    # our own query, not the example's next_page_uri: the gateway did not page on. No DateSent filter: a
    # message still queued has no date_sent, and the retry must find it
    assert request.params["To"] == PATIENT
    assert request.params["From"] == FROM_NUMBER
    assert request.params["PageSize"] == 50
    assert not [name for name in request.params if name.startswith("DateSent")]

    assert gateway.find_sent(sms(body="a body Twilio never saw"), since) is None
    # the same body created before the attempt was recorded is an older message, not ours
    later = EXAMPLE_LISTED_CREATED + timedelta(minutes=1)
    assert gateway.find_sent(sms(body=EXAMPLE_LISTED_BODY), later) is None


def test_find_sent_reads_one_page_of_calls(gateway: LiveTwilio) -> None:
    since = EXAMPLE_CALLS_CREATED - timedelta(minutes=1)

    found = gateway.find_sent(call(), since)

    assert found is not None and re.fullmatch(r"CA[0-9a-f]{32}", found)
    assert_accepted(gateway, 200, "Calls.json")
    request, _ = last_exchange(gateway)
    assert request.params["To"] == PATIENT
    assert not [name for name in request.params if name.startswith("StartTime")]
    assert gateway.find_sent(call(), datetime.now(UTC) - timedelta(minutes=5)) is None


async def test_send_once_through_the_activity(gateway: LiveTwilio, store: Store) -> None:
    case_id = add_case(store)
    activities = TwilioActivities(store, gateway)
    msg = sms(case_id=case_id, key="offer-1")

    first = await activities.send_sms(msg)
    second = await activities.send_sms(msg)

    assert first.status == "sent" and first.provider_id == EXAMPLE_MESSAGE_SID
    assert second.status == "already_sent"
    assert second.provider_id == first.provider_id
    assert second.message_id == first.message_id
    with store.session() as s:
        row = s.scalars(select(OutboundMessageRow).where(OutboundMessageRow.case_id == case_id)).one()
        timeline = s.scalars(select(TimelineItem).where(TimelineItem.case_id == case_id)).all()
    assert (row.status, row.provider_id, row.attempts) == ("sent", EXAMPLE_MESSAGE_SID, 1)
    assert [(t.what, t.key) for t in timeline] == [("case_opened", "opened"), ("sms_sent", "msg:sms:offer-1")]


async def test_place_call_once_through_the_activity(gateway: LiveTwilio, store: Store) -> None:
    case_id = add_case(store)
    activities = TwilioActivities(store, gateway)
    msg = call(case_id=case_id)

    first = await activities.place_call(msg)
    second = await activities.place_call(msg)

    assert (first.status, first.provider_id) == ("sent", EXAMPLE_CALL_SID)
    assert (second.status, second.provider_id) == ("already_sent", EXAMPLE_CALL_SID)


async def test_bridge_call_rings_the_rep_and_dials_the_patient_in(gateway: LiveTwilio, store: Store) -> None:
    from domain.messaging import BridgeCallRequest
    from store.users import add_user

    case_id = add_case(store)
    add_user(store, "ann", "rep", "correct horse battery", phone="+15005550199")
    activities = TwilioActivities(store, gateway)
    request = BridgeCallRequest(case_id=case_id, key="bridge-1", rep_user="ann", patient_phone=PATIENT)

    placed = await activities.bridge_call(request)

    assert (placed.status, placed.provider_id) == ("sent", EXAMPLE_CALL_SID)
    assert_accepted(gateway, 201, "Calls.json")
    sent, _ = last_exchange(gateway)
    # the rep's phone rings; the patient is dialled with our number as caller id, never the rep's
    assert sent.data["To"] == "+15005550199" and sent.data["From"] == FROM_NUMBER
    twiml = sent.data["Twiml"]
    assert f'<Dial callerId="{FROM_NUMBER}"' in twiml and f"<Number>{PATIENT}</Number>" in twiml
    # a rep without a phone on file cannot be bridged: refused, nothing sent
    add_user(store, "bob", "rep", "correct horse battery")
    refused = await activities.bridge_call(request.model_copy(update={"rep_user": "bob", "key": "bridge-2"}))
    assert refused.status == "rejected" and "no phone" in (refused.reason or "")


def test_status_callbacks_are_requested_within_the_contract(prism_twilio: str) -> None:
    gateway = LiveTwilio(
        ACCOUNT_SID, "auth-token", FROM_NUMBER, prism_twilio, callback_base="https://mr.example"
    )
    gateway.send_sms(sms())
    assert_accepted(gateway, 201, "Messages.json")
    request, _ = last_exchange(gateway)
    assert request.data["StatusCallback"] == "https://mr.example/webhooks/twilio/sms/status"
    gateway.place_call(call())
    assert_accepted(gateway, 201, "Calls.json")
    request, _ = last_exchange(gateway)
    assert request.data["StatusCallback"] == "https://mr.example/webhooks/twilio/voice/status"
    assert request.data["MachineDetection"] == "Enable"
    assert (
        request.data["StatusCallbackEvent"] == ["completed"]
        or request.data["StatusCallbackEvent"] == "completed"
    )


def test_bridge_call_asks_for_every_progress_event_of_both_legs(prism_twilio: str) -> None:
    """Call patient in live mode: the rep's call and the patient's leg (the <Number> of the <Dial>)
    report initiated, ringing, answered and completed to a URL naming the call, so the case's timeline
    says what really happened; Prism checks the request against Twilio's own OpenAPI document."""
    from urllib.parse import parse_qs, urlsplit

    gateway = LiveTwilio(
        ACCOUNT_SID, "auth-token", FROM_NUMBER, prism_twilio, callback_base="https://mr.example"
    )
    bridge = call(key="bridge-esc-1-1").model_copy(
        update={"to": "+15005550199", "dial": PATIENT, "gather_action_url": None}
    )
    gateway.place_call(bridge)
    assert_accepted(gateway, 201, "Calls.json")
    request, _ = last_exchange(gateway)
    rep_url = urlsplit(request.data["StatusCallback"])
    assert (rep_url.netloc, rep_url.path) == ("mr.example", "/webhooks/twilio/voice/status")
    assert parse_qs(rep_url.query) == {"ref": [f"{bridge.case_id}:bridge-esc-1-1"], "leg": ["rep"]}
    assert request.data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert "MachineDetection" not in request.data  # a rep answers; nobody presses keys
    twiml = request.data["Twiml"]
    assert 'statusCallbackEvent="initiated ringing answered completed"' in twiml
    assert "leg=patient" in twiml and f">{PATIENT}</Number>" in twiml


# ---------------------------------------------------------------------- offers of work to a rep

REP_PHONE = "+15005550199"


def offer(case_id: str = "case-1", offer_id: str = "esc-case-1-1.o1") -> OutboundMessage:
    """A rep's offer call as the router places it (domain.routing.whisper as the body)."""
    return OutboundMessage(
        case_id=case_id,
        key=f"offer-{offer_id}",
        channel=Channel.VOICE,
        to=REP_PHONE,
        body="Check-in trouble at Uptown Orthopedics. The patient speaks Dutch. Press 1 to take it.",
        gather_action_url=f"https://mr.example/webhooks/twilio/voice/offer?offer={offer_id}",
        offer_id=offer_id,
        ring_seconds=20,
        language="nl",
    )


def test_offer_call_rings_the_rep_within_the_contract(prism_twilio: str) -> None:
    """The offer: the whisper inside a one-key Gather, ringing `ring_seconds` (Twilio's Timeout), every
    progress event reported to a URL that names the case, the message, the rep's leg and the offer; no
    answering-machine detection."""
    from urllib.parse import parse_qs, urlsplit

    from tests.support.twiml import assert_valid_twiml

    gateway = LiveTwilio(
        ACCOUNT_SID, "auth-token", FROM_NUMBER, prism_twilio, callback_base="https://mr.example/"
    )
    msg = offer()

    sid = gateway.place_call(msg)

    assert sid == EXAMPLE_CALL_SID
    assert_accepted(gateway, 201, "Calls.json")
    request, _ = last_exchange(gateway)
    assert (request.data["To"], request.data["From"]) == (REP_PHONE, FROM_NUMBER)
    assert request.data["Timeout"] == 20
    assert request.data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    status_url = urlsplit(request.data["StatusCallback"])
    assert (status_url.scheme, status_url.netloc, status_url.path) == (
        "https",
        "mr.example",
        "/webhooks/twilio/voice/status",
    )
    assert parse_qs(status_url.query) == {
        "ref": ["case-1:offer-esc-case-1-1.o1"],
        "leg": ["rep"],
        "offer": ["esc-case-1-1.o1"],
    }
    assert "MachineDetection" not in request.data
    twiml = request.data["Twiml"]
    root = assert_valid_twiml(twiml)
    gather = root.find("Gather")
    assert gather is not None and gather.get("action") == msg.gather_action_url
    assert gather.get("numDigits") == "1" and gather.get("method") == "POST"
    say = gather.find("Say")
    assert say is not None and say.text == msg.body and say.get("language") == "en-US"  # the whisper: English
    assert [child.tag for child in root] == ["Gather", "Say", "Hangup"]


def test_offer_call_without_a_callback_base_still_meets_the_contract(gateway: LiveTwilio) -> None:
    gateway.place_call(offer().model_copy(update={"ring_seconds": None}))

    assert_accepted(gateway, 201, "Calls.json")
    request, _ = last_exchange(gateway)
    assert "Timeout" not in request.data and "StatusCallback" not in request.data
    assert "<Gather" in request.data["Twiml"]


def test_end_call_update_meets_the_contract(gateway: LiveTwilio) -> None:
    """Hanging up a call we placed: the update Twilio's contract accepts (the example answers `completed`,
    so one request is enough)."""
    gateway.end_call(EXAMPLE_CALL_SID)

    assert_accepted(gateway, 200, f"Calls/{EXAMPLE_CALL_SID}.json")
    request, _ = last_exchange(gateway)
    assert request.method == "POST"
    assert request.data == {"Status": "canceled"}


def test_a_call_update_that_breaks_the_contract_is_rejected(gateway: LiveTwilio) -> None:
    """The control for the update: Prism refuses a status the spec does not list (and a sid that is not
    a call's), and the gateway maps the 422 to a refusal."""
    with pytest.raises(ProviderRejected) as refused:
        gateway._call_api(gateway.client.calls(EXAMPLE_CALL_SID).update, status="hung-up")
    assert refused.value.status == 422
    with pytest.raises(ProviderRejected):
        gateway._call_api(gateway.client.calls("not-a-call-sid").update, status="canceled")
