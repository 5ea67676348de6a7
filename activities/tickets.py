"""Root-cause tickets: cases with the same cause and practice link to one problem ticket that counts
occurrences; a recurrence after the ticket was marked fixed reopens it. Tickets live in the case store
(the system of record, `store.tickets`); with TRACKER_MODE jira or github each ticket is also one issue in
that tracker (`providers.trackers`), found by its label (`domain.tracker.tracker_label`), created if none,
commented once per occurrence and reopened when the cause comes back after it was closed.

The tracker is told by its own activity (`sync_external_ticket`, run by the TicketSync workflow each
case starts without waiting for it), so a tracker that is down delays the issue, never the case."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import activity

from domain.root_causes import RootCause
from domain.tickets import TicketRequest, TicketResult, TicketSyncRequest
from providers.trackers import ExternalTracker
from providers.trackers.sync import sync
from store import tickets
from store.db import Store


class TicketActivities:
    def __init__(
        self,
        store: Store,
        tracker: ExternalTracker | None = None,
        catalogue: Sequence[RootCause] = (),
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.catalogue = tuple(catalogue)

    @activity.defn
    async def link_root_cause(self, req: TicketRequest) -> TicketResult:
        result = await asyncio.to_thread(tickets.link_root_cause, self.store, req)
        if self.tracker is not None:
            result = result.model_copy(update={"sync": True})
        return result

    @activity.defn
    async def sync_external_ticket(self, req: TicketSyncRequest) -> None:
        """Tell the external tracker about one case's occurrence: find the ticket's issue (by the key kept
        from before, else by label), create it if there is none, reopen it if it was closed, comment once.
        Raises ProviderNotProcessed to be tried again later; the case has long moved on."""
        if self.tracker is None:
            return  # TRACKER_MODE went back to local since the case started this
        await asyncio.to_thread(sync, self.store, self.tracker, self.catalogue, req.case_id)
