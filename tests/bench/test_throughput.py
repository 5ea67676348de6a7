"""bench/throughput.py's bare baseline: a BareSteps workflow takes the server-side steps it is built from
(read back from its history the way the benchmark reads a case's), so the ratio compares like with like."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.throughput import (
    COUNTED,
    BareActivities,
    BareChild,
    BareSteps,
    Shape,
    StoreWork,
    shape_of,
    steps_of,
)
from tests.support.databases import drop_postgres, fresh_postgres_url

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
    # an activity's completion shares its task; a child (abandoned, returning at once) that ends while its
    # parent is still starting the next one wakes the parent once more
    most = (
        1
        + shape.activities
        + (shape.timers - min(shape.timers, shape.signals))
        + shape.signals
        + 2 * shape.children
    )
    assert most - shape.signals <= steps["workflow tasks"] <= most, steps
    assert set(COUNTED) <= set(steps)


def test_store_work_shares_add_up_to_the_whole() -> None:
    work = StoreWork(transactions=112, inserts=34, updates=19, row_bytes=281)
    shares = [work.share(i, 6) for i in range(6)]
    assert sum(s.transactions for s in shares) == 112
    assert sum(s.inserts for s in shares) == 34
    assert sum(s.updates for s in shares) == 19
    assert {s.row_bytes for s in shares} == {281}
    assert max(s.inserts for s in shares) - min(s.inserts for s in shares) <= 1


async def test_fair_bare_workflow_writes_the_cases_rows(dev_server_env: WorkflowEnvironment) -> None:
    """The fair side's activities write, in plain SQL, the rows a case writes: as many, of the same size."""
    url = fresh_postgres_url("mr_test_bare")
    try:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text("CREATE TABLE bare_rows (id bigserial PRIMARY KEY, k text UNIQUE, payload text)")
            )
        client = dev_server_env.client
        queue = f"bare-{uuid.uuid4().hex[:8]}"
        acts = BareActivities(client, url, answer_delay=0.5)
        shape = Shape(5, 1, 1, 1, StoreWork(transactions=20, inserts=12, updates=4, row_bytes=300))
        async with Worker(
            client, task_queue=queue, workflows=[BareSteps, BareChild], activities=[acts.noop, acts.prompt]
        ):
            handle = await client.start_workflow(BareSteps.run, shape, id=queue, task_queue=queue)
            assert await handle.result() == shape.signals
        with engine.connect() as conn:
            sizes = conn.execute(text("SELECT pg_column_size(t.*) FROM bare_rows t")).scalars().all()
        assert len(sizes) == 12
        assert all(abs(size - 300) <= 8 for size in sizes), sizes  # the row header's alignment aside
        engine.dispose()
        assert acts.engine is not None
        acts.engine.dispose()
    finally:
        drop_postgres(url)
