"""Scale-out on one machine: several workers, web processes and relays against one Temporal server and
one PostgreSQL database, one of each SIGKILLed mid-run (run on demand: `make bench`; results go in
bench/RESULTS.md and docs/deploy.md by hand).

The processes are the real ones, each its own OS process, as a deployment runs them (tests/support/system.py's
System, how="processes", several of each here): the Temporal dev server on a file, `worker.py` xN (worker-1,
worker-2, ...), the web app under uvicorn x2 (web-1, web-2) and `starter.py relay` x2 (relay-1, relay-2). The
web processes run WITHOUT their own relay loop (`create_app(relay=False)`): each still dispatches every event
it accepts inline, and the two relays are separate processes that take over whatever the inline dispatch did
not finish (a web process killed mid-dispatch, Temporal slow), spool draining and reconciling included. So
"two relays" are two `starter.py relay` processes, and killing one leaves the other to do its work. Every
provider is `local`: the local phone, mailbox and gift-card book are what is counted.

Clients post N signed booking conflicts at once (a burst, so the run measures what the workers get
through, not the posting rate), spread round-robin over the live web processes (a load balancer: a send
that gets no answer goes to the next one); patients answer each offer by a signed Twilio webhook, spread
the same way. Mid-run (unless --no-kills) web-1 is SIGKILLed when half the events have been accepted,
worker-1 when a third of the cases have finished, relay-1 once worker-1 is back; each is started again
after --down seconds, as a supervisor would (a worker is not killed when it is the only one). The gift-card
queue's rate limit is lifted to --gift-card-rate and the daily compensation budget to 1,000,000 (the
defaults, 1 order/s and 500.00 a day, would make the run measure them).

Printed at the end (exit status 1 if any is wrong):
- events accepted, cases finished, lost (0), duplicate messages per step (0), double payments (0),
  workflows per case (exactly one BookingConflictRecovery per accepted event);
- cases/s: finished cases over the time from the first case opened to the last closed (the store's
  timestamps), so it includes the patients' answering, as a whole case does;
- the work spread, from the workflows' histories: workflow tasks (WorkflowTaskStarted's identity) and
  activity tasks (ActivityTaskStarted's identity) per worker, a restarted worker's incarnations summed
  under its name; with 2+ workers each must have run at least 1/(3 x workers) of both;
- history events per finished case (what the Temporal cluster persists per case; x cases/s = its write
  rate), by workflow type;
- per process: CPU seconds over the run (every incarnation) and the share of a core; per worker the mean
  workflow-task and activity schedule-to-start latency from its WORKER_METRICS_PORT (Temporal SDK metrics;
  the restarted worker's last incarnation only).

Reading it: `result OK` is the proof (nothing lost or doubled, one workflow per case, both workers did a
real share). cases/s with 2 workers against `--workers 1` says whether a second worker adds capacity; the
CPU column says who bounds it (a worker near 1.00 core is the worker's limit: add one; the Temporal server
high and the workers low is the server's). Logs and each worker's metrics scrape stay in the printed
directory.

python bench/scale.py [--events 300] [--workers 2] [--webs 2] [--relays 2] [--no-kills] [--seed 1]
python bench/scale.py --workers 1        what one worker handles (same kills, minus the worker's)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.procstat import cpu_seconds  # noqa: E402
from runtime.supervisor import WEB_KEEP_ALIVE_SECONDS  # noqa: E402
from store.db import Store, migrate  # noqa: E402
from store.models import Case, ReceivedEvent  # noqa: E402
from store.relay import INLINE_LEASE  # noqa: E402
from tests.support.databases import drop_postgres, fresh_postgres_url  # noqa: E402
from tests.support.fault_harness import (  # noqa: E402
    FINISHED,
    Answering,
    Figures,
    Ingest,
    Patient,
    _retrying_post,
    count,
    finished_cases,
    log,
    make_patients,
)
from tests.support.http import free_port, post_event  # noqa: E402
from tests.support.system import SECRET, System  # noqa: E402

WEB = (
    "import uvicorn; from web.app import create_app; "
    "uvicorn.run(create_app(relay=False), host='127.0.0.1', port={port}, "
    "log_level='warning', access_log=False, timeout_keep_alive={keep_alive})"
)


class ScaledStack(System):
    """The one launcher's separately killable processes, several named instances of each: worker-1..,
    web-1.., relay-1... `base` is a load balancer: each call gives the next live web process."""

    def __init__(self, db_url: str, var_dir: Path, workers: int, webs: int, relays: int, **env: str) -> None:
        # ports are taken once the Temporal server is up (start()): the dev server picks free ports of its
        # own at start (its HTTP API among them), and one of those could otherwise be a port chosen here
        self.web_ports = {f"web-{i + 1}": 0 for i in range(webs)}
        self._turn = itertools.count()
        super().__init__(db_url, var_dir, "processes", **env)
        self.names = [
            "temporal",
            *(f"worker-{i + 1}" for i in range(workers)),
            *self.web_ports,
            *(f"relay-{i + 1}" for i in range(relays)),
        ]
        self.pids: dict[str, list[int]] = defaultdict(list)  # every incarnation of each process
        self.metrics_ports = {n: 0 for n in self.names if n.startswith("worker-")}
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds (user + system), last seen
        self._sampler = threading.Thread(target=self._sample_cpu, daemon=True)
        self.served: Counter[str] = Counter()  # events accepted per web process

    @property
    def base(self) -> str:
        webs = list(self.web_ports)
        for _ in range(len(webs)):
            name = webs[next(self._turn) % len(webs)]
            proc = getattr(self, "procs", {}).get(name)
            if proc is not None and proc.poll() is None:
                return self.url(name)
        return self.url(webs[0])  # all down: the client's retry finds one back

    @base.setter
    def base(self, value: str) -> None:  # System.__init__ sets its single web's URL: there is none here
        pass

    def url(self, web: str) -> str:
        return f"http://127.0.0.1:{self.web_ports[web]}"

    def command(self, name: str) -> list[str]:
        if name.startswith("relay-"):
            return [sys.executable, "starter.py", "relay"]
        if name in self.web_ports:
            return [
                sys.executable,
                "-c",
                WEB.format(port=self.web_ports[name], keep_alive=WEB_KEEP_ALIVE_SECONDS),
            ]
        return super().command(name)

    def spawn(self, name: str) -> None:
        with self._lock:
            shared = self.env
            if name in self.web_ports:  # Twilio signs the URL it called: each web process's own here
                self.env = {
                    **shared,
                    "WEB_PORT": str(self.web_ports[name]),
                    "PUBLIC_BASE_URL": self.url(name),
                }
            if name in self.metrics_ports:  # the SDK's metrics, schedule-to-start latencies among them
                self.env = {**shared, "WORKER_METRICS_PORT": str(self.metrics_ports[name])}
            try:
                super().spawn(name)
            finally:
                self.env = shared
            if name in self.procs:
                self.pids[name].append(self.procs[name].pid)
        if name in self.web_ports:
            self.wait_for_port(name, self.web_ports[name])

    def start(self) -> None:
        self.spawn("temporal")
        for ports in (self.web_ports, self.metrics_ports):
            for name in ports:
                ports[name] = free_port()
        for name in self.names[1:]:
            self.spawn(name)
        self._watcher.start()
        self._sampler.start()

    def sample_cpu(self) -> None:
        for pids in list(self.pids.values()):
            for pid in pids:  # CPU only grows: a gone process (0.0) keeps what was last seen of it
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu_seconds(pid))

    def _sample_cpu(self) -> None:  # a killed incarnation's CPU is what was last seen of it
        while not self._closing:
            self.sample_cpu()
            time.sleep(0.5)

    def cpu_seconds(self, name: str) -> float:
        return sum(self.cpu.get(pid, 0.0) for pid in self.pids[name])

    def scrape(self, name: str) -> dict[str, tuple[float, float]]:
        """Sum and count of the worker's schedule-to-start histograms (its current incarnation only)."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            log(f"{name}: no metrics ({type(exc).__name__})")
            return {}
        (self.var_dir / f"{name}.metrics").write_text(text)  # the whole scrape, next to the logs
        found: dict[str, tuple[float, float]] = {}
        for kind in ("workflow_task", "activity"):
            metric = f"temporal_{kind}_schedule_to_start_latency"
            total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith(metric + "_sum"))  # fmt: skip
            n = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                    if line.startswith(metric + "_count"))  # fmt: skip
            found[kind] = (total, n)
        return found

    def post(self, patient: Patient) -> tuple[int, bool, str, int]:  # status, duplicate, case, sends
        """One client's event, to whichever web process is next, resent (to the next) until answered."""
        answered_by: list[str] = []

        def send() -> Any:
            base = self.base
            answer = post_event(base, SECRET, patient.event, timeout=10)
            answered_by.append(base)
            return answer

        answer, sends = _retrying_post(send, time.monotonic() + 180)
        assert answer.status_code in (200, 202), f"{answer.status_code} {answer.text}"
        body = answer.json()
        with self._lock:
            self.served[next(n for n in self.web_ports if self.url(n) == answered_by[-1])] += 1
        return answer.status_code, bool(body["duplicate"]), str(body["case_id"]), sends


# --------------------------------------------------------------------------- the run


@dataclass
class Spread:
    workflow_tasks: Counter[str] = field(default_factory=Counter)
    activity_tasks: Counter[str] = field(default_factory=Counter)
    events_by_type: Counter[str] = field(default_factory=Counter)
    workflows_by_type: Counter[str] = field(default_factory=Counter)
    conflict_workflows: Counter[str] = field(default_factory=Counter)  # workflow id -> runs
    taken_over: Counter[str] = field(default_factory=Counter)  # worker -> cases a killed worker had begun


async def read_histories(stack: ScaledStack) -> Spread:
    """Every workflow this run's Temporal server holds (it is this run's own), history by history."""
    owner = {f"{pid}@": name for name, pids in stack.pids.items() for pid in pids}
    killed = {f"{pid}@" for pids in stack.pids.values() for pid in pids[:-1]}  # all but the last incarnation
    spread = Spread()
    client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
    executions = [wf async for wf in client.list_workflows("")]
    gate = asyncio.Semaphore(8)

    def worker_of(identity: str) -> str:
        return next((name for prefix, name in owner.items() if identity.startswith(prefix)), identity)

    async def one(workflow_id: str, run_id: str, kind: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        spread.workflows_by_type[kind] += 1
        spread.events_by_type[kind] += len(history.events)
        if kind == "BookingConflictRecovery":
            spread.conflict_workflows[workflow_id] += 1
        ran: list[str] = []  # the identities that ran this workflow's tasks, in order
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                ran.append(event.workflow_task_started_event_attributes.identity)
                spread.workflow_tasks[worker_of(ran[-1])] += 1
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                spread.activity_tasks[worker_of(event.activity_task_started_event_attributes.identity)] += 1
        # begun by a worker that was then killed, carried on by another process: by which worker
        begun = next((i for i, who in enumerate(ran) if who.split("@")[0] + "@" in killed), None)
        if kind == "BookingConflictRecovery" and begun is not None:
            after = {worker_of(who) for who in ran[begun:] if who != ran[begun]}
            for name in after:
                spread.taken_over[name] += 1

    await asyncio.gather(*(one(wf.id, wf.run_id, wf.workflow_type) for wf in executions))
    return spread


@dataclass
class Run:
    figures: Figures
    spread: Spread
    cases_per_second: float
    incarnations: dict[str, int]
    cpu: dict[str, float]  # CPU seconds per process name, over the run (every incarnation)
    latency: dict[str, dict[str, tuple[float, float]]]  # worker -> kind -> (sum, count) of schedule-to-start
    inbox: dict[str, int]  # received events (booking events and patients' answers) by status, and by a relay


def run(stack: ScaledStack, store: Store, events: int, clients: int, kills: bool, down: float,
        deadline_s: float, seed: int) -> Run:  # fmt: skip
    patients = make_patients(events, seed)
    tally = Ingest()
    stop = threading.Event()
    answering = Answering(stack, store, patients)
    workers = [n for n in stack.names if n.startswith("worker-")]

    def chaos() -> None:
        while tally.accepted < events // 2:
            if stop.wait(0.02):
                return
        stack.kill("web-1", down_for=down)
        while finished_cases(store, patients) < events // 3:
            if stop.wait(0.2):
                return
        if len(workers) > 1:
            stack.kill("worker-1", down_for=down)
        else:
            log("one worker: not killed (nothing else would run the cases meanwhile)")
        stack.kill("relay-1", down_for=down)

    def client(todo: list[Patient], lock: threading.Lock) -> None:
        while True:
            with lock:
                if not todo:
                    return
                patient = todo.pop(0)
            status, duplicate, case_id, sends = stack.post(patient)
            assert (status == 200) == duplicate
            patient.case_id = case_id
            with tally.lock:
                tally.accepted += 1
                tally.sends += sends
                tally.duplicates_recognised += duplicate

    began = time.monotonic()
    try:
        stack.start()  # inside the try: a process that never comes up must not leave the others running
        log(f"up: {', '.join(stack.names)} in {time.monotonic() - began:.1f}s")
        with answering:
            faults = threading.Thread(target=chaos, daemon=True)
            if kills:
                faults.start()
            began = time.monotonic()
            todo, lock = list(patients), threading.Lock()
            threads = [
                threading.Thread(target=client, args=(todo, lock), daemon=True) for _ in range(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            posting = time.monotonic() - began
            log(f"{tally.accepted} events accepted after {tally.sends} sends in {posting:.1f}s")
            deadline = began + deadline_s
            done = 0
            while time.monotonic() < deadline and answering.error is None:
                done = finished_cases(store, patients)
                if done == len(patients) and not faults.is_alive():
                    break
                time.sleep(0.5)
            stop.set()
            if kills:
                faults.join(timeout=60)
            if answering.error is not None:
                raise answering.error
        took = time.monotonic() - began
        figures = count(store, patients, tally, stack)
        figures.seconds = took
        with (
            store.session() as s
        ):  # the last case closed, on the database's clock, relative to the first open
            first, last = s.execute(
                select(func.min(Case.opened_at), func.max(Case.closed_at)).where(
                    Case.case_id.in_([p.case_id for p in patients if p.case_id]), Case.status.in_(FINISHED)
                )
            ).one()
        busy = (last - first).total_seconds() if first and last else took
        with store.session() as s:  # the inbox (events and patients' answers): this run's database's own
            inbox_rows = select(
                ReceivedEvent.status,
                ReceivedEvent.received_at,
                ReceivedEvent.dispatched_at,
                ReceivedEvent.attempts,
            )
            rows = s.execute(inbox_rows).all()
        # the inline dispatch gives up at relay.INLINE_WAIT, so what was dispatched later, or on a second
        # attempt, was dispatched by a relay
        late = [
            r
            for r in rows
            if r.dispatched_at and (r.dispatched_at - r.received_at > INLINE_LEASE or r.attempts > 1)
        ]
        inbox = {"rows": len(rows), **Counter(r.status for r in rows), "by a relay": len(late)}
        stack.sample_cpu()
        cpu = {name: stack.cpu_seconds(name) for name in stack.names}
        latency = {name: stack.scrape(name) for name in stack.metrics_ports}
        spread = asyncio.run(read_histories(stack))
    finally:
        stack.close()
    incarnations = {name: len(pids) for name, pids in stack.pids.items()}
    return Run(figures, spread, figures.finished / busy if busy else 0.0, incarnations, cpu, latency, inbox)


def fresh_database() -> str:
    """A new PostgreSQL database of this run's own (mr_scale_…), dropped at the end."""
    return fresh_postgres_url("mr_scale")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--relays", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--no-kills", dest="kills", action="store_false", help="no process is killed")
    parser.add_argument("--down", type=float, default=5.0, help="seconds a killed process stays down")
    parser.add_argument(
        "--gift-card-rate", default="100", help="requests/s (Tango's 1/s would make N cases N s)"
    )
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for every case to finish")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    assert args.webs >= 1 and args.relays >= 1 and args.workers >= 1

    tmp = Path(tempfile.mkdtemp(prefix="mr-scale-"))
    url = fresh_database()
    try:
        migrate(url)
        stack = ScaledStack(
            url,
            tmp / "var",
            args.workers,
            args.webs,
            args.relays,
            RATE_LIMITS__GIFT_CARDS=args.gift_card_rate,
        )
        shape = f"{args.events} events, {args.workers} workers, {args.webs} web, {args.relays} relays"
        log(f"{shape}; logs in {tmp / 'var'}")
        result = run(
            stack, Store(url), args.events, args.clients, args.kills, args.down, args.deadline, args.seed
        )
    finally:
        drop_postgres(url)
    f, spread = result.figures, result.spread
    print("\n".join(f.lines()))
    runs = Counter(spread.conflict_workflows.values())
    twice = sum(n > 1 for n in spread.conflict_workflows.values())
    print(f"workflows       {len(spread.conflict_workflows)} BookingConflictRecovery for {f.accepted} "
          f"accepted events, started more than once {twice} (runs per case {dict(runs)}); all: "
          f"{dict(spread.workflows_by_type)}")  # fmt: skip
    print(f"cases/s         {result.cases_per_second:.2f} ({f.finished} cases, first opened to last closed; "
          f"{args.workers} worker{'s' if args.workers > 1 else ''})")  # fmt: skip
    total_events = sum(spread.events_by_type.values())
    per_case = total_events / f.finished if f.finished else 0.0
    print(f"history events  {per_case:.1f} per finished case ({total_events} in all: "
          f"{ {k: round(v / max(f.finished, 1), 1) for k, v in spread.events_by_type.items()} }); "
          f"x cases/s = {per_case * result.cases_per_second:.0f} events/s persisted")  # fmt: skip
    print(f"processes       started (a kill and its restart: 2) {result.incarnations}; "
          f"events accepted by {dict(sorted(stack.served.items()))}")  # fmt: skip
    print(f"inbox           {result.inbox} (by a relay: dispatched after the inline dispatch's lease "
          f"or on a second attempt)")  # fmt: skip
    print()
    print(f"{'worker':<12}{'workflow tasks':>16}{'share':>8}{'activity tasks':>16}{'share':>8}")
    wt, at = spread.workflow_tasks, spread.activity_tasks
    names = sorted(set(wt) | set(at))
    fair = True
    for name in names:
        w_share = wt[name] / max(sum(wt.values()), 1)
        a_share = at[name] / max(sum(at.values()), 1)
        print(f"{name:<12}{wt[name]:>16}{w_share:>8.0%}{at[name]:>16}{a_share:>8.0%}")
        if args.workers > 1 and name.startswith("worker-"):
            fair &= min(w_share, a_share) >= 1 / (3 * args.workers)
    workers = [n for n in stack.names if n.startswith("worker-")]
    fair &= args.workers == 1 or all(wt[n] and at[n] for n in workers)
    fair &= all(n.startswith("worker-") for n in names)  # every task was run by one of ours
    print()
    print(f"{'process':<12}{'CPU s':>8}{'cores':>8}   schedule-to-start mean (last incarnation)")
    for name in stack.names:
        spent = result.cpu.get(name, 0.0)
        waits = result.latency.get(name, {})
        shown = ", ".join(f"{kind} {total / n:.0f} ms" for kind, (total, n) in waits.items() if n)
        print(f"{name:<12}{spent:>8.1f}{spent / max(f.seconds, 1e-9):>8.2f}   {shown}")
    if any(name.startswith("worker-") for name in stack.kills):
        took_over = dict(sorted(spread.taken_over.items()))
        print(f"taken over      cases a killed worker had run, carried on by: {took_over} (either or both)")
    print(f"per case        {sum(wt.values()) / max(f.finished, 1):.1f} workflow tasks, "
          f"{sum(at.values()) / max(f.finished, 1):.1f} activity tasks")  # fmt: skip
    problems = []
    if f.accepted != args.events:
        problems.append(f"accepted {f.accepted} of {args.events}")
    if f.finished != args.events or f.lost:
        problems.append(f"finished {f.finished}, lost {f.lost}")
    if f.duplicate_messages or f.double_payments:
        problems.append(f"duplicate messages {f.duplicate_messages}, double payments {f.double_payments}")
    if twice or len(spread.conflict_workflows) != f.accepted:
        problems.append("not one workflow per case")
    if not fair:
        problems.append("the work was not spread over every worker")
    print("result          " + ("OK" if not problems else "WRONG: " + "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
