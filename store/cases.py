"""Reading and writing cases and their timelines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.models import CaseUpdate, TimelineEntry
from store.db import Store
from store.models import Case, TimelineItem, utcnow


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
