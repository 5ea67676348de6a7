"""Re-running failed cases as a library (dispatch/retry.py), without the CLI: the plan, a dry run that
changes nothing, the reset of a failed case's workflow, one case's trouble not stopping the others, and
the raw reset RPC. On the real dev server: reset does not work on the time-skipping one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from dispatch import retry
from store import cases
from store.models import Case, TimelineItem
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, running

PHONE = "+31612345678"


def status_of(h: Harness, case_id: str) -> str:
    with h.store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.status


async def test_retry_plans_resets_and_reports_each_case(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, dev_server_env) as h:
        accepted, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await handle.terminate("stuck")
        described = await handle.describe()
        case_id = await asyncio.to_thread(
            cases.mark_failed,
            h.store,
            handle.id,
            described.run_id,
            "workflow_terminated",
            "stuck",
            datetime.now(UTC),
        )
        assert case_id is not None and case_id == accepted.case_id
        assert retry.select_failed(h.store, None, None) == [case_id]
        assert retry.select_failed(h.store, "checkin_trouble", None) == []

        planned = await retry.plan(h.client, h.store, case_id)
        history = await handle.fetch_history()
        assert (planned.result, planned.workflow_id, planned.run_id) == (
            "would_retry",
            handle.id,
            described.run_id,
        )
        assert planned.reset_event_id == retry.first_workflow_task_event_id(history)

        dry = await retry.retry_cases(h.client, h.store, [case_id], dry_run=True, by="erin")
        assert [r.result for r in dry] == ["would_retry"]
        assert status_of(h, case_id) == "failed"  # a dry run changes nothing

        seen: list[str] = []
        done = await retry.retry_cases(
            h.client, h.store, ["case-nope", case_id], dry_run=False, by="erin", on_case=seen.append
        )
        assert seen == ["case-nope", case_id]
        missing, retried = done
        assert (missing.result, missing.why) == ("error", "no such case")
        assert retried.result == "retried" and retried.new_run_id and retried.new_run_id != described.run_id
        assert status_of(h, case_id) != "failed"
        with h.store.session() as s:
            steps = list(s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == case_id)))
        assert "workflow_reset" in steps and "case_retried" in steps
        summary = retry.summary(done, dry_run=False)
        assert summary["retried"] == [case_id]
        assert summary["errors"] == [{"case_id": "case-nope", "error": "no such case"}]

        # not failed any more: a second retry skips it, with why
        [again] = await retry.retry_cases(h.client, h.store, [case_id], dry_run=False, by="erin")
        assert again.result == "skipped" and "not failed" in (again.why or "")

        # the raw reset RPC: the running re-run reset once more to the same point, a new run again
        assert retried.reset_event_id is not None
        newest = await retry.reset_workflow(
            h.client, handle.id, retried.new_run_id, retried.reset_event_id, "test"
        )
        assert newest not in (retried.new_run_id, described.run_id)
        assert (await h.client.get_workflow_handle(handle.id).describe()).run_id == newest
        await h.end(h.client.get_workflow_handle(handle.id))
