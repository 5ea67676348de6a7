"""One case's occurrence told to the external tracker (the TicketSync workflow's one step), whichever
tracker it is."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from domain.root_causes import RootCause, description_of, label_of
from domain.tracker import issue_description, issue_title, occurrence_comment, tracker_label
from providers.errors import ProviderNotProcessed
from providers.trackers import ExternalTracker
from store import tickets
from store.db import Store

log = logging.getLogger(__name__)

# a sync that claimed the creation of an issue and then died: another case's sync takes over after this
CLAIM_STALE_AFTER = timedelta(minutes=10)


def sync(store: Store, tracker: ExternalTracker, catalogue: Sequence[RootCause], case_id: str) -> None:
    """Tell the tracker about one case's occurrence: find the ticket's issue (by the key kept from before,
    else by label), create it if there is none, reopen it if it was closed, comment once. Raises
    ProviderNotProcessed to be tried again later."""
    occ = tickets.occurrence(store, case_id)
    if occ is None or occ.synced:
        return
    label = tracker_label(occ.cause, occ.practice_id)
    issue = tracker.get(occ.external_ref) if occ.external_ref else None
    created = False
    if issue is None:
        issue = tracker.find(label)
        if issue is None:
            if not tickets.claim_creation(store, occ.ticket_id, case_id, CLAIM_STALE_AFTER):
                raise ProviderNotProcessed(f"{tracker.name}: another case's sync is creating {label}")
            cause_label = label_of(catalogue, occ.cause)
            practice = occ.title.removeprefix(f"{occ.cause} at ")
            issue = tracker.create(
                label,
                issue_title(cause_label, practice),
                issue_description(
                    occ.cause, cause_label, description_of(catalogue, occ.cause), occ.practice_id
                ),
            )
            created = True
        tickets.record_external(store, occ.ticket_id, issue.ref, issue.url)
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
    tickets.mark_synced(store, case_id, detail)
