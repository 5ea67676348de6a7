"""End to end over real HTTP with `run.py` (what `make run` runs): a patient answers our email with "1"
above the quoted offer, as SendGrid Inbound Parse posts it; the case's workflow takes the choice like a
text message's and rebooks them, once, however often SendGrid posts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import inbound_mail
from tests.support.settings import example_event
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOKEN = "e2e-inbound-token"
INBOUND = "care@reply.example.com"
PATIENT = "ada@example.com"  # the example event's patient


@pytest.fixture
def system(sqlite_url: str, tmp_path: Path) -> Iterator[System]:
    running = System(
        sqlite_url, tmp_path / "var", SENDGRID_INBOUND_TOKEN=TOKEN, INBOUND_EMAIL_ADDRESS=INBOUND
    )
    yield running
    running.close()


def post_email(system: System, text: str) -> httpx.Response:
    fields = inbound_mail.parse_form(
        PATIENT, INBOUND, "Re: Your appointment moved", text, "<ada-answer-1@mail.example>"
    )
    return inbound_mail.post(system.base, TOKEN, fields)


def test_an_email_reply_1_rebooks_the_patient(system: System) -> None:
    system.start()
    accepted = system.post_event(example_event())
    assert accepted.status_code == 202, accepted.text
    case_id = accepted.json()["case_id"]

    def offered() -> bool:
        return any(step["what"] == "sms_sent" for step in system.case(case_id)["timeline"])

    system.wait(offered, 60, "the offer")
    quoted = (
        "1\n\nThanks!\nAda\n\nOn Mon, 7 Dec 2026 at 10:00, makeright <care@reply.example.com> wrote:\n"
        "> Your appointment moved. Reply 1, 2 or 3.\n> 1. Tuesday 09:00\n"
    )
    answer = post_email(system, quoted)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["case_id"], answer.json()["status"]) == (case_id, "understood")
    assert post_email(system, quoted).json()["duplicate"] is True  # SendGrid's retry: nothing new

    def resolved() -> dict[str, Any] | None:
        case = system.case(case_id)
        return case if case["status"] == "resolved" else None

    case = system.wait(resolved, 60, "the case to be resolved")
    assert case["outcome"] == "rebooked" and case["new_slot"]
    steps = [step["what"] for step in case["timeline"]]
    assert steps.count("email_received") == 1 and steps.count("compensation_issued") == 1
