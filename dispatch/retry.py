"""Re-running failed cases with the current code (`cli.py retry`).

How a case is re-run: its workflow is RESET to its first workflow task (the event id of the first
WORKFLOW_TASK_COMPLETED in the latest run's history, as `temporal workflow reset --type FirstWorkflowTask`
picks it), instead of starting a new workflow. A reset keeps the original input exactly as stored
(encrypted; no need to rebuild it from the store) and re-applies the signals that arrived after that
point, i.e. the patient's replies, so the re-run sees what the patient already said. Every step then runs
again with the current code, and re-running is safe: messages go once per (case, channel, key)
(store/outbox.py: a step already sent comes back `already_sent` without reaching the provider) and gift
cards once per case (the provider and the ledger are keyed on domain.ids.gift_card_key), so no patient is
messaged twice for a step and nobody is paid twice. Before the reset the case is reopened
(store.cases.reopen_for_retry); if the reset is refused, the case is put back as failed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus

from dispatch.connection import not_found
from domain.base import CaseKind
from domain.cases import TimelineEntry
from domain.masking import one_line
from store import cases
from store.db import Store
from store.views import load_cases

RETRYABLE_KINDS = tuple(kind.value for kind in CaseKind)


@dataclass
class Retry:
    case_id: str
    result: str  # retried | would_retry | skipped | error
    why: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    reset_event_id: int | None = None
    new_run_id: str | None = None


def first_workflow_task_event_id(history: Any) -> int | None:
    """Where `temporal workflow reset --type FirstWorkflowTask` resets to: the first
    WORKFLOW_TASK_COMPLETED; with none, the event after the first WORKFLOW_TASK_SCHEDULED."""
    fallback = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return int(event.event_id)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED and fallback is None:
            fallback = int(event.event_id) + 1
    return fallback


def select_failed(store: Store, kind: str | None, since: datetime | None) -> list[str]:
    """The failed cases `--failed` re-runs: of one kind, or of every kind a retry can re-run."""
    kinds = (kind,) if kind is not None else RETRYABLE_KINDS
    return cases.failed_case_ids(store, kinds, since)


async def plan(client: Client, store: Store, case_id: str) -> Retry:
    """What a retry of this case would do (`would_retry` with the run and the event to reset to), or why
    it is skipped; changes nothing."""
    case = await asyncio.to_thread(lambda: load_cases(store, case_id=case_id))
    if not case:
        return Retry(case_id, "error", "no such case")
    row = case[0][0]
    if row.status != "failed":
        return Retry(case_id, "skipped", f"status is {row.status}, not failed", row.workflow_id)
    if not row.workflow_id:
        return Retry(case_id, "skipped", "the case has no workflow")
    try:
        described = await client.get_workflow_handle(row.workflow_id).describe()
    except Exception as exc:
        if not_found(exc):
            return Retry(case_id, "skipped", "its workflow is not in Temporal", row.workflow_id)
        raise
    if described.status == WorkflowExecutionStatus.RUNNING:
        return Retry(case_id, "skipped", "its workflow is still running", row.workflow_id, described.run_id)
    history = await client.get_workflow_handle(row.workflow_id, run_id=described.run_id).fetch_history()
    event_id = first_workflow_task_event_id(history)
    if event_id is None:
        return Retry(case_id, "skipped", "its workflow never ran a workflow task", row.workflow_id)
    return Retry(case_id, "would_retry", None, row.workflow_id, described.run_id, event_id)


async def reset_workflow(client: Client, workflow_id: str, run_id: str, event_id: int, reason: str) -> str:
    """The raw reset RPC: `run_id` of `workflow_id` reset to just after workflow task `event_id`, the
    signals after that point (the patient's replies) applied again. Returns the new run's id."""
    answer = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason=reason,
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
        )
    )
    return str(answer.run_id)


async def reset(client: Client, store: Store, planned: Retry, by: str) -> Retry:
    """Carry out a `would_retry` plan: reopen the case, reset its workflow, note it on the timeline. A
    refused reset puts the case back as failed (and raises)."""
    assert planned.workflow_id and planned.run_id and planned.reset_event_id
    before = await asyncio.to_thread(lambda: load_cases(store, case_id=planned.case_id))
    previous = before[0][0]
    await asyncio.to_thread(cases.reopen_for_retry, store, planned.case_id, by)
    try:
        new_run_id = await reset_workflow(
            client, planned.workflow_id, planned.run_id, planned.reset_event_id, f"makeright retry by {by}"
        )
    except Exception as exc:
        await asyncio.to_thread(
            cases.retry_not_started,
            store,
            planned.case_id,
            previous.failure_kind,
            previous.failure_message,
            previous.failure_at,
            one_line(exc),
        )
        raise
    await asyncio.to_thread(
        cases.add_timeline,
        store,
        TimelineEntry(
            case_id=planned.case_id,
            what="workflow_reset",
            key=f"reset:{new_run_id}",
            detail={"from_run": planned.run_id, "to_event": planned.reset_event_id, "run_id": new_run_id},
        ),
    )
    return Retry(
        planned.case_id,
        "retried",
        None,
        planned.workflow_id,
        planned.run_id,
        planned.reset_event_id,
        new_run_id,
    )


async def retry_cases(
    client: Client,
    store: Store,
    case_ids: list[str],
    *,
    dry_run: bool,
    by: str,
    on_case: Callable[[str], None] | None = None,
    on_done: Callable[[Retry], None] | None = None,
) -> list[Retry]:
    """Re-run each case (or, `dry_run`, only say what would run): one result per case, in order. One
    case's trouble does not stop the run (it is an `error` result). `on_case` / `on_done` are told of
    each case as it starts and ends (a progress bar)."""
    results: list[Retry] = []
    for case_id in case_ids:
        if on_case is not None:
            on_case(case_id)
        try:
            result = await plan(client, store, case_id)
            if result.result == "would_retry" and not dry_run:
                result = await reset(client, store, result, by)
        except Exception as exc:  # one case's trouble does not stop the run
            result = Retry(case_id, "error", one_line(exc))
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def summary(results: list[Retry], dry_run: bool) -> dict[str, Any]:
    """What `retry --json` prints: retried, skipped (with why), errors, and every case's result."""
    return {
        "dry_run": dry_run,
        "retried": [r.case_id for r in results if r.result in ("retried", "would_retry")],
        "skipped": [{"case_id": r.case_id, "why": r.why} for r in results if r.result == "skipped"],
        "errors": [{"case_id": r.case_id, "error": r.why} for r in results if r.result == "error"],
        "cases": [asdict(r) for r in results],
    }
