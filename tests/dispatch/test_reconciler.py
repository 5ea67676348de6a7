"""A case workflow that fails, times out or is terminated anyway is noticed by the reconciler and its case
becomes `failed`, with `failure` as CONTRACT.md says and no patient data in the message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dispatch.reconciler import Reconciler, failure_query
from domain.booking_conflict import ConflictNote
from store.db import Store
from store.models import Case, TimelineItem
from store.views import case_view, load_cases
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, running

PHONE = "+31612345678"


async def reconcile_until(h: Harness, case_id: str, reconciler: Reconciler) -> dict[str, object]:
    """Visibility is eventually consistent: a few passes until the case is marked."""
    for _ in range(50):
        await reconciler.once()
        found = load_cases(h.store, case_id=case_id)
        if found and found[0][0].status == "failed":
            case, ledger, timeline = found[0]
            return case_view(case, ledger, timeline, unmasked=False, currency="USD")
        await asyncio.sleep(0.2)
    raise AssertionError("the reconciler never marked the case failed")


@pytest.mark.e2e
async def test_terminated_case_becomes_failed_once(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, dev_server_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await handle.terminate(reason=f"operator stopped it for patient {PHONE}")
        reconciler = Reconciler(h.store, lambda: _client(h))
        view = await reconcile_until(h, accepted.case_id, reconciler)
        failure = view["failure"]
        assert isinstance(failure, dict)
        assert failure["kind"] == "workflow_terminated"
        assert PHONE not in str(failure["message"]) and "operator stopped it" in str(failure["message"])
        assert failure["at"]
        # further passes (any number of reconcilers) change nothing
        await reconciler.once()
        await Reconciler(h.store, lambda: _client(h)).once()
        with h.store.session() as s:
            entries = s.scalars(
                select(TimelineItem).where(
                    TimelineItem.case_id == accepted.case_id, TimelineItem.what == "case_failed"
                )
            ).all()
        assert len(entries) == 1


async def _client(h: Harness) -> Client:
    return h.client


@pytest.mark.e2e
async def test_failed_workflow_marks_its_case_with_the_cause(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """A bug: an activity fails for good (non-retryable). The workflow fails; the case says so."""
    settings = make_settings(sqlite_url, tmp_path)

    @activity.defn(name="note_conflict")
    async def broken_note_conflict(note: ConflictNote) -> None:
        raise ApplicationError(f"calendar bug for {note.data.patient.phone}", non_retryable=True)

    store = Store(settings.database_url)
    from dispatch.dispatcher import Dispatcher
    from runtime.worker import WORKFLOWS
    from workflows.routing import ProviderQueues

    async with Worker(
        dev_server_env.client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=[broken_note_conflict],
        interceptors=[ProviderQueues()],
    ):
        h = Harness(settings, store, dev_server_env, Dispatcher(settings, store, dev_server_env.client))
        accepted, _ = await h.open_case(example_event())
        assert accepted.case_id
        reconciler = Reconciler(store, lambda: _client(h))
        view = await reconcile_until(h, accepted.case_id, reconciler)
    failure = view["failure"]
    assert isinstance(failure, dict) and failure["kind"] == "workflow_failed"
    assert "calendar bug" in str(failure["message"])
    assert PHONE not in str(failure["message"])
    with store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None and case.status == "failed" and case.closed_at is not None


def test_the_query_names_case_workflows_and_bad_endings() -> None:
    from datetime import UTC, datetime

    query = failure_query(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert "BookingConflictRecovery" in query and "CheckInTroubleRecovery" in query
    assert "'Terminated'" in query and "CloseTime > '2026-11-23T12:00:00Z'" in query
