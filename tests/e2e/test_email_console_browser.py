"""An email question answered by a rep from the console, in a real browser (Debian's Chromium, driven by
Playwright) against the whole system as `make run` runs it (`run.py`: Temporal, the worker with the rep
router, the web app with its relay; mail goes to the local mailbox).

A patient with an open booking-conflict case writes to support with a question makeright cannot answer
itself. The rep, available in the console, sees the email offered to her in the presence bar (her phone
does not ring), accepts it, reads it in full with its case beside it, and answers it from the form. The
answer goes out once, in the patient's thread (In-Reply-To: their Message-ID), the email is answered and
hers, and she is free again after wrap-up. Screenshots land in `test-artifacts/` (docs/console-emails.png
and docs/console-email.png are taken from them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from store.db import Store
from store.models import Case, LocalDelivery
from tests.support import inbound_mail
from tests.support.browser import launch_chromium
from tests.support.console_harness import PASSWORD, PATIENT_EMAIL, add_team
from tests.support.settings import ROOT, example_event
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ARTIFACTS = ROOT / "test-artifacts"
INBOUND_TOKEN = "e2e-inbound-token"
INBOUND = "care@reply.example.com"
SUPERVISOR = {"Authorization": "Bearer e2e-supervisor"}
QUESTION = "Goedemiddag, is er parkeergelegenheid bij de praktijk? Bel me gerust op +31612345678."


@pytest.fixture
def system(sqlite_url: str, tmp_path: Path) -> Iterator[System]:
    running = System(
        sqlite_url,
        tmp_path / "var",
        SENDGRID_INBOUND_TOKEN=INBOUND_TOKEN,
        INBOUND_EMAIL_ADDRESS=INBOUND,
        ROUTING__OFFER_SECONDS="120",
        ROUTING__WRAP_UP_SECONDS="3",
    )
    yield running
    running.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def open_case(system: System, store: Store) -> Case:
    """A booking conflict through the real intake: its workflow runs (texts the patient, waits)."""
    event = example_event()
    assert system.post_event(event).status_code in (200, 202)

    def opened() -> Case | None:
        with store.session() as s:
            return s.scalars(
                select(Case).where(Case.appointment_id == event["data"]["appointment_id"])
            ).first()

    case: Case = system.wait(opened, 30, "the case")
    return case


def write_in(system: System) -> str:
    fields = inbound_mail.parse_form(
        PATIENT_EMAIL,
        INBOUND,
        "Parkeren bij de praktijk",
        f"{QUESTION}\n\nAda\n",
        "<parkeren-1@mail.example>",
    )
    posted = inbound_mail.post(system.base, INBOUND_TOKEN, fields)
    assert posted.status_code == 200, posted.text
    assert posted.json()["status"] == "waiting"
    return str(posted.json()["email_id"])


def rep_status(system: System, user: str) -> str:
    listed = httpx.get(f"{system.base}/api/reps", headers=SUPERVISOR, timeout=10).json()
    return next((r["status"] for r in listed if r["user"] == user), "")


def test_an_email_question_is_answered_by_a_rep_from_the_console(system: System) -> None:
    system.start()
    store = Store(system.db_url)
    add_team(store)
    case = open_case(system, store)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(base_url=system.base, viewport={"width": 1360, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()

        page.goto("/console/emails")  # to the login, and back here after it
        page.get_by_label("Username").fill("rita")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Patients' emails")).to_be_visible()
        expect(page.locator(".empty")).to_contain_text("No email waits")

        # available, on the phone on record
        page.locator("#presence summary").click()
        page.locator("#presence form.available").get_by_role("button", name="Go available").click()
        expect(page.locator("#my-status")).to_have_text("available")
        system.wait(lambda: rep_status(system, "rita") == "available", 30, "rita available")

        email_id = write_in(system)
        # the presence bar follows the router: the email is offered to her there, with Accept and Pass
        expect(page.locator("#my-status")).to_have_text("offered")
        expect(page.locator("#my-work")).to_contain_text("A patient's email about a booking conflict")
        expect(page.locator("#my-work")).to_contain_text("accept it or pass it on")
        row = page.locator(f"tr[data-email='{email_id}']")
        expect(row).to_contain_text("Parkeren bij de praktijk")
        expect(row).to_contain_text("offered to rita")
        expect(row).not_to_contain_text("+31612345678")  # not hers yet: contact details masked
        screenshot(page, "console-emails.png")
        with store.session() as s:
            rung = s.scalars(select(LocalDelivery).where(LocalDelivery.to_address == "+12125550101")).all()
            assert rung == []  # an email rings no phone

        page.locator("#offer-accept").get_by_role("button", name="Accept").click()
        expect(page).to_have_url(re.compile(f"/console/emails/{email_id}"))
        expect(page.locator("#flash")).to_contain_text("The email is yours")
        expect(page.locator("#my-status")).to_have_text("busy")
        expect(page.locator("#email-text")).to_contain_text(QUESTION)  # hers: in full
        expect(page.locator("#case")).to_contain_text(case.case_id)
        expect(page.locator("#case")).to_contain_text("booking conflict")
        page.get_by_label("Answer").fill(
            "Beste Ada,\n\nJa: de parkeergarage aan 5th Street, twee minuten lopen.\n\nGroet, Rita"
        )
        screenshot(page, "console-email.png")
        page.get_by_role("button", name="Send answer").click()

        expect(page.locator("#flash")).to_contain_text("Your answer is on its way")
        expect(page.locator("#answer-sent")).to_contain_text("by rita")
        expect(page.locator("#answer")).to_have_count(0)  # answered: no form any more
        screenshot(page, "console-email-answered.png")
        # wrap-up, then free again: the bar follows
        expect(page.locator("#my-status")).to_have_text("available", timeout=30_000)
        context.close()
        browser.close()

    with store.session() as s:
        [answer] = s.scalars(
            select(LocalDelivery).where(
                LocalDelivery.channel == "email", LocalDelivery.in_reply_to == "<parkeren-1@mail.example>"
            )
        ).all()
    assert answer.to_address == PATIENT_EMAIL and answer.subject == "Re: Parkeren bij de praktijk"
    assert answer.reply_to is not None and answer.reply_to.startswith("care+")
    assert "parkeergarage" in answer.body
    shown = httpx.get(f"{system.base}/api/emails?status=answered", headers=SUPERVISOR, timeout=10).json()
    assert [(e["email_id"], e["assigned_to"]) for e in shown] == [(email_id, "rita")]
