"""First contact, measured from outside: shared by bench/latency.py and bench/burst.py.

The system runs as `make run` runs it (tests/support/system.py's System, how="processes": the Temporal dev
server on its file, `worker.py`, the web app under uvicorn, SQLite unless a database URL is given) with Twilio
live, pointed at a recording stand-in in its own process (bench/twilio_standin.py). Events are posted over
real HTTP, signed, each for its own patient; the first text each patient's number gets is read from the
stand-in's record. First contact = that text's arrival at the stand-in minus the moment the event was posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.procstat import cpu_seconds  # noqa: E402
from domain.signing import sign  # noqa: E402
from tests.support.fault_harness import Patient, make_patients  # noqa: E402
from tests.support.http import free_port  # noqa: E402
from tests.support.system import SECRET, TWILIO_TOKEN, System  # noqa: E402

STANDIN_ACCOUNT = "AC" + "b" * 32  # not the shipped local stand-in's sid: live mode refuses that one
FROM_NUMBER = "+15005550006"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Posted:
    patient: Patient
    at: float = 0.0  # wall clock when the post went out
    status: int = 0  # the last answer's (-1: none, after every resend)
    answered_in: float = 0.0
    errors: list[str] = field(default_factory=list)  # sends that got no answer (the exception's name)


@dataclass
class Run:
    stack: System
    record: Path
    standin: subprocess.Popen[bytes]
    posted: list[Posted] = field(default_factory=list)

    def first_texts(self) -> dict[str, float]:
        """Each number's first text: when it reached the stand-in."""
        first: dict[str, float] = {}
        with open(self.record) as lines:
            for line in lines:
                row = json.loads(line)
                if row["kind"] == "sms":
                    first.setdefault(row["to"], row["t"])
        return first

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU of each process so far (from /proc), by name."""
        procs = {**self.stack.procs, "twilio stand-in": self.standin}
        return {name: cpu_seconds(proc.pid) for name, proc in procs.items()}


@contextlib.contextmanager
def system(database_url: str | None = None, workers: int = 1, **env: str) -> Iterator[Run]:
    """The system with `workers` worker processes on its task queues (`make run` starts one per core)."""
    var_dir = Path(tempfile.mkdtemp(prefix="mr-bench-"))
    record = var_dir / "twilio.jsonl"
    record.touch()
    port = free_port()
    standin = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "twilio_standin.py"),
            "--port",
            str(port),
            "--record",
            str(record),
        ],
        cwd=ROOT,
    )
    settings = {
        "TWILIO_MODE": "live",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": STANDIN_ACCOUNT,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "LOG_LEVEL": "WARNING",
        # outside the embedded mode every process needs it (`cli.py migrate` checks the settings)
        "METRICS_TOKEN": "bench-metrics-token",
        **env,
    }
    stack = System(database_url or f"sqlite:///{var_dir / 'makeright.db'}", var_dir, "processes", **settings)
    migrate = subprocess.run(
        [sys.executable, "cli.py", "migrate"], cwd=ROOT, env=stack.env, capture_output=True, text=True
    )
    if migrate.returncode:
        raise SystemExit(f"migrate failed: {migrate.stdout}{migrate.stderr}")
    try:
        stack.start()
        for number in range(2, workers + 1):
            stack.spawn(f"worker-{number}")
        log(f"system up: web {stack.base}, Twilio stand-in on :{port}, state in {var_dir}")
        run = Run(stack, record, standin)
        warm_up(run)
        yield run
    finally:
        stack.close()
        standin.kill()
        standin.wait()


def patients(count: int, seed: int = 11) -> list[Patient]:
    return make_patients(count, seed)


async def post_at_rate(run: Run, people: list[Patient], rate: float, clients: int = 64) -> None:
    """Open loop: event i goes out at start + i / rate whatever the earlier ones are waiting for (as
    real traffic does); `rate` 0 posts them all at once through `clients` connections (a burst)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=run.stack.base, timeout=120, limits=limits) as http:
        start = time.monotonic() + 0.5
        gate = asyncio.Semaphore(clients)

        async def one(i: int, patient: Patient) -> None:
            if rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            async with gate:
                body = json.dumps(patient.event).encode()
                headers = {
                    "Content-Type": "application/cloudevents+json",
                    "X-Makeright-Signature": sign(SECRET, body, int(time.time())),
                }
                entry = Posted(patient, at=time.time())
                run.posted.append(entry)
                began = time.monotonic()
                for _ in range(5):  # like a real client: no answer, so the same event is sent again
                    try:
                        answer = await http.post("/events", content=body, headers=headers)
                        entry.status = answer.status_code
                        break
                    except httpx.HTTPError as exc:
                        entry.status = -1
                        entry.errors.append(type(exc).__name__)
                entry.answered_in = time.monotonic() - began

        await asyncio.gather(*(one(i, p) for i, p in enumerate(people)))


def warm_up(run: Run, count: int = 5) -> None:
    """A few cases first, so connections, caches and the first workflow tasks are not in the figures."""
    people = make_patients(count, seed=999)
    asyncio.run(post_at_rate(run, people, rate=0, clients=count))
    first = wait_for_texts(run, people, 120)
    if not all(p.phone in first for p in people):
        raise SystemExit(f"warm-up: no first text after 120 s:\n{run.stack.tail('worker')}")
    run.posted.clear()


def wait_for_texts(run: Run, people: list[Patient], seconds: float) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    while True:
        first = run.first_texts()
        if all(p.phone in first for p in people) or time.monotonic() > deadline:
            return first
        time.sleep(0.5)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latencies(run: Run, entries: list[Posted], first: dict[str, float]) -> list[float]:
    return [first[e.patient.phone] - e.at for e in entries if e.patient.phone in first]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }
