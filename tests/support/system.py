"""The whole system started for real by `run.py` (dev server, worker, web app), as `make run` starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from tests.support.http import free_port, post_event
from tests.support.settings import ROOT
from tests.support.waiting import wait_for

SECRET = "e2e-signing-secret"


TWILIO_TOKEN = "e2e-twilio-token"


ENGINEER = {"Authorization": "Bearer e2e-engineer"}


class System:
    def __init__(self, db_url: str, var_dir: Path) -> None:
        self.web_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.var_dir = var_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MAKERIGHT_"))},
            "DATABASE_URL": db_url,
            "VAR_DIR": str(var_dir),
            "WEB_PORT": str(self.web_port),
            "TEMPORAL_PORT": str(free_port()),
            "TEMPORAL_UI_PORT": str(free_port()),
            "TASK_QUEUE": f"e2e-{uuid.uuid4().hex[:8]}",
            "EVENTS_SIGNING_SECRET": SECRET,
            "POLICY__CONTACT__ENABLED": "false",  # the outcome must not depend on the hour CI runs
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "API_TOKENS": "engineer:e2e-engineer,supervisor:e2e-supervisor,rep:ann:e2e-ann",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        var_dir.mkdir(parents=True, exist_ok=True)
        self.log = var_dir / "run.log"

    def start(self) -> None:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "run.py"], cwd=ROOT, env=self.env, stdout=out, stderr=out
        )
        self.wait(lambda: self._healthy(), 90, "the system to start")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"run.py exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """Whatever is still running after a test (its own processes, found by their VAR_DIR)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            subprocess.run(["pkill", "-f", str(self.var_dir)], check=False)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.proc.wait(timeout=60)

    def wait(self, check: Callable[[], Any], seconds: float, what: str) -> Any:
        return wait_for(check, seconds, what, interval=0.3, detail=lambda: self.log.read_text()[-3000:])

    def post_event(self, event: dict[str, Any]) -> httpx.Response:
        return post_event(self.base, SECRET, event)

    def patient_texts(self, phone: str, body: str) -> httpx.Response:
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": phone,
                  "To": "+15005550006", "Body": body, "NumMedia": "0"}  # fmt: skip
        url = f"{self.base}/webhooks/twilio/sms"
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)

    def case(self, case_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/api/cases/{case_id}", headers=ENGINEER, timeout=10)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result
