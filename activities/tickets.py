"""Root-cause tickets: cases with the same cause and practice link to one problem ticket that counts
occurrences; a recurrence after the ticket was marked fixed reopens it. Tickets live in the case store
(the system of record, `store.tickets`); with TRACKER_MODE jira or github each ticket is also one issue in
that tracker (`providers.trackers`), found by its label (`domain.tracker.tracker_label`), created if none,
commented once per occurrence and reopened when the cause comes back after it was closed.

The tracker is told by its own activity (`sync_external_ticket`, run by the TicketSync workflow each
case starts without waiting for it), so a tracker that is down delays the issue, never the case."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity

from domain.models import TicketRequest, TicketResult, TicketSyncRequest
from domain.root_causes import RootCause, description_of, label_of
from domain.tracker import issue_description, issue_title, occurrence_comment, tracker_label
from providers.errors import ProviderNotProcessed
from providers.trackers import ExternalTracker
from store import tickets
from store.db import Store

log = logging.getLogger(__name__)

# a sync that claimed the creation of an issue and then died: another case's sync takes over after this
CLAIM_STALE_AFTER = timedelta(minutes=10)


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
        await asyncio.to_thread(self._sync, req)

    def _sync(self, req: TicketSyncRequest) -> None:
        tracker = self.tracker
        if tracker is None:
            return  # TRACKER_MODE went back to local since the case started this
        occ = tickets.occurrence(self.store, req.case_id)
        if occ is None or occ.synced:
            return
        label = tracker_label(occ.cause, occ.practice_id)
        issue = tracker.get(occ.external_ref) if occ.external_ref else None
        created = False
        if issue is None:
            issue = tracker.find(label)
            if issue is None:
                if not tickets.claim_creation(self.store, occ.ticket_id, req.case_id, CLAIM_STALE_AFTER):
                    raise ProviderNotProcessed(f"{tracker.name}: another case's sync is creating {label}")
                cause_label = label_of(self.catalogue, occ.cause)
                practice = occ.title.removeprefix(f"{occ.cause} at ")
                issue = tracker.create(
                    label,
                    issue_title(cause_label, practice),
                    issue_description(
                        occ.cause, cause_label, description_of(self.catalogue, occ.cause), occ.practice_id
                    ),
                )
                created = True
            tickets.record_external(self.store, occ.ticket_id, issue.ref, issue.url)
        reopened = False
        reopen_problem = None
        if issue.closed:
            reopen_problem = tracker.reopen(issue)
            reopened = reopen_problem is None
        tracker.comment(
            issue, occurrence_comment(occ.case_id, occ.linked_at, occ.event_type, occ.number, reopened)
        )
        detail: dict[str, Any] = {
            "tracker": tracker.name,
            "ref": issue.ref,
            "url": issue.url,
            "created": created,
            "reopened": reopened,
        }
        if reopen_problem:
            detail["reopen_failed"] = reopen_problem
            log.warning("%s issue %s left closed: %s", tracker.name, issue.ref, reopen_problem)
        tickets.mark_synced(self.store, req.case_id, detail)
