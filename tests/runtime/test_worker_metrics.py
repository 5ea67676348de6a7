"""The worker's Temporal SDK metrics in Prometheus format on WORKER_METRICS_PORT (unset: off)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from dispatch.connection import connect, worker_metrics_address, worker_runtime
from runtime.worker import build_worker
from store.db import Store
from tests.support.http import free_port
from tests.support.settings import make_settings


def test_no_port_no_metrics_server(sqlite_url: str, tmp_path: Path) -> None:
    assert worker_runtime(make_settings(sqlite_url, tmp_path)) is None


def test_the_metrics_bind_this_machine_only_unless_a_host_is_set(sqlite_url: str, tmp_path: Path) -> None:
    """The SDK's metrics name task queues and workflow types: not for every network the worker is on."""
    assert worker_metrics_address(make_settings(sqlite_url, tmp_path)) is None
    default = make_settings(sqlite_url, tmp_path, worker_metrics_port=9464)
    assert worker_metrics_address(default) == "127.0.0.1:9464"
    every = make_settings(sqlite_url, tmp_path, worker_metrics_port=9464, worker_metrics_host="0.0.0.0")
    assert worker_metrics_address(every) == "0.0.0.0:9464"
    six = make_settings(sqlite_url, tmp_path, worker_metrics_port=9464, worker_metrics_host="::1")
    assert worker_metrics_address(six) == "[::1]:9464"


def test_worker_metrics_host_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import Settings

    assert Settings().worker_metrics_host == "127.0.0.1"
    monkeypatch.setenv("WORKER_METRICS_HOST", "10.0.0.5")
    assert Settings().worker_metrics_host == "10.0.0.5"


async def test_a_worker_started_with_the_port_serves_temporal_metrics(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    target = time_skipping_env.client.service_client.config.target_host
    settings = make_settings(sqlite_url, tmp_path, temporal_address=target, worker_metrics_port=port)
    client = await connect(settings, worker_runtime(settings))
    async with build_worker(client, settings, Store(settings.database_url)):
        text = ""
        async with httpx.AsyncClient() as http:
            for _ in range(100):  # the pollers' first requests show up within moments
                try:
                    text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
                except httpx.TransportError:
                    text = ""
                if "temporal_request" in text and "temporal_num_pollers" in text:
                    break
                await asyncio.sleep(0.1)
    assert "temporal_request" in text, text[:2000]
    assert "temporal_num_pollers" in text
    assert f'task_queue="{settings.task_queue}' in text
