"""Recorded workflow histories (tests/histories/) replay against the current workflow code.

Every file is a history as Temporal stored it (payloads encrypted with the tests' key) of a workflow that
ran one of the main paths to its end (`make histories` records them again). If a change to workflow code
would make a running case nondeterministic, replaying its history fails here, with the event id and the
reason: guard the change with `workflow.patched` (README, "Changing a workflow").
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from runtime import worker
from tests.support.histories import LOCAL_ACTIVITY_MARKER
from tests.support.settings import EXAMPLES, ROOT, TEST_CONVERTER

HISTORIES = ROOT / "tests" / "histories"
FILES = sorted(HISTORIES.glob("*/*.json"))


def load(path: Path) -> WorkflowHistory:
    """A recorded file: Temporal's history JSON, plus the workflow id it ran under (`workflowId`)."""
    document = json.loads(path.read_text())
    return WorkflowHistory.from_json(document.get("workflowId", path.stem), document)


def replayer() -> Replayer:
    # the worker's workflows and interceptors, with the tests' converter (codec included)
    return worker.replayer(TEST_CONVERTER)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
async def test_recorded_history_replays_against_the_current_code(path: Path) -> None:
    history = load(path)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        event_id, reason = explain(result.replay_failure)
        pytest.fail(
            f"{path.relative_to(HISTORIES)} ({history.workflow_id}) does not replay"
            f"{f' at event {event_id}' if event_id else ''}: {reason}\n"
            "A running case of this kind would get stuck. Guard the change with workflow.patched "
            '(README, "Changing a workflow"); re-record with `make histories` only if no running case '
            "can be affected.",
            pytrace=False,
        )


def explain(failure: Exception) -> tuple[str | None, str]:
    """The history event where replay diverged, and the SDK's reason (without the Rust debug wrapping)."""
    text = str(failure)
    event = re.search(r"HistoryEvent\(id: (\d+)|event(?:[ _]id)?[ :=#]+(\d+)", text, re.IGNORECASE)
    message = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)
    reason = message.group(1) if message else text
    return (event.group(1) or event.group(2)) if event else None, f"{type(failure).__name__}: {reason}"


def test_a_replay_failure_is_explained_with_its_event_and_reason() -> None:
    sdk = (
        'Workflow activation completion failed: Failure { failure: Some(Failure { message: "[TMPRL1100] '
        "Nondeterminism error: Timer machine does not handle this event: HistoryEvent(id: 5, "
        'ActivityTaskScheduled)", source: "" }) }'
    )
    event_id, reason = explain(RuntimeError(sdk))
    assert event_id == "5"
    assert reason == (
        "RuntimeError: [TMPRL1100] Nondeterminism error: Timer machine does not handle this event: "
        "HistoryEvent(id: 5, ActivityTaskScheduled)"
    )


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded = {path.parent.name for path in FILES}
    # the name each is registered under (the class name unless @workflow.defn(name=...) says otherwise)
    types = {getattr(cls, "__temporal_workflow_definition").name for cls in worker.WORKFLOWS}
    assert types - recorded == set(), "record one with `make histories` (scripts/record_histories.py)"
    assert recorded - types == set(), "histories of workflow types the worker no longer runs"


def test_every_history_file_names_its_workflow_type_and_id() -> None:
    for path in FILES:
        document = json.loads(path.read_text())
        started = document["events"][0]
        assert started["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", path
        workflow_type = started["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        assert workflow_type == path.parent.name, path
        assert document["workflowId"], path


def test_histories_are_stored_encrypted() -> None:
    """Payloads are as Temporal stores them: ciphertext. Nothing of the patient shows in plain text, and
    every payload carries the codec's encoding."""
    patients = []
    for example in EXAMPLES.glob("*.json"):
        patient = json.loads(example.read_text())["data"]["patient"]
        patients.append(patient)
    secrets = {value for p in patients for value in (p["phone"], p["email"], p["name"])}
    secrets |= {p["phone"].lstrip("+") for p in patients}
    # a name's longer parts (a 3-letter one would turn up in 1 MB of base64 by chance)
    secrets |= {part for p in patients for part in p["name"].split() if len(part) >= 6}
    # what the recorded patient wrote stays in the case store, never in a workflow's history
    secrets |= {"verzekering", "bel me aub"}
    assert FILES
    for path in FILES:
        text = path.read_text()
        for secret in secrets:
            assert secret not in text, f"{path.relative_to(HISTORIES)} holds {secret!r} in plain text"
        payloads = list(payloads_in(json.loads(text)))
        # a local activity's marker: the SDK writes which step, which attempt and when in plain JSON
        # (never patient data); the step's input and result are encrypted like every other payload
        for where, payload in payloads:
            if re.search(r"markerRecordedEventAttributes/details/data/payloads\[\d+\]$", where):
                meta = json.loads(base64.b64decode(payload["data"]))
                assert set(meta) <= LOCAL_ACTIVITY_MARKER and "activity_type" in meta, (path, meta)
        encodings = {
            payload["metadata"]["encoding"]
            for where, payload in payloads
            # the SDK writes a patch's marker and its TemporalChangeVersion search attribute itself, in
            # plain JSON: the patch id, never patient data
            if "patch-data" not in where
            and "TemporalChangeVersion" not in where
            and not re.search(r"markerRecordedEventAttributes/details/data/payloads\[\d+\]$", where)
        }
        assert encodings, path
        # base64 of the codec's "binary/encrypted" (everything else would be readable by anyone)
        assert encodings == {"YmluYXJ5L2VuY3J5cHRlZA=="}, (path, encodings)


def payloads_in(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, payload) for every payload object in a history document."""
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            yield where, node
        for key, value in node.items():
            yield from payloads_in(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from payloads_in(value, f"{where}[{n}]")
