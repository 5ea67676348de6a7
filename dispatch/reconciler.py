"""Notices case workflows that ended badly (failed, timed out, terminated or cancelled: a bug, an operator)
and marks their cases `failed` with why, so no case is silently stuck. It runs in every relay loop (web
replicas and `starter.py relay`), looking at recently closed executions in Temporal's visibility store;
marking is idempotent per run, so any number of reconcilers may run at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution as ProtoExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from domain.masking import mask_text
from store import cases
from store.db import Store

CASE_WORKFLOWS = ("BookingConflictRecovery", "CheckInTroubleRecovery")
KIND_OF_STATUS = {
    WorkflowExecutionStatus.FAILED: "workflow_failed",
    WorkflowExecutionStatus.TIMED_OUT: "workflow_timed_out",
    WorkflowExecutionStatus.TERMINATED: "workflow_terminated",
    WorkflowExecutionStatus.CANCELED: "workflow_terminated",
}
# how far back the first pass looks (a process that was down meanwhile still catches up)
FIRST_LOOKBACK = timedelta(days=7)
# each later pass overlaps the last one by this much (visibility is eventually consistent)
OVERLAP = timedelta(minutes=5)

log = logging.getLogger("makeright.reconciler")


def failure_query(since: datetime) -> str:
    types = ", ".join(f"'{t}'" for t in CASE_WORKFLOWS)
    statuses = "'Failed', 'TimedOut', 'Terminated', 'Canceled'"
    return (
        f"WorkflowType IN ({types}) AND ExecutionStatus IN ({statuses}) "
        f"AND CloseTime > '{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    )


class Reconciler:
    def __init__(self, store: Store, client: Callable[[], Awaitable[Client]]) -> None:
        self.store = store
        self._client = client
        self._last_pass: datetime | None = None

    async def once(self, now: datetime | None = None) -> list[str]:
        """One pass; the case ids that became `failed`."""
        now = now or datetime.now(UTC)
        since = self._last_pass - OVERLAP if self._last_pass else now - FIRST_LOOKBACK
        client = await self._client()
        marked: list[str] = []
        async for execution in client.list_workflows(failure_query(since)):
            case_id = await self._mark(client, execution)
            if case_id:
                marked.append(case_id)
        self._last_pass = now
        return marked

    async def _mark(self, client: Client, execution: WorkflowExecution) -> str | None:
        kind = KIND_OF_STATUS.get(execution.status) if execution.status else None
        if kind is None:
            return None
        recorded = await asyncio.to_thread(cases.failure_recorded, self.store, execution.id, execution.run_id)
        if recorded:
            return None  # seen by an earlier pass (the windows overlap): no calls to Temporal for it
        latest = await client.get_workflow_handle(execution.id).describe()
        if latest.run_id != execution.run_id:
            return None  # re-run since (cli.py retry): the newer run speaks for the case
        message = await self._message(client, execution, kind)
        at = execution.close_time or datetime.now(UTC)
        case_id = await asyncio.to_thread(
            cases.mark_failed, self.store, execution.id, execution.run_id, kind, message, at
        )
        if case_id:
            log.warning("case %s marked failed: %s (run %s)", case_id, kind, execution.run_id)
        return case_id

    async def _termination(self, client: Client, execution: WorkflowExecution) -> str:
        try:
            event = await _last_event(client, execution)
        except RPCError as err:
            return f"terminated; its history could not be read: {err.status.name}"
        attributes = event.workflow_execution_terminated_event_attributes if event else None
        if attributes is None or not attributes.reason:
            return "terminated"
        by = f" by {attributes.identity}" if attributes.identity else ""
        return f"terminated{by}: {attributes.reason}"

    async def _message(self, client: Client, execution: WorkflowExecution, kind: str) -> str:
        """Why, in a line with no patient data (exception texts are masked; they should hold none)."""
        if kind == "workflow_timed_out":
            return "the workflow ran past its execution timeout"
        if execution.status is WorkflowExecutionStatus.TERMINATED:
            return mask_text(await self._termination(client, execution))[:500]
        if execution.status is WorkflowExecutionStatus.CANCELED:
            return "the workflow was cancelled"
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            await handle.result(follow_runs=False)
        except WorkflowFailureError as err:
            return mask_text(_chain(err.cause))[:500]
        except RPCError as err:
            return f"the workflow ended ({kind}); its history could not be read: {err.status.name}"
        return kind.replace("_", " ")


async def _last_event(client: Client, execution: WorkflowExecution) -> HistoryEvent | None:
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=ProtoExecution(workflow_id=execution.id, run_id=execution.run_id),
            maximum_page_size=1,
        )
    )
    return response.history.events[0] if response.history.events else None


def _chain(error: BaseException | None) -> str:
    """`Terminated: reason` / `ActivityError: … ← ApplicationError: …`, innermost last."""
    parts: list[str] = []
    while error is not None and len(parts) < 4:
        text = str(error) or type(error).__name__
        parts.append(f"{type(error).__name__}: {text}")
        error = error.__cause__
    return " ← ".join(parts)
