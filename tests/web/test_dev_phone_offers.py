"""The local phone plays a rep's offer call (domain.routing) over real HTTP: the offer rings the rep's phone,
answering plays the whisper and waits for a key, the key goes to the call's Gather action signed like
Twilio's, and the page does what the TwiML answered: dial the patient in from our number, or hang up.
Every step reaches the status callback URL the call was placed (or dialled) with, signed.

The Gather and Dial actions here are stand-ins (the router's own webhooks answer them in the app): tiny
routes that check the signature, keep what they were sent, and answer with the TwiML builders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select

from config import Settings
from domain.messaging import Channel, OutboundMessage
from providers.phone.local import LocalPhone
from providers.phone.twiml import caller_connect_twiml, connect_twiml, say_and_hang_up
from store import users
from store.db import Store
from store.models import LocalDelivery, OutboundMessageRow
from tests.support.cases import open_case
from tests.support.http import LiveServer, offline_web
from web import dev_phone
from web.app import create_app
from web.twilio_hooks import signed_form

OUR_NUMBER = "+15005550006"
REP = "+12125550101"
PATIENT = "+31612345678"
OFFER_ID = "esc-case-1-reply-1.o1"
WHISPER = "Check-in trouble at Uptown Orthopedics. The patient speaks Dutch. Press 1 to take it."


@dataclass
class Posted:
    url: str
    params: dict[str, str]
    answered: str


@dataclass
class Phones:
    """The web app with stand-in offer webhooks, and every request the local Twilio made."""

    server: LiveServer
    settings: Settings
    store: Store
    case_id: str
    posted: list[Posted] = field(default_factory=list)
    # what the stand-in Gather action answers a key with (the key → TwiML)
    answer_key: dict[str, str] = field(default_factory=dict)
    refuse: bool = False  # the stand-in Gather action answers 403

    @property
    def url(self) -> str:
        return self.server.url

    def to(self, path: str) -> list[Posted]:
        return [p for p in self.posted if urlsplit(p.url).path == path]

    def reports(self, leg: str) -> list[tuple[str, dict[str, list[str]]]]:
        """(CallStatus, query) of each status callback about `leg`."""
        return [
            (p.params["CallStatus"], parse_qs(urlsplit(p.url).query))
            for p in self.to("/webhooks/twilio/voice/status")
            if parse_qs(urlsplit(p.url).query).get("leg") == [leg]
        ]


def _stand_ins(app: Any, phones: Phones) -> None:
    async def gather(request: Request) -> Response:
        params = await signed_form(request)
        if isinstance(params, Response):
            return params
        if phones.refuse:
            return Response('{"error": "invalid X-Twilio-Signature"}', status_code=403)
        twiml = phones.answer_key.get(params.get("Digits", ""), say_and_hang_up("Not taken. Goodbye."))
        return Response(twiml, media_type="application/xml")

    async def dialed(request: Request) -> Response:
        params = await signed_form(request)
        if isinstance(params, Response):
            return params
        return Response(say_and_hang_up("The call with the patient has ended."), media_type="application/xml")

    app.add_api_route("/stand-in/offer", gather, methods=["POST"])
    app.add_api_route("/stand-in/offer/dialed", dialed, methods=["POST"])


@pytest.fixture
def phones(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Phones]:
    settings, port = offline_web(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    case_id = open_case(store).case_id
    users.add_user(store, "ann", "rep", "a long password 123", phone=REP)
    app = create_app(settings, relay=False)
    with LiveServer(app, port) as server:
        phones = Phones(server, settings, store, case_id)
        _stand_ins(app, phones)
        original = dev_phone.exchange_as_twilio

        async def recording(settings: Settings, url: str, params: dict[str, str]) -> tuple[str | None, str]:
            problem, body = await original(settings, url, params)
            phones.posted.append(Posted(url, params, problem or body))
            return problem, body

        monkeypatch.setattr(dev_phone, "exchange_as_twilio", recording)
        # the router's answer to a 1, its <Dial action> pointed at the stand-in: the page follows the TwiML
        phones.answer_key["1"] = connect_twiml(
            PATIENT, OUR_NUMBER, settings.public_base_url, case_id, f"offer-{OFFER_ID}", OFFER_ID, "en"
        ).replace("/webhooks/twilio/voice/offer/dialed", "/stand-in/offer/dialed")
        yield phones


def offer_call(phones: Phones) -> OutboundMessage:
    return OutboundMessage(
        case_id=phones.case_id,
        key=f"offer-{OFFER_ID}",
        channel=Channel.VOICE,
        to=REP,
        body=WHISPER,
        gather_action_url=f"{phones.settings.public_base_url}/stand-in/offer?offer={OFFER_ID}",
        offer_id=OFFER_ID,
        ring_seconds=20,
        language="nl",
    )


def ring(phones: Phones) -> tuple[int, str]:
    """The router's offer, placed through the local provider as the worker places it (and its send-once
    row): the rep's leg's delivery id and call sid."""
    msg = offer_call(phones)
    sid = LocalPhone(phones.store, OUR_NUMBER).place_call(msg)
    with phones.store.session() as s:
        s.add(
            OutboundMessageRow(
                case_id=msg.case_id, key=msg.key, channel="voice", to_address=msg.to, body=msg.body,
                status="sent", provider_id=sid,
            )
        )  # fmt: skip
        return s.scalars(select(LocalDelivery.id).where(LocalDelivery.provider_id == sid)).one(), sid


def row(store: Store, delivery_id: int) -> LocalDelivery:
    with store.session() as s:
        found = s.get(LocalDelivery, delivery_id)
        assert found is not None
        return found


def patient_leg(store: Store, rep_sid: str) -> LocalDelivery | None:
    with store.session() as s:
        return s.scalars(select(LocalDelivery).where(LocalDelivery.parent_id == rep_sid)).first()


def page(phones: Phones, to: str) -> str:
    answer = httpx.get(f"{phones.url}/dev/phone", params={"to": to})
    assert answer.status_code == 200
    return answer.text


def move(phones: Phones, delivery_id: int, what: str) -> httpx.Response:
    return httpx.post(f"{phones.url}/dev/phone/call/{delivery_id}/{what}")


def press(phones: Phones, delivery_id: int, key: str) -> httpx.Response:
    return httpx.post(f"{phones.url}/dev/phone/call/{delivery_id}", data={"digits": key})


def test_the_rep_takes_the_offer_and_the_patient_is_dialled_in(phones: Phones) -> None:
    rep_leg, rep_sid = ring(phones)
    ref = [f"{phones.case_id}:offer-{OFFER_ID}"]

    ringing = page(phones, REP)
    assert WHISPER in ringing and "work offered to you" in ringing
    assert f'action="/dev/phone/call/{rep_leg}/answer"' in ringing
    assert f'action="/dev/phone/call/{rep_leg}/decline"' in ringing
    assert f'action="/dev/phone/call/{rep_leg}"' not in ringing  # no keypad before answering
    early = press(phones, rep_leg, "1")
    assert early.status_code == 409 and "Answer the call first" in early.text

    # answering: Twilio's `in-progress`, to the very URL live mode asks for (offer_status_url, leg=rep)
    assert move(phones, rep_leg, "answer").status_code == 303
    assert phones.reports("rep") == [("in-progress", {"ref": ref, "leg": ["rep"], "offer": [OFFER_ID]})]
    assert phones.posted[-1].answered.startswith("<?xml")  # the real status webhook took it (2xx)
    whisper = page(phones, REP)
    assert "press 1 to take it" in whisper and f'action="/dev/phone/call/{rep_leg}"' in whisper

    # the key: the Gather form Twilio posts, signed, to the call's Gather action
    taken = press(phones, rep_leg, "1")
    assert taken.status_code == 303
    said = httpx.get(f"{phones.url}{taken.headers['location']}").text  # what the TwiML said, shown once
    assert "The call said: “Connecting you to the patient.”" in said
    [keyed] = phones.to("/stand-in/offer")
    assert keyed.url == f"{phones.settings.public_base_url}/stand-in/offer?offer={OFFER_ID}"
    assert {k: keyed.params[k] for k in ("CallSid", "To", "From", "Digits", "CallStatus", "Direction")} == {
        "CallSid": rep_sid,
        "To": REP,
        "From": OUR_NUMBER,
        "Digits": "1",
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
    }
    assert keyed.params["AccountSid"] == phones.settings.twilio_account_sid

    # the TwiML dialled the patient: their phone rings from our number, never the rep's
    patient = patient_leg(phones.store, rep_sid)
    assert patient is not None
    assert (patient.to_address, patient.from_address, patient.call_status) == (PATIENT, OUR_NUMBER, "ringing")
    patient_reports = phones.reports("patient")
    assert [status for status, _ in patient_reports] == ["initiated", "ringing"]
    assert patient_reports[0][1] == {"ref": ref, "leg": ["patient"], "offer": [OFFER_ID]}
    patient_posts = [p for p in phones.to("/webhooks/twilio/voice/status") if "leg=patient" in p.url]
    assert {p.params["ParentCallSid"] for p in patient_posts} == {rep_sid}
    assert {p.params["From"] for p in patient_posts} == {OUR_NUMBER}
    assert "calling the patient" in page(phones, REP)
    patient_page = page(phones, PATIENT).split('id="thread"')[1]  # the call itself, not the contact list
    assert f"from {OUR_NUMBER}" in patient_page and REP not in patient_page
    assert f'action="/dev/phone/call/{patient.id}/answer"' in patient_page

    # the patient answers, then hangs up: the Dial action hears it, and its TwiML ends the rep's call
    assert move(phones, patient.id, "answer").status_code == 303
    assert "Connected" in page(phones, REP)
    assert move(phones, patient.id, "hangup").status_code == 303
    assert [status for status, _ in phones.reports("patient")] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    [dialed] = phones.to("/stand-in/offer/dialed")
    assert (dialed.params["CallSid"], dialed.params["CallStatus"]) == (rep_sid, "in-progress")
    assert (dialed.params["DialCallSid"], dialed.params["DialCallStatus"]) == (
        patient.provider_id,
        "completed",
    )
    assert [status for status, _ in phones.reports("rep")] == ["in-progress", "completed"]
    assert row(phones.store, rep_leg).call_status == "completed"
    ended = page(phones, REP)
    assert "Call ended" in ended and "You pressed <kbd>1</kbd>" in ended
    again = press(phones, rep_leg, "1")
    assert again.status_code == 409 and "has ended" in again.text


def test_a_patient_who_does_not_answer_ends_the_reps_call_through_the_dial_action(phones: Phones) -> None:
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")
    press(phones, rep_leg, "1")
    patient = patient_leg(phones.store, rep_sid)
    assert patient is not None

    assert move(phones, patient.id, "decline").status_code == 303

    [dialed] = phones.to("/stand-in/offer/dialed")
    assert dialed.params["DialCallStatus"] == "no-answer" and dialed.params["CallStatus"] == "in-progress"
    assert phones.reports("patient")[-1][0] == "no-answer"
    assert phones.reports("rep")[-1][0] == "completed"


def test_the_rep_hanging_up_stops_the_patients_phone(phones: Phones) -> None:
    """The rep hangs up while the patient's phone rings: it stops ringing (canceled); the Dial action still
    hears of it (the call is over, so its answer is not carried out)."""
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")
    press(phones, rep_leg, "1")
    patient = patient_leg(phones.store, rep_sid)
    assert patient is not None

    assert move(phones, rep_leg, "hangup").status_code == 303

    assert row(phones.store, patient.id).call_status == "canceled"
    [dialed] = phones.to("/stand-in/offer/dialed")
    assert (dialed.params["CallStatus"], dialed.params["DialCallStatus"]) == ("completed", "canceled")
    assert phones.reports("patient")[-1][0] == "canceled"
    assert [status for status, _ in phones.reports("rep")] == ["in-progress", "completed"]
    cancelled = httpx.post(f"{phones.url}/dev/phone/call/{patient.id}/answer")
    assert cancelled.status_code == 409


def test_a_key_that_does_not_take_it_hears_the_twiml_and_the_call_ends(phones: Phones) -> None:
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")

    declined = press(phones, rep_leg, "2")
    assert declined.status_code == 303 and "heard=Not+taken.+Goodbye." in declined.headers["location"]

    assert patient_leg(phones.store, rep_sid) is None
    assert [status for status, _ in phones.reports("rep")] == ["in-progress", "completed"]
    assert row(phones.store, rep_leg).answered == "2"
    assert "Call ended" in page(phones, REP)


def test_a_gather_again_listens_for_another_key(phones: Phones) -> None:
    phones.answer_key["9"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Gather numDigits="1" action="/stand-in/offer?again=1"><Say>Press 1 to take it.</Say></Gather>'
        "</Response>"
    )
    rep_leg, _ = ring(phones)
    move(phones, rep_leg, "answer")

    assert press(phones, rep_leg, "9").status_code == 303
    assert press(phones, rep_leg, "2").status_code == 303

    assert [p.url.split("?")[1] for p in phones.to("/stand-in/offer")] == [f"offer={OFFER_ID}", "again=1"]
    assert row(phones.store, rep_leg).call_status == "completed"


def test_declining_the_offer_reports_busy(phones: Phones) -> None:
    rep_leg, _ = ring(phones)

    assert move(phones, rep_leg, "decline").status_code == 303

    assert phones.reports("rep") == [
        ("busy", {"ref": [f"{phones.case_id}:offer-{OFFER_ID}"], "leg": ["rep"], "offer": [OFFER_ID]})
    ]
    assert "Declined" in page(phones, REP)
    assert move(phones, rep_leg, "answer").status_code == 409


def test_hanging_up_on_the_whisper_reports_completed(phones: Phones) -> None:
    rep_leg, _ = ring(phones)
    move(phones, rep_leg, "answer")

    assert move(phones, rep_leg, "hangup").status_code == 303

    assert [status for status, _ in phones.reports("rep")] == ["in-progress", "completed"]
    assert phones.to("/stand-in/offer") == []


def test_an_offer_the_router_withdrew_cannot_be_answered(phones: Phones) -> None:
    """The router's end_call (the offer timed out, or someone else took the work): the phone stops
    ringing, shows a missed call, and neither answer nor key reaches anything."""
    rep_leg, rep_sid = ring(phones)
    LocalPhone(phones.store, OUR_NUMBER).end_call(rep_sid)

    assert row(phones.store, rep_leg).call_status == "canceled"
    withdrawn = page(phones, REP)
    assert "the offer was withdrawn" in withdrawn
    assert f'action="/dev/phone/call/{rep_leg}/answer"' not in withdrawn
    answer = move(phones, rep_leg, "answer")
    assert answer.status_code == 409 and "has ended" in answer.text
    assert press(phones, rep_leg, "1").status_code == 409
    assert phones.posted == []


def test_end_call_on_a_whisper_in_progress_hangs_it_up(phones: Phones) -> None:
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")

    LocalPhone(phones.store, OUR_NUMBER).end_call(rep_sid)

    assert row(phones.store, rep_leg).call_status == "completed"
    assert press(phones, rep_leg, "1").status_code == 409


def test_a_dial_from_the_reps_own_number_is_refused_like_twilio_does(phones: Phones) -> None:
    """Twilio dials only from the account's own numbers (error 13214): the patient never sees the rep's."""
    phones.answer_key["1"] = connect_twiml(PATIENT, REP, phones.settings.public_base_url, "c", "k", OFFER_ID)
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")

    refused = press(phones, rep_leg, "1")

    assert refused.status_code == 502 and "13214" in refused.text
    assert patient_leg(phones.store, rep_sid) is None
    assert row(phones.store, rep_leg).call_status == "completed"


def test_a_refused_key_can_be_pressed_again(phones: Phones) -> None:
    """The Gather action answers 403 (say, a wrong auth token): the page says so, nothing moved."""
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")
    phones.refuse = True

    refused = press(phones, rep_leg, "1")

    assert refused.status_code == 502 and "403" in refused.text
    assert (
        row(phones.store, rep_leg).answered is None
        and row(phones.store, rep_leg).call_status == "in-progress"
    )
    phones.refuse = False
    assert press(phones, rep_leg, "1").status_code == 303
    assert patient_leg(phones.store, rep_sid) is not None


def test_console_users_phones_are_the_reps_phones(phones: Phones) -> None:
    """The contact list names a console user's phone "rep <user>", and lists it before anything rang
    there: a newcomer opens the rep's phone in one window and the patient's in another."""
    users.add_user(phones.store, "bo", "supervisor", "a long password 123", phone="+12125550177")
    listing = page(phones, "+12125550177")
    assert "rep ann" in listing and "rep bo" in listing and "No calls yet" in listing
    assert 'class="title">rep bo<' in listing

    ring(phones)
    rep_thread = page(phones, REP)
    assert 'class="title">rep ann<' in rep_thread
    assert "Quick reply" not in rep_thread and 'class="lang"' not in rep_thread


def test_a_rep_taking_a_caller_is_connected_to_the_queue(phones: Phones) -> None:
    """A caller's offer: the answer to 1 is <Dial><Queue>; the local Twilio connects the rep to the caller
    waiting there (no second leg rings), and the rep's call goes on until they hang up."""
    phones.answer_key["1"] = caller_connect_twiml("call-CA1", phones.settings.public_base_url, "call-CA1.o1")
    rep_leg, rep_sid = ring(phones)
    move(phones, rep_leg, "answer")
    taken = press(phones, rep_leg, "1")
    assert taken.status_code == 303
    assert "connected+to+the+caller" in taken.headers["location"]
    assert patient_leg(phones.store, rep_sid) is None
    assert row(phones.store, rep_leg).call_status == "in-progress"
    move(phones, rep_leg, "hangup")
    assert [status for status, _ in phones.reports("rep")] == ["in-progress", "completed"]
