"""An inquiry over real HTTP (CONTRACT.md "Patients writing in"): an email from a sender with no case, as
SendGrid Inbound Parse posts it, opens an `inquiry` case the reps see in /api/cases and /api/escalations;
a rep answers the email and resolves the case with a root cause; the patient rates the help with a link
from the feedback email. The web app talks to a Temporal test server whose worker runs the workflows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.cases import CaseResult
from domain.ids import feedback_workflow_id
from store import users
from store.models import Case, LocalDelivery
from tests.support import inbound_mail
from tests.support.console_harness import PASSWORD, http_login
from tests.support.http import LiveServer, free_port
from tests.support.settings import make_settings
from tests.support.workflow_harness import Harness, running

TOKEN = "inbound-secret"
INBOUND = "care@reply.example.com"
SENDER = "ann.vries@example.org"
REP, AUDITOR = "tok-rep", "tok-aud"
CAUSES = [{"code": "billing_error", "label": "Billing error"}]


@dataclass
class App:
    h: Harness
    http: httpx.AsyncClient

    async def api(self, method: str, path: str, token: str = REP, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def email(self, text: str, message_id: str, to: str = INBOUND) -> httpx.Response:
        """An email as SendGrid Inbound Parse posts it (multipart, envelope and charsets as JSON)."""
        fields = inbound_mail.parse_form(
            SENDER, to, "Question about my bill", text, message_id, "Ann de Vries"
        )
        fields["to"] = f"Makeright <{to}>"  # as a mail client writes it: the name, the address in brackets
        parts = inbound_mail.multipart(fields)
        return await self.http.post(inbound_mail.PATH, files=parts, auth=("sendgrid", TOKEN))

    def emails_to(self, address: str) -> list[LocalDelivery]:
        with self.h.store.session() as s:
            return list(
                s.scalars(
                    select(LocalDelivery)
                    .where(LocalDelivery.channel == "email", LocalDelivery.to_address == address)
                    .order_by(LocalDelivery.id)
                )
            )


@pytest.fixture
async def app(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[App]:
    """Its own time-skipping server: Updates sent over HTTP beside the test server's time skipping left the
    shared one unable to answer (every later test on it timed out)."""
    from web.app import create_app

    time_skipping_env = own_time_skipping_env

    port = free_port()
    settings = make_settings(
        sqlite_url,
        tmp_path,
        api_tokens=f"rep:ann:{REP},auditor:{AUDITOR}",
        temporal_address=time_skipping_env.client.service_client.config.target_host,
        public_base_url=f"http://127.0.0.1:{port}",
        sendgrid_inbound_token=TOKEN,
        inbound_email_address=INBOUND,
        root_causes=CAUSES,
        policy={"feedback": {"enabled": True, "delay_seconds": 0}},
    )
    async with running(settings, time_skipping_env) as h:
        with LiveServer(create_app(settings, relay=False), port) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                yield App(h, http)


def console_page(app: App, path: str) -> str:
    """A page of the console as the rep `ann` sees it, logged in over HTTP like a browser."""
    users.add_user(app.h.store, "ann", "rep", PASSWORD)
    with httpx.Client(base_url=str(app.http.base_url), timeout=30) as browser:
        assert http_login(browser, "ann").status_code == 303
        page = browser.get(path)
        assert page.status_code == 200
        return page.text


async def until(check: Any, timeout: float = 20.0) -> Any:
    for _ in range(int(timeout / 0.1)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("never happened")


async def test_an_unknown_sender_opens_an_inquiry_a_rep_answers_resolves_and_the_patient_rates(
    app: App,
) -> None:
    posted = await app.email("Why did I get two bills for one visit?", "<bill-1@mail.example>")
    assert posted.status_code == 200, posted.text
    case_id, email_id = posted.json()["case_id"], posted.json()["email_id"]
    assert case_id and posted.json()["status"] == "waiting"
    # SendGrid posting it again opens nothing
    again = await app.email("Why did I get two bills for one visit?", "<bill-1@mail.example>")
    assert again.json()["duplicate"] is True and again.json()["case_id"] == case_id
    assert app.h.count(Case) == 1

    async def escalated() -> dict[str, Any] | None:
        case = (await app.api("GET", f"/api/cases/{case_id}", AUDITOR)).json()
        return case if case["status"] == "escalated" else None

    case = await until(escalated)
    assert case["kind"] == "inquiry" and case["patient"]["email"] != SENDER  # masked for an auditor
    assert [
        c["case_id"] for c in (await app.api("GET", "/api/cases?status=escalated&kind=inquiry")).json()
    ] == [case_id]
    [escalation] = (await app.api("GET", "/api/escalations?status=open")).json()
    assert (escalation["case_id"], escalation["kind"]) == (case_id, "inquiry")
    waiting = (await app.api("GET", "/api/emails?status=waiting")).json()
    assert {(e["email_id"], e["case_id"]) for e in waiting} >= {(email_id, case_id)}
    [ack] = app.emails_to(SENDER)
    assert ack.subject == "We got your message" and ack.reply_to is not None
    # the patient answers the acknowledgement: by its Reply-To, the email joins the inquiry
    more = await app.email("It is about the visit of 3 March.", "<bill-2@mail.example>", to=ack.reply_to)
    assert (more.json()["case_id"], more.json()["status"]) == (case_id, "waiting")

    path = f"/api/escalations/{escalation['escalation_id']}"
    await asyncio.sleep(0.3)  # the test server mishandles an Update while a workflow task is in flight
    assert (await app.api("POST", f"{path}/claim")).status_code == 200
    answer = "You were billed twice by mistake; the second bill is cancelled."
    replied = await app.api("POST", f"/api/emails/{email_id}/reply", json={"text": answer})
    assert replied.status_code == 200 and replied.json()["status"] == "answered"
    assert app.emails_to(SENDER)[-1].body == answer
    # the rep's console shows what the patient wrote (they hold the claim) and that no appointment is involved
    page = await asyncio.to_thread(console_page, app, f"/console/escalations/{escalation['escalation_id']}")
    assert "Why did I get two bills for one visit?" in page and 'id="no-appointment"' in page
    assert "the patient wrote in about something new" in page and "we got your message" in page
    await asyncio.sleep(0.3)
    paying = {
        "notes": "x",
        "root_cause": "billing_error",
        "compensation": {"amount": "5.00", "currency": "USD"},
    }
    refused = await app.api("POST", f"{path}/resolve", json=paying)
    assert refused.status_code == 409 and "no compensation" in refused.json()["error"]
    await asyncio.sleep(0.3)
    resolved = await app.api(
        "POST", f"{path}/resolve", json={"notes": "Answered by email.", "root_cause": "billing_error"}
    )
    assert resolved.status_code == 200, resolved.text
    handle: WorkflowHandle[Any, CaseResult] = app.h.client.get_workflow_handle(
        case["workflow_id"], result_type=CaseResult
    )
    await app.h.result(handle)
    closed = (await app.api("GET", f"/api/cases/{case_id}")).json()
    assert (closed["status"], closed["outcome"], closed["root_cause"]) == (
        "resolved",
        "resolved_by_rep",
        "billing_error",
    )
    assert closed["ticket_id"]

    # the patient rates it from the feedback email: the link's page, then the form it shows
    asked = await until(
        lambda: asyncio.to_thread(lambda: [e for e in app.emails_to(SENDER) if "/feedback/" in e.body])
    )
    link = re.search(r"http://\S+/feedback/\S+/5\?t=\S+", asked[0].body)
    assert link is not None
    shown = await app.http.get(link.group(0))
    assert shown.status_code == 200 and "<form" in shown.text
    token = link.group(0).split("?t=")[1]
    await asyncio.sleep(0.3)
    thanked = await app.http.post(link.group(0).split("?")[0], data={"t": token, "comment": "quick answer"})
    assert thanked.status_code == 200
    score = await app.h.result(app.h.client.get_workflow_handle(feedback_workflow_id(case_id)))
    assert score == 5
    rated = (await app.api("GET", f"/api/cases/{case_id}")).json()
    assert (rated["feedback"]["score"], rated["feedback"]["comment"]) == (5, "quick answer")
    # counted like any kind
    metrics = (await app.http.get("/metrics")).text
    assert 'makeright_cases_opened_total{kind="inquiry"} 1.0' in metrics
    assert (
        'makeright_cases_closed_total{kind="inquiry",outcome="resolved_by_rep",status="resolved"} 1.0'
        in metrics
    )
