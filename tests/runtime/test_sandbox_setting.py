"""WORKER__SANDBOX: the workflows run in the SDK's sandbox unless it is switched off (config/settings.py
says what that saves); off, a case still runs its story."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from config import Settings
from dispatch.connection import connect
from runtime.worker import build_worker, workflow_runner
from store.db import Store
from store.models import Case
from tests.support.http import LiveServer, free_port, post_event
from tests.support.settings import example_event, make_settings
from tests.support.waiting import wait_for
from web.app import create_app


def test_on_unless_switched_off() -> None:
    assert Settings().worker.sandbox is True
    assert isinstance(workflow_runner(), SandboxedWorkflowRunner)
    assert isinstance(workflow_runner(sandbox=False), UnsandboxedWorkflowRunner)


async def test_the_default_worker_runs_its_workflows_in_the_sandbox(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    target = time_skipping_env.client.service_client.config.target_host
    settings = make_settings(sqlite_url, tmp_path, temporal_address=target)
    workers = build_worker(await connect(settings), settings, Store(settings.database_url))
    runners = [
        type(w.config().get("workflow_runner")) for w in workers.workers if w.config().get("workflows")
    ]
    assert runners == [SandboxedWorkflowRunner]


async def test_without_the_sandbox_a_case_still_reaches_its_patient(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    target = time_skipping_env.client.service_client.config.target_host
    settings = make_settings(
        sqlite_url,
        tmp_path,
        temporal_address=target,
        public_base_url=f"http://127.0.0.1:{port}",
        worker={"sandbox": False},
    )
    assert settings.worker.sandbox is False
    store = Store(settings.database_url)
    client = await connect(settings)
    workers = build_worker(client, settings, store)
    # the worker that runs the workflows runs them with the runner the setting says
    assert [
        type(w.config().get("workflow_runner")) for w in workers.workers if w.config().get("workflows")
    ] == [UnsandboxedWorkflowRunner]

    def offered(case_id: str) -> bool:
        with store.session() as s:
            case = s.get(Case, case_id)
            return case is not None and case.status == "waiting_patient"  # the offer went out

    async with workers:
        with LiveServer(create_app(settings, relay=False), port) as server:
            answer = await asyncio.to_thread(post_event, server, settings, example_event())
            assert answer.status_code == 202, answer.text
            case_id = answer.json()["case_id"]
            await asyncio.to_thread(wait_for, lambda: offered(case_id), 10, "the case's offer")
