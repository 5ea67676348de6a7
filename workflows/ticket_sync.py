"""Mirror one occurrence of a problem ticket to the external tracker (Jira or GitHub). A case starts this
as a child it does not wait for (parent-close policy ABANDON): the case resolves at once, and this keeps
trying, with its own long retry policy, until the tracker answers."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.tickets import TicketActivities
    from domain.tickets import TicketSyncRequest
    from workflows.options import with_tracker


def ticket_sync_id(case_id: str) -> str:
    return f"ticket-sync-{case_id}"


@workflow.defn
class TicketSync:
    @workflow.run
    async def run(self, request: TicketSyncRequest) -> None:
        await workflow.execute_activity_method(TicketActivities.sync_external_ticket, request, **with_tracker)
