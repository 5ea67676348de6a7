"""A case as the store and the workflows share it: its status, outcome, timeline and result."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from domain.base import Model
from domain.events import Slot


class CaseStatus(StrEnum):
    OPEN = "open"
    WAITING_PATIENT = "waiting_patient"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    FAILED = "failed"


class Outcome(StrEnum):
    REBOOKED = "rebooked"
    PATIENT_DECLINED = "patient_declined"
    RESOLVED_BY_REP = "resolved_by_rep"
    UNREACHABLE = "unreachable"


class CaseResult(Model):
    case_id: str
    status: CaseStatus
    outcome: Outcome | None
    needs_rep: bool = False
    new_slot: Slot | None = None
    ticket_id: str | None = None
    compensation_amount: Decimal | None = None


class TimelineEntry(Model):
    case_id: str
    what: str
    key: str | None = None  # makes a retried write land once
    detail: dict[str, object] = {}


class CaseUpdate(Model):
    case_id: str
    status: CaseStatus
    outcome: Outcome | None = None
    needs_rep: bool | None = None
    new_slot: Slot | None = None
    root_cause: str | None = None
    ticket_id: str | None = None
    what: str
    key: str | None = None  # defaults to the `what`: each status step lands once
    detail: dict[str, object] = {}
