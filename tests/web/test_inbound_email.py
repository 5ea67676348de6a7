"""Patients writing in (CONTRACT.md): SendGrid Inbound Parse posts over real HTTP, as SendGrid documents the
form (multipart, `envelope` and `charsets` JSON, attachments), and the reps' /api/emails."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from config import Settings
from store.db import Store
from store.models import Case, Consent, DeadLetter, InboundEmail, LocalDelivery, ReceivedEvent
from tests.support.cases import open_case, waiting_for_a_choice
from tests.support.http import LiveServer, offline_web
from tests.support.recording_dispatcher import RecordingSignals

TOKEN = "inbound-secret"
INBOUND = "care@reply.example.com"
REP, SUPERVISOR, AUDITOR = "tok-rep", "tok-sup", "tok-aud"


@dataclass
class App:
    server: LiveServer
    settings: Settings
    store: Store
    dispatcher: RecordingSignals

    def post(
        self,
        fields: dict[str, str],
        files: dict[str, Any] | None = None,
        password: str = TOKEN,
    ) -> httpx.Response:
        # every field a part of its own, as SendGrid posts them (multipart/form-data)
        parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
        parts.update(files or {})
        return httpx.post(
            f"{self.server.url}/webhooks/sendgrid/inbound",
            files=parts,
            auth=("sendgrid", password),
            timeout=30,
        )

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.server.url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            **kwargs,
        )


@pytest.fixture
def app(any_db_url: str, tmp_path: Path) -> Iterator[App]:
    from web.app import create_app

    settings, port = offline_web(
        any_db_url,
        tmp_path,
        sendgrid_inbound_token=TOKEN,
        inbound_email_address=INBOUND,
        api_tokens=f"rep:ann:{REP},supervisor:sue:{SUPERVISOR},auditor:{AUDITOR}",
        body_limits={"inbound_email": 256 * 1024},
    )
    web = create_app(settings, relay=False)
    store = Store(any_db_url)
    dispatcher = RecordingSignals(settings, store)
    web.state.services.dispatcher = dispatcher
    with LiveServer(web, port) as server:
        yield App(server, settings, store, dispatcher)


def a_case(store: Store, waiting: bool = True) -> Case:
    case = open_case(store)
    if waiting:
        waiting_for_a_choice(store, case.case_id)
    with store.session() as s:
        token = uuid.uuid4().hex[:20]
        # its workflow is running (the event that opened it was acted on): replies go to it in turn
        s.execute(
            update(ReceivedEvent).where(ReceivedEvent.case_id == case.case_id).values(status="dispatched")
        )
        s.execute(update(Case).where(Case.case_id == case.case_id).values(email_token=token))
        row = s.get(Case, case.case_id)
        assert row is not None
        return row


def mail(case: Case | None, text: str, **more: str) -> dict[str, str]:
    sender = case.patient_email if case is not None else "stranger@example.org"
    to = f"care+{case.email_token}@reply.example.com" if case is not None else INBOUND
    fields = {
        "from": f"Ada Lovelace <{sender}>",
        "to": f"Makeright <{to}>",
        "subject": "Re: Your appointment moved",
        "text": text,
        "headers": f"Message-ID: <{abs(hash((text, to, str(more))))}@mail.example>\nFrom: {sender}\n",
        "envelope": json.dumps({"to": [to], "from": sender}),
        "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "text": "UTF-8", "from": "UTF-8"}),
        "SPF": "pass",
        "spam_score": "0.1",
    }
    fields.update(more)
    return fields


def stored(store: Store, email_id: str) -> InboundEmail:
    with store.session() as s:
        row = s.get(InboundEmail, email_id)
        assert row is not None
        return row


def test_only_the_inbound_token_gets_in(app: App) -> None:
    case = a_case(app.store)
    assert app.post(mail(case, "1"), password="wrong").status_code == 401
    parts = {name: (None, value) for name, value in mail(case, "1").items()}
    bare = httpx.post(f"{app.server.url}/webhooks/sendgrid/inbound", files=parts, timeout=30)
    assert bare.status_code == 401 and "Basic" in bare.headers["www-authenticate"]
    with app.store.session() as s:
        assert s.scalars(select(InboundEmail)).all() == []


def test_a_choice_by_email_reaches_the_cases_workflow_as_a_reply(app: App) -> None:
    case = a_case(app.store)
    quoted = (
        "1\n\nThanks, Ada\n\nOn Mon, 7 Dec 2026 at 10:00, Makeright <care@reply.example.com> wrote:\n"
        "> Your appointment moved. Reply 1, 2 or 3.\n> 1. Tuesday 09:00\n"
    )
    answer = app.post(mail(case, quoted))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["case_id"], body["status"], body["duplicate"]) == (case.case_id, "understood", False)
    row = stored(app.store, body["email_id"])
    assert row.text == "1" and "choice 1" in (row.why or "")
    [(workflow_id, signal, reply)] = app.dispatcher.signals
    assert (workflow_id, signal) == (case.workflow_id, "patient_replied")
    assert (reply.channel.value, reply.intent.value, reply.choice) == ("email", "choice", 1)
    # SendGrid posting it again (it saw no 2xx) changes nothing
    again = app.post(mail(case, quoted))
    assert again.json()["duplicate"] is True and len(app.dispatcher.signals) == 1


def test_matched_by_the_senders_open_case_without_a_token(app: App) -> None:
    case = a_case(app.store)
    fields = mail(case, "2", to=INBOUND, envelope=json.dumps({"to": [INBOUND]}))
    body = app.post(fields).json()
    assert (body["case_id"], body["status"]) == (case.case_id, "understood")


def test_quoted_history_is_removed_in_dutch_and_outlook_style(app: App) -> None:
    case = a_case(app.store)
    dutch = (
        "Kan ik donderdag komen in plaats daarvan?\n\nMet vriendelijke groet,\nAda\n\n"
        "Op ma 7 dec. 2026 om 10:00 schreef Makeright <care@reply.example.com>:\n"
        "> Uw afspraak is verplaatst.\n"
    )
    outlook = (
        "Can I come on Thursday instead?\n\n"
        "From: Makeright <care@reply.example.com>\nSent: Monday, December 7, 2026 10:00\n"
        "To: Ada\nSubject: Your appointment moved\n\nYour appointment moved. Reply 1, 2 or 3.\n"
    )
    for text, expected in (
        (dutch, "Kan ik donderdag komen in plaats daarvan?"),
        (outlook, "Can I come on Thursday instead?"),
    ):
        body = app.post(mail(case, text)).json()
        row = stored(app.store, body["email_id"])
        assert (row.text, row.status) == (expected, "waiting"), row.text
    assert app.dispatcher.signals == []  # a question needs a person: nothing reaches the workflow


def test_an_html_only_mail_is_stripped_safely(app: App) -> None:
    case = a_case(app.store)
    markup = (
        '<html><head><style>p{color:red}</style></head><body><div dir="ltr">Please call me &amp; thanks'
        '<script>alert("x")</script></div><br><div class="gmail_quote"><div>On Mon, 7 Dec 2026 at 10:00, '
        "Makeright &lt;care@reply.example.com&gt; wrote:<br></div><blockquote>Reply 1, 2 or 3.</blockquote>"
        "</div></body></html>"
    )
    body = app.post(mail(case, "", html=markup)).json()
    row = stored(app.store, body["email_id"])
    assert row.text == "Please call me & thanks"
    assert (row.status, row.why) == ("waiting", "asked for a person")


@pytest.mark.parametrize(
    ("extra_headers", "sender"),
    [
        ("Auto-Submitted: auto-replied\n", None),
        ("X-Autoreply: yes\n", None),
        ("Precedence: bulk\n", None),
        ("", "MAILER-DAEMON@mx.example.com"),
    ],
)
def test_auto_replies_and_bounces_are_recorded_and_never_answered(
    app: App, extra_headers: str, sender: str | None
) -> None:
    case = a_case(app.store)
    fields = mail(case, "1")  # even a "1" from a machine is not a choice
    fields["headers"] = f"Message-ID: <{abs(hash((extra_headers, sender)))}@auto>\n{extra_headers}"
    if sender:
        fields["from"] = sender
    body = app.post(fields).json()
    assert body["status"] == "ignored"
    assert app.dispatcher.signals == []
    reply = app.api("POST", f"/api/emails/{body['email_id']}/reply", REP, json={"text": "Hello"})
    assert reply.status_code == 409  # never answered: no loop between two machines


def test_stop_by_email_stops_email_to_that_address(app: App) -> None:
    case = a_case(app.store)
    body = app.post(mail(case, "STOP")).json()
    assert body["status"] == "understood"
    with app.store.session() as s:
        row = s.scalars(select(Consent).where(Consent.channel == "email")).one()
    assert (row.address, row.status) == (case.patient_email, "opted_out")


def test_attachments_are_dropped_with_a_note(app: App) -> None:
    case = a_case(app.store)
    fields = mail(case, "What about this letter?", attachments="1")
    fields["attachment-info"] = json.dumps(
        {"attachment1": {"filename": "letter.pdf", "type": "application/pdf"}}
    )
    body = app.post(fields, files={"attachment1": ("letter.pdf", b"%PDF-1.4 ...", "application/pdf")}).json()
    row = stored(app.store, body["email_id"])
    assert "1 attachment(s) dropped" in (row.why or "")


def test_a_post_over_the_limit_is_refused_413(app: App) -> None:
    case = a_case(app.store)
    big = {"attachment1": ("scan.tiff", b"\0" * (300 * 1024), "image/tiff")}
    refused = app.post(mail(case, "see attached", attachments="1"), files=big)
    assert refused.status_code == 413
    with app.store.session() as s:
        assert s.scalars(select(InboundEmail)).all() == []


FORTY_MB = 40 * 1024 * 1024


def _multipart_of(fields: dict[str, str], boundary: str) -> bytes:
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    return parts


def _inbound_letters(store: Store) -> list[DeadLetter]:
    with store.session() as s:
        return list(
            s.scalars(
                select(DeadLetter)
                .where(DeadLetter.endpoint == "/webhooks/sendgrid/inbound")
                .order_by(DeadLetter.id)
            )
        )


def test_a_40_mb_post_is_refused_413_naming_the_body_and_kept_as_a_dead_letter(app: App) -> None:
    """SendGrid posts up to 30 MB; a 40 MB post (an attachment, as SendGrid would frame it) is refused
    before it is read, and what came (headers and size, not the 40 MB) is kept for an engineer."""
    case = a_case(app.store)
    boundary = "xYzZY" + uuid.uuid4().hex
    head = _multipart_of(mail(case, "see attached", attachments="1"), boundary)
    attachment = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachment1"; filename="scan.tiff"\r\n'
        "Content-Type: image/tiff\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + attachment + b"\0" * (FORTY_MB - len(head) - len(attachment) - len(tail)) + tail
    assert len(body) == FORTY_MB
    refused = httpx.post(
        f"{app.server.url}/webhooks/sendgrid/inbound",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "User-Agent": "Sendlib/1.0"},
        auth=("sendgrid", TOKEN),
        timeout=60,
    )
    assert refused.status_code == 413
    answer = refused.json()
    assert answer["errors"] == [{"field": "body", "reason": "over the limit of 262144 bytes"}]
    [letter] = _inbound_letters(app.store)
    assert answer["dead_letter_id"] == letter.id
    assert letter.status_code == 413 and letter.errors == answer["errors"]
    assert letter.content_type is not None and letter.content_type.startswith("multipart/form-data")
    kept = json.loads(letter.raw)
    assert len(letter.raw) < 4096  # what came, not the 40 MB
    assert kept["content_length"] == FORTY_MB and kept["received_bytes"] == 0
    assert kept["headers"]["user-agent"] == "Sendlib/1.0"
    assert kept["headers"]["authorization"] == "Basic (not kept)"  # never the credentials
    with app.store.session() as s:
        assert s.scalars(select(InboundEmail)).all() == []
    assert app.dispatcher.signals == []


def test_a_40_mb_chunked_post_is_refused_as_it_passes_the_limit_and_kept(app: App) -> None:
    """No Content-Length (chunked): counted as it streams in, refused once past the limit."""
    sent = 0

    def forty_mb() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"\0" * (1024 * 1024)
        for _ in range(40):
            sent += len(chunk)
            yield chunk

    refused = httpx.post(
        f"{app.server.url}/webhooks/sendgrid/inbound",
        content=forty_mb(),
        headers={"Content-Type": "multipart/form-data; boundary=xYzZY"},
        auth=("sendgrid", TOKEN),
        timeout=60,
    )
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["field"] == "body"
    [letter] = _inbound_letters(app.store)
    kept = json.loads(letter.raw)
    assert kept["content_length"] is None
    assert 256 * 1024 < kept["received_bytes"] < FORTY_MB


def test_malformed_posts_are_422_naming_the_field_and_kept_as_dead_letters(app: App) -> None:
    case = a_case(app.store)
    bad_envelope = app.post(mail(case, "1", envelope="{not json"))
    assert bad_envelope.status_code == 422
    assert [e["field"] for e in bad_envelope.json()["errors"]] == ["envelope"]
    no_from = mail(case, "1")
    del no_from["from"]
    missing = app.post(no_from)
    assert missing.status_code == 422 and missing.json()["errors"] == [
        {"field": "from", "reason": "required"}
    ]
    with app.store.session() as s:
        letters = s.scalars(
            select(DeadLetter).where(DeadLetter.endpoint == "/webhooks/sendgrid/inbound")
        ).all()
    assert [letter.status_code for letter in letters] == [422, 422]
    assert app.dispatcher.signals == []


def test_bad_charsets_are_422_naming_the_field_or_read_with_replacements(app: App) -> None:
    case = a_case(app.store)
    not_json = app.post(mail(case, "1", charsets="{text: latin-1"))
    assert not_json.status_code == 422
    assert [e["field"] for e in not_json.json()["errors"]] == ["charsets"]
    not_an_object = app.post(mail(case, "1", charsets='["utf-8"]'))
    assert not_an_object.status_code == 422
    assert not_an_object.json()["errors"] == [{"field": "charsets", "reason": "must be a JSON object"}]
    assert [letter.status_code for letter in _inbound_letters(app.store)] == [422, 422]
    # a charset nobody knows, with bytes that are not UTF-8: taken, the bad bytes replaced, not a 5xx
    fields = mail(case, "")
    del fields["text"]
    fields["charsets"] = json.dumps({"text": "x-klingon-8"})
    taken = app.post(fields, files={"text": (None, b"Kan ik \xe9\xe9n dag later?")})
    assert taken.status_code == 200
    assert stored(app.store, taken.json()["email_id"]).text.startswith("Kan ik ")


def test_a_latin1_mail_is_read_in_its_charset(app: App) -> None:
    case = a_case(app.store)
    text = "Kan ik één dag later komen?".encode("latin-1")
    fields = mail(case, "")
    del fields["text"]
    fields["charsets"] = json.dumps({"text": "iso-8859-1"})
    body = app.post(fields, files={"text": (None, text)}).json()
    assert stored(app.store, body["email_id"]).text == "Kan ik één dag later komen?"


def test_reps_list_emails_masked_and_answer_once_in_the_thread(app: App) -> None:
    case = a_case(app.store)
    fields = mail(case, "Can I come Thursday? Call me on +31612345678 or ada@example.com")
    fields["headers"] = "Message-ID: <question-1@mail.example>\n"
    email_id = app.post(fields).json()["email_id"]

    listed = app.api("GET", "/api/emails?status=waiting", AUDITOR)
    assert listed.status_code == 200
    [item] = listed.json()
    assert set(item) == {
        "email_id",
        "case_id",
        "received_at",
        "status",
        "assigned_to",
        "answered_at",
        "subject",
        "text",
    }
    assert (item["email_id"], item["case_id"], item["status"]) == (email_id, case.case_id, "waiting")
    assert "+31612345678" not in item["text"] and "ada@example.com" not in item["text"]
    assert (
        app.api("GET", "/api/emails?status=waiting", SUPERVISOR).json()[0]["text"].endswith("ada@example.com")
    )
    assert app.api("GET", "/api/emails?bogus=1", REP).status_code == 422

    assert app.api("POST", f"/api/emails/{email_id}/reply", AUDITOR, json={"text": "x"}).status_code == 403
    assert app.api("POST", f"/api/emails/{email_id}/reply", REP, json={"text": "  "}).status_code == 422
    assert app.api("POST", "/api/emails/em_nope/reply", REP, json={"text": "x"}).status_code == 404
    answer = app.api("POST", f"/api/emails/{email_id}/reply", REP, json={"text": "Thursday 10:00 is yours."})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["assigned_to"]) == ("answered", "ann")
    assert answer.json()["answered_at"]
    again = app.api("POST", f"/api/emails/{email_id}/reply", SUPERVISOR, json={"text": "Again"})
    assert again.status_code == 409

    with app.store.session() as s:
        [sent] = s.scalars(select(LocalDelivery).where(LocalDelivery.channel == "email")).all()
    assert (sent.to_address, sent.subject, sent.body) == (
        case.patient_email,
        "Re: Your appointment moved",
        "Thursday 10:00 is yours.",
    )
    assert sent.in_reply_to == "<question-1@mail.example>"
    assert sent.reply_to == f"care+{case.email_token}@reply.example.com"
    assert [e["email_id"] for e in app.api("GET", "/api/emails?status=answered", REP).json()] == [email_id]


def test_unset_inbound_token_refuses_everything(any_db_url: str, tmp_path: Path) -> None:
    from web.app import create_app

    settings, port = offline_web(any_db_url, tmp_path)
    with LiveServer(create_app(settings, relay=False), port) as server:
        refused = httpx.post(
            f"{server.url}/webhooks/sendgrid/inbound",
            files={"from": (None, "a@example.com"), "text": (None, "1")},
            auth=("sendgrid", ""),
            timeout=30,
        )
    assert refused.status_code == 401
    assert "SENDGRID_INBOUND_TOKEN" in refused.json()["error"]


def test_received_choice_is_kept_in_the_inbox_as_an_email_reply(app: App) -> None:
    case = a_case(app.store)
    app.post(mail(case, "3"))
    with app.store.session() as s:
        row = s.scalars(select(ReceivedEvent).where(ReceivedEvent.source == "sendgrid_inbound")).one()
    assert (row.case_id, row.parsed["channel"], row.parsed["text"]) == (case.case_id, "email", "3")
