"""Inquiry: a patient with no case writes in; they are told a person will answer, a rep resolves the case
with its root cause and the patient is asked to rate it; nobody owning it in time fails it. On the
time-skipping test server with the local providers and a real store, from the email as the webhook
stores it (store/inbound_email.accept) through the dispatcher."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.cases import CaseResult, CaseStatus, Outcome
from domain.escalation import Actor, ByActor, ResolveRequest
from domain.ids import feedback_workflow_id
from store import inbound_email
from store.inbound_email import Incoming
from store.models import Case, EscalationRow, ReceivedEvent, Ticket
from tests.support.settings import make_settings
from tests.support.workflow_harness import Harness, running

INBOUND = "care@reply.example.com"
SENDER = "ann.vries@example.org"
REP = Actor(user="rita", role="rep")


def incoming(text: str, message_id: str, subject: str = "A question") -> Incoming:
    return Incoming(
        from_address=SENDER,
        recipients=[INBOUND],
        subject=subject,
        text=text,
        headers={"message-id": message_id},
        automatic=None,
    )


async def write_in(h: Harness, mail: Incoming) -> tuple[inbound_email.Accepted, WorkflowHandle[Any, Any]]:
    """The email as the webhook stores it, and the inbox row that starts its inquiry dispatched at once
    (offering the email to reps is the router's, tested in tests/web/test_email_work.py)."""
    accepted = await asyncio.to_thread(inbound_email.accept, h.store, mail, INBOUND)
    assert accepted.case_id is not None and accepted.opened_row_id is not None
    await h.dispatcher.dispatch(accepted.opened_row_id)
    with h.store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None
        workflow_id = case.workflow_id
    return accepted, h.client.get_workflow_handle(workflow_id, result_type=CaseResult)


def case_row(h: Harness, case_id: str) -> Case:
    with h.store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case


async def test_an_inquiry_is_acknowledged_answered_by_a_rep_resolved_and_rated(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    policy = {"feedback": {"enabled": True, "delay_seconds": 0}}
    settings = make_settings(sqlite_url, tmp_path, policy=policy)
    async with running(settings, own_time_skipping_env) as h:
        text = "Goedemiddag, ik heb twee rekeningen gekregen voor dezelfde afspraak. Kunt u dat nakijken?"
        accepted, handle = await write_in(h, incoming(text, "<bill-1@mail.example>"))
        case_id = accepted.case_id
        assert case_id is not None
        opened = case_row(h, case_id)
        assert (opened.kind, opened.patient_email, opened.appointment_id) == ("inquiry", SENDER, "")
        assert handle.id == f"inquiry-{case_id}"
        # no patient data in any id
        for value in (case_id, handle.id, opened.patient_id):
            assert "ann" not in value and "example" not in value

        # in the patient's language (they wrote Dutch): a person will answer
        [ack] = await h.wait_for(lambda: h.deliveries("email", SENDER))
        assert ack.subject == "We hebben uw bericht ontvangen" and "medewerker" in ack.body
        escalation_id = await h.escalation(case_id)
        assert escalation_id == f"esc-{case_id}-1"
        with h.store.session() as s:
            esc = s.get(EscalationRow, escalation_id)
            assert esc is not None and (esc.kind, esc.reason, esc.level_name) == (
                "inquiry",
                "patient_inquiry",
                "reps",
            )
        assert case_row(h, case_id).status == "escalated"

        # a second email while it is open joins the case: nothing new opens
        again = await asyncio.to_thread(
            inbound_email.accept, h.store, incoming("Het gaat om maart.", "<bill-2@mail.example>"), INBOUND
        )
        assert (again.case_id, again.status, again.opened_row_id) == (case_id, "waiting", None)
        assert h.count(Case) == 1

        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(
            escalation_id,
            "resolve",
            ResolveRequest(actor=REP, notes="Billed twice by mistake; refunded.", root_cause="billing_error"),
        )
        result = await h.result(handle)
        assert (result.status, result.outcome) == (CaseStatus.RESOLVED, Outcome.RESOLVED_BY_REP)
        closed = case_row(h, case_id)
        assert (closed.status, closed.root_cause, closed.ticket_id) == (
            "resolved",
            "billing_error",
            result.ticket_id,
        )
        with h.store.session() as s:
            ticket = s.get(Ticket, result.ticket_id)
            assert ticket is not None and (ticket.cause, ticket.practice_id) == ("billing_error", "support")

        # asked to rate it by email (no phone known): five links, in Dutch
        asked = await h.wait_for(lambda: [d for d in h.deliveries("email", SENDER) if "/feedback/" in d.body])
        assert asked[0].subject == "Hoe hebben wij u geholpen?" and "patiëntenservice" in asked[0].body
        await h.client.get_workflow_handle(feedback_workflow_id(case_id)).terminate("test over")


async def test_an_inquiry_nobody_answers_in_time_fails(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await write_in(h, incoming("Do you have parking?", "<parking@mail.example>"))
        assert accepted.case_id is not None
        [ack] = await h.wait_for(lambda: h.deliveries("email", SENDER))
        assert ack.subject == "We got your message"
        result = await h.result(handle)  # the server skips every level's SLA

    assert (result.status, result.outcome, result.needs_rep) == (CaseStatus.FAILED, None, True)
    failed = case_row(h, accepted.case_id)
    assert (failed.status, failed.failure_kind, failed.root_cause) == (
        "failed",
        "escalation_expired",
        "patient_inquiry",
    )
    with h.store.session() as s:
        row = s.get(EscalationRow, f"esc-{accepted.case_id}-1")
        assert row is not None and row.status == "expired"
        started = s.query(ReceivedEvent).filter_by(case_id=accepted.case_id, source="inquiry").one()
        assert started.status == "dispatched"
