"""Shared test helpers."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowHandle

from domain.base import CaseKind
from domain.escalation import (
    Actor,
    EscalationInput,
    EscalationLevel,
    EscalationPolicy,
    EscalationState,
    Money,
)
from domain.events import BookingEvent
from store import inbox
from store.models import EscalationRow, OutboundMessageRow, TimelineItem
from tests.support.settings import example_event
from tests.support.workflow_harness import Harness
from workflows.escalation import Escalation

ANN = Actor(user="ann", role="rep")


BOB = Actor(user="bob", role="rep")


SUE = Actor(user="sue", role="supervisor")


AUDITOR = Actor(user="audrey", role="auditor")


ENGINEER = Actor(user="ed", role="engineer")


POLICY = EscalationPolicy(
    levels=(
        EscalationLevel(name="reps", claim_sla_seconds=600),
        EscalationLevel(
            name="supervisor",
            claim_sla_seconds=600,
            claim_roles=("supervisor",),
            notify_sms="+15005550101",
        ),
        EscalationLevel(
            name="on_call",
            claim_sla_seconds=1200,
            claim_roles=("supervisor",),
            notify_sms="+15005550102",
            notify_email="oncall@practice.example",
        ),
    ),
    work_sla_seconds=3600,
)


async def start(
    h: Harness, pending: str | None = None, policy: EscalationPolicy = POLICY
) -> tuple[str, WorkflowHandle[Any, EscalationState]]:
    event = example_event()
    accepted = await asyncio.to_thread(
        inbox.accept_booking_event, h.store, json.dumps(event).encode(), BookingEvent.model_validate(event)
    )
    assert accepted.case_id
    escalation_id = f"esc-{accepted.case_id}-1"
    handle = await h.client.start_workflow(
        Escalation.run,
        EscalationInput(
            escalation_id=escalation_id,
            case_id=accepted.case_id,
            appointment_id=event["data"]["appointment_id"],
            kind=CaseKind.BOOKING_CONFLICT,
            reason="patient_person",
            policy=policy,
            pending_approval=Money(amount=Decimal(pending)) if pending else None,
            patient_phone="+31612345678",
            public_base_url="http://console.test",
        ),
        id=escalation_id,
        task_queue=h.settings.task_queue,
    )
    await h.escalation(accepted.case_id)
    return escalation_id, handle


def timeline(h: Harness, case_id: str) -> list[str]:
    with h.store.session() as s:
        return list(
            s.scalars(
                select(TimelineItem.what).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id)
            )
        )


def row(h: Harness, escalation_id: str) -> EscalationRow:
    with h.store.session() as s:
        found = s.get(EscalationRow, escalation_id)
        assert found is not None
        return found


def sms_to(h: Harness, number: str) -> list[str]:
    with h.store.session() as s:
        return list(
            s.scalars(
                select(OutboundMessageRow.body).where(
                    OutboundMessageRow.to_address == number, OutboundMessageRow.status == "sent"
                )
            )
        )
