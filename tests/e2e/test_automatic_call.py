"""The automatic call, over real HTTP with `run.py` (what `make run` runs): two reps go available through
the API (anna speaks Dutch, bob English only); a Dutch patient's check-in trouble rings anna first; she
lets it ring out; bob is rung, presses 1 on the signed Twilio Gather webhook, and the answer's TwiML dials
the patient from makeright's number; the escalation is bob's; anna has one miss; the call's end puts bob
in wrap-up. CONTRACT.md, "Reps on duty and routing"."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from store.models import LocalDelivery
from tests.support.settings import example_event
from tests.support.system import TWILIO_TOKEN, System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PATIENT = "+31612345678"
ANNA = "+31201110001"
BOB = "+31201110002"
ANNA_AUTH = {"Authorization": "Bearer e2e-anna"}
BOB_AUTH = {"Authorization": "Bearer e2e-bob"}
SUPERVISOR = {"Authorization": "Bearer e2e-supervisor"}


@pytest.fixture
def system(postgres_url: str, tmp_path: Path) -> Iterator[System]:
    # on PostgreSQL (the whole-system tests share the databases between them; each store test runs on both)
    running = System(
        postgres_url,
        tmp_path / "var",
        API_TOKENS="supervisor:supervisor:e2e-supervisor,rep:anna:e2e-anna,rep:bob:e2e-bob,engineer:e2e-engineer",
        CHECKIN_PROMPT_LEAD_MINUTES="10",  # a slot 5 minutes away: the prompt goes at once
        ROUTING__OFFER_SECONDS="6",
        ROUTING__WRAP_UP_SECONDS="5",
    )
    yield running
    running.close()


def calls_to(engine: Engine, number: str) -> list[LocalDelivery]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(LocalDelivery)
            .where(LocalDelivery.to_address == number, LocalDelivery.channel == "voice")
            .order_by(LocalDelivery.id)
        ).all()
    return [row for row in rows]  # type: ignore[misc]


def as_twilio(url: str, params: dict[str, str]) -> httpx.Response:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)


def reps(system: System) -> dict[str, dict[str, Any]]:
    listed = httpx.get(f"{system.base}/api/reps", headers=SUPERVISOR, timeout=10)
    assert listed.status_code == 200, listed.text
    return {rep["user"]: rep for rep in listed.json()}


def test_the_dutch_rep_is_rung_first_lets_it_ring_out_and_the_next_rep_takes_the_call(system: System) -> None:
    system.start()
    engine = create_engine(system.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
    for auth, phone, languages in ((BOB_AUTH, BOB, ["en"]), (ANNA_AUTH, ANNA, ["nl", "en"])):
        went = httpx.post(
            f"{system.base}/api/reps/me/presence",
            json={"status": "available", "phone": phone, "languages": languages},
            headers=auth,
            timeout=30,
        )
        assert went.status_code == 200, went.text
        assert went.json()["status"] == "available" and "phone" not in went.json()
    system.wait(lambda: {r["status"] for r in reps(system).values()} == {"available"}, 30, "two reps on duty")

    event = example_event("appointment_booked.json")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    event["data"]["slot"] = {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    assert system.post_event(event).status_code == 202

    def texts_to_patient() -> list[str]:
        with engine.connect() as conn:
            return list(conn.scalars(select(LocalDelivery.body).where(LocalDelivery.to_address == PATIENT)))

    system.wait(texts_to_patient, 60, "the check-in prompt")
    assert system.patient_texts(PATIENT, "de kiosk weigert mijn verzekeringspas").status_code == 200

    # the Dutch speaker is rung first (how fast is bench/routing.py's figure, not a timed test's)
    [anna_call] = system.wait(lambda: calls_to(engine, ANNA), 30, "anna's phone to ring")
    assert "Dutch" in anna_call.body and PATIENT not in anna_call.body and "Uptown" in anna_call.body
    assert calls_to(engine, BOB) == []

    # she lets it ring out: after the offer time, bob's phone rings
    [bob_call] = system.wait(lambda: calls_to(engine, BOB), 30, "bob's phone to ring")
    assert len(calls_to(engine, ANNA)) == 1  # nobody is rung twice for one offer
    assert bob_call.gather_action_url and "offer=" in bob_call.gather_action_url
    floor = system.wait(lambda: (f := reps(system))["bob"]["status"] == "offered" and f, 30, "bob offered")
    assert floor["anna"]["missed_in_a_row"] == 1 and floor["anna"]["status"] == "available"

    # bob presses 1: Twilio posts the Gather's digits; the answer dials the patient from our number
    pressed = as_twilio(
        bob_call.gather_action_url,
        {
            "CallSid": bob_call.provider_id,
            "AccountSid": "AC" + "0" * 32,
            "From": "+15005550006",
            "To": BOB,
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
            "Digits": "1",
        },
    )
    assert pressed.status_code == 200, pressed.text
    twiml = ET.fromstring(pressed.text)
    number = twiml.find("./Dial/Number")
    dial = twiml.find("./Dial")
    assert number is not None and dial is not None and (number.text or "").strip() == PATIENT
    assert dial.get("callerId") not in (BOB, ANNA, None)  # the patient sees makeright's number

    listed = httpx.get(f"{system.base}/api/escalations?status=claimed", headers=BOB_AUTH, timeout=10).json()
    mine = [e for e in listed if e["appointment_id"] == event["data"]["appointment_id"]]
    assert [e["claimed_by"] for e in mine] == ["bob"]
    escalation = mine[0]
    assert reps(system)["bob"]["status"] == "busy"

    # the patient's leg rings and is answered; the rep's call ends: bob wraps up, then is free again
    status_url = f"{system.base}/webhooks/twilio/voice/status"
    offer_id = bob_call.gather_action_url.split("offer=", 1)[1]
    query = f"?ref={escalation['case_id']}:offer-{offer_id}&leg=rep&offer={offer_id}"
    ended = as_twilio(
        status_url + query,
        {"CallSid": bob_call.provider_id, "CallStatus": "completed", "CallDuration": "95", "To": BOB},
    )
    assert ended.status_code == 200, ended.text
    system.wait(lambda: reps(system)["bob"]["status"] == "wrap_up", 30, "bob wrapping up")
    system.wait(lambda: reps(system)["bob"]["status"] == "available", 30, "bob free again")

    steps = [s["what"] for s in system.case(escalation["case_id"])["timeline"]]
    assert {"rep_rung", "offer_missed", "offer_accepted", "escalation_claimed"} <= set(steps), steps
    assert system.stop() == 0
