"""Worker memory with N cases open (run on demand: `make bench` runs N=10000; results go in bench/RESULTS.md
by hand). Issue 11's target: the worker under 500 MB with 10,000 cases waiting for the patient's answer.

The real processes, as `make run` starts them (tests/support/system.py's System, how="processes": the Temporal
dev server on its file, `worker.py`, the web app under uvicorn), every provider local, quiet hours off and a
reply deadline of a week, so no case moves on by itself. N booking-conflict events are posted over HTTP by C
clients (the harness's own ingest); each case runs until it has texted its offer and waits (`waiting_patient`
in the store). Meanwhile the worker's RSS (VmRSS of worker.py and any children, from /proc) is sampled, with
the size of its sticky cache (the SDK's `temporal_sticky_cache_size`, from the worker's metrics port).

Then a sample of patients answers "1" by a signed Twilio webhook (the harness's Answering), the oldest
cases first: with fewer cache slots than cases those were evicted long ago, so they are rebuilt from their
history (replayed) and must still finish.

Reading the output:
- `peak RSS` is the highest sample while cases were opening (the cache filling and every step of a burst
  in flight); `settled RSS` is after every case waits and nothing runs: what N open cases cost.
- `per cached case` is the slope of RSS against the cache's size while it filled (least squares over
  the samples): what one more cache slot costs. RSS with the cache full is about base + slots x that.
- `opening` is first event posted to the last case waiting (bounded by the dev server and the worker
  on the same cores, not by memory).
- `answered` must show every sampled case finished.

python bench/memory.py N [--clients 8] [--database postgresql|sqlite] [--answer 20] [--settle 15]
                         [--max-cached-workflows K] [--max-concurrent-workflow-tasks T]
                         [--max-concurrent-activities A] [--max-concurrent-local-activities L]
(the last four override the worker's WORKER__* settings for this run; unset: the worker's defaults)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from store.db import Store, migrate  # noqa: E402
from store.models import Case  # noqa: E402
from tests.support.databases import drop_postgres, fresh_postgres_url  # noqa: E402
from tests.support.fault_harness import FINISHED, Answering, Ingest, ingest, log, make_patients  # noqa: E402
from tests.support.http import free_port  # noqa: E402
from tests.support.system import System  # noqa: E402

WAITING = "waiting_patient"
WEEK = 7 * 24 * 3600
MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """VmRSS of a process and all its descendants (0 for a process that is gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def cache_size(metrics_url: str) -> int | None:
    """The workflow worker's sticky cache size from its Prometheus endpoint (None while it does not answer;
    0 before the first case, when the SDK has not reported the gauge yet)."""
    try:
        text = httpx.get(metrics_url, timeout=2).text
    except httpx.HTTPError:
        return None
    sizes = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("temporal_sticky_cache_size")
    ]
    return int(sum(sizes))


@dataclass
class Sample:
    at: float
    rss: int
    cached: int | None
    waiting: int


@dataclass
class Sampler:
    """Every `every` seconds: the worker's RSS, its cache size and how many cases wait."""

    stack: System
    store: Store
    metrics_url: str
    every: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        began = time.monotonic()
        while not self.stopped.is_set():
            pid = self.stack.procs["worker"].pid
            self.samples.append(
                Sample(
                    time.monotonic() - began,
                    rss_bytes(pid),
                    cache_size(self.metrics_url),
                    waiting(self.store),
                )
            )
            self.stopped.wait(self.every)

    def since(self, at: float) -> list[Sample]:
        return [s for s in self.samples if s.at >= at]


def waiting(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).where(Case.status == WAITING)) or 0)


def finished(store: Store, case_ids: list[str]) -> int:
    with store.session() as s:
        return int(
            s.scalar(select(func.count()).where(Case.case_id.in_(case_ids), Case.status.in_(FINISHED))) or 0
        )


def slope(samples: list[Sample]) -> tuple[float, float] | None:
    """Least squares RSS = base + per_slot x cache size, over samples while the cache filled."""
    points = [(s.cached, s.rss) for s in samples if s.cached is not None]
    if len({x for x, _ in points}) < 3:
        return None
    xs, ys = [float(x) for x, _ in points], [float(y) for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    per = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - per * mx, per


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cases", type=int, nargs="?", default=1000, help="cases to open (default 1000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients posting events")
    parser.add_argument("--ingest-seconds", type=float, default=0.0, help="spread the events over this long")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument(
        "--answer", type=int, default=20, help="patients who answer afterwards (oldest first)"
    )
    parser.add_argument("--settle", type=float, default=15.0, help="seconds to sample after all wait")
    parser.add_argument("--deadline", type=float, default=7200.0, help="seconds for every case to wait")
    parser.add_argument("--seed", type=int, default=1)
    for name in (
        "max-cached-workflows",
        "max-concurrent-workflow-tasks",
        "max-concurrent-activities",
        "max-concurrent-local-activities",
    ):
        parser.add_argument(f"--{name}", type=int, default=None)
    args = parser.parse_args()

    limits = {
        f"WORKER__{name.upper()}": str(value)
        for name in (
            "max_cached_workflows",
            "max_concurrent_workflow_tasks",
            "max_concurrent_activities",
            "max_concurrent_local_activities",
        )
        if (value := getattr(args, name)) is not None
    }
    tmp = Path(tempfile.mkdtemp(prefix="mr-memory-"))
    url = f"sqlite:///{tmp / 'makeright.db'}" if args.database == "sqlite" else fresh_postgres_url()
    migrate(url)
    metrics_port = free_port()
    stack = System(
        url,
        tmp / "var",
        "processes",
        POLICY__REPLY_DEADLINE_SECONDS=str(WEEK),  # nobody's answer times out during the run
        POLICY__CALL_ANSWER_DEADLINE_SECONDS=str(WEEK),
        RATE_LIMITS__GIFT_CARDS="50",  # the answered sample is paid without Tango's 1/s queue
        WORKER_METRICS_PORT=str(metrics_port),
        **limits,
    )
    store = Store(url)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    patients = make_patients(args.cases, args.seed)
    log(f"{args.database}, {args.cases} cases, worker limits {limits or 'defaults'}, logs in {tmp / 'var'}")
    sampler = Sampler(stack, store, metrics_url)
    try:
        stack.start()
        deadline = time.monotonic() + 60
        while cache_size(metrics_url) is None and time.monotonic() < deadline:
            time.sleep(0.3)  # the worker is up once it serves its metrics
        idle_rss = rss_bytes(stack.procs["worker"].pid)
        sampler.thread.start()
        began = time.monotonic()
        opened_at = sampler.samples[-1].at if sampler.samples else 0.0
        tally = Ingest()
        poster = threading.Thread(
            target=ingest, args=(stack, patients, args.clients, args.ingest_seconds, tally), daemon=True
        )
        poster.start()
        next_report = began
        while time.monotonic() < began + args.deadline:
            now = waiting(store)
            if now >= args.cases:
                break
            if time.monotonic() >= next_report:
                last = sampler.samples[-1] if sampler.samples else None
                rss = f"{last.rss / MB:.0f} MB, cache {last.cached}" if last else "?"
                log(f"accepted {tally.accepted}, waiting {now}, worker RSS {rss}")
                next_report = time.monotonic() + 15
            time.sleep(1)
        poster.join(timeout=60)
        opening = time.monotonic() - began
        all_waiting = waiting(store)
        log(f"{all_waiting} of {args.cases} cases waiting after {opening:.1f}s; settling {args.settle:.0f}s")
        settle_from = sampler.samples[-1].at if sampler.samples else 0.0
        time.sleep(args.settle)
        opening_samples = [s for s in sampler.samples if opened_at <= s.at <= settle_from]
        settled = sampler.since(settle_from)
        peak = max((s.rss for s in opening_samples), default=0)
        settled_rss = statistics.median(s.rss for s in settled) if settled else 0
        cached_now = cache_size(metrics_url)
        filling = slope([s for s in opening_samples if s.cached is not None])

        sample = [p for p in patients[: args.answer] if p.case_id]
        ids = [p.case_id for p in sample if p.case_id]
        answer_began = time.monotonic()
        with Answering(stack, store, sample) as answering:
            while finished(store, ids) < len(ids) and time.monotonic() < answer_began + 600:
                if answering.error is not None:
                    raise answering.error
                time.sleep(0.5)
        answered_in = time.monotonic() - answer_began
        done = finished(store, ids)
        sampler.stopped.set()
        sampler.thread.join(timeout=10)
        after_answers = sampler.samples[-1].rss if sampler.samples else 0
    finally:
        sampler.stopped.set()
        stack.close()
        store.engine.dispose()
        if args.database == "postgresql":
            drop_postgres(url)

    per_open = (settled_rss - idle_rss) / max(all_waiting, 1)
    print()
    print(f"cases open       {all_waiting} of {args.cases} waiting_patient ({args.database}, "
          f"{args.clients} clients, {tally.sends} posts)")  # fmt: skip
    load = os.getloadavg()[0]
    print(f"opening          {opening:.1f}s = {all_waiting / opening:.1f} cases/s (load avg {load:.1f})")
    print(f"worker limits    {limits or 'defaults (config/settings.py WorkerLimits)'}")
    print(f"worker RSS       idle {idle_rss / MB:.0f} MB, peak {peak / MB:.0f} MB while opening, "
          f"settled {settled_rss / MB:.0f} MB with all waiting (cache {cached_now})")  # fmt: skip
    print(f"per open case    {per_open / 1024:.1f} KB ((settled - idle) / cases open)")
    if filling:
        base, per = filling
        print(f"per cached case  {per / 1024:.1f} KB "
              f"(RSS against cache size while filling; base {base / MB:.0f} MB)")  # fmt: skip
    print(f"answered         {done} of {len(ids)} oldest cases finished after their patient's answer "
          f"in {answered_in:.1f}s; worker RSS then {after_answers / MB:.0f} MB")  # fmt: skip
    ok = done == len(ids) and all_waiting >= args.cases
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)  # the dev server's file is ~30 KB a case
    else:
        print(f"logs kept in {tmp / 'var'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
