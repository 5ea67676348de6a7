"""The local mailbox on /dev/phone over real HTTP: a patient's address shows the emails they got with their
Reply-To; answering one (quoted, as a mail client does) or writing a new one to support is posted to the
inbound webhook as SendGrid Inbound Parse posts it, and the page shows what became of it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from config import Settings
from domain.messaging import Channel, OutboundMessage
from store import outbox
from store.db import Store
from store.models import Case, InboundEmail, LocalDelivery, ReceivedEvent
from tests.support.cases import open_case, waiting_for_a_choice
from tests.support.http import LiveServer, offline_web
from tests.support.recording_dispatcher import RecordingSignals
from web.app import create_app
from web.dev_mailbox import Outgoing, inbound_parse_fields

TOKEN = "inbound-secret"
INBOUND = "care@reply.makeright.local"


@dataclass
class Mailbox:
    server: LiveServer
    settings: Settings
    store: Store
    dispatcher: RecordingSignals

    def page(self, **query: str) -> httpx.Response:
        return httpx.get(f"{self.server.url}/dev/phone", params=query, timeout=30)

    def send(self, **form: str) -> httpx.Response:
        return httpx.post(f"{self.server.url}/dev/phone/email", data=form, timeout=30, follow_redirects=True)


def _mailbox(any_db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Mailbox]:
    values: dict[str, Any] = {"sendgrid_inbound_token": TOKEN, "inbound_email_address": INBOUND}
    values.update(overrides)
    settings, port = offline_web(any_db_url, tmp_path, **values)
    web = create_app(settings, relay=False)
    store = Store(any_db_url)
    dispatcher = RecordingSignals(settings, store)
    web.state.services.dispatcher = dispatcher
    with LiveServer(web, port) as server:
        yield Mailbox(server, settings, store, dispatcher)


@pytest.fixture
def box(any_db_url: str, tmp_path: Path) -> Iterator[Mailbox]:
    yield from _mailbox(any_db_url, tmp_path)


def a_case_that_emailed(store: Store) -> tuple[Case, int]:
    """A case waiting for the patient's choice, and the email it sent them (Reply-To naming the case)."""
    case = open_case(store)
    waiting_for_a_choice(store, case.case_id)
    token = uuid.uuid4().hex[:20]
    with store.session() as s:
        s.execute(
            update(ReceivedEvent).where(ReceivedEvent.case_id == case.case_id).values(status="dispatched")
        )
        s.execute(update(Case).where(Case.case_id == case.case_id).values(email_token=token))
    assert case.patient_email
    outbox.record_local_delivery(
        store,
        OutboundMessage(
            case_id=case.case_id,
            key="offer-1",
            channel=Channel.EMAIL,
            to=case.patient_email,
            subject="Your appointment moved",
            body="Choose a new time:\n1) Mon 7 Jan 10:00\n2) Mon 7 Jan 11:00\n\nReply with its number.",
            reply_to=f"care+{token}@reply.makeright.local",
        ),
        "care@makeright.local",
    )
    with store.session() as s:
        delivery = s.scalars(
            select(LocalDelivery).where(LocalDelivery.to_address == case.patient_email)
        ).one()
        fresh = s.get(Case, case.case_id)
        assert fresh is not None
        return fresh, delivery.id


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_email_shows_with_its_reply_to_and_answers_quoted(box: Mailbox) -> None:
    case, delivery_id = a_case_that_emailed(box.store)
    page = box.page(to=case.patient_email or "")
    assert page.status_code == 200
    assert "Your appointment moved" in page.text
    assert f"Reply-To care+{case.email_token}@reply.makeright.local" in _text(page.text)
    assert f"answer={delivery_id}" in page.text
    answering = box.page(to=case.patient_email or "", answer=str(delivery_id))
    assert 'value="Re: Your appointment moved"' in answering.text
    assert "wrote:\n&gt; Choose a new time:\n&gt; 1) Mon 7 Jan 10:00" in answering.text
    assert f'name="answering" value="{delivery_id}"' in answering.text


def test_answering_1_is_posted_as_inbound_parse_and_rebooks(box: Mailbox) -> None:
    case, delivery_id = a_case_that_emailed(box.store)
    assert case.patient_email
    quoted = (
        "\n\nOn Mon, 7 Jan 2030, care@makeright.local wrote:\n> Choose a new time:\n> 1) Mon 7 Jan 10:00\n"
    )
    shown = box.send(
        from_address=case.patient_email,
        answering=str(delivery_id),
        subject="Re: Your appointment moved",
        text="1" + quoted,
    )
    assert shown.status_code == 200
    assert "Sent to care+" in shown.text and "understood it and acted at once" in shown.text
    with box.store.session() as s:
        [email] = s.scalars(select(InboundEmail)).all()
    # matched by the Reply-To token, the quoted history removed, threaded to the email answered
    assert (email.case_id, email.status, email.text) == (case.case_id, "understood", "1")
    assert email.message_id and email.message_id.endswith("@mailbox.makeright.local>")
    [(workflow_id, signal, reply)] = box.dispatcher.signals
    assert (workflow_id, signal) == (case.workflow_id, "patient_replied")
    assert (reply.channel.value, reply.choice) == ("email", 1)
    # the page shows what the patient wrote, and what became of it
    assert f'data-email="{email.email_id}" data-status="understood"' in shown.text
    assert "You wrote to support" in shown.text


def test_a_new_email_from_a_stranger_waits_for_a_person_and_the_answer_arrives(box: Mailbox) -> None:
    stranger = "new.patient@example.org"
    page = box.page(to=stranger)
    assert f"New email to support: <b>{INBOUND}</b>" in page.text
    shown = box.send(from_address=stranger, subject="Parking?", text="Is there parking near the practice?")
    assert shown.status_code == 200
    with box.store.session() as s:
        [email] = s.scalars(select(InboundEmail)).all()
        inquiry = s.get(Case, email.case_id)
    # a sender with no case opens an inquiry (tests/web/test_inquiry.py follows one to its end)
    assert inquiry is not None and inquiry.kind == "inquiry"
    assert "it waits for a rep to answer" in shown.text and f"(case {inquiry.case_id})" in shown.text
    assert (email.from_address, email.status) == (stranger, "waiting")
    # the sender is in the contact list though nothing was ever sent to them
    listed = box.page()
    assert stranger in listed.text and "Parking?" in listed.text
    # a rep's answer goes out through the (local) SendGrid: it arrives in the mailbox
    outbox.record_local_delivery(
        box.store,
        OutboundMessage(
            case_id="",
            key=f"email-answer-{email.email_id}",
            channel=Channel.EMAIL,
            to=stranger,
            subject="Re: Parking?",
            body="Yes: the garage next door, free for patients.",
            reply_to=f"care+abc@{INBOUND.split('@')[1]}",
        ),
        "care@makeright.local",
    )
    thread = box.page(to=stranger)
    assert "the garage next door" in thread.text
    assert thread.text.index("Is there parking") < thread.text.index("the garage next door")


def test_refusals_show_on_the_page(box: Mailbox) -> None:
    empty = httpx.post(
        f"{box.server.url}/dev/phone/email", data={"from_address": "a@example.org", "text": " "}, timeout=30
    )
    assert empty.status_code == 422 and "Write something first." in empty.text
    nobody = httpx.post(f"{box.server.url}/dev/phone/email", data={"from_address": "nobody", "text": "hi"})
    assert nobody.status_code == 422 and "Write from an email address." in nobody.text


def test_a_wrong_inbound_token_shows_the_webhooks_401(any_db_url: str, tmp_path: Path) -> None:
    """The mailbox really goes over HTTP with Basic auth: a webhook that does not take it says so."""
    for box in _mailbox(any_db_url, tmp_path, sendgrid_inbound_token=""):
        shown = box.send(from_address="a@example.org", subject="Hi", text="Hello")
        assert shown.status_code == 502
        assert "The inbound webhook answered 401" in shown.text
        assert "Hello" in shown.text  # the draft survives


def test_the_form_is_what_inbound_parse_posts() -> None:
    mail = Outgoing(
        from_address="ada@example.com",
        to_address="care+tok@reply.makeright.local",
        subject="Re: Your appointment moved",
        text="Can I come Thursday?",
        in_reply_to="<EMlocal1@makeright.local>",
        from_name="Ada Lovelace",
    )
    fields = inbound_parse_fields(mail, "<m1@mailbox.makeright.local>", datetime(2030, 1, 7, 9, tzinfo=UTC))
    assert fields["from"] == "Ada Lovelace <ada@example.com>"
    assert json.loads(fields["envelope"]) == {
        "to": ["care+tok@reply.makeright.local"],
        "from": "ada@example.com",
    }
    assert set(json.loads(fields["charsets"])) >= {"to", "from", "subject", "text"}
    headers = fields["headers"]
    for line in (
        "Message-ID: <m1@mailbox.makeright.local>",
        "In-Reply-To: <EMlocal1@makeright.local>",
        "References: <EMlocal1@makeright.local>",
        "To: care+tok@reply.makeright.local",
    ):
        assert line in headers.splitlines()
