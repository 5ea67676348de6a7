"""The local phone over real HTTP: it shows what the local providers delivered, and its answers go through
the very webhooks real Twilio calls, signed like Twilio signs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from config import Settings
from domain.events import BookingEvent
from domain.messaging import Channel, OutboundMessage
from store import inbox, outbox
from store.db import Store
from store.models import InboundMessage, LocalDelivery, ReceivedEvent
from tests.support.cases import waiting_for_a_choice
from tests.support.http import LiveServer, free_port, offline_web
from tests.support.settings import example_event, make_settings
from web.app import create_app

PATIENT = "+31612345678"
EMAIL = "ada@example.com"


@dataclass
class Phone:
    server: LiveServer
    settings: Settings
    store: Store
    case_id: str
    sms_id: int
    call_id: int
    email_id: int

    @property
    def url(self) -> str:
        return self.server.url


def _seed(settings: Settings) -> tuple[Store, str, int, int, int]:
    store = Store(settings.database_url)
    event = example_event()
    accepted = inbox.accept_booking_event(
        store, json.dumps(event).encode(), BookingEvent.model_validate(event)
    )
    assert accepted.case_id
    case_id = accepted.case_id
    base = settings.public_base_url
    sent = [
        OutboundMessage(
            case_id=case_id,
            key="offer-1",
            channel=Channel.SMS,
            to=PATIENT,
            body="Uptown Orthopedics: afspraak di 24 nov 10:00 vervalt. Nieuw: 1) wo 25 nov 09:00. "
            "Antwoord 1-1, 0=bel mij. STOP=afmelden",
            language="nl",
        ),
        OutboundMessage(
            case_id=case_id,
            key="offer-1-call",
            channel=Channel.VOICE,
            to=PATIENT,
            body="Press 1 for Wed 25 Nov 09:00. Press 0 to speak to someone.",
            gather_action_url=f"{base}/webhooks/twilio/voice/gather?case_id={case_id}&round=1&lang=en",
        ),
        OutboundMessage(
            case_id=case_id,
            key="offer-1",
            channel=Channel.EMAIL,
            to=EMAIL,
            subject="Your new appointment time",
            body=f"Choose a new time:\n1) Wed 25 Nov 09:00 {base}/choose/{case_id}/1?t=abc",
        ),
    ]
    provider_ids = [
        outbox.record_local_delivery(
            store, msg, "care@makeright.local" if msg.to == EMAIL else "+15005550006"
        )
        for msg in sent
    ]
    with store.session() as s:
        ids = {
            d.provider_id: d.id
            for d in s.scalars(select(LocalDelivery).where(LocalDelivery.provider_id.in_(provider_ids)))
        }
    return store, case_id, ids[provider_ids[0]], ids[provider_ids[1]], ids[provider_ids[2]]


@pytest.fixture
def phone(sqlite_url: str, tmp_path: Path) -> Iterator[Phone]:
    # nothing listens there: answers are stored and stay pending (no Temporal in these tests)
    settings, port = offline_web(
        sqlite_url,
        tmp_path,
    )
    store, case_id, sms_id, call_id, email_id = _seed(settings)
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield Phone(server, settings, store, case_id, sms_id, call_id, email_id)


def _inbound(store: Store, channel: str) -> list[InboundMessage]:
    with store.session() as s:
        return list(s.scalars(select(InboundMessage).where(InboundMessage.channel == channel)))


def _events(store: Store, source: str) -> list[ReceivedEvent]:
    with store.session() as s:
        return list(s.scalars(select(ReceivedEvent).where(ReceivedEvent.source == source)))


def test_lists_every_address_and_shows_a_thread(phone: Phone) -> None:
    listing = httpx.get(f"{phone.url}/dev/phone")
    assert listing.status_code == 200
    assert PATIENT in listing.text and EMAIL in listing.text
    assert "Ada Jansen" in listing.text  # the name from the booking event that opened the case

    thread = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert thread.status_code == 200
    assert "afspraak di 24 nov 10:00 vervalt" in thread.text
    assert "Press 1 for Wed 25 Nov 09:00" in thread.text  # the call card, with its keypad
    assert f'action="/dev/phone/call/{phone.call_id}"' in thread.text
    assert 'name="body"' in thread.text  # the reply box

    # typed by hand, `?to=+316…` arrives with a space for the plus: still the patient's thread
    by_hand = httpx.get(f"{phone.url}/dev/phone?to={PATIENT}")
    assert "afspraak di 24 nov 10:00 vervalt" in by_hand.text

    mailbox = httpx.get(f"{phone.url}/dev/phone", params={"to": EMAIL})
    assert "Your new appointment time" in mailbox.text
    assert f'<a href="{phone.url}/choose/{phone.case_id}/1?t=abc"' in mailbox.text  # a clickable link

    assert httpx.get(f"{phone.url}/dev/phone/version").json()["version"]


def test_sms_reply_goes_through_the_signed_webhook(phone: Phone) -> None:
    waiting_for_a_choice(phone.store, phone.case_id)
    before = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert "waiting for a choice 1\u20133" in before.text  # the header shows the conversation's open question
    answer = httpx.post(f"{phone.url}/dev/phone/sms", data={"to": PATIENT, "body": "2"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dev/phone?to=%2B31612345678"

    [reply] = _inbound(phone.store, "sms")
    assert (reply.body, reply.from_address, reply.case_id) == ("2", PATIENT, phone.case_id)
    assert reply.provider_id.startswith("SM") and len(reply.provider_id) == 34
    [event] = _events(phone.store, "twilio_sms")
    assert event.case_id == phone.case_id
    assert event.status == "pending"  # Temporal is not reachable: the relay will act on it later

    thread = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert f'id="r{reply.id}"' in thread.text  # the patient's own answer, as an outgoing bubble
    assert "→ the offer" in thread.text  # and what it answered


def test_the_header_shows_the_open_questions_not_an_old_case(phone: Phone) -> None:
    thread = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert (
        "no open question" in thread.text and phone.case_id not in thread.text.split("thread-head")[1][:600]
    )
    httpx.post(f"{phone.url}/dev/phone/sms", data={"to": PATIENT, "body": "can I come Thursday?"})
    thread = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert "→ a person" in thread.text  # it fitted no question: a person reads it


def test_keypad_answer_goes_to_the_gather_callback(phone: Phone) -> None:
    answer = httpx.post(f"{phone.url}/dev/phone/call/{phone.call_id}", data={"digits": "1"})
    assert answer.status_code == 303

    [keyed] = _inbound(phone.store, "voice")
    assert (keyed.body, keyed.from_address, keyed.case_id) == ("1", PATIENT, phone.case_id)
    [event] = _events(phone.store, "twilio_voice")
    assert event.case_id == phone.case_id
    with phone.store.session() as s:
        call = s.get(LocalDelivery, phone.call_id)
        assert call is not None and call.answered == "1"

    thread = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert f'action="/dev/phone/call/{phone.call_id}"' not in thread.text  # no keypad any more
    assert "You pressed <kbd>1</kbd>" in thread.text

    again = httpx.post(f"{phone.url}/dev/phone/call/{phone.call_id}", data={"digits": "2"})
    assert again.status_code == 409 and "already answered" in again.text
    assert len(_inbound(phone.store, "voice")) == 1


def test_only_calls_with_a_keypad_can_be_answered(phone: Phone) -> None:
    not_a_call = httpx.post(f"{phone.url}/dev/phone/call/{phone.sms_id}", data={"digits": "1"})
    assert not_a_call.status_code == 404
    bad_key = httpx.post(f"{phone.url}/dev/phone/call/{phone.call_id}", data={"digits": "12"})
    assert bad_key.status_code == 422
    assert _inbound(phone.store, "voice") == []


def test_a_forged_webhook_call_is_refused(phone: Phone) -> None:
    forged = httpx.post(
        f"{phone.url}/webhooks/twilio/sms",
        data={"MessageSid": "SM" + "0" * 32, "From": PATIENT, "Body": "1"},
        headers={"X-Twilio-Signature": "bm90LWEtc2lnbmF0dXJl"},
    )
    assert forged.status_code == 403
    assert _inbound(phone.store, "sms") == []


def test_a_refused_webhook_shows_on_the_page(phone: Phone, tmp_path: Path) -> None:
    """A phone whose auth token is not the webhook's: its answer is refused, and the page says so."""
    port = free_port()
    other = make_settings(
        phone.settings.database_url,
        tmp_path,
        public_base_url=phone.url,  # it talks to the first app's webhook
        twilio_auth_token="not-the-webhooks-token",
        temporal_address=phone.settings.temporal_address,
    )
    with LiveServer(create_app(other, relay=False), port) as wrong:
        answer = httpx.post(f"{wrong.url}/dev/phone/sms", data={"to": PATIENT, "body": "half-typed 3"})
    assert answer.status_code == 502
    assert "403" in answer.text and "invalid X-Twilio-Signature" in answer.text
    assert 'value="half-typed 3"' in answer.text  # the draft is kept in the reply box
    assert _inbound(phone.store, "sms") == []


# ---------------------------------------------------------------------- mounted only when fully embedded


PRODUCTION = {
    "temporal_address": {"temporal_address": "127.0.0.1:{port}"},
    "twilio_live": {"twilio_mode": "live"},
    "sendgrid_live": {"sendgrid_mode": "live"},
    "gift_cards_tango": {"gift_card_mode": "tango"},
    "tracker_jira": {"tracker_mode": "jira"},
    "tracker_github": {"tracker_mode": "github"},
}
REASONS = {
    "temporal_address": "TEMPORAL_ADDRESS is set",
    "twilio_live": "TWILIO_MODE=live",
    "sendgrid_live": "SENDGRID_MODE=live",
    "gift_cards_tango": "GIFT_CARD_MODE=tango",
    "tracker_jira": "TRACKER_MODE=jira",
    "tracker_github": "TRACKER_MODE=github",
}


@pytest.mark.parametrize("setting", list(PRODUCTION))
def test_not_mounted_outside_the_embedded_mode(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, setting: str
) -> None:
    """The phone signs Twilio webhooks as any patient without a login and shows every patient's
    messages: outside the fully embedded mode (a Temporal cluster, any real provider) real patients are
    involved, so it is not there at all (and the log says why). Each setting alone is enough."""
    overrides = {k: v.format(port=free_port()) for k, v in PRODUCTION[setting].items()}
    settings, port = offline_web(sqlite_url, tmp_path, **overrides)
    with caplog.at_level("INFO", logger="makeright.web"):
        app = create_app(settings, relay=False)
    with LiveServer(app, port) as server:
        assert httpx.get(f"{server.url}/dev/phone").status_code == 404
        assert httpx.get(f"{server.url}/dev/phone/version").status_code == 404
        sms = httpx.post(f"{server.url}/dev/phone/sms", data={"to": PATIENT, "body": "1"})
        assert sms.status_code == 404
        assert httpx.post(f"{server.url}/dev/phone/call/1", data={"digits": "1"}).status_code == 404
        mail = {"from_address": "ada@example.com", "text": "1"}  # nor the mailbox
        assert httpx.post(f"{server.url}/dev/phone/email", data=mail).status_code == 404
    assert _inbound(Store(settings.database_url), "sms") == []
    assert [r.getMessage() for r in caplog.records if "local phone" in r.getMessage()] == [
        f"local phone not mounted: not the embedded mode ({REASONS[setting]}); "
        "it is mounted only in the embedded mode"
    ]


def test_mounted_in_the_embedded_mode(phone: Phone, caplog: pytest.LogCaptureFixture) -> None:
    assert httpx.get(f"{phone.url}/dev/phone").status_code == 200
    sms = httpx.post(f"{phone.url}/dev/phone/sms", data={"to": PATIENT, "body": "1"})
    assert sms.status_code == 303
    with caplog.at_level("INFO", logger="makeright.web"):
        create_app(phone.settings, relay=False)
    assert [r.getMessage() for r in caplog.records if "local phone" in r.getMessage()] == [
        "local phone mounted at /dev/phone: "
        "the fully embedded mode (no TEMPORAL_ADDRESS, every provider local)"
    ]


def _bridge(phone: Phone, n: int) -> int:
    """A "Call patient" placed as the worker places it: the rep's leg, recorded by the local provider, and
    the send-once row that names the call's case."""
    from store.models import OutboundMessageRow

    msg = OutboundMessage(
        case_id=phone.case_id,
        key=f"bridge-esc-{phone.case_id}-1-{n}",
        channel=Channel.VOICE,
        to="+12125550101",
        body="Makeright: connecting you to the patient now.",
        dial=PATIENT,
    )
    sid = outbox.record_local_delivery(phone.store, msg, "+15005550006")
    with phone.store.session() as s:
        s.add(
            OutboundMessageRow(
                case_id=msg.case_id, key=msg.key, channel="voice", to_address=msg.to, body=msg.body,
                status="sent", provider_id=sid,
            )
        )  # fmt: skip
        return s.scalars(select(LocalDelivery.id).where(LocalDelivery.provider_id == sid)).one()


def _bridge_steps(store: Store, case_id: str) -> list[str]:
    from store.models import TimelineItem

    with store.session() as s:
        items = s.scalars(
            select(TimelineItem.what)
            .where(TimelineItem.case_id == case_id, TimelineItem.what.like("bridge_%"))
            .order_by(TimelineItem.id)
        )
        return list(items)


def _patient_leg(store: Store, rep_leg: int) -> LocalDelivery:
    with store.session() as s:
        rep = s.get(LocalDelivery, rep_leg)
        assert rep is not None
        return s.scalars(select(LocalDelivery).where(LocalDelivery.parent_id == rep.provider_id)).one()


def test_bridge_call_rings_the_rep_then_the_patient_who_may_not_answer(phone: Phone) -> None:
    """The rep's call is answered or declined (no keypad); answering rings the patient from our number;
    a patient who declines 'did not answer', and each step reaches the case's timeline through the
    signed call status webhook."""
    rep_leg = _bridge(phone, 1)
    rep_thread = httpx.get(f"{phone.url}/dev/phone", params={"to": "+12125550101"})
    assert f'action="/dev/phone/call/{rep_leg}/answer"' in rep_thread.text
    assert f'action="/dev/phone/call/{rep_leg}"' not in rep_thread.text  # no keypad to press
    keypad = httpx.post(f"{phone.url}/dev/phone/call/{rep_leg}", data={"digits": "1"})
    assert keypad.status_code == 404

    assert httpx.post(f"{phone.url}/dev/phone/call/{rep_leg}/answer").status_code == 303
    patient_leg = _patient_leg(phone.store, rep_leg)
    assert (patient_leg.to_address, patient_leg.from_address) == (PATIENT, "+15005550006")
    assert _bridge_steps(phone.store, phone.case_id) == ["bridge_rep_answered", "bridge_patient_ringing"]
    rep_thread = httpx.get(f"{phone.url}/dev/phone", params={"to": "+12125550101"})
    assert "calling the patient" in rep_thread.text

    assert httpx.post(f"{phone.url}/dev/phone/call/{patient_leg.id}/decline").status_code == 303
    assert _bridge_steps(phone.store, phone.case_id) == [
        "bridge_rep_answered",
        "bridge_patient_ringing",
        "bridge_patient_missed",
        "bridge_ended",
    ]
    again = httpx.post(f"{phone.url}/dev/phone/call/{patient_leg.id}/answer")
    assert again.status_code == 409 and "has ended" in again.text
    reports = [e.status for e in _events(phone.store, "twilio_call_status")]
    assert reports == ["recorded"] * 5  # on the timeline; nothing for the case's workflow to act on

    # the rep declines a second call: it ends there, the patient's phone never rings
    second = _bridge(phone, 2)
    assert httpx.post(f"{phone.url}/dev/phone/call/{second}/decline").status_code == 303
    assert _bridge_steps(phone.store, phone.case_id)[-1] == "bridge_rep_missed"
    with phone.store.session() as s:
        patient_legs = s.scalars(select(LocalDelivery).where(LocalDelivery.parent_id.is_not(None))).all()
    assert len(patient_legs) == 1  # only the first call's


def test_a_reps_phone_is_not_a_patients_and_our_line_is_makerights(phone: Phone) -> None:
    """The rep's phone shows no patient language tag and offers no patient quick replies; the patient's
    call comes from makeright's number (TWILIO_FROM_NUMBER), named as such, not as "the practice line"."""
    from store import users

    rep_leg = _bridge(phone, 1)
    assert httpx.post(f"{phone.url}/dev/phone/call/{rep_leg}/answer").status_code == 303
    rep_thread = httpx.get(f"{phone.url}/dev/phone", params={"to": "+12125550101"}).text
    assert 'class="lang"' not in rep_thread
    assert "Quick reply" not in rep_thread and 'name="body" value="STOP"' not in rep_thread

    patient = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT}).text
    assert "from +15005550006 (makeright, for Uptown Orthopedics)" in patient
    assert "practice line" not in patient
    assert "Quick reply" in patient and 'class="lang"' in patient  # the patient's phone keeps both

    # a console user's phone that only got a text (an escalation's notification) is staff's too
    users.add_user(phone.store, "rita", "rep", "a long password 123", phone="+12125550109")
    outbox.record_local_delivery(
        phone.store,
        OutboundMessage(
            case_id=phone.case_id, key="notify-1", channel=Channel.SMS, to="+12125550109",
            body="makeright: an escalation waits for you", language="nl",
        ),
        "+15005550006",
    )  # fmt: skip
    staff = httpx.get(f"{phone.url}/dev/phone", params={"to": "+12125550109"}).text
    assert "an escalation waits for you" in staff
    assert "Quick reply" not in staff and 'class="lang"' not in staff


def test_the_patients_name_stays_when_their_newest_case_is_a_check_in_trouble_case(phone: Phone) -> None:
    """A check-in-trouble case has no booking event of its own: the name comes from an earlier one."""
    from domain.checkin import TroubleCaseRequest
    from store import checkin

    data = BookingEvent.model_validate(example_event("appointment_booked.json")).data
    checkin.open_trouble_case(phone.store, TroubleCaseRequest(appointment_id=data.appointment_id, data=data))
    thread = httpx.get(f"{phone.url}/dev/phone", params={"to": PATIENT})
    assert "Ada Jansen" in thread.text.split('id="thread-head"')[1].split("</header>")[0]
