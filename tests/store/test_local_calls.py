"""store/local_calls: a rep's offer call as the local Twilio keeps it (its Gather action, its status
callback), and the leg its TwiML dials."""

from __future__ import annotations

import pytest

from domain.messaging import Channel, OutboundMessage
from providers.phone.local import LocalPhone
from providers.phone.twiml import CALL_EVENTS
from store import local_calls
from store.db import Store
from store.models import LocalDelivery

REP = "+12125550101"
PATIENT = "+31612345678"
OURS = "+15005550006"


def offer() -> OutboundMessage:
    return OutboundMessage(
        case_id="case-0123456789abcdef",
        key="offer-esc-1.o1",
        channel=Channel.VOICE,
        to=REP,
        body="A patient needs you. Press 1 to take it.",
        gather_action_url="http://127.0.0.1:8000/webhooks/twilio/voice/offer?offer=esc-1.o1",
        offer_id="esc-1.o1",
        ring_seconds=20,
    )


def test_the_local_provider_records_an_offer_that_rings(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    sid = LocalPhone(store, OURS).place_call(offer())

    with store.session() as s:
        row = s.query(LocalDelivery).filter_by(provider_id=sid).one()
        leg = local_calls.leg_in(s, row.id)
    assert leg is not None and leg.is_offer and leg.is_rep_leg
    assert (leg.status, leg.to_address, leg.from_address) == ("ringing", REP, OURS)
    assert leg.action_url == offer().gather_action_url and leg.keyed is None
    assert leg.callback == local_calls.Callback(
        "/webhooks/twilio/voice/status?ref=case-0123456789abcdef%3Aoffer-esc-1.o1&leg=rep&offer=esc-1.o1",
        CALL_EVENTS,
    )
    assert LocalPhone(store, OURS).find_sent(offer(), row.created_at) == sid  # send-once finds it


def test_a_dialled_leg_keeps_its_callback_and_the_offer_moves_on(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    sid = LocalPhone(store, OURS).place_call(offer())
    with store.session() as s:
        delivery_id = s.query(LocalDelivery.id).filter_by(provider_id=sid).scalar()
    rep = local_calls.set_status(store, delivery_id, "in-progress")
    local_calls.keyed(store, rep.id, "1")
    local_calls.next_action(store, rep.id, "http://x.example/dialed", keypad=False)
    callback = local_calls.Callback("http://x.example/status?leg=patient", ("ringing", "completed"))

    patient = local_calls.ring_dialled(store, rep, PATIENT, OURS, "A colleague is calling", "nl", callback)

    assert not patient.is_rep_leg and patient.parent_id == sid and patient.callback == callback
    assert local_calls.other_leg(store, patient) == local_calls.leg(store, rep.id)
    moved = local_calls.leg(store, rep.id)
    assert moved is not None and (moved.action_url, moved.keyed) == ("http://x.example/dialed", "1")
    assert callback.wants("ringing") and callback.wants("no-answer") and not callback.wants("in-progress")
    local_calls.next_action(store, rep.id, "http://x.example/again", keypad=True)  # a <Gather> again
    again = local_calls.leg(store, rep.id)
    assert again is not None and again.keyed is None


def test_a_callback_too_long_to_keep_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="too long"):
        local_calls.Callback("http://x.example/" + "a" * 300, CALL_EVENTS).encode()
    assert local_calls.Callback.decode(None) is None
    kept = local_calls.Callback("http://x.example/s?a=1&b=2", ("completed",))
    assert local_calls.Callback.decode(kept.encode()) == kept
