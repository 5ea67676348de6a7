"""The support line's calls against Twilio's own OpenAPI document (Prism), through the router's activities
(activities/routing.py) as the worker runs them: the call that rings a rep with an offer (a patient on the
line, an urgent escalation, a patient who asked to be called back), and the call updates that stop it
ringing (`canceled`) or end it once answered (`completed`). What the rep's key then answers is TwiML, not
a REST request: it is checked against Twilio's TwiML rules (tests/support/twiml.py), connecting the rep
to the caller waiting in the queue or calling the patient back from our number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.testing import ActivityEnvironment

from activities.routing import RingRequest, RoutingActivities, StopRequest
from domain.routing import Offer, WorkItem, WorkKind
from providers.phone.twilio import LiveTwilio
from providers.phone.twiml import caller_connect_twiml, connect_twiml
from store.db import Store
from tests.activities.test_contract_twilio import (
    ACCOUNT_SID,
    EXAMPLE_CALL_SID,
    FROM_NUMBER,
    PATIENT,
    assert_accepted,
    last_exchange,
)
from tests.support.prism import add_case
from tests.support.twiml import assert_valid_twiml

REP = "+31201110001"
BASE = "https://mr.example"
EVERY_STEP = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture
def gateway(prism_twilio: str) -> LiveTwilio:
    return LiveTwilio(ACCOUNT_SID, "auth-token", FROM_NUMBER, prism_twilio, callback_base=BASE + "/")


def offered(case_id: str, kind: WorkKind, case_kind: str = "booking_conflict") -> RingRequest:
    now = datetime.now(UTC)
    work_id = {
        WorkKind.CALLER: f"call-CA{'b' * 32}",
        WorkKind.ESCALATION: f"esc-{case_id}-1",
        WorkKind.CALLBACK: f"callback-CA{'c' * 32}",
    }[kind]
    item = WorkItem(
        work_id=work_id,
        kind=kind,
        arrived_at=now,
        language="nl",
        case_id=case_id,
        escalation_id=work_id if kind is WorkKind.ESCALATION else None,
        case_kind=case_kind,
        practice="Uptown Orthopedics",
    )
    offer = Offer(
        offer_id=f"{work_id}.o1",
        work_id=work_id,
        user="anna",
        phone=REP,
        at=now,
        expires_at=now + timedelta(seconds=20),
    )
    return RingRequest(offer=offer, item=item, public_base_url=BASE, ring_seconds=20)


@pytest.mark.parametrize(
    ("kind", "case_kind", "heard"),
    [
        (WorkKind.CALLER, "booking_conflict", "A patient is calling. A lost booking at Uptown Orthopedics."),
        (WorkKind.ESCALATION, "checkin_trouble", "Check-in trouble at Uptown Orthopedics."),
        (WorkKind.CALLBACK, "booking_conflict", "A lost booking at Uptown Orthopedics."),
    ],
)
async def test_ringing_a_rep_meets_the_contract(
    gateway: LiveTwilio, store: Store, kind: WorkKind, case_kind: str, heard: str
) -> None:
    """One Calls create per offer, from our number to the rep's, with the whisper inside a one-key
    Gather, ringing at most the offer's time, every progress event reported to a URL naming the offer."""
    case_id = add_case(store)
    req = offered(case_id, kind, case_kind)

    rung = await ActivityEnvironment().run(RoutingActivities(store, gateway).ring_rep, req)

    assert (rung.status, rung.provider_id) == ("sent", EXAMPLE_CALL_SID)
    assert_accepted(gateway, 201, "Calls.json")
    request, _ = last_exchange(gateway)
    assert (request.data["To"], request.data["From"]) == (REP, FROM_NUMBER)
    assert request.data["Timeout"] == 20
    assert request.data["StatusCallbackEvent"] == EVERY_STEP
    status_url = urlsplit(request.data["StatusCallback"])
    assert (status_url.netloc, status_url.path) == ("mr.example", "/webhooks/twilio/voice/status")
    assert parse_qs(status_url.query)["offer"] == [req.offer.offer_id]
    root = assert_valid_twiml(request.data["Twiml"])
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert gather.get("action") == f"{BASE}/webhooks/twilio/voice/offer?offer={req.offer.offer_id}"
    say = gather.find("Say")
    assert say is not None and say.text is not None and say.text.startswith(heard)
    assert "The patient speaks Dutch. Press 1 to take it." in say.text
    assert PATIENT not in request.data["Twiml"]  # the whisper names no patient


async def test_stopping_the_ring_is_a_call_update_within_the_contract(
    gateway: LiveTwilio, store: Store
) -> None:
    """An offer withdrawn or timed out: the rep's ringing call is updated to `canceled` (Twilio's
    example answers that the call is over, so nothing more is sent)."""
    case_id = add_case(store)
    req = offered(case_id, WorkKind.CALLER)
    floor = RoutingActivities(store, gateway)
    env = ActivityEnvironment()
    await env.run(floor.ring_rep, req)

    await env.run(floor.stop_ringing, StopRequest(offer=req.offer, item=req.item))

    assert_accepted(gateway, 200, f"Calls/{EXAMPLE_CALL_SID}.json")
    request, _ = last_exchange(gateway)
    assert request.method == "POST" and request.data == {"Status": "canceled"}


def test_ending_an_answered_call_is_a_call_update_within_the_contract(gateway: LiveTwilio) -> None:
    """A call already answered when its offer ends is ended with `completed` (end_call's second update,
    sent when Twilio says the call is still in progress)."""
    gateway._call_api(gateway.client.calls(EXAMPLE_CALL_SID).update, status="completed")

    assert_accepted(gateway, 200, f"Calls/{EXAMPLE_CALL_SID}.json")
    request, _ = last_exchange(gateway)
    assert request.data == {"Status": "completed"}


def test_the_reps_key_connects_the_caller_or_calls_the_patient_back_in_valid_twiml() -> None:
    """What the offer's Gather action answers to the rep's 1: for a caller, <Dial><Queue> takes the
    caller waiting on the line; for a callback (or an escalation), <Dial callerId=our number> rings the
    patient, their leg reporting every step."""
    offer_id = f"call-CA{'b' * 32}.o1"
    caller = assert_valid_twiml(caller_connect_twiml(f"line-CA{'b' * 32}", BASE, offer_id))
    dial = caller.find("Dial")
    assert dial is not None and dial.find("Queue") is not None
    action = urlsplit(dial.get("action") or "")
    assert action.path == "/webhooks/twilio/voice/offer/dialed"
    assert parse_qs(action.query) == {"offer": [offer_id]}

    back = assert_valid_twiml(
        connect_twiml(PATIENT, FROM_NUMBER, BASE, "case-1", "offer-callback-1.o1", "callback-1.o1", "nl")
    )
    dial = back.find("Dial")
    assert dial is not None and dial.get("callerId") == FROM_NUMBER
    number = dial.find("Number")
    assert number is not None and number.text == PATIENT
    assert number.get("statusCallbackEvent") == " ".join(EVERY_STEP)
    assert REP not in connect_twiml(PATIENT, FROM_NUMBER, BASE, "case-1", "k", "o", "en")
