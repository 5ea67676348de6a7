"""Every TwiML document makeright's calls use is Voice TwiML as Twilio documents it (tests/support/twiml.py),
says what it should, and is read back by the local Twilio (/dev/phone) the way Twilio would play it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from domain.messaging import Channel, OutboundMessage
from providers.phone import local_twiml
from providers.phone.twilio import bridge_twiml, call_twiml, gather_twiml
from providers.phone.twiml import (
    CALL_EVENTS,
    NOTHING_PRESSED,
    connect_twiml,
    dialed_url,
    offer_status_url,
    offer_twiml,
    say_and_hang_up,
)
from tests.support.twiml import InvalidTwiML, assert_valid_twiml

BASE = "https://mr.example"
OUR_NUMBER = "+15005550006"
REP = "+15005550199"
PATIENT = "+31612345678"
OFFER_ID = "esc-case-0123456789abcdef-reply-1.o2"


def offer_msg() -> OutboundMessage:
    return OutboundMessage(
        case_id="case-0123456789abcdef",
        key=f"offer-{OFFER_ID}",
        channel=Channel.VOICE,
        to=REP,
        body="A patient needs you. The patient speaks Dutch. Press 1 to take it.",
        gather_action_url=f"{BASE}/webhooks/twilio/voice/offer?offer={OFFER_ID}",
        offer_id=OFFER_ID,
        ring_seconds=20,
    )


def patient_call(language: str = "nl") -> OutboundMessage:
    return OutboundMessage(
        case_id="case-1",
        key="offer-1-call",
        channel=Channel.VOICE,
        to=PATIENT,
        body="Druk 1 voor woensdag 25 november 09:00.",
        gather_action_url=f"{BASE}/webhooks/twilio/voice/gather?case_id=case-1&round=1&lang={language}",
        language=language,
    )


def bridge_call() -> OutboundMessage:
    return OutboundMessage(
        case_id="case-1",
        key="bridge-esc-1-1",
        channel=Channel.VOICE,
        to=REP,
        body="Makeright: connecting you to the patient now.",
        dial=PATIENT,
    )


def connect() -> str:
    return connect_twiml(PATIENT, OUR_NUMBER, BASE, "case-1", f"offer-{OFFER_ID}", OFFER_ID, "en")


EVERY_BUILDER = {
    "gather_twiml": lambda: gather_twiml(patient_call()),
    "gather_twiml_en": lambda: gather_twiml(patient_call("en")),
    "bridge_twiml": lambda: bridge_twiml(bridge_call(), OUR_NUMBER, BASE),
    "bridge_twiml_without_callbacks": lambda: bridge_twiml(bridge_call(), OUR_NUMBER),
    "call_twiml_bridge": lambda: call_twiml(bridge_call(), OUR_NUMBER, BASE),
    "offer_twiml": lambda: offer_twiml(offer_msg()),
    "connect_twiml": connect,
    "connect_twiml_nl": lambda: connect_twiml(PATIENT, OUR_NUMBER, BASE, "case-1", "k", OFFER_ID, "nl"),
    "say_and_hang_up": lambda: say_and_hang_up("This offer is no longer open. Goodbye."),
    "say_and_hang_up_nl": lambda: say_and_hang_up("Tot ziens.", "nl"),
}


@pytest.mark.parametrize("builder", list(EVERY_BUILDER))
def test_every_builder_makes_valid_voice_twiml(builder: str) -> None:
    assert_valid_twiml(EVERY_BUILDER[builder]())


def test_offer_twiml_whispers_in_english_and_takes_one_key() -> None:
    msg = offer_msg()
    root = assert_valid_twiml(offer_twiml(msg))

    gather, goodbye, hangup = list(root)
    assert (gather.tag, goodbye.tag, hangup.tag) == ("Gather", "Say", "Hangup")
    assert gather.attrib == {
        "action": msg.gather_action_url,
        "method": "POST",
        "numDigits": "1",
        "timeout": "10",
    }
    [whisper] = list(gather)
    assert (whisper.tag, whisper.text, whisper.get("language")) == ("Say", msg.body, "en-US")
    assert goodbye.text == NOTHING_PRESSED


def test_offer_status_url_names_the_case_the_message_the_leg_and_the_offer() -> None:
    url = urlsplit(offer_status_url(BASE + "/", offer_msg()))

    assert (url.scheme, url.netloc, url.path) == ("https", "mr.example", "/webhooks/twilio/voice/status")
    assert parse_qs(url.query) == {
        "ref": [f"case-0123456789abcdef:offer-{OFFER_ID}"],
        "leg": ["rep"],
        "offer": [OFFER_ID],
    }
    # the local provider, which does not know PUBLIC_BASE_URL, keeps it relative
    assert offer_status_url("", offer_msg()).startswith("/webhooks/twilio/voice/status?ref=case-")


def test_connect_twiml_dials_the_patient_from_our_number_and_reports_their_leg() -> None:
    root = assert_valid_twiml(connect())

    say, dial = list(root)
    assert (say.tag, say.text, say.get("language")) == ("Say", "Connecting you to the patient.", "en-US")
    assert dial.get("callerId") == OUR_NUMBER and dial.get("timeout") == "30"
    assert dial.get("action") == dialed_url(BASE, OFFER_ID)
    assert parse_qs(urlsplit(dial.get("action", "")).query) == {"offer": [OFFER_ID]}
    [number] = list(dial)
    assert (number.tag, number.text) == ("Number", PATIENT)
    assert number.get("statusCallbackEvent") == "initiated ringing answered completed"
    assert number.get("statusCallbackMethod") == "POST"
    status = urlsplit(number.get("statusCallback", ""))
    assert status.path == "/webhooks/twilio/voice/status"
    assert parse_qs(status.query) == {
        "ref": [f"case-1:offer-{OFFER_ID}"],
        "leg": ["patient"],
        "offer": [OFFER_ID],
    }
    assert REP not in connect()  # the patient never sees (or hears of) the rep's number


def test_say_and_hang_up() -> None:
    root = assert_valid_twiml(say_and_hang_up("Someone else took it. Goodbye."))
    assert [(e.tag, e.text) for e in root] == [("Say", "Someone else took it. Goodbye."), ("Hangup", None)]


# ---------------------------------------------------------------------- the checker catches what it should


@pytest.mark.parametrize(
    ("twiml", "complaint"),
    [
        ("<Response><Say>hi</Say>", "not XML"),
        ("<Gather/>", "root is <Gather>"),
        ("<Response><Sms>hi</Sms></Response>", "not a Voice TwiML verb"),
        ("<Response><Message>hi</Message></Response>", "not a Voice TwiML verb"),
        ("<Response><Number>+31612345678</Number></Response>", "may not be inside <Response>"),
        ("<Response><Gather><Dial>+31612345678</Dial></Gather></Response>", "may not be inside <Gather>"),
        ("<Response><Dial><Say>hi</Say></Dial></Response>", "may not be inside <Dial>"),
        ('<Response><Gather numdigits="1"/></Response>', "undocumented attributes ['numdigits']"),
        ('<Response><Gather numDigits="one"/></Response>', "not a positive integer"),
        ('<Response><Gather action="/relative"/></Response>', "not an absolute http(s) URL"),
        ('<Response><Dial statusCallback="https://x.example">+31612345678</Dial></Response>', "undocumented"),
        ('<Response><Dial callerId="our line">+31612345678</Dial></Response>', "not an E.164 number"),
        (
            '<Response><Dial><Number statusCallbackEvent="initiated,ringing">+31612345678</Number></Dial>'
            "</Response>",
            "events are space-separated",
        ),
        ("<Response><Dial><Number>0612345678</Number></Dial></Response>", "not an E.164 number"),
        ('<Response><Say language="dutch">hoi</Say></Response>', "not a language tag"),
        ("<Response><Say/></Response>", "says nothing"),
        ("<Response><Dial/></Response>", "dials nothing"),
        ('<Response><Hangup after="1"/></Response>', "undocumented attributes"),
    ],
)
def test_the_checker_refuses_what_twilio_does_not_document(twiml: str, complaint: str) -> None:
    with pytest.raises(InvalidTwiML, match=re.escape(complaint)):
        assert_valid_twiml(twiml)


def test_the_checker_takes_documented_verbs_it_does_not_look_into() -> None:
    assert_valid_twiml(
        '<Response><Enqueue waitUrl="https://x.example/hold">support</Enqueue>'
        '<Dial><Conference statusCallbackEvent="start end join leave" beep="false">room</Conference></Dial>'
        '<Connect><Stream url="wss://x.example/s"/></Connect><Pause length="2"/><Redirect>https://x.example/r</Redirect>'
        "</Response>"
    )


# ---------------------------------------------------------------------- what the local Twilio makes of it

DOCUMENT = f"{BASE}/webhooks/twilio/voice/offer?offer={OFFER_ID}"


def test_the_local_twilio_reads_connect_twiml_as_a_dial() -> None:
    step = local_twiml.read(connect(), DOCUMENT)

    assert step.problem is None and step.then == "dial"
    assert step.said == ("Connecting you to the patient.",)
    assert step.dial is not None
    assert (step.dial.number, step.dial.caller_id, step.dial.timeout) == (PATIENT, OUR_NUMBER, 30)
    assert step.action == step.dial.action == dialed_url(BASE, OFFER_ID)
    assert step.dial.status_events == CALL_EVENTS
    assert step.dial.status_callback is not None and "leg=patient" in step.dial.status_callback


def test_the_local_twilio_reads_say_and_hang_up_as_the_end() -> None:
    step = local_twiml.read(say_and_hang_up("Too late. Goodbye."), DOCUMENT)
    assert (step.then, step.said, step.problem) == ("hang_up", ("Too late. Goodbye.",), None)


def test_the_local_twilio_reads_a_gather_again_and_resolves_relative_urls() -> None:
    step = local_twiml.read(
        '<Response><Gather action="again?n=2"><Say>Press 1.</Say></Gather></Response>', DOCUMENT
    )
    assert (step.then, step.action, step.said) == (
        "gather",
        f"{BASE}/webhooks/twilio/voice/again?n=2",
        ("Press 1.",),
    )


def test_the_local_twilio_takes_twilios_defaults() -> None:
    """A <Number> with a statusCallback and no events reports `completed` only; a document that runs out
    ends the call; a <Dial> with a bare number and no action."""
    step = local_twiml.read(
        '<Response><Dial><Number statusCallback="/s">+31612345678</Number></Dial></Response>', DOCUMENT
    )
    assert step.dial is not None and step.dial.status_events == ("completed",)
    assert step.dial.status_callback == f"{BASE}/s" and step.dial.caller_id is None and step.action is None
    bare = local_twiml.read("<Response><Dial>+31612345678</Dial></Response>", DOCUMENT)
    assert bare.dial is not None and bare.dial.number == PATIENT and bare.dial.status_callback is None
    assert local_twiml.read("<Response><Say>Hello</Say></Response>", DOCUMENT).then == "hang_up"


@pytest.mark.parametrize(
    ("twiml", "problem"),
    [
        ("not xml", "not TwiML"),
        ("<Say>hi</Say>", "not <Response>"),
        ("<Response><Record/></Response>", "does not play <Record>"),
        ("<Response><Dial><Conference>room</Conference></Dial></Response>", "only <Number>"),
        (
            "<Response><Dial><Number>+31612345678</Number><Number>+31612345679</Number></Dial></Response>",
            "one",
        ),
        ("<Response><Dial></Dial></Response>", "no number"),
    ],
)
def test_the_local_twilio_tells_what_it_cannot_play(twiml: str, problem: str) -> None:
    step = local_twiml.read(twiml, DOCUMENT)
    assert step.then == "hang_up" and step.problem is not None and problem in step.problem
