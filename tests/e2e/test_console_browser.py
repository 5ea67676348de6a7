"""The rep console in a real browser (Debian's Chromium, driven by Playwright) against the real system: a
Temporal dev server, the worker with the Escalation workflow, and the web app over HTTP.

Screenshots of the pages land in `test-artifacts/`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from domain.base import CaseKind
from domain.escalation import EscalationInput, EscalationLevel, EscalationPolicy, Money
from domain.policy import RecoveryPolicy
from store import escalations
from store.models import Case, EscalationRow
from tests.support.browser import launch_chromium
from tests.support.console_harness import (
    MASKED_PHONE,
    PASSWORD,
    PATIENT_PHONE,
    add_team,
    booked_case,
    insert_case,
)
from tests.support.settings import ROOT
from tests.support.system import System
from tests.support.waiting import wait_for
from workflows.escalation import Escalation

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts"


def open_escalation(
    system: System,
    pending: str | None = "20.00",
    policy: EscalationPolicy | None = None,
    case: Case | None = None,
    reason: str = "patient_asked_for_a_person",
) -> str:
    """A case handed to people: the Escalation workflow started as a case workflow would, with the
    default policy and a compensation waiting for approval. Returns once the console can see it."""
    case = case or insert_case(system.store)
    escalation_id = f"esc-{case.case_id}-{uuid.uuid4().hex[:4]}"
    inp = EscalationInput(
        escalation_id=escalation_id,
        case_id=case.case_id,
        appointment_id=case.appointment_id,
        kind=CaseKind.BOOKING_CONFLICT,
        reason=reason,
        policy=policy or RecoveryPolicy().escalation,
        pending_approval=Money(amount=Decimal(pending)) if pending else None,
        patient_phone=PATIENT_PHONE,
        public_base_url=system.settings.public_base_url,
    )
    system.bg.run(
        system.temporal.client.start_workflow(
            Escalation.run, inp, id=escalation_id, task_queue=system.settings.task_queue
        )
    )
    wait_for(lambda: escalations.get(system.store, escalation_id), 30, "the escalation's row")
    return escalation_id


def escalation_row(system: System, escalation_id: str) -> EscalationRow:
    found = escalations.get(system.store, escalation_id)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    var = tmp_path_factory.mktemp("console")
    running = System(f"sqlite:///{var / 'makeright.db'}", var, "in-process")
    try:
        running.start()
        add_team(running.store)
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, system: System) -> Iterator[Page]:
    context = browser.new_context(base_url=system.base, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def login(page: Page, username: str) -> None:
    page.goto("/console/login")
    if not ARTIFACTS.joinpath("console-login.png").exists():
        screenshot(page, "console-login.png")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Escalation queue")).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_rep_claims_approves_within_limit_and_resolves(system: System, page: Page) -> None:
    escalation_id = open_escalation(system, pending="20.00")
    login(page, "rita")

    row = page.locator(f"tr[data-escalation='{escalation_id}']")
    expect(row).to_be_visible()
    expect(row.locator(".chip.st-open")).to_have_text("open")
    expect(row).to_contain_text("20.00 USD")
    expect(row.locator("[data-deadline]")).to_contain_text(re.compile(r"\d+ h \d\d min left|\d+:\d\d left"))
    screenshot(page, "console-queue-before-claim.png")

    row.get_by_role("link", name="Open").click()
    expect(page).to_have_url(re.compile(f"/console/escalations/{escalation_id}$"))
    # before the claim: the contact details are masked, and claiming is the one primary action
    expect(page.locator("#patient-phone")).to_have_text(MASKED_PHONE)
    expect(page.locator("#action-claim.primary")).to_be_visible()
    page.get_by_role("button", name="Claim").click()

    expect(page.locator("#flash")).to_contain_text("You claimed the escalation")
    expect(page.locator(".summary .chip.st-claimed")).to_have_text("claimed")
    expect(page.locator("#patient-phone")).to_have_text(PATIENT_PHONE)  # the claimer sees them in full
    expect(page.locator("#action-approve.primary")).to_be_visible()
    expect(page.get_by_label("Amount")).to_have_value("20.00")  # prefilled with the pending amount
    screenshot(page, "console-escalation-claimed.png")
    page.get_by_role("button", name="Approve").click()

    expect(page.locator("#flash")).to_contain_text("Compensation approved")
    expect(page.locator("#approved")).to_contain_text("20.00")
    page.get_by_label("Notes").fill("Called Ada, rebooked with Dr. Kim on Wednesday; gift card on its way.")
    # the case's own cause is chosen already, from the catalogue's list
    expect(page.get_by_label("Root cause")).to_have_value("practice_calendar_out_of_sync")
    page.get_by_label("Root cause").select_option(label="Practice calendar out of sync")
    page.get_by_role("button", name="Resolve").click()

    expect(page.locator("#flash")).to_contain_text("Escalation resolved")
    expect(page.locator(".summary .chip.st-resolved")).to_have_text("resolved")
    expect(page.locator("#actions")).to_contain_text("nothing left to do")
    expect(page.locator("#timeline")).to_contain_text("Resolved by rita")
    screenshot(page, "console-escalation-resolved.png")

    stored = escalation_row(system, escalation_id)
    assert stored.status == "resolved" and stored.resolved_by == "rita"
    assert stored.approved_amount == Decimal("20.00") and stored.approved_by == "rita"
    assert (
        stored.root_cause == "practice_calendar_out_of_sync" and stored.notes and "rebooked" in stored.notes
    )
    api = httpx.get(
        f"{system.base}/api/escalations/{escalation_id}",
        headers={"Authorization": "Bearer dev-supervisor-token"},
    ).json()
    assert api["status"] == "resolved" and api["approved"] == {"amount": "20.00", "by": "rita"}
    assert api["pending_approval"] is None


def test_resolve_offers_the_root_cause_catalogue_and_other_with_words(system: System, page: Page) -> None:
    """The rep picks the cause from the catalogue in config (a typo can no longer open a problem of its
    own), or "Other" with words of their own, which go with the notes."""
    escalation_id = open_escalation(system, pending="5.00")
    login(page, "rita")
    page.goto(f"{system.base}/console/escalations/{escalation_id}")
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("#flash")).to_contain_text("You claimed the escalation")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#flash")).to_contain_text("Compensation approved")

    causes = page.get_by_label("Root cause")
    labels = causes.locator("option").all_inner_texts()
    assert labels[0] == "Choose the cause…" and labels[-1] == "Other (describe it)"
    assert {"Practice calendar out of sync", "Double booking", "Check-in kiosk fault"} <= set(labels)
    assert "practice_calendar_out_of_sync" not in labels  # people read labels, not codes

    page.get_by_label("Notes").fill("Called the patient; rebooked by phone.")
    causes.select_option("other")
    page.get_by_role("button", name="Resolve").click()  # "Other" with no words: refused, nothing lost
    expect(page.locator("#refusal")).to_contain_text("describe the cause")
    expect(page.get_by_label("Notes")).to_have_value("Called the patient; rebooked by phone.")
    expect(page.get_by_label("Root cause")).to_have_value("other")
    page.get_by_label("If other: what caused it").fill("Receptionist's calendar app crashed")
    screenshot(page, "console-resolve-root-cause-other.png")
    page.get_by_role("button", name="Resolve").click()

    expect(page.locator("#flash")).to_contain_text("Escalation resolved")
    stored = escalation_row(system, escalation_id)
    assert stored.root_cause == "other"
    assert stored.notes and "Receptionist's calendar app crashed" in stored.notes


def test_rep_cannot_approve_above_their_limit(system: System, page: Page) -> None:
    escalation_id = open_escalation(system, pending="20.00")
    login(page, "rob")
    page.goto(f"/console/escalations/{escalation_id}")
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("#flash")).to_be_visible()

    page.get_by_label("Amount").fill("30.00")
    with page.expect_response(f"**/console/escalations/{escalation_id}/approve") as answer:
        page.get_by_role("button", name="Approve").click()
    assert answer.value.status == 403
    banner = page.locator("#refusal")
    expect(banner).to_contain_text("Approve refused")
    expect(banner).to_contain_text("30.00 USD is above your approval limit of 25.00 USD")
    expect(page.get_by_label("Amount")).to_have_value("30.00")  # what they typed stays, to correct it
    screenshot(page, "console-refused-over-limit.png")

    stored = escalation_row(system, escalation_id)
    assert stored.status == "claimed" and stored.claimed_by == "rob"
    assert stored.pending_amount == Decimal("20.00") and stored.approved_amount is None
    # and the workflow, the authority, agrees: nothing was approved
    state = system.bg.run(system.temporal.client.get_workflow_handle(escalation_id).query(Escalation.current))
    assert state.approved is None and state.pending_approval == Money(amount=Decimal("20.00"))


def test_supervisor_view_is_for_supervisors_only(system: System, page: Page) -> None:
    escalation_id = open_escalation(system)
    for who in ("rita", "aud"):
        login(page, who)
        expect(page.get_by_role("link", name="Supervisor")).to_have_count(0)
        answer = page.goto("/console/supervisor")
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("heading", name="Supervisors only")).to_be_visible()
        if who == "aud":
            screenshot(page, "console-forbidden.png")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()

    login(page, "sue")
    page.get_by_role("link", name="Supervisor").click()
    expect(page.get_by_role("heading", name="Supervisor view")).to_be_visible()
    expect(page.locator("#work tr[data-user='rita']")).to_be_visible()
    expect(page.locator("#work tr[data-user='sue']")).to_be_visible()
    screenshot(page, "console-supervisor.png")

    # a supervisor sees contact details without holding the claim
    page.goto(f"/console/escalations/{escalation_id}")
    expect(page.locator("#patient-phone")).to_have_text(PATIENT_PHONE)


def test_queue_is_ordered_by_deadline_and_marks_breaches(system: System, page: Page) -> None:
    # the reps' level runs out after a second: the escalation moves up to the supervisors, breached
    hurried = EscalationPolicy(
        levels=(
            EscalationLevel(name="reps", claim_sla_seconds=1),
            EscalationLevel(name="supervisor", claim_sla_seconds=15 * 60, claim_roles=("supervisor",)),
        )
    )
    breached = open_escalation(system, policy=hurried)
    calm = open_escalation(system)
    wait_for(lambda: escalation_row(system, breached).breached, 30, "the SLA breach")

    login(page, "rita")
    rows = page.locator("#queue tbody tr")
    expect(page.locator(f"tr[data-escalation='{calm}']")).to_be_visible()
    deadlines = [
        datetime.fromisoformat(rows.nth(i).locator("[data-deadline]").get_attribute("data-deadline") or "")
        for i in range(rows.count())
    ]
    assert len(deadlines) >= 2 and deadlines == sorted(deadlines)
    late = page.locator(f"tr[data-escalation='{breached}']")
    expect(late).to_have_class(re.compile(r"\bbreached\b"))
    expect(late.locator(".chip.breach")).to_have_text("breached")
    expect(late).to_contain_text("supervisor")
    expect(page.locator(f"tr[data-escalation='{calm}'] .chip.breach")).to_have_count(0)
    screenshot(page, "console-queue.png")

    # the rep may look, but this level is for supervisors: no action is offered, and posting one anyway
    # is refused on the server
    page.goto(f"/console/escalations/{breached}")
    expect(page.locator(".summary .chip.breach")).to_be_visible()
    expect(page.locator("#actions form")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(f"/console/escalations/{breached}/claim", form={"csrf_token": token or ""})
    assert answer.status == 403 and "may not claim at level" in answer.text()
    assert escalation_row(system, breached).status == "open"

    page.get_by_role("button", name="Sign out").click()
    login(page, "sue")
    page.get_by_role("link", name="Supervisor").click()
    expect(page.locator(f"#breaches a[href='/console/escalations/{breached}']")).to_be_visible()
    screenshot(page, "console-supervisor-breaches.png")


def test_home_page_leads_to_the_console(system: System, page: Page) -> None:
    """Someone who opens the web app's bare address finds the console (and the local phone) from there."""
    page.goto("/")
    expect(page.get_by_role("heading", name="makeright is running")).to_be_visible()
    expect(page.get_by_role("link", name="Local phone").first).to_be_visible()
    expect(
        page.get_by_text(".venv/bin/python starter.py send examples/booking_conflict.json")
    ).to_be_visible()
    screenshot(page, "home.png")
    page.get_by_role("link", name="Open the console").click()
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    assert page.url.endswith("/console/login")


WEEKDAY_FORMAT = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d\d:\d\d "


def test_escalation_page_says_who_where_and_what_happened_in_plain_words(
    system: System, browser: Browser
) -> None:
    """A rep sees the patient's name and language, the practice, the provider and the slot in the
    practice's time; only this case's messages; the timeline in words; every date in one format with its
    zone; and after resolving, why the contact details are hidden."""
    from domain.cases import TimelineEntry
    from store import cases, inbox

    # an earlier case of the same patient, with a reply of its own: not this case's business
    earlier = booked_case(system.store)
    inbox.accept_patient_answer(
        system.store,
        "twilio_sms",
        f"SM{uuid.uuid4().hex}",
        PATIENT_PHONE,
        "ik neem de tweede tijd",
        earlier.case_id,
        {"channel": "sms", "text": "ik neem de tweede tijd"},
    )
    case = booked_case(system.store)
    wrote = "de kiosk weigert mijn verzekeringspas"
    inbox.accept_patient_answer(
        system.store,
        "twilio_sms",
        f"SM{uuid.uuid4().hex}",
        PATIENT_PHONE,
        wrote,
        case.case_id,
        {"channel": "sms", "text": wrote},
    )
    for what, key, detail in [
        ("reply_received", "reply:1", {"channel": "sms", "intent": "person", "choice": None}),
        ("sms_sent", "msg:sms:rep-will-call", {"to": PATIENT_PHONE, "message": "rep-will-call"}),
        ("needs_rep", "status:needs_rep", {"reason": "checkin_trouble"}),
    ]:
        cases.add_timeline(
            system.store, TimelineEntry(case_id=case.case_id, what=what, key=key, detail=detail)
        )
    escalation_id = open_escalation(system, pending=None, case=case, reason="checkin_trouble")

    # the rep works from Chicago: event times in their zone, the slot in the practice's (New York)
    context = browser.new_context(
        base_url=system.base, viewport={"width": 1360, "height": 900}, timezone_id="America/Chicago"
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        login(page, "rita")
        page.goto(f"/console/escalations/{escalation_id}")
        expect(page.locator("#patient-name")).to_have_text("Ada Jansen")
        expect(page.locator("#patient-language")).to_contain_text("Dutch")
        expect(page.locator("#practice-name")).to_have_text("Uptown Orthopedics")
        expect(page.locator("#practice-phone")).to_have_text("+12125550100")
        expect(page.locator("#provider")).to_contain_text("Dr. Kim")
        expect(page.locator("#slot time")).to_have_text("Tue 24 Nov 10:00 EST")  # the practice's time
        expect(page.locator("#patient-phone")).to_have_text(MASKED_PHONE)  # not claimed: masked
        expect(page.locator(".summary")).to_contain_text("Trouble at check-in")

        page.get_by_role("button", name="Claim").click()
        expect(page.locator("#flash")).to_contain_text("You claimed the escalation")
        expect(page.locator("#patient-phone")).to_have_text(PATIENT_PHONE)
        messages = page.locator("#patient-messages")
        expect(messages).to_contain_text(wrote)
        expect(messages).not_to_contain_text("ik neem de tweede tijd")  # the earlier case's reply

        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("Text sent to the patient")
        expect(timeline).to_contain_text("a colleague will call you")
        expect(timeline).to_contain_text("Handed to a rep")
        expect(timeline).to_contain_text("trouble at check-in")
        expect(timeline).to_contain_text("The patient replied by text")
        expect(timeline).to_contain_text("asked for a person")
        expect(timeline).to_contain_text("Claimed by rita")
        text = timeline.inner_text()
        for internal in ("rep-will-call", "checkin_trouble", "needs_rep", "sms_sent", "escalation_"):
            assert internal not in text, internal
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text  # no snake_case key left anywhere

        # one format, with its zone, for every date on the page
        times = page.locator("time")
        assert times.count() >= 5
        for i in range(times.count()):
            shown = times.nth(i).inner_text()
            zone = "EST" if times.nth(i).get_attribute("data-zone") else "CST"
            assert re.fullmatch(WEEKDAY_FORMAT + zone, shown), shown
        screenshot(page, "escalation-page.png")

        page.get_by_label("Notes").fill("Called Ada; the front desk took her card by hand.")
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("#flash")).to_contain_text("Escalation resolved")
        expect(page.locator("#patient-phone")).to_have_text(MASKED_PHONE)
        expect(page.locator("#contact-note")).to_have_text(
            "Contact details are hidden because the case is closed."
        )
        expect(page.locator("#patient-messages")).to_contain_text("Hidden because the case is closed")
        expect(page.locator("#patient-messages")).not_to_contain_text(wrote)
        expect(page.locator("#timeline")).to_contain_text("Resolved by rita")
        screenshot(page, "escalation-page-resolved.png")
    finally:
        context.close()


def test_call_patient_plays_the_bridge_on_the_local_phone(system: System, browser: Browser) -> None:
    """Call patient on the local phone, as a rep and a patient would live it: the rep's phone rings,
    the rep answers, then the patient's phone rings and they answer; both see "Connected", and the case's
    timeline tells what really happened, from the calls' status callbacks."""
    case = booked_case(system.store)
    escalation_id = open_escalation(system, pending=None, case=case, reason="checkin_trouble")
    context = browser.new_context(base_url=system.base, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    console, rep_phone, patient_phone = context.new_page(), context.new_page(), context.new_page()
    try:
        login(console, "rita")
        console.goto(f"/console/escalations/{escalation_id}")
        console.get_by_role("button", name="Claim").click()
        expect(console.locator("#flash")).to_contain_text("You claimed the escalation")
        console.get_by_role("button", name="Call patient").click()
        expect(console.locator("#flash")).to_contain_text("your phone rings first")
        timeline = console.locator("#timeline")
        expect(timeline).to_contain_text("Calling the rep")
        expect(timeline).not_to_contain_text("connected")  # nobody has answered yet

        rep_phone.goto("/dev/phone?to=%2B12125550101")
        rep_call = rep_phone.locator("article.bridge[data-bridge=rep]").last
        expect(rep_call).to_have_attribute("data-state", "ringing")
        expect(rep_call).to_contain_text("Incoming call")
        expect(rep_call.locator(".keypad")).to_have_count(0)  # a call to talk on, not a menu
        rep_call.get_by_role("button", name="Answer").click()
        rep_call = rep_phone.locator("article.bridge[data-bridge=rep]").last
        expect(rep_call).to_contain_text("calling the patient")

        patient_phone.goto("/dev/phone?to=%2B31612345678")
        patient_call = patient_phone.locator("article.bridge[data-bridge=patient]").last
        expect(patient_call).to_have_attribute("data-state", "ringing")
        expect(patient_call).to_contain_text(system.settings.twilio_from_number)  # our line, never rita's
        expect(patient_call).not_to_contain_text("+12125550101")
        patient_call.get_by_role("button", name="Answer").click()
        patient_call = patient_phone.locator("article.bridge[data-bridge=patient]").last
        expect(patient_call).to_have_attribute("data-state", "connected")
        expect(patient_call.locator(".call-state")).to_have_text("Connected")
        # the rep's phone page catches up by itself
        expect(rep_phone.locator("article.bridge[data-bridge=rep]").last.locator(".call-state")).to_have_text(
            "Connected"
        )
        screenshot(rep_phone, "dev-phone-bridge-rep.png")
        screenshot(patient_phone, "dev-phone-bridge-patient.png")

        console.reload()
        expect(timeline).to_contain_text("Patient answered: connected")
        patient_phone.wait_for_timeout(1100)  # a call that lasts a moment
        patient_call.get_by_role("button", name="Hang up").click()
        expect(patient_phone.locator("article.bridge[data-bridge=patient]").last).to_have_attribute(
            "data-state", "ended"
        )
        console.reload()
        expect(timeline).to_contain_text("Call ended")
        titles = console.locator("#timeline .what").all_inner_texts()[::-1]  # oldest first
        happened = titles[titles.index("Calling the rep") :]
        assert happened[:4] == [
            "Calling the rep",
            "Rep answered, calling the patient",
            "The patient's phone is ringing",
            "Patient answered: connected",
        ], titles
        assert re.fullmatch(r"Call ended \(\d+ s\)", happened[4]) and len(happened) == 5, titles
        screenshot(console, "escalation-page-after-call.png")
    finally:
        context.close()
