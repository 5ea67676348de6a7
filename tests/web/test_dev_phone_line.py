"""The local phone calls the support line as a patient (embedded mode, no Temporal: the router's
instructions wait in the inbox): the greeting and the hold message are heard, the call is on the line in
the patient's thread, waiting again after the wait offers a callback, and hanging up is an abandoned call.
The local Twilio reads <Enqueue>, <Leave> and <Dial><Queue>."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from config import Settings
from providers.phone import local_twiml, twiml
from store import support_calls
from store.db import Store
from tests.support.cases import open_case
from tests.support.http import LiveServer, offline_web

PATIENT = "+31612345678"


@pytest.fixture
def phone(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings, Store]]:
    from web.app import create_app

    settings, port = offline_web(sqlite_url, tmp_path, routing={"caller_wait_seconds": 1})
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings, Store(sqlite_url)


def heard(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query).get("heard", [""])[0]


def test_a_patient_calls_the_line_from_the_local_phone(phone: tuple[LiveServer, Settings, Store]) -> None:
    server, _, store = phone
    open_case(store)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        said = heard(http.post("/dev/phone/line", data={"to": PATIENT}))
        assert "Goedendag" in said and "nummer 1" in said  # the greeting, then the hold message (Dutch)
        [call] = support_calls.on_the_line(store, PATIENT)
        page = http.get("/dev/phone", params={"to": PATIENT}).text
        assert f"/dev/phone/line/{call.call_sid}/hangup" in page and "on hold" in page
        time.sleep(1.1)  # past ROUTING__CALLER_WAIT_SECONDS (1 s here): the callback is offered
        assert "Toets 1" in heard(http.post(f"/dev/phone/line/{call.call_sid}/wait"))
        assert heard(http.post(f"/dev/phone/line/{call.call_sid}/hangup")) == ""
        assert support_calls.get(store, call.call_sid).status == "abandoned"  # type: ignore[union-attr]
        assert support_calls.on_the_line(store, PATIENT) == []
        assert "Call the support line" in http.get("/dev/phone", params={"to": PATIENT}).text


def test_the_local_twilio_reads_the_line_s_twiml() -> None:
    base = "http://127.0.0.1:1"
    greeting = twiml.line_greeting_twiml(base, "CA1", "call-CA1", "Hello.", "en", "Press your choice.")
    line = local_twiml.read_line(greeting, base + "/webhooks/twilio/voice/incoming")
    assert line.said == ("Hello.", "Press your choice.")
    assert line.keys_action == base + "/webhooks/twilio/voice/incoming/keys?call=CA1"
    assert line.enqueue is not None and line.enqueue.queue == "call-CA1"
    assert line.enqueue.wait_url == base + "/webhooks/twilio/voice/incoming/wait?call=CA1"
    taken = local_twiml.read(twiml.caller_connect_twiml("call-CA1", base, "call-CA1.o1"), base)
    assert (taken.then, taken.queue) == ("dial_queue", "call-CA1")
    assert local_twiml.read(twiml.line_leave_twiml("Bye."), base).then == "leave"
