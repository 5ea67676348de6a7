"""Problem tickets: cases with the same cause and practice link to one ticket that counts occurrences (a
recurrence after it was marked fixed reopens it), and what the external-tracker sync reads and writes;
each with its step on the case's timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from domain.cases import TimelineEntry
from domain.tickets import TicketRequest, TicketResult
from store import cases
from store.db import Store
from store.models import Case, Ticket, TicketLink, utcnow


def link_root_cause(store: Store, req: TicketRequest) -> TicketResult:
    """Link the case to its cause's ticket at its practice (opened when there is none), counting the
    occurrence once however often this runs; on the case's timeline."""
    for _ in range(3):
        try:
            return _link_once(store, req)
        except IntegrityError:
            continue  # another case opened the same ticket at the same moment: link to it
    raise RuntimeError("could not link root-cause ticket")


def _link_once(store: Store, req: TicketRequest) -> TicketResult:
    with store.session() as s:
        ticket = s.scalars(
            select(Ticket)
            .where(Ticket.cause == req.cause, Ticket.practice_id == req.practice_id)
            .with_for_update()
        ).first()
        if ticket is None:
            ticket = Ticket(
                ticket_id="PRB-" + uuid.uuid4().hex[:8].upper(),
                cause=req.cause,
                practice_id=req.practice_id,
                title=f"{req.cause} at {req.practice_name}",
                status="open",
                occurrences=0,
                reopened_count=0,
            )
            s.add(ticket)
            s.flush()
        link = s.scalars(select(TicketLink).where(TicketLink.case_id == req.case_id)).first()
        reopened = False
        if link is None:  # a retried or replayed case counts once
            s.add(TicketLink(ticket_id=ticket.ticket_id, case_id=req.case_id))
            ticket.occurrences += 1
            if ticket.status == "fixed":
                ticket.status = "open"
                ticket.reopened_count += 1
                reopened = True
        result = TicketResult(ticket_id=ticket.ticket_id, occurrences=ticket.occurrences, reopened=reopened)
        cases.timeline_in(
            s,
            TimelineEntry(
                case_id=req.case_id,
                what="ticket_linked",
                key="ticket",
                detail={"ticket_id": result.ticket_id, "cause": req.cause, "occurrences": result.occurrences},
            ),
        )
        return result


@dataclass(frozen=True)
class Occurrence:
    """One case's link to its ticket, with what the tracker needs to hear about it (no patient data)."""

    ticket_id: str
    cause: str
    practice_id: str
    title: str
    external_ref: str | None
    external_url: str | None
    case_id: str
    event_type: str
    linked_at: datetime
    number: int  # the how-many-th occurrence of this ticket this case is
    synced: bool


def occurrence(store: Store, case_id: str) -> Occurrence | None:
    with store.session() as s:
        link = s.scalars(select(TicketLink).where(TicketLink.case_id == case_id)).first()
        if link is None:
            return None
        ticket = s.get(Ticket, link.ticket_id)
        assert ticket is not None
        event_type = s.scalar(select(Case.event_type).where(Case.case_id == case_id)) or "unknown"
        number = s.scalar(
            select(func.count())
            .select_from(TicketLink)
            .where(TicketLink.ticket_id == ticket.ticket_id, TicketLink.id <= link.id)
        )
        return Occurrence(
            ticket_id=ticket.ticket_id,
            cause=ticket.cause,
            practice_id=ticket.practice_id,
            title=ticket.title,
            external_ref=ticket.external_ref,
            external_url=ticket.external_url,
            case_id=case_id,
            event_type=event_type,
            linked_at=link.linked_at,
            number=int(number or 1),
            synced=link.external_synced_at is not None,
        )


def claim_creation(store: Store, ticket_id: str, case_id: str, stale_after: timedelta) -> bool:
    """Whether this case's sync may create the ticket's external issue: nobody has, and no other case's
    sync is doing so (its own earlier attempt's claim holds; a claim older than `stale_after` belonged to
    a sync that died midway, and is taken over)."""
    now = utcnow()
    with store.session() as s:
        result = s.execute(
            update(Ticket)
            .where(
                Ticket.ticket_id == ticket_id,
                Ticket.external_ref.is_(None),
                (Ticket.external_claimed_at.is_(None))
                | (Ticket.external_claimed_by == case_id)
                | (Ticket.external_claimed_at < now - stale_after),
            )
            .values(external_claimed_at=now, external_claimed_by=case_id)
        )
        return bool(getattr(result, "rowcount", 0))


def record_external(store: Store, ticket_id: str, ref: str, url: str) -> None:
    with store.session() as s:
        ticket = s.get(Ticket, ticket_id, with_for_update=True)
        assert ticket is not None
        ticket.external_ref = ref
        ticket.external_url = url
        ticket.external_claimed_at = None
        ticket.external_claimed_by = None


def mark_synced(store: Store, case_id: str, detail: dict[str, Any]) -> None:
    """The tracker heard of this case's occurrence: once, and on the case's timeline (`detail`)."""
    with store.session() as s:
        link = s.scalars(select(TicketLink).where(TicketLink.case_id == case_id)).first()
        if link is not None and link.external_synced_at is None:
            link.external_synced_at = utcnow()
    cases.add_timeline(
        store, TimelineEntry(case_id=case_id, what="ticket_synced", key="ticket_sync", detail=detail)
    )


def external_urls(store: Store, ticket_ids: list[str]) -> dict[str, str]:
    """The external issue's address of each ticket an external tracker holds."""
    ids = [t for t in ticket_ids if t]
    if not ids:
        return {}
    with store.session() as s:
        rows = s.execute(
            select(Ticket.ticket_id, Ticket.external_url).where(
                Ticket.ticket_id.in_(ids), Ticket.external_url.is_not(None)
            )
        )
        return {ticket_id: url for ticket_id, url in rows if url}
