"""An email that needs a person, routed to a rep and answered from the console, over real HTTP: the web app
(its inbound webhook, the console, the API) on a real Temporal server with a real worker running the rep
router, and SendGrid played by a local stand-in for its v3 API (what makeright posts to it is what is
checked). CONTRACT.md, "Reps on duty and routing" and "Patients writing in".

- A waiting email becomes an offer to the available rep, shown in their console (no phone rings); they
  accept it there and it is assigned to them; their answer goes out once, in the patient's thread
  (In-Reply-To and References: the patient's Message-ID); the rep wraps up and is free again.
- A rep who passes an email's offer sees it go to the next rep; answered through the API by someone else,
  the offer is withdrawn and that rep is free again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.routing import router_workflow_id
from store import inbound_email as emails
from store.db import Store
from store.models import Case, InboundEmail, LocalDelivery, utcnow
from tests.support import inbound_mail
from tests.support.console_harness import PATIENT_EMAIL, add_team, booked_case, csrf_from, http_login
from tests.support.http import LiveServer, free_port
from tests.support.settings import make_settings
from tests.support.workflow_harness import running

INBOUND_TOKEN = "inbound-secret"
INBOUND = "care@reply.example.com"
SUE = {"Authorization": "Bearer tok-sue"}  # a supervisor's API token


@dataclass
class SendGridStandIn:
    """SendGrid's v3 API as far as makeright uses it: every mail posted to /v3/mail/send, kept."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        sent = self.sent

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v3/mail/send":
                    sent.append(json.loads(body))
                self.send_response(202)
                self.send_header("X-Message-Id", f"sg-{len(sent)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    stand_in = SendGridStandIn()
    yield stand_in
    stand_in.close()


@dataclass
class Floor:
    settings: Settings
    store: Store
    server: LiveServer

    def browser(self, user: str) -> httpx.Client:
        """A rep's browser, signed in to the console."""
        client = httpx.Client(base_url=self.server.url, follow_redirects=False, timeout=30)
        assert http_login(client, user).status_code == 303
        return client


@pytest.fixture
async def floor(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path, sendgrid: SendGridStandIn
) -> AsyncIterator[Floor]:
    from web.app import create_app

    port = free_port()
    settings: Settings = make_settings(
        sqlite_url,
        tmp_path,
        api_tokens="supervisor:sue:tok-sue,rep:rob:tok-rob",
        temporal_address=dev_server_env.client.service_client.config.target_host,
        public_base_url=f"http://127.0.0.1:{port}",
        sendgrid_inbound_token=INBOUND_TOKEN,
        inbound_email_address=INBOUND,
        sendgrid_mode="live",
        sendgrid_api_key="SG.test",
        sendgrid_from_email="care@example.com",
        sendgrid_api_base_url=sendgrid.url,
        routing={"auto_call_reasons": [], "offer_seconds": 60, "wrap_up_seconds": 1},
    )
    store = Store(sqlite_url)
    add_team(store)  # console users rita and rob (reps with phones on record), sue, aud
    async with running(settings, dev_server_env) as h:
        try:
            with LiveServer(create_app(settings, relay=False), port) as server:
                yield Floor(settings, store, server)
        finally:
            router = h.client.get_workflow_handle(router_workflow_id(settings.task_queue))
            with contextlib.suppress(Exception):
                await router.terminate("test over")


def write_in(floor: Floor, text: str, message_id: str) -> str:
    """The patient (ada@example.com, with an open case) writes to support, as SendGrid posts it."""
    fields = inbound_mail.parse_form(PATIENT_EMAIL, INBOUND, "Parking", text, message_id)
    posted = inbound_mail.post(floor.server.url, INBOUND_TOKEN, fields)
    assert posted.status_code == 200, posted.text
    assert posted.json()["status"] == "waiting"
    return str(posted.json()["email_id"])


def state(browser: httpx.Client) -> dict[str, Any]:
    answer = browser.get("/console/presence/state")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def until(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    for _ in range(int(seconds / 0.1)):
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


def go_available(browser: httpx.Client) -> None:
    csrf = csrf_from(browser.get("/console").text)
    went = browser.post(
        "/console/presence", data={"csrf_token": csrf, "status": "available", "languages": ["en", "nl"]}
    )
    assert went.status_code == 303, went.text


def listed(floor: Floor, email_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{floor.server.url}/api/emails", headers=SUE, timeout=30)
    assert answer.status_code == 200, answer.text
    return next(e for e in answer.json() if e["email_id"] == email_id)


@pytest.mark.timeout(180)
async def test_a_waiting_email_is_offered_accepted_in_the_console_answered_once_and_the_rep_is_free(
    floor: Floor, sendgrid: SendGridStandIn
) -> None:
    case = await asyncio.to_thread(booked_case, floor.store)
    rita = await asyncio.to_thread(floor.browser, "rita")
    await asyncio.to_thread(go_available, rita)
    await until(lambda: state(rita)["status"] == "available", "rita available")

    email_id = await asyncio.to_thread(
        write_in, floor, "Is there parking near the practice?", "<parking-1@mail.example>"
    )
    work_id = f"email-{email_id}"
    await until(lambda: state(rita) == {"status": "offered", "work_id": work_id}, "the email offered to rita")
    # offered on the console, not on her phone: nothing rang
    with floor.store.session() as s:
        assert s.scalars(select(LocalDelivery).where(LocalDelivery.channel == "voice")).all() == []

    page = await asyncio.to_thread(rita.get, "/console/emails")
    assert page.status_code == 200
    assert 'id="offer-accept"' in page.text and email_id in page.text
    assert "answer your phone" not in page.text
    csrf = csrf_from(page.text)
    taken = await asyncio.to_thread(
        rita.post, "/console/offers/accept", data={"csrf_token": csrf, "work_id": work_id}
    )
    assert taken.status_code == 303, taken.text
    assert taken.headers["location"] == f"/console/emails/{email_id}?done=taken"
    assert listed(floor, email_id)["assigned_to"] == "rita"
    await until(lambda: state(rita) == {"status": "busy", "work_id": work_id}, "rita busy with the email")

    # her page: the email in full (it is hers), its case, the answer form
    mine = await asyncio.to_thread(rita.get, f"/console/emails/{email_id}")
    assert mine.status_code == 200
    assert "Is there parking near the practice?" in mine.text and case.case_id in mine.text
    assert 'action="/console/emails/' in mine.text
    sent = await asyncio.to_thread(
        rita.post,
        f"/console/emails/{email_id}/reply",
        data={"csrf_token": csrf, "text": "Yes: the garage on 5th Street, two minutes' walk."},
    )
    assert sent.status_code == 303, sent.text
    [mail] = sendgrid.sent
    assert mail["personalizations"][0]["to"] == [{"email": PATIENT_EMAIL}]
    assert mail["subject"] == "Re: Parking"
    assert mail["headers"] == {
        "In-Reply-To": "<parking-1@mail.example>",
        "References": "<parking-1@mail.example>",
    }
    assert mail["content"][0]["value"] == "Yes: the garage on 5th Street, two minutes' walk."
    shown = listed(floor, email_id)
    assert (shown["status"], shown["assigned_to"]) == ("answered", "rita")

    # the work is done: wrap-up, then free again
    await until(lambda: state(rita)["status"] == "available" and not state(rita)["work_id"], "rita free")
    again = httpx.post(
        f"{floor.server.url}/api/emails/{email_id}/reply", json={"text": "Again?"}, headers=SUE, timeout=30
    )
    assert again.status_code == 409
    assert len(sendgrid.sent) == 1  # sent once
    rita.close()


@pytest.mark.timeout(180)
async def test_a_passed_offer_goes_to_the_next_rep_and_an_answer_by_another_withdraws_it(
    floor: Floor, sendgrid: SendGridStandIn
) -> None:
    await asyncio.to_thread(booked_case, floor.store)
    rita = await asyncio.to_thread(floor.browser, "rita")
    rob = await asyncio.to_thread(floor.browser, "rob")
    await asyncio.to_thread(go_available, rita)
    await until(lambda: state(rita)["status"] == "available", "rita available")
    await asyncio.to_thread(go_available, rob)
    await until(lambda: state(rob)["status"] == "available", "rob available")

    email_id = await asyncio.to_thread(
        write_in, floor, "Can my husband come along? He is on +31687654321.", "<along-1@mail.example>"
    )
    work_id = f"email-{email_id}"
    # what the patient wrote: masked for a rep it is not assigned to, whole for a supervisor
    seen = await asyncio.to_thread(rob.get, f"/console/emails/{email_id}")
    assert "Can my husband come along?" in seen.text and "+31687654321" not in seen.text
    sue = await asyncio.to_thread(floor.browser, "sue")
    assert "+31687654321" in (await asyncio.to_thread(sue.get, f"/console/emails/{email_id}")).text
    sue.close()
    # rita has been idle longest: hers first; she passes
    await until(lambda: state(rita)["work_id"] == work_id, "the email offered to rita")
    csrf = csrf_from((await asyncio.to_thread(rita.get, "/console/emails")).text)
    passed = await asyncio.to_thread(
        rita.post, "/console/offers/pass", data={"csrf_token": csrf, "work_id": work_id, "next": "/console"}
    )
    assert passed.status_code == 303 and passed.headers["location"] == "/console"
    await until(lambda: state(rob) == {"status": "offered", "work_id": work_id}, "the email offered to rob")
    assert state(rita)["status"] == "available"
    # her Accept now is too late: the offer is rob's
    late = await asyncio.to_thread(
        rita.post, "/console/offers/accept", data={"csrf_token": csrf, "work_id": work_id}
    )
    assert late.status_code == 409 and "no longer offered to you" in late.text

    # sue answers it through the API while it is offered to rob: his offer is withdrawn
    answered = httpx.post(
        f"{floor.server.url}/api/emails/{email_id}/reply",
        json={"text": "Of course he can."},
        headers=SUE,
        timeout=30,
    )
    assert answered.status_code == 200, answered.text
    await until(lambda: state(rob) == {"status": "available", "work_id": None}, "rob's offer withdrawn")
    assert len(sendgrid.sent) == 1
    rita.close()
    rob.close()


def test_a_waiting_email_the_router_was_never_told_of_is_swept_and_its_work_names_its_case(
    sqlite_url: str,
) -> None:
    """The web stored an email and died before deciding: the relay's sweep tells the router of it; and
    the work it offers is the email's case, in the patient's language."""
    store = Store(sqlite_url)
    case = booked_case(store)
    with store.session() as s:
        s.add(
            InboundEmail(
                email_id="em_lost",
                message_id="<lost@mail.example>",
                case_id=case.case_id,
                from_address=PATIENT_EMAIL,
                subject="Hello",
                text="A question",
                status=emails.WAITING,
                why="received",
                received_at=utcnow() - emails.UNROUTED_AFTER * 2,
            )
        )
    assert emails.sweep_unrouted(store) == 1
    assert emails.sweep_unrouted(store) == 0  # told once
    row = emails.get(store, "em_lost")
    assert row is not None and row.event_row_id is not None
    work = emails.work_for(store, "em_lost", ("en", "nl"), "en")
    assert work is not None
    with store.session() as s:
        kind = s.get(Case, case.case_id).kind  # type: ignore[union-attr]
    assert (work.work_id, work.kind.value, work.case_id, work.case_kind) == (
        "email-em_lost",
        "email",
        case.case_id,
        kind,
    )
    assert work.language == "nl" and work.practice == "Uptown Orthopedics"
    # answered meanwhile: no work to offer; the router is told it is done
    assert emails.answered(store, "em_lost", "sue", "Hi") is not None
    assert emails.work_for(store, "em_lost", ("en", "nl"), "en") is None
    assert emails.answered(store, "em_lost", "sue", "Hi") is None
