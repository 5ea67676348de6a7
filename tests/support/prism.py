"""Prism mocks of the vendors' official OpenAPI documents, for the `live` gateways' contract tests.

Prism (npm `@stoplight/prism-cli`, pinned in package.json; `make test` installs it) validates each request
against the spec and answers with the spec's examples. A request that breaks the spec is answered 422 with
the reasons in the body's `validation` list (or, where the spec has a 4xx example, with that example), and
every violation, request or response, is listed in the `sl-violations` response header.

The session-scoped fixtures `prism_twilio` and `prism_sendgrid` are in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from store.db import Store
from tests.support.cases import open_case
from tests.support.settings import ROOT

SPECS = ROOT.parent / "shared" / "specs"
TWILIO_SPEC = SPECS / "twilio_api_v2010.json"
SENDGRID_SPEC = SPECS / "tsg_mail_v3.json"
PRISM_CLI = ROOT / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@contextmanager
def prism_mock(spec: Path, log_path: Path, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run `prism mock spec` on a free port until the block ends; yields its base URL. (`extra_args`:
    e.g. `("-d",)` for answers generated from the schemas instead of the examples.)"""
    node = shutil.which("node")
    if node is None or not PRISM_CLI.exists():
        pytest.fail(
            f"Prism is not installed ({PRISM_CLI.relative_to(ROOT)} missing or no `node` on PATH): "
            "`make test` installs it (npm ci from package-lock.json)",
            pytrace=False,
        )
    if not spec.exists():
        pytest.fail(
            f"OpenAPI document {spec} missing: the repository expects shared/ beside it", pytrace=False
        )
    port = free_port()
    with log_path.open("wb") as log:
        # its own process group: the whole group is ended below, whatever Prism started
        process = subprocess.Popen(
            [node, str(PRISM_CLI), "mock", "-h", "127.0.0.1", "-p", str(port), *extra_args, str(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"Prism exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prism did not answer within {STARTUP_SECONDS:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def violations(headers: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every violation Prism reported in the `sl-violations` header (request and response)."""
    if not headers:
        return []
    raw = next((v for k, v in headers.items() if k.lower() == "sl-violations"), None)
    return list(json.loads(raw)) if raw else []


def request_violations(headers: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The violations that are ours: what our request got wrong. (Some of the vendors' own response
    examples break their schemas, e.g. Twilio's relative `uri`s against `format: uri`.)"""
    return [v for v in violations(headers) if v.get("location", [None])[0] == "request"]


def add_case(store: Store) -> str:
    """A case to hang outbound messages on (timeline entries written by send-once reference it), opened by
    intake for a patient of its own ("patient-1", same phone): not another case of the example's patient,
    which the contact rules would count as a conversation in progress."""
    return open_case(store, data__patient__id="patient-1").case_id
