"""The Escalation workflow on the time-skipping test server: SLAs, levels, alerts and every refusal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.escalation import (
    ApproveRequest,
    ByActor,
    DenyRequest,
    EscalationStatus,
    Money,
    ReassignRequest,
    ResolveRequest,
)
from store.models import OutboundMessageRow
from tests.support.escalations import ANN, AUDITOR, BOB, ENGINEER, SUE, row, sms_to, start, timeline
from tests.support.settings import make_settings
from tests.support.workflow_harness import Harness, running
from workflows.escalation import Escalation


async def accepted_updates(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def test_claimed_within_the_sla_and_resolved(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        escalation_id, handle = await start(h)
        claimed = await h.act(escalation_id, "claim", ByActor(actor=ANN))
        assert (claimed.status, claimed.claimed_by, claimed.breached) == (
            EscalationStatus.CLAIMED,
            "ann",
            False,
        )
        # the store (what the console and API read) is written before the Update returns
        assert (row(h, escalation_id).status, row(h, escalation_id).claimed_by) == ("claimed", "ann")
        await h.act(
            escalation_id,
            "resolve",
            ResolveRequest(
                actor=ANN, notes="Called the patient; booked by phone.", root_cause="calendar_sync"
            ),
        )
        final = await h.result(handle)

    assert (final.status, final.resolved_by, final.root_cause, final.breached) == (
        EscalationStatus.RESOLVED,
        "ann",
        "calendar_sync",
        False,
    )
    assert final.level_name == "reps"  # nobody else was bothered
    assert sms_to(h, "+15005550101") == []
    stored = row(h, escalation_id)
    assert (stored.status, stored.notes, stored.alerted) == (
        "resolved",
        "Called the patient; booked by phone.",
        False,
    )
    steps = timeline(h, final.case_id)
    assert (
        steps.index("escalation_opened")
        < steps.index("escalation_claimed")
        < steps.index("escalation_resolved")
    )


async def test_sla_expiry_notifies_the_next_level_who_can_then_claim(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        escalation_id, handle = await start(h)
        await time_skipping_env.sleep(601)  # the reps' ten minutes pass unclaimed
        await h.escalation(escalation_id.removeprefix("esc-").rsplit("-", 1)[0])
        state = await handle.query(Escalation.current)
        assert (state.level_name, state.breached, state.status) == ("supervisor", True, EscalationStatus.OPEN)
        notified = sms_to(h, "+15005550101")
        assert len(notified) == 1 and escalation_id in notified[0] and "breached" in notified[0]
        stored = row(h, escalation_id)
        assert (stored.level_name, stored.breached) == ("supervisor", True)
        # a rep may no longer claim at the supervisor level; the supervisor does
        with pytest.raises(WorkflowUpdateFailedError):
            await h.act(escalation_id, "claim", ByActor(actor=ANN))
        await h.act(escalation_id, "claim", ByActor(actor=SUE))
        await h.act(escalation_id, "resolve", ResolveRequest(actor=SUE, notes="Handled."))
        final = await h.result(handle)
    assert (final.status, final.breached, final.resolved_by) == (EscalationStatus.RESOLVED, True, "sue")
    assert sms_to(h, "+15005550102") == []  # on-call was never needed


async def test_expiry_at_the_last_level_ends_with_an_alert(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        escalation_id, handle = await start(h)
        final = await h.result(handle)  # nobody ever claims: time skips through every level

    assert (final.status, final.level_name, final.breached) == (EscalationStatus.EXPIRED, "on_call", True)
    stored = row(h, escalation_id)
    assert (stored.status, stored.alerted) == ("expired", True)
    alerts = sms_to(h, "+15005550102")
    assert any("ALERT" in body for body in alerts)
    with h.store.session() as s:
        emails = list(
            s.scalars(
                select(OutboundMessageRow.subject).where(
                    OutboundMessageRow.to_address == "oncall@practice.example"
                )
            )
        )
    assert any(subject and "ALERT" in subject for subject in emails)
    steps = timeline(h, final.case_id)
    assert steps.count("escalation_breached") == 2
    assert steps.index("escalation_expired") > max(
        i for i, s in enumerate(steps) if s == "escalation_breached"
    )


async def test_a_claim_that_is_not_worked_lapses_and_moves_up(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        escalation_id, handle = await start(h)
        await h.act(escalation_id, "claim", ByActor(actor=ANN))
        await time_skipping_env.sleep(3601)
        await h.escalation(escalation_id.removeprefix("esc-").rsplit("-", 1)[0])
        state = await handle.query(Escalation.current)
        assert (state.status, state.claimed_by, state.level_name) == (
            EscalationStatus.OPEN,
            None,
            "supervisor",
        )
        await h.act(escalation_id, "claim", ByActor(actor=SUE))
        await h.act(escalation_id, "resolve", ResolveRequest(actor=SUE, notes="done"))
        await h.result(handle)


async def refused(h: Harness, escalation_id: str, update: str, request: Any) -> tuple[str | None, str]:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await h.act(escalation_id, update, request)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type, cause.message


async def test_every_refused_update_is_refused_with_its_message_and_leaves_no_history(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    async with running(make_settings(sqlite_url, tmp_path), time_skipping_env) as h:
        escalation_id, handle = await start(h, pending="30.00")
        case_id = (await handle.query(Escalation.current)).case_id

        # roles: an auditor or engineer may not claim
        kind, message = await refused(h, escalation_id, "claim", ByActor(actor=AUDITOR))
        assert kind == "NotAllowed" and "auditor may not claim" in message
        kind, _ = await refused(h, escalation_id, "claim", ByActor(actor=ENGINEER))
        assert kind == "NotAllowed"
        # state: nothing but a claim before a claim
        kind, message = await refused(h, escalation_id, "resolve", ResolveRequest(actor=ANN, notes="x"))
        assert kind == "WrongState" and "claim the escalation before" in message
        kind, _ = await refused(h, escalation_id, "release", ByActor(actor=ANN))
        assert kind == "WrongState"

        await h.act(escalation_id, "claim", ByActor(actor=ANN))
        # a second claim
        kind, message = await refused(h, escalation_id, "claim", ByActor(actor=BOB))
        assert kind == "WrongState" and message == "already claimed by ann"
        # another rep may not act on ann's claim
        kind, message = await refused(h, escalation_id, "deny", DenyRequest(actor=BOB, reason="no"))
        assert kind == "NotAllowed" and "only they or a supervisor" in message
        # a rep may not reassign what they have not claimed
        kind, _ = await refused(h, escalation_id, "reassign", ReassignRequest(actor=BOB, to=BOB))
        assert kind == "NotAllowed"
        # resolving with a decision pending
        kind, message = await refused(h, escalation_id, "resolve", ResolveRequest(actor=ANN, notes="x"))
        assert kind == "WrongState" and "decide the pending compensation of 30.00 USD first" in message
        # an amount above the approver's limit (rep: 25.00)
        kind, message = await refused(
            h, escalation_id, "approve", ApproveRequest(actor=ANN, amount=Money(amount=Decimal("30.00")))
        )
        assert kind == "NotAllowed" and message == "30.00 USD is above your approval limit of 25.00 USD"
        # the wrong currency
        kind, _ = await refused(
            h,
            escalation_id,
            "approve",
            ApproveRequest(actor=ANN, amount=Money(amount=Decimal("5.00"), currency="EUR")),
        )
        assert kind == "WrongState"

        assert await accepted_updates(handle) == 1  # only the claim reached history

        # a supervisor steps in: reassigns to bob, approves within the supervisor limit
        await h.act(escalation_id, "reassign", ReassignRequest(actor=SUE, to=BOB))
        approved = await h.act(
            escalation_id, "approve", ApproveRequest(actor=SUE, amount=Money(amount=Decimal("30.00")))
        )
        assert approved.approved == Money(amount=Decimal("30.00")) and approved.pending_approval is None
        kind, message = await refused(h, escalation_id, "deny", DenyRequest(actor=BOB, reason="late"))
        assert kind == "WrongState" and "no compensation is waiting" in message
        # a resolve with a compensation above the rep's limit
        kind, _ = await refused(
            h,
            escalation_id,
            "resolve",
            ResolveRequest(actor=BOB, notes="x", compensation=Money(amount=Decimal("26.00"))),
        )
        assert kind == "NotAllowed"
        await h.act(escalation_id, "resolve", ResolveRequest(actor=BOB, notes="sorted"))
        final = await h.result(handle)
        # once resolved, nothing more
        with pytest.raises(RPCError) as closed:  # a closed workflow takes no Updates at all
            await h.act(escalation_id, "claim", ByActor(actor=ANN))
        assert closed.value.status is RPCStatusCode.NOT_FOUND

    assert (final.status, final.resolved_by, final.approved_by) == (EscalationStatus.RESOLVED, "bob", "sue")
    assert "compensation_approved" in timeline(h, case_id)
