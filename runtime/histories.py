"""Workflow histories: export one as Temporal's JSON, and replay histories against the current workflow
code exactly as the worker runs them (runtime/worker.py), each with a one-line verdict (`cli.py export`,
`cli.py replay`)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.workflow import NondeterminismError

from config import Settings
from dispatch.connection import connect, data_converter
from domain.masking import mask_text


async def export_history(settings: Settings, workflow_id: str) -> str:
    """The workflow's history as Temporal's JSON (payloads as stored: encrypted)."""
    client = await connect(settings)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()


def quiet_temporal_runtime() -> None:
    """The SDK core logs a failing workflow task (each nondeterministic replay) to stdout, which would mix
    with the command's own output (and its --json): this process reports those itself."""
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=None)), error_if_already_set=False)


_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_EVENT_ID = re.compile(r"(?:HistoryEvent\(id: |event[ _]?id[:= ]+|event #?)(\d+)", re.IGNORECASE)
_QUOTED = re.compile(r"'([^']+)'")


def _event_names(event: Any) -> list[str]:
    """The names a nondeterminism message may quote for an event: activity, child workflow, timer,
    signal, marker."""
    names = []
    for attrs, fields in (
        ("activity_task_scheduled_event_attributes", ("activity_type", "activity_id")),
        ("start_child_workflow_execution_initiated_event_attributes", ("workflow_type", "workflow_id")),
        ("timer_started_event_attributes", ("timer_id",)),
        ("marker_recorded_event_attributes", ("marker_name",)),
        ("signal_external_workflow_execution_initiated_event_attributes", ("signal_name",)),
    ):
        if event.HasField(attrs):
            for name in fields:
                value = getattr(getattr(event, attrs), name)
                names.append(value if isinstance(value, str) else getattr(value, "name", ""))
    return [n for n in names if n]


def describe_replay_failure(exc: BaseException, history: Any = None) -> tuple[str, int | None, str]:
    """(verdict, event id, reason), in one line and without payloads: `nondeterministic` for a history the
    current code would not produce, `failed` for anything else (an undecryptable payload, a crash). The
    event id is the one the SDK names, else the first event of the history the reason quotes."""
    message = " ".join(str(exc).split())
    inner = _CORE_MESSAGE.search(message)
    reason = inner.group(1).replace('\\"', '"') if inner else message
    nondet = isinstance(exc, NondeterminismError) or "Nondeterminism" in message
    reason = re.sub(r"^\[TMPRL\d+\]\s*", "", reason)
    reason = re.sub(r"^Nondeterminism error:\s*", "", reason)
    found = _EVENT_ID.search(message)
    event_id = int(found.group(1)) if found else None
    if event_id is None and history is not None:
        quoted = _QUOTED.findall(reason)
        for event in history.events:
            if any(name in quoted for name in _event_names(event)):
                event_id = int(event.event_id)
                break
    verdict = "nondeterministic" if nondet else "failed"
    return verdict, event_id, mask_text(reason)[:240] or type(exc).__name__


@dataclass
class Replayed:
    workflow_id: str
    run_id: str
    result: str  # ok | nondeterministic | failed
    event_id: int | None = None
    reason: str | None = None

    def line(self) -> str:
        if self.result == "ok":
            return f"{self.workflow_id}  ok"
        where = f"event {self.event_id}: " if self.event_id is not None else ""
        return f"{self.workflow_id}  {self.result}  {where}{self.reason}"


def history_from_file(path: Path) -> WorkflowHistory:
    """An exported history file (`cli.py export -o FILE`), named by the workflow id it holds."""
    text = path.read_text()
    workflow_id = path.stem
    try:
        events = json.loads(text).get("events") or []
        started = events[0].get("workflowExecutionStartedEventAttributes") or {}
        workflow_id = started.get("workflowId") or workflow_id
    except (ValueError, AttributeError, IndexError):
        pass  # from_json says what is wrong with it
    return WorkflowHistory.from_json(workflow_id, text)


async def replay_histories(
    settings: Settings, ids: list[str], files: list[Path], query: str | None
) -> list[Replayed]:
    """Replay the histories of `files`, of the workflows `ids` and of those `query` lists against the
    current code: one result per history, in order."""
    from runtime.worker import replayer  # every workflow: loaded by a replay only, not by an export

    quiet_temporal_runtime()
    histories: list[WorkflowHistory] = [history_from_file(path) for path in files]
    if ids or query:
        client = await connect(settings)
        for workflow_id in ids:
            histories.append(await client.get_workflow_handle(workflow_id).fetch_history())
        if query:
            async for history in client.list_workflows(query).map_histories():
                histories.append(history)
    replaying = replayer(data_converter(settings))

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results: list[Replayed] = []
    async with replaying.workflow_replay_iterator(each()) as replayed:
        async for result in replayed:
            history = result.history
            if result.replay_failure is None:
                results.append(Replayed(history.workflow_id, history.run_id, "ok"))
            else:
                verdict, event_id, reason = describe_replay_failure(result.replay_failure, history)
                results.append(Replayed(history.workflow_id, history.run_id, verdict, event_id, reason))
    return results
