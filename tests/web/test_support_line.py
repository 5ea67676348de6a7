"""The support line's webhooks over real HTTP, with no Temporal (the router's instructions wait in the
inbox for a relay): signed, a 422 kept as a dead letter, the call stored and recognised, the greeting
holding the caller in the call's queue, the hold message turning into a callback offer after the wait,
pressing 1 for the callback, a hang-up before anyone took the call (abandoned), and a caller with an open
booking offer pressing their choice. Every TwiML answer is checked against Twilio's documented TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from config import Settings
from store import support_calls
from store.db import Store
from store.models import DeadLetter, InboundMessage, ReceivedEvent
from tests.support.cases import open_case, waiting_for_a_choice
from tests.support.http import LiveServer, offline_web
from tests.support.twiml import assert_valid_twiml

PATIENT = "+31612345678"  # the example event's patient
STRANGER = "+31687654321"
BASE = "/webhooks/twilio/voice/incoming"


@pytest.fixture
def app(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings, Store]]:
    from web.app import create_app

    settings, port = offline_web(sqlite_url, tmp_path)
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings, Store(sqlite_url)


def twilio(
    server: LiveServer, settings: Settings, path: str, params: dict[str, str], token: str | None = None
) -> httpx.Response:
    from twilio.request_validator import RequestValidator

    url = f"{settings.public_base_url}{path}"
    signature = RequestValidator(token or settings.twilio_auth_token).compute_signature(url, params)
    return httpx.post(f"{server.url}{path}", data=params, headers={"X-Twilio-Signature": signature})


def router_rows(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = s.scalars(
            select(ReceivedEvent)
            .where(ReceivedEvent.source == support_calls.SOURCE)
            .order_by(ReceivedEvent.id)
        )
        return [{"status": r.status, **r.parsed} for r in rows]


def twiml_of(answer: httpx.Response) -> ET.Element:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    return assert_valid_twiml(answer.text)


def test_signed_and_complete_or_refused(app: tuple[LiveServer, Settings, Store]) -> None:
    server, settings, store = app
    forged = twilio(server, settings, BASE, {"CallSid": "CA1", "From": PATIENT}, token="not-the-token")
    assert forged.status_code == 403
    for path in (BASE, f"{BASE}/status", f"{BASE}/wait?call=CA1", f"{BASE}/callback?call=CA1"):
        assert twilio(server, settings, path, {"CallSid": "CA1"}, token="wrong").status_code == 403
    missing = twilio(server, settings, BASE, {"CallSid": "CA1"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "From", "reason": "required"}]
    with store.session() as s:
        kept = s.scalars(select(DeadLetter)).all()
        assert [(d.endpoint, d.status_code) for d in kept] == [(BASE, 422)]
    assert support_calls.get(store, "CA1") is None


def test_a_known_caller_is_greeted_held_and_offered_a_callback(
    app: tuple[LiveServer, Settings, Store],
) -> None:
    server, settings, store = app
    case = open_case(store)
    answer = twilio(server, settings, BASE, {"CallSid": "CA100", "From": PATIENT, "To": "+15005550006"})
    root = twiml_of(answer)
    assert [v.tag for v in root] == ["Say", "Enqueue"]  # no open offer: no keypad choices
    assert root[0].get("language") == "nl-NL" and "Goedendag" in (root[0].text or "")
    enqueue = root.find("Enqueue")
    assert enqueue is not None and enqueue.text == "call-CA100"
    wait_url, action = enqueue.get("waitUrl", ""), enqueue.get("action", "")
    assert wait_url.startswith(settings.public_base_url + f"{BASE}/wait")
    assert parse_qs(urlsplit(wait_url).query) == {"call": ["CA100"]}
    assert action.startswith(settings.public_base_url + f"{BASE}/left")

    call = support_calls.get(store, "CA100")
    assert call is not None
    assert (call.case_id, call.from_number, call.status, call.first_ring) == (
        case.case_id,
        PATIENT,
        "waiting",
        False,
    )
    # the router's instruction waits in the inbox (no Temporal here): the caller's work, for a rep
    [told] = router_rows(store)
    [work] = told["offer"]
    assert work["work_id"] == "call-CA100" and work["kind"] == "caller" and work["case_id"] == case.case_id
    # the rep's whisper names the practice as patients know it, not the booking system's id
    assert work["practice"] == "Uptown Orthopedics" and work["case_kind"] == "booking_conflict"
    assert told["status"] == "pending"
    # Twilio asking again keeps one call
    assert twiml_of(twilio(server, settings, BASE, {"CallSid": "CA100", "From": PATIENT}))
    assert len(router_rows(store)) == 1

    # holding: the place in line; no callback offer before ROUTING__CALLER_WAIT_SECONDS
    path = f"{BASE}/wait?call=CA100"
    early = twiml_of(
        twilio(server, settings, path, {"CallSid": "CA100", "QueueTime": "10", "QueuePosition": "2"})
    )
    assert [v.tag for v in early] == ["Say", "Pause"] and "2" in (early[0].text or "")
    waited = str(settings.routing.caller_wait_seconds)
    late = twiml_of(
        twilio(server, settings, path, {"CallSid": "CA100", "QueueTime": waited, "QueuePosition": "1"})
    )
    gather = late.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert gather.get("action", "").startswith(settings.public_base_url + f"{BASE}/callback?call=CA100")
    # in the patient's language (the example patient's locale is Dutch)
    assert "Toets 1" in " ".join(say.text or "" for say in gather)

    # another key: back to waiting, nothing changes
    callback = f"{BASE}/callback?call=CA100"
    assert (
        twiml_of(twilio(server, settings, callback, {"CallSid": "CA100", "Digits": "5"})).find("Leave")
        is None
    )
    assert support_calls.get(store, "CA100").status == "waiting"  # type: ignore[union-attr]
    # 1: the callback, the caller leaves the queue thanked
    took = twiml_of(twilio(server, settings, callback, {"CallSid": "CA100", "Digits": "1"}))
    assert [v.tag for v in took] == ["Say", "Leave"]
    assert support_calls.get(store, "CA100").status == "callback"  # type: ignore[union-attr]
    second = router_rows(store)[1]
    assert second["withdraw"] == ["call-CA100"]
    [again] = second["offer"]
    assert again["work_id"] == "callback-CA100" and again["kind"] == "callback"
    # the queue's action once they left: the call ends; their hang-up is not an abandoned call
    assert [
        v.tag for v in twiml_of(twilio(server, settings, f"{BASE}/left?call=CA100", {"CallSid": "CA100"}))
    ] == ["Hangup"]
    done = twilio(server, settings, f"{BASE}/status", {"CallSid": "CA100", "CallStatus": "completed"})
    assert done.status_code == 200
    assert support_calls.get(store, "CA100").status == "callback"  # type: ignore[union-attr]
    assert len(router_rows(store)) == 2


def test_a_caller_who_hangs_up_first_is_abandoned(app: tuple[LiveServer, Settings, Store]) -> None:
    server, settings, store = app
    twiml_of(twilio(server, settings, BASE, {"CallSid": "CA200", "From": STRANGER}))
    call = support_calls.get(store, "CA200")
    assert call is not None and call.case_id is None  # a stranger: work with no case
    ringing = twilio(server, settings, f"{BASE}/status", {"CallSid": "CA200", "CallStatus": "ringing"})
    assert ringing.status_code == 200 and support_calls.get(store, "CA200").status == "waiting"  # type: ignore[union-attr]
    hung_up = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=3)
    over = twilio(
        server,
        settings,
        f"{BASE}/status",
        {"CallSid": "CA200", "CallStatus": "completed", "Timestamp": format_datetime(hung_up)},
    )
    assert over.status_code == 200
    call = support_calls.get(store, "CA200")
    assert call is not None and call.status == "abandoned"
    assert call.ended_at == hung_up  # Twilio's time of the hang-up, not the time it reached us
    assert router_rows(store)[-1]["withdraw"] == ["call-CA200"]
    # a rep's 1 arriving after the hang-up does not answer it
    assert not support_calls.answered(store, "CA200", "ann")
    assert twilio(server, settings, f"{BASE}/status", {"CallSid": "CA200"}).status_code == 422


def test_a_caller_with_an_open_offer_presses_their_choice(app: tuple[LiveServer, Settings, Store]) -> None:
    server, settings, store = app
    case = open_case(store)
    waiting_for_a_choice(store, case.case_id)
    root = twiml_of(twilio(server, settings, BASE, {"CallSid": "CA300", "From": PATIENT}))
    assert [v.tag for v in root] == ["Gather", "Enqueue"]  # nothing pressed: on to the queue
    gather = root[0]
    assert gather.get("numDigits") == "1"
    assert gather.get("action", "").startswith(settings.public_base_url + f"{BASE}/keys?call=CA300")
    keys = twilio(
        server, settings, f"{BASE}/keys?call=CA300", {"CallSid": "CA300", "From": PATIENT, "Digits": "2"}
    )
    assert [v.tag for v in twiml_of(keys)] == ["Say", "Hangup"]
    with store.session() as s:
        said = s.scalars(select(InboundMessage).where(InboundMessage.from_address == PATIENT)).all()
        assert [(m.channel, m.body, m.case_id) for m in said] == [("voice", "2", case.case_id)]
    # no person needed: the call's work is withdrawn, and it is not an abandoned call
    assert support_calls.get(store, "CA300").status == "keypad"  # type: ignore[union-attr]
    assert router_rows(store)[-1]["withdraw"] == ["call-CA300"]


def test_with_the_database_away_the_caller_is_asked_to_call_again(
    app: tuple[LiveServer, Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that cannot be kept would never be offered to a rep: the caller is told, not held."""
    from sqlalchemy.exc import OperationalError

    server, settings, _ = app

    def away(*_: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(support_calls, "recognise", away)
    root = twiml_of(twilio(server, settings, BASE, {"CallSid": "CA400", "From": PATIENT}))
    assert [v.tag for v in root] == ["Say", "Hangup"] and "call again" in (root[0].text or "")
