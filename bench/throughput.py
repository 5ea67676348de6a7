"""Throughput benchmark: whole booking-conflict cases per second through the real system, against bare
Temporal running workflows with the same number of server-side steps, in one run (issue 11: ours / bare
>= 0.9).

1. Ours. The real processes, as `make run` starts them (tests/support/system.py's System, how="processes": the
   Temporal dev server on a file, `worker.py`, the web app under uvicorn, every provider local, a fresh
   database;
   the gift-card queue's 1/s limit and the day's compensation budget lifted, contact rules off). One
   warm-up case, then N signed events posted over real HTTP by C client threads; patients answer their
   offer at once by a signed Twilio webhook (the harness's Answering thread), so the cases run to
   `resolved`. Timed from the first post until the store shows every case finished (polled every 0.2 s).
2. The step count, read at run time from a sample of the finished cases' histories (never hard-coded:
   the workflows change), the median case's: ActivityTaskScheduled, TimerStarted,
   StartChildWorkflowExecutionInitiated, WorkflowExecutionSignaled, WorkflowTaskCompleted. Local
   activities (MarkerRecorded) cost no server round trip: shown, not counted, as are search attribute
   upserts and the history's length (server work too: more events, bigger payloads).
3. Bare. A fresh dev server of the same kind (file-backed, System's command line), a worker in its own
   process (as worker.py is: its own interpreter, GIL and CPU figure; the bench process only starts
   workflows) running this module's BareSteps with the same number of sequential no-op activities,
   timers, children and signals (one activity has a signal sent 0.3 s later to its own workflow, which
   then waits for it with a timeout, as a case waits for the patient). One warm-up, then N workflows started
   by S concurrent starters, timed from the first start to the last result.

Reading the output: the step table shows both histories side by side (they should match; the sampled
cases' totals differ by a workflow task or a timer, depending on when the answer lands). `ratio` is the
headline (absolute rates vary from run to run on a shared machine). `CPU … per case` compares what each
costs in CPU (utime+stime from /proc/PID/stat of the Temporal server, the worker, the web app, this
run's PostgreSQL backends): it is the ratio's bound when the machine's CPU is what runs out and, on a
machine shared with other work, steadier than wall time. The per-process table shows what bounds it
(on two cores the Temporal server is most of it); `anything else` is work outside the run. Small biases,
both ways: a case counts as finished when its status is `resolved`, before its last two workflow tasks
(the feedback child started, the workflow completed); its patient answers within one 0.3 s poll.

`--profile DIR`: py-spy samples the worker and the web app (and the bare workers) during the measured runs,
only threads holding the GIL (the processes' own Python work, not their waits), and writes one flame graph
(SVG) per process into DIR (bench/profiles/ keeps the ones RESULTS.md cites).
Sampling costs the sampled process a little; compare CPU figures from runs without it.

python bench/throughput.py N [--clients 4] [--starters 4] [--database postgresql|sqlite] [--deadline 900]
                             [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity, workflow

if not workflow.unsafe.in_sandbox():  # the sandbox re-imports this module for BareSteps: path set already
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with workflow.unsafe.imports_passed_through():
    from sqlalchemy import Engine, create_engine, event, select, text
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client, WorkflowHistory
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
    from temporalio.workflow import ParentClosePolicy

    from runtime.worker import ACTIVITY_THREADS
    from store.db import Store, engine_for, migrate
    from store.models import Case
    from tests.support.databases import POSTGRES_ADMIN_URL, drop_postgres, fresh_postgres_url
    from tests.support.fault_harness import (
        FINISHED,
        Answering,
        Ingest,
        Patient,
        finished_cases,
        ingest,
        log,
        make_patients,
    )
    from tests.support.system import System

COUNTED = {
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "timers": EventType.EVENT_TYPE_TIMER_STARTED,
    "children": EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    "signals": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    "workflow tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
STUCK = ("escalated", "failed")
BENCH = "this process (clients, patients, starters)"
T = TypeVar("T")
ANSWER_DELAY = 0.3  # seconds from the bare prompt activity to its signal (the patients answer within ~0.3 s)


# --------------------------------------------------------------------------- the bare baseline


@dataclass(frozen=True)
class StoreWork:
    """The durable writes one case makes in the database, per case: transactions on the server (committed or
    read-only; one a checkout from a pool like the store's, which sends no ping of its own: `store/db.py`),
    rows inserted and updated, and the inserted rows' mean size in bytes. Read from PostgreSQL's own
    statistics during the run (`DbMeter`), never hard-coded."""

    transactions: int = 0
    inserts: int = 0
    updates: int = 0
    row_bytes: int = 0

    def share(self, i: int, parts: int) -> StoreWork:
        """The i-th of `parts` near-equal shares (the bare workflow's activities do a share each)."""

        def part(total: int) -> int:
            return total // parts + (1 if i < total % parts else 0)

        return StoreWork(part(self.transactions), part(self.inserts), part(self.updates), self.row_bytes)


@dataclass(frozen=True)
class Shape:
    """How many server-side steps of each kind one workflow takes, and the store work it does."""

    activities: int
    timers: int
    children: int
    signals: int
    store: StoreWork = StoreWork()

    @property
    def total(self) -> int:
        return self.activities + self.timers + self.children + self.signals


class BareActivities:
    """The bare workflow's activities. With a database (the fair side), each does its share of a case's
    store work in plain SQL (no ORM, no encryption) through a pool like the store's: a transaction with
    an INSERT of a row of the case's mean size, or an UPDATE of one, or (read-only) a SELECT."""

    def __init__(self, client: Client, db_url: str | None = None, answer_delay: float = ANSWER_DELAY) -> None:
        self.client = client
        self.answer_delay = answer_delay
        self.answering: set[asyncio.Task[None]] = set()
        self.engine = engine_for(db_url) if db_url else None
        self.row_overhead = 0
        if self.engine is not None:  # what a row of bare_rows takes besides its payload (header, id, key)
            with self.engine.begin() as conn:
                overhead = conn.execute(
                    text("SELECT pg_column_size(ROW(1::bigint, CAST(:k AS text), ''::text))"),
                    {"k": "bare-000000-000-1-0-0"},
                ).scalar_one()
            self.row_overhead = int(overhead)

    def _store_work(self, work: StoreWork, key: str) -> None:
        assert self.engine is not None
        payload = max(0, work.row_bytes - self.row_overhead)
        checkouts = max(1, work.transactions)  # a transaction a checkout, as the store's pool
        for t in range(checkouts):
            rows = work.share(t, checkouts)  # the rows this transaction writes
            with self.engine.begin() as conn:
                for j in range(rows.inserts):
                    conn.execute(
                        text("INSERT INTO bare_rows (k, payload) VALUES (:k, :p)"),
                        {"k": f"{key}-{t}-{j}", "p": "x" * payload},
                    )
                for _ in range(rows.updates):
                    conn.execute(
                        text("UPDATE bare_rows SET payload = :p WHERE k = :k"),
                        {"k": f"{key}-0-0", "p": "y" * payload},
                    )
                if not rows.inserts and not rows.updates:
                    conn.execute(text("SELECT payload FROM bare_rows WHERE k = :k"), {"k": f"{key}-0-0"})

    async def _work(self, work: StoreWork) -> None:
        if self.engine is not None and work.transactions:
            info = activity.info()
            await asyncio.to_thread(self._store_work, work, f"{info.workflow_id}-{info.activity_id}")

    @activity.defn(name="bare_noop")
    async def noop(self, work: StoreWork) -> None:
        await self._work(work)

    @activity.defn(name="bare_prompt")
    async def prompt(self, work: StoreWork) -> None:
        """What the SMS and the patient's answer are in a case: the activity returns at once and a signal
        reaches the workflow from outside a moment later, once it is waiting (as the patient's answer
        does: the case starts its timer, the answer cancels it)."""
        await self._work(work)
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None
        task = asyncio.create_task(self._answer(workflow_id))
        self.answering.add(task)
        task.add_done_callback(self.answering.discard)

    async def _answer(self, workflow_id: str) -> None:
        await asyncio.sleep(self.answer_delay)
        await self.client.get_workflow_handle(workflow_id).signal("answer")


@workflow.defn(name="BareChild")
class BareChild:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BareSteps")
class BareSteps:
    """`shape.activities` sequential no-op activities; where a case waits for the patient, one of them
    signals this workflow and it waits for the signal with a timeout (a timer, cancelled by the signal);
    timers left over are short sleeps; children (abandoned, like the case's feedback request) last."""

    def __init__(self) -> None:
        self.answers = 0

    @workflow.signal(name="answer")
    def answer(self) -> None:
        self.answers += 1

    def _answered(self, k: int) -> bool:
        return self.answers > k

    @workflow.run
    async def run(self, shape: Shape) -> int:
        timeout = timedelta(seconds=30)
        prompts = min(shape.signals, shape.activities)
        # the waits sit where a case's do: after the first half of the activities
        first = max(0, shape.activities // 2 - prompts)
        timers = shape.timers
        for i in range(shape.activities):
            k = i - first
            if 0 <= k < prompts:
                # as a case: the SMS's completion starts the wait's timer in its task, the answer (sent
                # `answer_delay` after the prompt) cancels it in another; an answer that lands first
                # shares the task and no timer starts (a case's patient who answers that fast does too)
                await workflow.execute_activity(
                    "bare_prompt", shape.store.share(i, shape.activities), start_to_close_timeout=timeout
                )
                wait = timedelta(hours=1) if timers > 0 else None
                timers -= wait is not None
                await workflow.wait_condition(functools.partial(self._answered, k), timeout=wait)
            else:
                await workflow.execute_activity(
                    "bare_noop", shape.store.share(i, shape.activities), start_to_close_timeout=timeout
                )
        for _ in range(max(0, timers)):
            await workflow.sleep(timedelta(milliseconds=10))
        for j in range(shape.children):
            await workflow.start_child_workflow(
                BareChild.run,
                id=f"{workflow.info().workflow_id}-child-{j}",
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        return self.answers


def bare_worker(address: str, task_queue: str, db_url: str | None = None) -> None:
    """The bare baseline's worker process (started by BareStack, killed when the run ends). With a database
    (the fair side) its activities do the store work, and this module passes through the sandbox as the
    project's workflow modules do in worker.py (issue 11's bare side, without, imported it again for every
    workflow: ~40 % of its worker's CPU)."""

    async def serve() -> None:
        # as worker.py: one thread for blocking store work per connection the pool can hand out
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=ACTIVITY_THREADS))
        client = await Client.connect(address)
        acts = BareActivities(client, db_url)
        passed = SandboxRestrictions.default.with_passthrough_modules("bench")
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareSteps, BareChild],
            activities=[acts.noop, acts.prompt],
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=passed if db_url else SandboxRestrictions.default
            ),
        )
        print(f"bare worker: polling {task_queue!r} on {address}", flush=True)
        await worker.run()

    asyncio.run(serve())


class BareStack(System):
    """A fresh file-backed dev server started exactly as the real one (System's command line) and the bare
    worker as its own process (doing the store work in `db_url`, if given)."""

    def __init__(self, var_dir: Path, db_url: str | None = None) -> None:
        super().__init__(f"sqlite:///{var_dir / 'unused.db'}", var_dir, "processes")
        self.task_queue = f"bare-{os.getpid()}"
        self.bare_db_url = db_url

    def command(self, name: str) -> list[str]:
        if name == "worker":
            address = f"127.0.0.1:{self.temporal_port}"
            args = f"{address!r}, {self.task_queue!r}, {self.bare_db_url!r}"
            code = f"from bench.throughput import bare_worker; bare_worker({args})"
            return [sys.executable, "-c", code]
        return super().command(name)

    def wait_for_worker(self) -> None:
        deadline = time.monotonic() + 60
        while "bare worker: polling" not in self.tail("worker"):
            if self.procs["worker"].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bare worker did not start:\n{self.tail('worker')}")
            time.sleep(0.1)


async def run_bare(
    client: Client, task_queue: str, shape: Shape, n: int, starters: int
) -> tuple[float, list[str]]:
    """Start n BareSteps workflows from `starters` concurrent starters; seconds to the last result, and
    their ids."""
    todo = list(range(n))
    run = os.urandom(3).hex()
    handles = []

    async def starter() -> None:
        while todo:
            i = todo.pop(0)
            handles.append(
                await client.start_workflow(BareSteps.run, shape, id=f"bare-{run}-{i}", task_queue=task_queue)
            )

    began = time.monotonic()
    await asyncio.gather(*(starter() for _ in range(starters)))
    results = await asyncio.gather(*(h.result() for h in handles))
    took = time.monotonic() - began
    assert all(r == shape.signals for r in results), results
    return took, [h.id for h in handles]


# --------------------------------------------------------------------------- steps and CPU


class Profiler:
    """py-spy recording each named process (and its children) from start() to stop(): one flame graph per
    process, `DIR/<side>-<name>.svg`. Nothing happens without a directory."""

    def __init__(self, directory: Path | None, side: str, pids: dict[str, int]) -> None:
        self.directory, self.side, self.pids = directory, side, pids
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        for name, pid in self.pids.items():
            out = self.directory / f"{self.side}-{name}.svg"
            self.procs.append(
                subprocess.Popen(
                    [str(spy), "record", "--pid", str(pid), "--rate", "100", "--subprocesses", "--gil",
                     "--nonblocking", "--format", "flamegraph", "--output", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )  # fmt: skip

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its flame graph on SIGINT
        for proc in self.procs:
            _, err = proc.communicate(timeout=60)
            if proc.returncode not in (0, -signal.SIGINT):
                log(f"py-spy exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
        self.procs.clear()


def steps_of(history: WorkflowHistory) -> dict[str, int]:
    kinds = Counter(event.event_type for event in history.events)
    counted = {name: kinds[kind] for name, kind in COUNTED.items()}
    counted["local activities (markers, not counted)"] = kinds[EventType.EVENT_TYPE_MARKER_RECORDED]
    counted["search attribute upserts (not counted)"] = kinds[
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    counted["history events in all"] = len(history.events)
    return counted


def shape_of(steps: dict[str, int]) -> Shape:
    return Shape(steps["activities"], steps["timers"], steps["children"], steps["signals"])


def _processes() -> dict[int, tuple[int, int]]:
    """Every process: pid -> (parent pid, utime+stime in ticks, all its threads), from /proc/PID/stat."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = raw[raw.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        out[int(entry)] = int(fields[1]), int(fields[11]) + int(fields[12])
    return out


def family(pid: int, processes: dict[int, tuple[int, int]]) -> set[int]:
    """pid and its live descendants (the Temporal CLI or uvicorn may run the work in a child)."""
    found, grew = {pid}, True
    while grew:
        more = {p for p, (parent, _) in processes.items() if parent in found} - found
        grew = bool(more)
        found |= more
    return found


def backends_of(database: str) -> Callable[[dict[int, tuple[int, int]]], set[int]]:
    """The PostgreSQL backends serving one database (each titles itself `postgres: [CLUSTER:] USER DB …`)."""

    def find(processes: dict[int, tuple[int, int]]) -> set[int]:
        found = set()
        for pid in processes:
            with contextlib.suppress(OSError):
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
                if title[:1] == [b"postgres:"] and database.encode() in title[1:4]:
                    found.add(pid)
        return found

    return find


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


class CpuMeter:
    """CPU seconds between start() and stop() of each named part of the system (a process and its
    children; the PostgreSQL backends of the run's database), of this process (its own threads only: it is
    the parent of the system's processes) and of the machine. A process that exits in between is missed
    (none should)."""

    def __init__(self, pids: dict[str, int], database: str | None = None) -> None:
        self.parts: dict[str, Callable[[dict[int, tuple[int, int]]], set[int]]] = {
            name: functools.partial(family, pid) for name, pid in pids.items()
        }
        if database:
            self.parts["postgresql (this run's database)"] = backends_of(database)
        self.parts[BENCH] = lambda _: {os.getpid()}
        self.used: dict[str, float] = {}
        self.machine = (0.0, 0.0)

    def start(self) -> None:
        self._before = {pid: ticks for pid, (_, ticks) in _processes().items()}
        self._machine = machine_busy()

    def stop(self) -> None:
        now = _processes()
        for name, find in self.parts.items():
            ticks = sum(now[p][1] - self._before.get(p, 0) for p in find(now) if p in now)
            self.used[name] = ticks / CLK_TCK
        busy, total = machine_busy()
        self.machine = (busy - self._machine[0], total - self._machine[1])

    @property
    def system(self) -> float:
        """CPU seconds of the system under test (everything but this process)."""
        return sum(used for name, used in self.used.items() if name != BENCH)

    def lines(self, took: float) -> list[str]:
        cores = os.cpu_count() or 1
        busy, total = self.machine
        out = [
            f"  {name:<44} {used:7.1f} s  ({100 * used / took:4.0f}% of one core)"
            for name, used in sorted(self.used.items(), key=lambda kv: -kv[1])
        ]
        others = busy - sum(self.used.values())
        out.append(f"  {'anything else on the machine':<44} {others:7.1f} s")
        out.append(
            f"  machine: {busy:.1f} of {total:.1f} CPU s busy ({100 * busy / total:.0f}% of {cores} cores)"
        )
        return out


class DbMeter:
    """What the system did in its PostgreSQL database between start() and stop(), from the server's own
    statistics (pg_stat_database): transactions (committed and rolled back: a read is a transaction too)
    and rows inserted and updated, less the transactions of this process (its polls and the patients'
    reads, counted on its engine). PostgreSQL publishes a backend's figures at most once a second while
    busy and within 10 s once idle, and at its exit: start() waits out the idle interval and stop() is
    called once the system's processes are gone."""

    IDLE_FLUSH_SECONDS = 11

    def __init__(self, url: str, own: Engine | None = None) -> None:
        self.url = url
        self.database = url.rsplit("/", 1)[1]
        self.own_transactions = 0
        if own is not None:
            event.listen(own, "commit", self._own)
            event.listen(own, "rollback", self._own)
        self.before: dict[str, int] = {}
        self.used: dict[str, int] = {}
        self._admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def _own(self, _conn: object) -> None:
        self.own_transactions += 1

    def _ask(self, sql: str) -> Any:
        """One row of the server's statistics about the database, over the admin's connection (one engine
        for the run: the pause in stop() asks five times a second)."""
        with self._admin.connect() as conn:
            return conn.execute(text(sql), {"d": self.database}).one()

    def _stats(self) -> dict[str, int]:
        row = self._ask(
            "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated FROM pg_stat_database"
            " WHERE datname = :d"
        )
        return {"transactions": row[0], "inserts": row[1], "updates": row[2]}

    def start(self) -> None:
        time.sleep(self.IDLE_FLUSH_SECONDS)
        self.before = self._stats()
        self.own_transactions = 0

    def stop(self) -> None:
        """Once the system's processes have exited (their backends then publish what they did)."""
        deadline = time.monotonic() + 30
        while self._backends() and time.monotonic() < deadline:
            time.sleep(0.2)
        after = self._stats()
        self._admin.dispose()
        self.used = {k: after[k] - self.before[k] for k in after}
        self.used["transactions"] -= self.own_transactions

    def _backends(self) -> int:
        return int(self._ask("SELECT count(*) FROM pg_stat_activity WHERE datname = :d")[0])

    def row_bytes(self) -> int:
        """The mean size of a row inserted in the database's tables (weighted by rows inserted)."""
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                tables = conn.execute(
                    text("SELECT relname, n_tup_ins FROM pg_stat_user_tables WHERE n_tup_ins > 0")
                ).all()
                total = weight = 0.0
                for name, inserted in tables:
                    mean = f'SELECT avg(pg_column_size(t.*)) FROM "{name}" t'  # noqa: S608 (the catalogue's names)
                    size = conn.execute(text(mean)).scalar()
                    if size is not None:
                        total += float(size) * inserted
                        weight += inserted
        finally:
            engine.dispose()
        return round(total / weight) if weight else 0

    def per(self, n: int) -> StoreWork:
        return StoreWork(
            round(self.used["transactions"] / n),
            round(self.used["inserts"] / n),
            round(self.used["updates"] / n),
            self.row_bytes(),
        )


# --------------------------------------------------------------------------- ours


@dataclass
class Ours:
    took: float
    finished: int
    outcomes: dict[str, int]
    steps: dict[str, int]
    step_spread: list[int]
    cpu: CpuMeter
    store: StoreWork | None  # per case, on PostgreSQL


def run_cases(
    stack: System, store: Store, count: int, clients: int, seed: int, deadline: float
) -> tuple[float, list[str]]:
    """Post `count` events, patients answering; seconds from the first post until every case finished
    (polled in the store every 0.2 s) and the case ids."""
    patients = make_patients(count, seed)
    tally = Ingest()
    with Answering(stack, store, patients) as answering:
        began = time.monotonic()
        ingest(stack, patients, clients, 0.0, tally)
        polls = 0
        while finished_cases(store, patients) < count:
            polls += 1
            if answering.error is not None:
                raise answering.error
            if polls % 10 == 0 and (
                stuck := stuck_cases(store, patients)
            ):  # with a person: the benchmark cannot finish them
                raise AssertionError(f"cases handed to a person: {stuck}")
            if time.monotonic() - began > deadline:
                raise AssertionError(
                    f"{finished_cases(store, patients)} of {count} cases finished in {deadline:.0f}s"
                )
            time.sleep(0.2)
        took = time.monotonic() - began
    return took, [p.case_id for p in patients if p.case_id]


def stuck_cases(store: Store, patients: list[Patient]) -> dict[str, str]:
    ids = [p.case_id for p in patients if p.case_id]
    with store.session() as s:
        rows = s.execute(
            select(Case.case_id, Case.status).where(Case.case_id.in_(ids), Case.status.in_(STUCK))
        )
        return {case_id: status for case_id, status in rows}


async def history_steps(client: Client, store: Store, case_ids: list[str]) -> list[dict[str, int]]:
    with store.session() as s:
        ids = list(s.scalars(select(Case.workflow_id).where(Case.case_id.in_(case_ids))))
    return [steps_of(await client.get_workflow_handle(wid).fetch_history()) for wid in ids]


async def in_daemon_thread(fn: Callable[..., T], *args: object) -> T:
    """fn(*args) in a daemon thread: unlike asyncio.to_thread's, the interpreter does not wait for it at exit
    (a client thread resending to a web app already stopped would hold a SIGTERMed run for minutes)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # the awaiting task was cancelled
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def call() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=call, daemon=True).start()
    return await done


def fresh_database() -> str:
    """A new PostgreSQL database of this run's own (mr_throughput_…), dropped at the end."""
    return fresh_postgres_url("mr_throughput")


async def run_ours(
    n: int, clients: int, database_kind: str, tmp: Path, deadline: float, profile: Path | None = None
) -> Ours:
    if database_kind == "sqlite":
        url = f"sqlite:///{tmp / 'makeright.db'}"
    else:
        url = fresh_database()
    try:
        migrate(url)
        store = Store(url)
        # every case pays a gift card: the queue's 1/s limit lifted (the harness lifts the day's budget)
        stack = System(url, tmp / "ours", "processes", RATE_LIMITS__GIFT_CARDS="1000")
        log(f"ours: {database_kind}, logs in {tmp / 'ours'}")
        try:
            stack.start()
            client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
            warm, _ = await in_daemon_thread(run_cases, stack, store, 1, 1, 1000, deadline)
            log(f"ours: warm-up case finished in {warm:.1f}s; now {n} cases")
            names = {"temporal": "temporal server", "worker": "worker.py", "web": "web app (uvicorn)"}
            database = url.rsplit("/", 1)[1] if database_kind == "postgresql" else None
            meter = CpuMeter({names[name]: p.pid for name, p in stack.procs.items()}, database)
            db_meter = DbMeter(url, store.engine) if database else None
            if db_meter:
                db_meter.start()
            profiler = Profiler(profile, "ours", {n: stack.procs[n].pid for n in ("worker", "web")})
            profiler.start()
            meter.start()
            took, case_ids = await in_daemon_thread(run_cases, stack, store, n, clients, 1, deadline)
            meter.stop()
            profiler.stop()
            with store.session() as s:
                cases = list(s.scalars(select(Case).where(Case.case_id.in_(case_ids))))
            # the step count of a sample of finished cases spread over the run
            sample = case_ids[:: max(1, len(case_ids) // 10)]
            steps = await history_steps(client, store, sample)
        finally:
            stack.close()
        work = None
        if db_meter:
            store.engine.dispose()
            db_meter.stop()
            work = db_meter.per(n)
    finally:
        if database_kind == "postgresql":
            drop_postgres(url)
    typical, spread = median_steps(steps)
    return Ours(
        took=took,
        finished=sum(c.status in FINISHED for c in cases),
        outcomes=dict(Counter(str(c.outcome) for c in cases)),
        steps=typical,
        step_spread=spread,
        cpu=meter,
        store=work,
    )


def median_steps(sampled: list[dict[str, int]]) -> tuple[dict[str, int], list[int]]:
    """The sampled history with the median count of steps, and every sample's count."""
    totals = [sum(s[k] for k in COUNTED) for s in sampled]
    return sampled[totals.index(statistics.median_low(totals))], sorted(totals)


@dataclass
class Bare:
    took: float
    steps: dict[str, int]
    spread: list[int]
    cpu: CpuMeter
    store: StoreWork | None  # as measured (the fair side)


async def run_bare_stack(
    shape: Shape, n: int, starters: int, tmp: Path, side: str, profile: Path | None = None
) -> Bare:
    """`side` "fair": the store work of `shape` in a fresh PostgreSQL database of its own; else none."""
    url = fresh_database() if side == "fair" else None
    try:
        return await _bare_stack(shape, n, starters, tmp / f"bare-{side}", side, url, profile)
    finally:
        if url:
            drop_postgres(url)


async def _bare_stack(
    shape: Shape, n: int, starters: int, var: Path, side: str, url: str | None, profile: Path | None
) -> Bare:
    if url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text("CREATE TABLE bare_rows (id bigserial PRIMARY KEY, k text UNIQUE, payload text)")
            )
        engine.dispose()
    else:
        shape = Shape(shape.activities, shape.timers, shape.children, shape.signals)  # no store work
    stack = BareStack(var, url)
    log(f"bare ({side}): {shape}, logs in {var}")
    try:
        stack.spawn("temporal")
        stack.spawn("worker")
        stack.wait_for_worker()
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
        warm, _ = await run_bare(client, stack.task_queue, shape, 1, 1)
        log(f"bare: warm-up workflow finished in {warm:.1f}s; now {n} workflows")
        meter = CpuMeter(
            {"temporal server": stack.procs["temporal"].pid, "bare worker": stack.procs["worker"].pid},
            url.rsplit("/", 1)[1] if url else None,
        )
        db_meter = DbMeter(url) if url else None
        if db_meter:
            db_meter.start()
        profiler = Profiler(profile, f"bare-{side}", {"worker": stack.procs["worker"].pid})
        profiler.start()
        meter.start()
        took, ids = await run_bare(client, stack.task_queue, shape, n, starters)
        meter.stop()
        profiler.stop()
        sample = [
            steps_of(await client.get_workflow_handle(i).fetch_history()) for i in ids[:: max(1, n // 10)]
        ]
    finally:
        stack.close()
    work = None
    if db_meter:
        db_meter.stop()
        work = db_meter.per(n)
    steps, spread = median_steps(sample)
    return Bare(took, steps, spread, meter, work)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("n", type=int, nargs="?", default=200, help="cases (and bare workflows)")
    parser.add_argument("--clients", type=int, default=4, help="threads posting the events")
    parser.add_argument("--starters", type=int, default=4, help="concurrent starters of the bare workflows")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the N cases to finish")
    parser.add_argument(
        "--profile", type=Path, help="py-spy flame graphs of the measured runs, into this folder"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mr-throughput-"))
    load = os.getloadavg()
    ours = await run_ours(args.n, args.clients, args.database, tmp, args.deadline, args.profile)
    shape = replace(shape_of(ours.steps), store=ours.store or StoreWork())
    sides = {"bare": await run_bare_stack(shape, args.n, args.starters, tmp, "bare", args.profile)}
    if ours.store is not None:
        sides = {
            "fair": await run_bare_stack(shape, args.n, args.starters, tmp, "fair", args.profile),
            **sides,
        }
    report(args, load, ours, sides)
    return 0 if ours.finished == args.n else 1


def report(
    args: argparse.Namespace, load: tuple[float, float, float], ours: Ours, sides: dict[str, Bare]
) -> None:
    n = args.n
    print(f"\nthroughput: {n} cases, {args.database}, {os.cpu_count()} cores, "
          f"load average before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print(f"{'server-side steps per workflow':<40} {'ours (a case)':>14}" + "".join(f"{k:>8}" for k in sides))
    keys = list(ours.steps)
    for name in keys:
        if name == keys[len(COUNTED)]:
            print(f"  {'total counted':<38} {sum(ours.steps[k] for k in COUNTED):>14}"
                  + "".join(f"{sum(b.steps[k] for k in COUNTED):>8}" for b in sides.values()))  # fmt: skip
        print(f"  {name:<38} {ours.steps[name]:>14}" + "".join(f"{b.steps[name]:>8}" for b in sides.values()))
    print(f"  (totals of the sampled ones: ours {ours.step_spread}; "
          + "; ".join(f"{k} {b.spread}" for k, b in sides.items()) + ")")  # fmt: skip
    if ours.store is not None and "fair" in sides and sides["fair"].store is not None:
        fair = sides["fair"].store
        print(f"{'store work per workflow (pg_stat_database)':<44} {'ours':>10} {'fair':>8}")
        for name in ("transactions", "inserts", "updates", "row_bytes"):
            print(f"  {name.replace('_', ' '):<42} {getattr(ours.store, name):>10} {getattr(fair, name):>8}")
    rate = n / ours.took
    print(f"ours   {n} cases in {ours.took:6.1f} s = {rate:6.2f} cases/s "
          f"(finished {ours.finished}, outcomes {ours.outcomes}; {args.clients} clients)")  # fmt: skip
    what = {
        "fair": "the same steps and store work: the fair limit",
        "bare": "the same steps only: issue 11's",
    }
    for side, b in sides.items():
        print(f"{side:<6} {n} workflows in {b.took:6.1f} s = {n / b.took:6.2f} /s ({what[side]}; "
              f"{args.starters} starters)")  # fmt: skip
    for side, b in sides.items():
        goal = "issue 22: >= 0.8" if side == "fair" else "issue 11's target >= 0.9"
        ours_cpu, their_cpu = ours.cpu.system / n, b.cpu.system / n
        print(f"ratio  ours / {side}: throughput {rate / (n / b.took):.2f}, CPU per case {their_cpu:.3f} / "
              f"{ours_cpu:.3f} s = {their_cpu / ours_cpu:.2f}   ({goal})")  # fmt: skip
    print(f"CPU seconds per case by process {'':<12} {'ours':>8}" + "".join(f"{k:>8}" for k in sides))
    roles = {
        "worker": ("worker.py", "bare worker"),
        "temporal server": ("temporal server",),
        "web app": ("web app (uvicorn)",),
        "postgresql": ("postgresql (this run's database)",),
    }

    def of(meter: CpuMeter, names: tuple[str, ...]) -> str:
        used = [meter.used[k] for k in names if k in meter.used]
        return f"{sum(used) / n:8.3f}" if used else f"{'-':>8}"

    for role, names in roles.items():
        print(f"  {role:<42} {of(ours.cpu, names)}" + "".join(of(b.cpu, names) for b in sides.values()))
    print(f"  {'all of the system':<42} {ours.cpu.system / n:8.3f}"
          + "".join(f"{b.cpu.system / n:8.3f}" for b in sides.values()))  # fmt: skip
    print("CPU during ours:")
    print("\n".join(ours.cpu.lines(ours.took)))
    for side, b in sides.items():
        print(f"CPU during {side}:")
        print("\n".join(b.cpu.lines(b.took)))


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so the processes started and the database are cleaned up


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    raise SystemExit(asyncio.run(main()))
