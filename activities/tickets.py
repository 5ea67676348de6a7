"""Root-cause tickets: cases with the same cause and practice link to one problem ticket that counts
occurrences; a recurrence after the ticket was marked fixed reopens it. Tickets live in the case store;
an external tracker can mirror them through `ExternalTracker`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from domain.models import TicketRequest, TicketResult, TimelineEntry
from store import cases
from store.db import Store
from store.models import Ticket, TicketLink


class ExternalTracker(Protocol):
    def mirror(self, ticket_id: str, title: str, occurrences: int, reopened: bool) -> str | None: ...


class TicketActivities:
    def __init__(self, store: Store, tracker: ExternalTracker | None = None) -> None:
        self.store = store
        self.tracker = tracker

    @activity.defn
    async def link_root_cause(self, req: TicketRequest) -> TicketResult:
        result = await asyncio.to_thread(self._link, req)
        await asyncio.to_thread(
            cases.add_timeline,
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="ticket_linked",
                key="ticket",
                detail={"ticket_id": result.ticket_id, "cause": req.cause, "occurrences": result.occurrences},
            ),
        )
        return result

    def _link(self, req: TicketRequest) -> TicketResult:
        for _ in range(3):
            try:
                return self._link_once(req)
            except IntegrityError:
                continue  # another case opened the same ticket at the same moment: link to it
        raise RuntimeError("could not link root-cause ticket")

    def _link_once(self, req: TicketRequest) -> TicketResult:
        with self.store.session() as s:
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
            result = TicketResult(
                ticket_id=ticket.ticket_id, occurrences=ticket.occurrences, reopened=reopened
            )
            title = ticket.title
        if self.tracker is not None:
            self.tracker.mirror(result.ticket_id, title, result.occurrences, reopened)
        return result
