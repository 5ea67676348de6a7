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

python bench/throughput.py N [--clients 4] [--starters 4] [--database postgresql|sqlite] [--deadline 900]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from temporalio import activity, workflow

if not workflow.unsafe.in_sandbox():  # the sandbox re-imports this module for BareSteps: path set already
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with workflow.unsafe.imports_passed_through():
    from sqlalchemy import select
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client, WorkflowHistory
    from temporalio.worker import Worker
    from temporalio.workflow import ParentClosePolicy

    from store.db import Store, migrate
    from store.models import Case
    from tests.support.databases import drop_postgres, fresh_postgres_url
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
class Shape:
    """How many server-side steps of each kind one workflow takes."""

    activities: int
    timers: int
    children: int
    signals: int

    @property
    def total(self) -> int:
        return self.activities + self.timers + self.children + self.signals


class BareActivities:
    def __init__(self, client: Client, answer_delay: float = ANSWER_DELAY) -> None:
        self.client = client
        self.answer_delay = answer_delay
        self.answering: set[asyncio.Task[None]] = set()

    @activity.defn(name="bare_noop")
    async def noop(self) -> None:
        return None

    @activity.defn(name="bare_prompt")
    async def prompt(self) -> None:
        """What the SMS and the patient's answer are in a case: the activity returns at once and a signal
        reaches the workflow from outside a moment later, once it is waiting (as the patient's answer
        does: the case starts its timer, the answer cancels it)."""
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
                await workflow.execute_activity("bare_prompt", start_to_close_timeout=timeout)
                wait = timedelta(hours=1) if timers > 0 else None
                timers -= wait is not None
                await workflow.wait_condition(functools.partial(self._answered, k), timeout=wait)
            else:
                await workflow.execute_activity("bare_noop", start_to_close_timeout=timeout)
        for _ in range(max(0, timers)):
            await workflow.sleep(timedelta(milliseconds=10))
        for j in range(shape.children):
            await workflow.start_child_workflow(
                BareChild.run,
                id=f"{workflow.info().workflow_id}-child-{j}",
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        return self.answers


def bare_worker(address: str, task_queue: str) -> None:
    """The bare baseline's worker process (started by BareStack, killed when the run ends)."""

    async def serve() -> None:
        client = await Client.connect(address)
        acts = BareActivities(client)
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareSteps, BareChild],
            activities=[acts.noop, acts.prompt],
        )
        print(f"bare worker: polling {task_queue!r} on {address}", flush=True)
        await worker.run()

    asyncio.run(serve())


class BareStack(System):
    """A fresh file-backed dev server started exactly as the real one (System's command line) and the bare
    worker as its own process."""

    def __init__(self, var_dir: Path) -> None:
        super().__init__(f"sqlite:///{var_dir / 'unused.db'}", var_dir, "processes")
        self.task_queue = f"bare-{os.getpid()}"

    def command(self, name: str) -> list[str]:
        if name == "worker":
            address = f"127.0.0.1:{self.temporal_port}"
            code = f"from bench.throughput import bare_worker; bare_worker({address!r}, {self.task_queue!r})"
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


# --------------------------------------------------------------------------- ours


@dataclass
class Ours:
    took: float
    finished: int
    outcomes: dict[str, int]
    steps: dict[str, int]
    step_spread: list[int]
    cpu: CpuMeter


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


async def run_ours(n: int, clients: int, database_kind: str, tmp: Path, deadline: float) -> Ours:
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
            meter.start()
            took, case_ids = await in_daemon_thread(run_cases, stack, store, n, clients, 1, deadline)
            meter.stop()
            with store.session() as s:
                cases = list(s.scalars(select(Case).where(Case.case_id.in_(case_ids))))
            # the step count of a sample of finished cases spread over the run
            sample = case_ids[:: max(1, len(case_ids) // 10)]
            steps = await history_steps(client, store, sample)
        finally:
            stack.close()
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
    )


def median_steps(sampled: list[dict[str, int]]) -> tuple[dict[str, int], list[int]]:
    """The sampled history with the median count of steps, and every sample's count."""
    totals = [sum(s[k] for k in COUNTED) for s in sampled]
    return sampled[totals.index(statistics.median_low(totals))], sorted(totals)


async def run_bare_stack(
    shape: Shape, n: int, starters: int, tmp: Path
) -> tuple[float, dict[str, int], list[int], CpuMeter]:
    stack = BareStack(tmp / "bare")
    log(f"bare: {shape}, logs in {tmp / 'bare'}")
    try:
        stack.spawn("temporal")
        stack.spawn("worker")
        stack.wait_for_worker()
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
        warm, _ = await run_bare(client, stack.task_queue, shape, 1, 1)
        log(f"bare: warm-up workflow finished in {warm:.1f}s; now {n} workflows")
        meter = CpuMeter(
            {"temporal server": stack.procs["temporal"].pid, "bare worker": stack.procs["worker"].pid}
        )
        meter.start()
        took, ids = await run_bare(client, stack.task_queue, shape, n, starters)
        meter.stop()
        sample = [
            steps_of(await client.get_workflow_handle(i).fetch_history()) for i in ids[:: max(1, n // 10)]
        ]
    finally:
        stack.close()
    steps, spread = median_steps(sample)
    return took, steps, spread, meter


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("n", type=int, nargs="?", default=200, help="cases (and bare workflows)")
    parser.add_argument("--clients", type=int, default=4, help="threads posting the events")
    parser.add_argument("--starters", type=int, default=4, help="concurrent starters of the bare workflows")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the N cases to finish")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mr-throughput-"))
    load = os.getloadavg()
    ours = await run_ours(args.n, args.clients, args.database, tmp, args.deadline)
    shape = shape_of(ours.steps)
    bare_took, bare_steps, bare_spread, bare_cpu = await run_bare_stack(shape, args.n, args.starters, tmp)

    ours_rate, bare_rate = args.n / ours.took, args.n / bare_took
    print(f"\nthroughput: {args.n} cases, {args.database}, {os.cpu_count()} cores, "
          f"load average before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print(f"{'server-side steps per workflow':<40} {'ours (a case)':>14} {'bare':>8}")
    for name in COUNTED:
        print(f"  {name:<38} {ours.steps[name]:>14} {bare_steps[name]:>8}")
    print(f"  {'total counted':<38} {sum(ours.steps[k] for k in COUNTED):>14} "
          f"{sum(bare_steps[k] for k in COUNTED):>8}")  # fmt: skip
    for name in [k for k in ours.steps if k not in COUNTED]:
        print(f"  {name:<38} {ours.steps[name]:>14} {bare_steps[name]:>8}")
    print(f"  (ours over {len(ours.step_spread)} sampled cases: {ours.step_spread}; "
          f"bare over {len(bare_spread)}: {bare_spread})")  # fmt: skip
    print(f"ours   {args.n} cases in {ours.took:6.1f} s = {ours_rate:6.2f} cases/s "
          f"(finished {ours.finished}, outcomes {ours.outcomes}; {args.clients} clients)")  # fmt: skip
    print(f"bare   {args.n} workflows in {bare_took:6.1f} s = {bare_rate:6.2f} /s ({args.starters} starters)")
    print(f"ratio  ours / bare = {ours_rate / bare_rate:.2f}   (issue 11 target >= 0.9)")
    ours_cpu, bare_cpu_per = ours.cpu.system / args.n, bare_cpu.system / args.n
    print(f"CPU    {ours_cpu:.2f} s per case (ours' processes), {bare_cpu_per:.2f} s per bare workflow: "
          f"bare / ours = {bare_cpu_per / ours_cpu:.2f} (the ratio when CPU is what runs out)")  # fmt: skip
    print("CPU during ours:")
    print("\n".join(ours.cpu.lines(ours.took)))
    print("CPU during bare:")
    print("\n".join(bare_cpu.lines(bare_took)))
    return 0 if ours.finished == args.n else 1


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so the processes started and the database are cleaned up


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    raise SystemExit(asyncio.run(main()))
