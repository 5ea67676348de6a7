"""Run `python cli.py …` as engineers do: a separate process, with its settings from the environment."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from config import Settings
from tests.support.http import free_port
from tests.support.settings import ROOT, TEST_CODEC_KEYS


@dataclass
class Ran:
    code: int
    out: str
    err: str


def cli_env(
    database_url: str, var_dir: Path, temporal_address: str, task_queue: str = "makeright"
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MAKERIGHT_")}
    env.update(
        DATABASE_URL=database_url,
        VAR_DIR=str(var_dir),
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        TASK_QUEUE=task_queue,
        CODEC_KEYS=TEST_CODEC_KEYS,
        # TEMPORAL_ADDRESS set: the embedded dev defaults are refused, as in production
        EVENTS_SIGNING_SECRET="cli-test-signing-secret",
        UPDATE_SIGNING_SECRET="cli-test-update-signing-secret",
        API_TOKENS="engineer:cli-test-engineer-token",
        TWILIO_AUTH_TOKEN="cli-test-twilio-token",
        GIFT_CARD_SECRET="cli-test-gift-card-secret",
        METRICS_TOKEN="cli-test-metrics-token",
        PUBLIC_BASE_URL="http://testserver",
        POLICY__CONTACT__ENABLED="false",
        COLUMNS="250",
    )
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


async def run_cli_async(env: dict[str, str], *args: str) -> Ran:
    """The same, without blocking the event loop (a worker in this process keeps working meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "cli.py"),
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def run_cli_times(env: dict[str, str], *args: str, times: int = 3) -> Ran:
    """A read-only command, several times in a row: the same exit code and output every time (a
    short-lived Temporal client must not crash the process at shutdown)."""
    return repeated(run_cli, env, *args, times=times)


def repeated(run: Callable[..., Ran], env: dict[str, str], *args: str, times: int) -> Ran:
    """`run(env, *args)` `times` times: the first run, once every run had its exit code and output."""
    runs = [run(env, *args) for _ in range(times)]
    for ran in runs[1:]:
        assert ran.code == runs[0].code, (ran.code, ran.err[-2000:], runs[0].code)
        # protobuf maps (payload metadata) have no fixed order: compare JSON as data
        assert _normal(ran.out) == _normal(runs[0].out), (ran.out[:2000], runs[0].out[:2000])
    return runs[0]


def _normal(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def env_for(db_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(db_url, tmp_path, f"127.0.0.1:{free_port()}")


def cli_env_on(settings: Settings, dev: WorkflowEnvironment) -> dict[str, str]:
    target = dev.client.service_client.config.target_host
    return cli_env(settings.database_url, settings.var_dir, target, settings.task_queue)
