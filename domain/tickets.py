"""Problem tickets: one occurrence of a cause at a practice, and its mirror in an external tracker."""

from __future__ import annotations

from domain.base import Model


class TicketRequest(Model):
    case_id: str
    cause: str
    practice_id: str
    practice_name: str
    summary: str


class TicketResult(Model):
    ticket_id: str
    occurrences: int
    reopened: bool
    # an external tracker (TRACKER_MODE jira|github) is to hear of it: the case starts a TicketSync
    # (histories recorded before carry no such field)
    sync: bool = False


class TicketSyncRequest(Model):
    """Mirror one case's occurrence of its problem ticket to the external tracker."""

    case_id: str
    ticket_id: str
