"""Reading and writing cases and their timelines."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.models import BookingEventData, CaseKind, CaseUpdate, TimelineEntry
from store.db import Store
from store.models import Case, TimelineItem, utcnow


def new_case(
    s: Session,
    case_id: str,
    workflow_id: str,
    kind: CaseKind,
    conflict_key: str,
    event_type: str,
    data: BookingEventData,
    opened: dict[str, Any],
) -> Case:
    """Open a case in the caller's transaction, with its `case_opened` timeline entry."""
    case = Case(
        case_id=case_id,
        workflow_id=workflow_id,
        kind=kind.value,
        conflict_key=conflict_key,
        status="open",
        appointment_id=data.appointment_id,
        patient_id=data.patient.id,
        patient_phone=data.patient.phone,
        patient_email=data.patient.email,
        practice_id=data.practice.id,
        event_type=event_type,
        original_slot=data.slot.model_dump(mode="json"),
        root_cause=data.cause,
        # capability for the patient's choice links in emails
        reply_token=secrets.token_urlsafe(16),
    )
    s.add(case)
    s.flush()
    s.add(TimelineItem(case_id=case_id, what="case_opened", key="opened", detail=opened))
    return case


def add_timeline(store: Store, entry: TimelineEntry) -> None:
    """Append to a case's timeline; an entry with a key lands once however often it is written."""
    try:
        with store.session() as s:
            if entry.key is not None:
                exists = s.scalar(
                    select(TimelineItem.id).where(
                        TimelineItem.case_id == entry.case_id, TimelineItem.key == entry.key
                    )
                )
                if exists:
                    return
            s.add(
                TimelineItem(
                    case_id=entry.case_id, what=entry.what, key=entry.key, detail=_jsonable(entry.detail)
                )
            )
    except IntegrityError:
        return  # written concurrently by a retry: once is enough


def update_case(store: Store, update: CaseUpdate) -> None:
    with store.session() as s:
        case = s.get(Case, update.case_id, with_for_update=True)
        if case is None:
            raise LookupError(f"no case {update.case_id}")
        case.status = update.status.value
        if update.outcome is not None:
            case.outcome = update.outcome.value
        if update.needs_rep is not None:
            case.needs_rep = update.needs_rep
        if update.new_slot is not None:
            case.new_slot = update.new_slot.model_dump(mode="json")
        if update.root_cause is not None:
            case.root_cause = update.root_cause
        if update.ticket_id is not None:
            case.ticket_id = update.ticket_id
        if update.status.value in ("resolved", "failed") and case.closed_at is None:
            case.closed_at = utcnow()
    add_timeline(
        store,
        TimelineEntry(
            case_id=update.case_id,
            what=update.what,
            key=f"status:{update.key or update.what}",
            detail=update.detail,
        ),
    )


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)
