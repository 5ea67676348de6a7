"""`wait_until` (workflows/case.py), which every story and the rep router wait with: a deadline less than a
millisecond away counts as passed and starts no timer. Temporal's test server (which keeps time in
milliseconds) refused a workflow task completion that started one ("invalid history builder state for
action"), and the rep router stalled for good; a simulated day found it (README, "A day, simulated")."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workflows.case import wait_until

pytestmark = pytest.mark.timeout(60)


@workflow.defn
class WaitsBriefly:
    @workflow.run
    async def run(self, microseconds: int) -> bool:
        deadline = workflow.now() + timedelta(microseconds=microseconds)
        return await wait_until(lambda: False, deadline)


async def timers_started(env: WorkflowEnvironment, microseconds: int) -> tuple[bool, int]:
    queue = f"wait-until-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[WaitsBriefly]):
        handle = await env.client.start_workflow(
            WaitsBriefly.run, microseconds, id=f"wait-{uuid.uuid4()}", task_queue=queue
        )
        result = await handle.result()
        history = await handle.fetch_history()
    started = sum(1 for e in history.events if e.HasField("timer_started_event_attributes"))
    return result, started


async def test_a_deadline_under_a_millisecond_away_has_passed_without_a_timer(
    own_time_skipping_env: WorkflowEnvironment,
) -> None:
    assert await timers_started(own_time_skipping_env, 500) == (False, 0)


async def test_a_deadline_a_few_milliseconds_away_is_waited_for_with_a_timer(
    own_time_skipping_env: WorkflowEnvironment,
) -> None:
    assert await timers_started(own_time_skipping_env, 5000) == (False, 1)
