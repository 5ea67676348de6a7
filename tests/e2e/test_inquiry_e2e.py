"""End to end over real HTTP with `run.py` (what `make run` runs): an email from a sender with no case, as
SendGrid Inbound Parse posts it, opens an inquiry; a rep answers the email and resolves the inquiry with a
root cause; the patient rates the help from the link in the feedback email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from store.models import LocalDelivery
from tests.support import inbound_mail
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOKEN = "e2e-inbound-token"
INBOUND = "care@reply.example.com"
SENDER = "ann.vries@example.org"
ANN = {"Authorization": "Bearer e2e-ann"}


@pytest.fixture
def system(sqlite_url: str, tmp_path: Path) -> Iterator[System]:
    # on SQLite (the intake's store tests run on both databases)
    running = System(
        sqlite_url,
        tmp_path / "var",
        SENDGRID_INBOUND_TOKEN=TOKEN,
        INBOUND_EMAIL_ADDRESS=INBOUND,
        POLICY__FEEDBACK__DELAY_SECONDS="0",  # asked at once after the close
    )
    yield running
    running.close()


def test_an_unknown_senders_email_is_answered_resolved_and_rated_end_to_end(system: System) -> None:
    system.start()
    engine = create_engine(system.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))

    def emails_to_patient() -> list[str]:
        """The bodies of the emails the patient got (the local mail provider's record)."""
        with engine.connect() as conn:
            query = (
                select(LocalDelivery.body)
                .where(LocalDelivery.channel == "email", LocalDelivery.to_address == SENDER)
                .order_by(LocalDelivery.id)
            )
            return list(conn.scalars(query))

    text = "Hello, why did I get two bills for one visit?"
    fields = inbound_mail.parse_form(
        SENDER, INBOUND, "Two bills", text, "<two-bills@mail.example>", "Ann de Vries"
    )
    posted = inbound_mail.post(system.base, TOKEN, fields)
    assert posted.status_code == 200, posted.text
    case_id, email_id = posted.json()["case_id"], posted.json()["email_id"]

    def open_escalation() -> dict[str, Any] | None:
        listed = httpx.get(f"{system.base}/api/escalations?status=open", headers=ANN, timeout=10).json()
        return next((e for e in listed if e["case_id"] == case_id), None)

    escalation = system.wait(open_escalation, 60, "the inquiry's escalation")
    assert escalation["kind"] == "inquiry" and system.case(case_id)["kind"] == "inquiry"
    system.wait(emails_to_patient, 30, "the acknowledgement")
    path = f"{system.base}/api/escalations/{escalation['escalation_id']}"
    assert httpx.post(f"{path}/claim", headers=ANN, timeout=30).status_code == 200
    answer = {"text": "You were billed twice by mistake: the second bill is cancelled."}
    replied = httpx.post(f"{system.base}/api/emails/{email_id}/reply", json=answer, headers=ANN, timeout=30)
    assert replied.status_code == 200, replied.text
    resolved = httpx.post(
        f"{path}/resolve", json={"notes": "Answered.", "root_cause": "billing_error"}, headers=ANN, timeout=30
    )
    assert resolved.status_code == 200, resolved.text
    case = system.wait(
        lambda: (c := system.case(case_id))["status"] == "resolved" and c, 60, "the inquiry to be resolved"
    )
    assert (case["outcome"], case["root_cause"]) == ("resolved_by_rep", "billing_error")

    asked = system.wait(
        lambda: [body for body in emails_to_patient() if "/feedback/" in body], 60, "the feedback request"
    )
    link = re.search(r"(http://\S+/feedback/\S+/4)\?t=(\S+)", asked[0])
    assert link is not None
    rated = httpx.post(link.group(1), data={"t": link.group(2), "comment": "clear answer"}, timeout=30)
    assert rated.status_code == 200
    feedback = system.wait(lambda: system.case(case_id)["feedback"], 60, "the rating on the case")
    assert (feedback["score"], feedback["comment"]) == (4, "clear answer")
    assert system.stop() == 0
