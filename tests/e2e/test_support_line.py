"""Patients calling the support line, over real HTTP with `run.py` (what `make run` runs), one rep on the
floor (CONTRACT.md, "Patients calling in"). Twilio's side is played by signed webhooks as Twilio sends
them: the number's Voice URL, the queue's waitUrl, the caller's keys, the number's status callback, and
the rep's <Gather> on the offer call (whose ringing is the local phone's record of it).

- With the rep away: one caller waits, is offered a callback after the wait and takes it; another hangs
  up (abandoned, its work withdrawn). The rep goes available and is rung for the callback (not for the
  abandoned call); their 1 dials the patient back from makeright's number.
- With the rep free again: a caller is rung through at once; the rep's 1 takes them from the queue
  (<Dial><Queue>) at the first ring.
- The wall then shows 3 calls in, a third at the first ring, a third abandoned."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from store import support_calls
from store.db import Store
from store.models import ReceivedEvent
from tests.support.rep_floor import FROM_NUMBER, Ring, press, rings, signed_post
from tests.support.system import System
from tests.support.twiml import assert_valid_twiml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ANNA = "+31201110001"
ANNA_AUTH = {"Authorization": "Bearer e2e-anna"}
SUPERVISOR = {"Authorization": "Bearer e2e-supervisor"}
WAITER, QUITTER, LUCKY = "+31611110001", "+31611110002", "+31611110003"
LINE = "/webhooks/twilio/voice/incoming"


@pytest.fixture
def system(sqlite_url: str, tmp_path: Path) -> Iterator[System]:
    running = System(
        sqlite_url,
        tmp_path / "var",
        API_TOKENS="supervisor:supervisor:e2e-supervisor,rep:anna:e2e-anna",
        ROUTING__OFFER_SECONDS="20",
        ROUTING__WRAP_UP_SECONDS="0",
        ROUTING__CALLER_WAIT_SECONDS="30",
    )
    yield running
    running.close()


def presence(system: System, status: str) -> None:
    body: dict[str, Any] = {"status": status}
    if status == "available":
        body["phone"] = ANNA
    went = httpx.post(f"{system.base}/api/reps/me/presence", json=body, headers=ANNA_AUTH, timeout=30)
    assert went.status_code == 200, went.text


def anna(system: System) -> str:
    listed = httpx.get(f"{system.base}/api/reps", headers=SUPERVISOR, timeout=10).json()
    return next((r["status"] for r in listed if r["user"] == "anna"), "")


def calls_in(system: System, sid: str, phone: str) -> ET.Element:
    params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": phone, "To": FROM_NUMBER,
              "CallStatus": "ringing", "Direction": "inbound"}  # fmt: skip
    answer = signed_post(system, LINE, params)
    assert answer.status_code == 200, answer.text
    return assert_valid_twiml(answer.text)


def twilio(system: System, path: str, params: dict[str, str]) -> ET.Element:
    answer = signed_post(system, path, {"AccountSid": "AC" + "0" * 32, **params})
    assert answer.status_code == 200, answer.text
    return assert_valid_twiml(answer.text)


def told_router(store: Store, external_id: str) -> bool:
    with store.session() as s:
        status = s.scalar(
            select(ReceivedEvent.status).where(
                ReceivedEvent.source == support_calls.SOURCE, ReceivedEvent.external_id == external_id
            )
        )
        return status == "dispatched"


def rep_call_ended(system: System, ring: Ring) -> None:
    query = urlencode({"ref": f":offer-{ring.offer_id}", "leg": "rep", "offer": ring.offer_id})
    params = {"CallSid": ring.call_sid, "CallStatus": "completed", "CallDuration": "30", "To": ANNA}
    twilio(system, f"/webhooks/twilio/voice/status?{query}", params)


def test_callers_are_answered_called_back_or_abandoned_and_the_wall_counts_them(system: System) -> None:
    system.start()
    store = Store(system.db_url)
    presence(system, "away")  # on the floor, not taking work

    # the waiter: greeted, held in their call's queue
    greeting = calls_in(system, "CAwait", WAITER)
    enqueue = greeting.find("Enqueue")
    assert enqueue is not None and enqueue.text == "call-CAwait"
    system.wait(lambda: told_router(store, "CAwait:arrived"), 20, "the router told of the waiter")
    # the quitter hangs up while nobody is free: abandoned, withdrawn
    calls_in(system, "CAquit", QUITTER)
    twilio(system, f"{LINE}/status", {"CallSid": "CAquit", "CallStatus": "completed", "From": QUITTER})
    system.wait(lambda: told_router(store, "CAquit:ended"), 20, "the quitter's work withdrawn")
    assert support_calls.get(store, "CAquit").status == "abandoned"  # type: ignore[union-attr]

    # the waiter hears their place; after the wait, a callback offer; they press 1
    wait_url = enqueue.get("waitUrl", "").removeprefix(system.base)
    early = twilio(system, wait_url, {"CallSid": "CAwait", "QueueTime": "5", "QueuePosition": "1"})
    assert early.find("Gather") is None
    late = twilio(system, wait_url, {"CallSid": "CAwait", "QueueTime": "31", "QueuePosition": "1"})
    gather = late.find("Gather")
    assert gather is not None
    took = twilio(
        system, gather.get("action", "").removeprefix(system.base), {"CallSid": "CAwait", "Digits": "1"}
    )
    assert [v.tag for v in took] == ["Say", "Leave"]
    system.wait(lambda: told_router(store, "CAwait:callback"), 20, "the callback handed to the router")

    # anna goes available: she is rung for the callback (the abandoned call is gone), presses 1, and
    # the patient is dialled back from makeright's number
    presence(system, "available")
    [callback] = system.wait(lambda: rings(store, [ANNA]), 20, "anna rung for the callback")
    assert callback.offer_id.startswith("callback-CAwait")
    pressed = press(system, callback)
    assert pressed.status_code == 200, pressed.text
    dial = assert_valid_twiml(pressed.text).find("./Dial")
    assert dial is not None and (dial.findtext("Number") or "").strip() == WAITER
    assert dial.get("callerId") == FROM_NUMBER
    rep_call_ended(system, callback)
    system.wait(lambda: anna(system) == "available", 20, "anna free again")

    # the lucky caller: anna is free, her phone rings at once, her 1 takes them from the queue
    arrived = time.monotonic()
    calls_in(system, "CAlucky", LUCKY)
    ring = system.wait(
        lambda: [r for r in rings(store, [ANNA]) if r.offer_id.startswith("call-CAlucky")], 20, "anna rung"
    )[0]
    pressed = press(system, ring)
    assert time.monotonic() - arrived < 6
    answer = assert_valid_twiml(pressed.text)
    assert [v.tag for v in answer] == ["Say", "Dial"]
    assert answer.findtext("./Dial/Queue") == "call-CAlucky"
    lucky = support_calls.get(store, "CAlucky")
    assert lucky is not None and (lucky.status, lucky.answered_by, lucky.first_ring) == (
        "answered",
        "anna",
        True,
    )
    twilio(system, f"{LINE}/status", {"CallSid": "CAlucky", "CallStatus": "completed", "From": LUCKY})
    assert support_calls.get(store, "CAlucky").status == "answered"  # type: ignore[union-attr]
    rep_call_ended(system, ring)

    wall = httpx.get(f"{system.base}/api/wall", headers=SUPERVISOR, timeout=10).json()
    assert wall["calls_in"] == 3
    assert wall["calls_answered_first_ring_pct"] == 33.3
    assert wall["calls_abandoned_pct"] == 33.3
    assert wall["reps_available"] + wall["reps_busy"] == 1
    page = httpx.get(f"{system.base}/wall", headers=SUPERVISOR, timeout=10)
    assert "Calls answered at the first ring" in page.text and "33 %" in page.text
    assert system.stop() == 0
