"""Which emails open an inquiry (store/inbound_email.accept): a person's email from a sender with no case
does, with its case, the email and the inbox row that starts the workflow stored together; machines' mail,
opt-outs, repeats and a second email while the inquiry is open do not."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

from domain.inquiry import language_of
from store import inbound_email
from store.db import Store
from store.inbound_email import Incoming
from store.models import Case, InboundEmail, ReceivedEvent

INBOUND = "care@reply.example.com"
SENDER = "ann.vries@example.org"


@pytest.fixture
def store(any_db_url: str) -> Store:
    """SQLite and PostgreSQL alike."""
    return Store(any_db_url)


def mail(text: str, sender: str = SENDER, automatic: str | None = None, message_id: str = "") -> Incoming:
    return Incoming(
        from_address=sender,
        recipients=[INBOUND],
        subject="A question",
        text=text,
        headers={"message-id": message_id or f"<{uuid.uuid4().hex}@mail.example>"},
        automatic=automatic,
    )


def count(store: Store, model: type, *where: Any) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_an_email_from_a_sender_with_no_case_opens_an_inquiry_with_it(store: Store) -> None:
    accepted = inbound_email.accept(store, mail("Do you have parking?"), INBOUND)
    assert accepted.status == "waiting" and accepted.case_id is not None
    with store.session() as s:
        case = s.get(Case, accepted.case_id)
        email = s.get(InboundEmail, accepted.email_id)
        row = s.get(ReceivedEvent, accepted.opened_row_id)
        assert case is not None and email is not None and row is not None
        assert (case.kind, case.status, case.patient_email, case.patient_phone) == (
            "inquiry",
            "open",
            SENDER,
            None,
        )
        assert email.case_id == case.case_id
        assert (row.source, row.status, row.workflow_id) == ("inquiry", "pending", case.workflow_id)
        assert row.external_id == email.email_id
        assert row.parsed["patient"] == {"id": case.patient_id, "name": "-", "email": SENDER, "locale": "en"}
        # no patient data in any id
        for value in (case.case_id, case.workflow_id, case.patient_id, case.conflict_key):
            assert "ann" not in value and "example" not in value


def test_the_same_email_posted_twice_opens_one_inquiry(store: Store) -> None:
    first = inbound_email.accept(store, mail("Hello?", message_id="<one@mail.example>"), INBOUND)
    again = inbound_email.accept(store, mail("Hello?", message_id="<one@mail.example>"), INBOUND)
    assert again.duplicate and (again.email_id, again.case_id) == (first.email_id, first.case_id)
    assert (count(store, Case), count(store, InboundEmail)) == (1, 1)
    assert count(store, ReceivedEvent, ReceivedEvent.source == "inquiry") == 1


def test_a_second_email_while_it_is_open_joins_it_even_a_number(store: Store) -> None:
    first = inbound_email.accept(store, mail("Can I bring my child?"), INBOUND)
    second = inbound_email.accept(store, mail("2"), INBOUND)  # an inquiry asks no question: words
    assert (second.case_id, second.status, second.opened_row_id) == (first.case_id, "waiting", None)
    assert (count(store, Case), count(store, ReceivedEvent, ReceivedEvent.source == "inquiry")) == (1, 1)
    # once it is closed, the same sender's next email is a new inquiry of the same patient
    with store.session() as s:
        s.execute(update(Case).values(status="resolved"))
    third = inbound_email.accept(store, mail("One more thing"), INBOUND)
    assert third.case_id not in (None, first.case_id)
    with store.session() as s:
        patients = set(s.scalars(select(Case.patient_id)))
    assert len(patients) == 1


@pytest.mark.parametrize(
    ("text", "sender", "automatic"),
    [
        ("I am out of office", SENDER, "Auto-Submitted: auto-replied"),
        ("STOP", SENDER, None),
        ("Hello", "not-an-address", None),
    ],
)
def test_machines_opt_outs_and_unusable_senders_open_nothing(
    store: Store, text: str, sender: str, automatic: str | None
) -> None:
    accepted = inbound_email.accept(store, mail(text, sender, automatic), INBOUND)
    assert accepted.case_id is None and accepted.opened_row_id is None
    assert count(store, Case) == 0


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Goedemiddag, ik heb een vraag over mijn afspraak van volgende week.", "nl"),
        ("Hello, I have a question about my appointment next week.", "en"),
        ("Kan ik mijn kind meenemen?", "nl"),
        ("???", "en"),
    ],
)
def test_the_patients_language_is_read_from_what_they_wrote(text: str, language: str) -> None:
    assert language_of(text) == language
