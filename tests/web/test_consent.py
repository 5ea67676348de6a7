"""Consent: STOP binds at once, for every case, running or future; START undoes it."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from activities.twilio_phone import TwilioActivities
from domain.messaging import Channel, OutboundMessage
from providers.phone.local import LocalPhone
from store import consent
from store.db import Store
from store.models import Consent, LocalDelivery, TimelineItem
from tests.support.http import Web, twilio_post
from tests.support.prism import add_case
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import running

PHONE = "+31612345678"


def sms_params(body: str, phone: str = PHONE) -> dict[str, str]:
    return {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": "+15005550006", "Body": body}


def consents(store: Store) -> dict[str, str]:
    with store.session() as s:
        return {row.channel: row.status for row in s.scalars(select(Consent).where(Consent.address == PHONE))}


def test_stop_and_start_over_the_sms_webhook_are_recorded_at_once(web: Web) -> None:
    server, settings = web
    store = Store(settings.database_url)
    assert twilio_post(server, settings, sms_params("STOP")).status_code == 200
    assert consents(store) == {"sms": "opted_out"}
    assert twilio_post(server, settings, sms_params("stop calling me")).status_code == 200
    assert consents(store) == {"sms": "opted_out", "voice": "opted_out"}
    assert twilio_post(server, settings, sms_params("START")).status_code == 200
    assert consents(store) == {"sms": "opted_in", "voice": "opted_in"}
    # an ordinary answer changes nothing
    assert twilio_post(server, settings, sms_params("2")).status_code == 200
    assert consents(store) == {"sms": "opted_in", "voice": "opted_in"}


async def test_send_once_never_uses_a_refused_channel(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    consent.record(store, "sms", PHONE, opted_out=True, source="test")
    activities = TwilioActivities(store, LocalPhone(store, "+15005550006"))
    case_id = add_case(store)
    msg = OutboundMessage(case_id=case_id, key="offer-1", channel=Channel.SMS, to=PHONE, body="hello")
    result = await activities.send_sms(msg)
    assert (result.status, result.reason) == ("rejected", "opted_out")
    with store.session() as s:
        assert s.scalars(select(LocalDelivery)).all() == []
        withheld = s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == case_id)).all()
    assert withheld == ["case_opened", "sms_withheld"]  # intake's entry, then the send's
    consent.record(store, "sms", PHONE, opted_out=False, source="test")
    assert (await activities.send_sms(msg)).status == "sent"


async def test_a_patient_who_said_stop_is_reached_by_email_in_a_later_case(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        consent.record(h.store, "sms", PHONE, opted_out=True, source="twilio_sms")
        consent.record(h.store, "voice", PHONE, opted_out=True, source="twilio_sms")
        accepted, handle = await h.open_case(example_event())
        emails = await h.wait_for(lambda: h.deliveries("email"))
        assert "Uptown Orthopedics" in (emails[0].subject or "") + emails[0].body
        await h.result(handle)  # no answer to the email: on to a person, never a text or a call

    assert h.deliveries("sms", PHONE) == [] and h.deliveries("voice", PHONE) == []
    with h.store.session() as s:
        steps = s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == accepted.case_id)).all()
    assert "sms_withheld" in steps and "escalation_opened" in steps
