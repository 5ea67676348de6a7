"""Cases, messages, escalations, tickets and ledger rows at chosen times, for the SLA wall's tests."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.cases import CaseStatus, CaseUpdate, Outcome
from store import cases
from store.db import Store
from store.models import (
    Case,
    EscalationRow,
    InboundEmail,
    LedgerEntry,
    OutboundMessageRow,
    RepOnDuty,
    SupportCall,
    Ticket,
    TicketLink,
    TimelineItem,
)

PHONE = "+31612345678"
EMAIL = "ada@example.com"


def ago(minutes: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(minutes=minutes)


def open_case(
    store: Store,
    opened_at: datetime,
    *,
    contact_after: float | None = None,
    kind: str = "booking_conflict",
    phone: str = PHONE,
) -> str:
    """A case opened at `opened_at`; its first text reached the provider `contact_after` seconds later."""
    case_id = f"case-{uuid.uuid4().hex[:12]}"
    appointment = f"appt-{uuid.uuid4().hex[:10]}"
    with store.session() as s:
        s.add(
            Case(
                case_id=case_id,
                workflow_id=f"wf-{case_id}",
                kind=kind,
                conflict_key=f"test:{appointment}",
                status="waiting_patient",
                appointment_id=appointment,
                patient_id=f"pat-{uuid.uuid4().hex[:6]}",
                patient_phone=phone,
                patient_email=EMAIL,
                practice_id="prac-9",
                event_type="booking.slot_cancelled_by_practice",
                original_slot={"start": "2026-11-24T15:00:00+00:00", "end": "2026-11-24T15:30:00+00:00"},
                reply_token=secrets.token_urlsafe(16),
                opened_at=opened_at,
                updated_at=opened_at,
            )
        )
        if contact_after is not None:
            sent_at = opened_at + timedelta(seconds=contact_after)
            s.add(
                OutboundMessageRow(
                    case_id=case_id,
                    key="offer-1",
                    channel="sms",
                    to_address=phone,
                    body="We are sorry: your appointment moved.",
                    status="sent",
                    provider_id=f"SM{uuid.uuid4().hex}",
                    created_at=sent_at,
                    sent_at=sent_at,
                )
            )
    return case_id


def resolve(store: Store, case_id: str, at: datetime | None = None) -> None:
    """Resolved now, as the workflow does it (or, for a day's history, at `at`)."""
    cases.update_case(
        store,
        CaseUpdate(case_id=case_id, status=CaseStatus.RESOLVED, outcome=Outcome.REBOOKED, what="resolved"),
    )
    if at is not None:
        with store.session() as s:
            case = s.get(Case, case_id)
            assert case is not None
            case.closed_at = at


def escalate(
    store: Store,
    case_id: str,
    opened_at: datetime,
    *,
    status: str = "open",
    claimed_at: datetime | None = None,
    breached_at: datetime | None = None,
    claim_sla_minutes: int = 15,
    reason: str = "patient_asked_for_a_person",
) -> str:
    escalation_id = f"esc-{case_id}-{reason}"
    with store.session() as s:
        s.add(
            EscalationRow(
                escalation_id=escalation_id,
                case_id=case_id,
                appointment_id="appt",
                kind="booking_conflict",
                reason=reason,
                level=1 if breached_at else 0,
                level_name="supervisor" if breached_at else "reps",
                status=status,
                claimed_by="rita" if claimed_at else None,
                sla_deadline=opened_at + timedelta(minutes=claim_sla_minutes),
                breached=breached_at is not None,
                state={},
                policy={},
                opened_at=opened_at,
                closed_at=datetime.now(UTC) if status in ("resolved", "expired") else None,
            )
        )
        for n, (what, at) in enumerate(
            (("escalation_claimed", claimed_at), ("escalation_breached", breached_at))
        ):
            if at is not None:
                s.add(
                    TimelineItem(
                        case_id=case_id,
                        at=at,
                        what=what,
                        key=f"esc:{escalation_id}:{n + 2}",
                        detail={"escalation_id": escalation_id, "level": "reps"},
                    )
                )
    return escalation_id


def ticket(
    store: Store, cause: str, case_ids: list[str], *, url: str | None = None, status: str = "open"
) -> str:
    ticket_id = f"PRB-{uuid.uuid4().hex[:6]}"
    with store.session() as s:
        s.add(
            Ticket(
                ticket_id=ticket_id,
                cause=cause,
                practice_id="prac-9",
                title=f"{cause} at prac-9",
                status=status,
                occurrences=len(case_ids),
                external_url=url,
            )
        )
        s.flush()
        for case_id in case_ids:
            s.add(TicketLink(ticket_id=ticket_id, case_id=case_id))
    return ticket_id


def pay(store: Store, case_id: str, amount: str, status: str = "issued") -> None:
    now = datetime.now(UTC)
    with store.session() as s:
        s.add(
            LedgerEntry(
                case_id=case_id,
                patient_id="pat-1",
                idempotency_key=f"comp:{case_id}:{uuid.uuid4().hex[:6]}",
                amount=Decimal(amount),
                currency="USD",
                status=status,
                issued_at=now if status == "issued" else None,
                created_at=now,
            )
        )


def call(
    store: Store, arrived_at: datetime, *, answered_after: float | None, abandoned: bool = False
) -> None:
    """A call to the support line: taken by a rep `answered_after` seconds after it arrived (at the first
    ring within 6 s), or abandoned (the caller hung up), or still waiting."""
    status = "answered" if answered_after is not None else "abandoned" if abandoned else "waiting"
    with store.session() as s:
        s.add(
            SupportCall(
                call_sid=f"CA{uuid.uuid4().hex}",
                from_number=PHONE,
                arrived_at=arrived_at,
                status=status,
                answered_at=arrived_at + timedelta(seconds=answered_after)
                if answered_after is not None
                else None,
                answered_by="rita" if answered_after is not None else None,
                first_ring=answered_after is not None and answered_after <= 6,
            )
        )


def email(
    store: Store, received_at: datetime, *, answered_after: float | None, understood: bool = False
) -> None:
    """A patient's email: acted on at once (`understood`), answered by a rep `answered_after` seconds after
    it arrived, or still waiting for one."""
    status = "understood" if understood else "answered" if answered_after is not None else "waiting"
    answered_at = None
    if status == "answered" and answered_after is not None:
        answered_at = received_at + timedelta(seconds=answered_after)
    with store.session() as s:
        s.add(
            InboundEmail(
                email_id=f"em_{uuid.uuid4().hex[:16]}",
                message_id=f"<{uuid.uuid4().hex}@patient.example>",
                from_address=EMAIL,
                subject="Re: Your appointment moved",
                text="Can I come Thursday instead?",
                status=status,
                received_at=received_at,
                assigned_to="rita" if status == "answered" else None,
                answered_at=answered_at,
            )
        )


def reps_on_duty(store: Store, **statuses: int) -> None:
    """Reps on the floor now: `available=3, busy=2, …` (status → how many)."""
    with store.session() as s:
        for status, n in statuses.items():
            for i in range(n):
                now = datetime.now(UTC)
                s.add(
                    RepOnDuty(
                        user=f"{status}-{i}", status=status, since=now, languages=["en"], updated_at=now
                    )
                )
