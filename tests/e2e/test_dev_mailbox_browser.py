"""The local mailbox on /dev/phone in a real browser (Debian's Chromium, driven by Playwright) against the
web app over HTTP: a patient answers the email they got (the mail client's quote below their words), the
page shows it sent and waiting for a rep, and the rep's answer arrives in the mailbox by itself.
Screenshot: test-artifacts/dev-phone-mailbox.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from store.models import InboundEmail
from tests.support.browser import launch_chromium
from tests.support.settings import ROOT
from tests.web.test_dev_mailbox import Mailbox, _mailbox, a_case_that_emailed

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def box(sqlite_url: str, tmp_path: Path) -> Iterator[Mailbox]:
    yield from _mailbox(sqlite_url, tmp_path)


def test_a_patient_answers_an_email_and_the_reps_answer_arrives(box: Mailbox) -> None:
    case, delivery_id = a_case_that_emailed(box.store)
    assert case.patient_email
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{box.server.url}/dev/phone?to={case.patient_email}")
        email = page.locator(f"#d{delivery_id}")
        expect(email).to_contain_text("Your appointment moved")
        expect(page.locator(".meta", has_text="Reply-To care+")).to_be_visible()

        email.get_by_role("link", name="Answer").click()
        text = page.get_by_label("email text")
        expect(page.get_by_label("subject")).to_have_value("Re: Your appointment moved")
        assert "> Choose a new time:" in text.input_value()
        # the caret is at the top, as in a mail client: the patient's words go above the quote
        text.press("Control+Home")
        text.type("Can I come Thursday instead?")
        page.get_by_role("button", name="Send email").click()

        expect(page.locator(".sent-mail")).to_contain_text("it waits for a rep to answer")
        mine = page.locator(".row.mine .card.mail")
        expect(mine).to_contain_text("Can I come Thursday instead?")
        expect(mine).not_to_contain_text("Choose a new time")  # the quoted history removed
        expect(mine.locator(".mail-status")).to_have_text("waiting for a rep")

        with box.store.session() as s:
            [received] = s.scalars(select(InboundEmail)).all()
        assert (received.case_id, received.status) == (case.case_id, "waiting")
        # a supervisor answers it through the API (SendGrid, local here): the mailbox shows it by itself
        answered = httpx.post(
            f"{box.server.url}/api/emails/{received.email_id}/reply",
            json={"text": "Thursday works: we booked you for Thu 10 Jan 10:00. See you then!\n\nAnn"},
            headers={"Authorization": "Bearer dev-supervisor-token"},
            timeout=30,
        )
        assert answered.status_code == 200, answered.text
        expect(page.locator(".card.mail", has_text="Thursday works")).to_be_visible(timeout=15_000)
        expect(mine.locator(".mail-status")).to_have_text("✓ a rep answered")
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#thread").evaluate("t => t.scrollTop = t.scrollHeight")
        page.screenshot(path=str(ARTIFACTS / "dev-phone-mailbox.png"))
        browser.close()
