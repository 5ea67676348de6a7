"""A worker started while Temporal cannot be reached (a cluster restarting, a deploy that starts workers
first) waits for it, saying so, instead of exiting: once Temporal answers it polls without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.http import free_port
from tests.support.settings import ROOT, TEST_CODEC_KEYS, TEST_CONVERTER, venv_binary
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e  # every test here starts real processes


async def test_a_worker_started_before_temporal_waits_for_it_and_then_polls(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MAKERIGHT_"))},
        "DATABASE_URL": sqlite_url,
        "VAR_DIR": str(tmp_path / "var"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "CODEC_KEYS": TEST_CODEC_KEYS,
        "TASK_QUEUE": f"start-{uuid.uuid4().hex[:8]}",
        # outside the embedded mode production's rules apply: no dev defaults
        "EVENTS_SIGNING_SECRET": "start-test-secret",
        "UPDATE_SIGNING_SECRET": "start-test-update-secret",
        "API_TOKENS": "engineer:start-test-engineer",
        "TWILIO_AUTH_TOKEN": "start-test-twilio",
        "GIFT_CARD_SECRET": "start-test-gift-card-secret",
        "METRICS_TOKEN": "start-test-metrics",
    }
    with open(log, "ab") as out:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        # nothing listens yet: the worker says so and keeps trying
        said = "the worker to say Temporal is not reachable"
        wait_for(lambda: "not reachable" in log.read_text() or worker.poll() is not None, 20, said)
        assert worker.poll() is None, log.read_text()
        time.sleep(1.5)
        assert worker.poll() is None, f"the worker exited:\n{log.read_text()}"

        path = venv_binary("temporal")
        assert path
        server = await WorkflowEnvironment.start_local(
            port=port, dev_server_existing_path=path, data_converter=TEST_CONVERTER
        )
        try:
            wait_for(lambda: "polling task queue" in log.read_text(), 45, "polling", detail=log.read_text)
            assert worker.poll() is None
        finally:
            await server.shutdown()
    finally:
        worker.kill()
        worker.wait()
