"""bench/throughput.py's bare baseline: a BareSteps workflow takes the server-side steps it is built from
(read back from its history the way the benchmark reads a case's), so the ratio compares like with like."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.throughput import COUNTED, BareActivities, BareChild, BareSteps, Shape, shape_of, steps_of

pytestmark = pytest.mark.e2e  # every test here starts real processes


@pytest.mark.parametrize("shape", [Shape(14, 1, 1, 1), Shape(13, 0, 1, 1), Shape(5, 3, 2, 2)])
async def test_bare_workflow_takes_the_steps_it_is_built_from(
    dev_server_env: WorkflowEnvironment, shape: Shape
) -> None:
    client = dev_server_env.client
    queue = f"bare-{uuid.uuid4().hex[:8]}"
    acts = BareActivities(client, answer_delay=2.0)  # the timer starts first, however slow the machine
    async with Worker(
        client, task_queue=queue, workflows=[BareSteps, BareChild], activities=[acts.noop, acts.prompt]
    ):
        handle = await client.start_workflow(BareSteps.run, shape, id=queue, task_queue=queue)
        assert await handle.result() == shape.signals
        steps = steps_of(await handle.fetch_history())
    assert shape_of(steps) == shape
    # a task to start, one per activity, timer fired, signal and child started; a signal that lands with
    # an activity's completion shares its task
    most = (
        1
        + shape.activities
        + (shape.timers - min(shape.timers, shape.signals))
        + shape.signals
        + shape.children
    )
    assert most - shape.signals <= steps["workflow tasks"] <= most, steps
    assert set(COUNTED) <= set(steps)
