"""The automatic call under load: a patient's check-in trouble text → the next free rep's phone ringing.

python bench/routing.py [--reps 20] [--rate 1] [--duration 120] [--accept-seconds 1] [--handle-seconds 8]
                        [--wrap-up-seconds 2] [--offer-seconds 20] [--database-url URL]

The system runs as `make run` runs it (tests/support/system.py's System, how="processes": the Temporal dev
server on its file, `worker.py`, the web app under uvicorn; SQLite unless --database-url), every provider
local: the local phone's record (`local_deliveries`) is where a rep's phone rings. N reps go available on
the floor (the router's Update `set_presence`, a phone each; `POST /api/reps/me/presence` is not there yet).
Then patients with a booked appointment whose check-in prompt went out (every watch `listening` before the
clock starts) text trouble through the signed Twilio SMS webhook, open loop at --rate a second for
--duration seconds. Simulated reps answer each offer call --accept-seconds after it rang (the signed
<Gather> action with key 1), talk for --handle-seconds and hang up (Twilio's signed status callback
`completed` for the rep's leg), then wrap up for ROUTING__WRAP_UP_SECONDS and are available again
(tests/support/rep_floor.py does the posting).

Measured, for every trouble: the reply (the moment its webhook POST went out) → the rep's phone ringing
(the `created_at` of the local phone's row for the escalation's first offer call). Printed: p50 / p90 /
p99 / max, troubles never rung (60 s after the last post), and double offers, which must be 0: an offer
rung twice (two local calls or two send-once rows for one offer id), a rep rung for a new offer while
still holding an earlier one (before the earlier call was hung up or timed out), work rung on two phones
at once, or a sample of the router's floor (queried every second) showing a rep with two offers or work
offered to two reps. Goal (CONTRACT.md, "within 5 seconds"): p90 < 5 s at 1 trouble/s with 20 reps.
`cpu` is each process's CPU seconds over the measured part divided by its length (1.0 = one core of two);
`stages` splits the reply → ring time at the case's own timeline (case opened, escalation opened, rung).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.firstcontact import percentile  # noqa: E402
from bench.procstat import cpu_seconds  # noqa: E402
from domain.routing import RoutingPolicy  # noqa: E402
from store.db import Store, migrate  # noqa: E402
from store.models import EscalationRow, TimelineItem  # noqa: E402
from tests.support import rep_floor  # noqa: E402
from tests.support.rep_floor import Patient, Ring  # noqa: E402
from tests.support.system import System  # noqa: E402


def log(message: str) -> None:
    print(f"[routing {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Held:
    """A rep's hold on an offer, as the simulated rep saw it."""

    ring: Ring
    answered: bool = False
    accepted: bool = False
    hung_up_at: float | None = None  # wall clock when the rep's end-of-call callback went out


@dataclass
class Reps:
    """The simulated reps: they answer what rings, and keep what they held for the double-offer count."""

    system: System
    store: Store
    phones: dict[str, str]  # phone → user
    accept_seconds: float
    handle_seconds: float
    held: dict[str, Held] = field(default_factory=dict)  # by offer id
    errors: list[str] = field(default_factory=list)
    last_id: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                found = await asyncio.to_thread(rep_floor.rings, self.store, list(self.phones), self.last_id)
            except Exception as exc:  # the database busy a moment: look again
                self.errors.append(f"poll: {type(exc).__name__}")
                found = []
            for ring in found:
                self.last_id = max(self.last_id, ring.delivery_id)
                if ring.offer_id in self.held:
                    self.errors.append(f"{ring.offer_id} rang again (delivery {ring.delivery_id})")
                    continue
                self.held[ring.offer_id] = Held(ring)
                task = asyncio.create_task(self._answer(self.held[ring.offer_id]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            await asyncio.sleep(0.1)

    async def _answer(self, held: Held) -> None:
        ring = held.ring
        await asyncio.sleep(max(0.0, ring.created_at.timestamp() + self.accept_seconds - time.time()))
        try:
            answer = await asyncio.to_thread(rep_floor.press, self.system, ring, "1")
        except Exception as exc:
            self.errors.append(f"press {ring.offer_id}: {type(exc).__name__}")
            return
        held.answered = True
        held.accepted = answer.status_code == 200 and rep_floor.connected(answer.text)
        if not held.accepted:
            self.errors.append(f"{ring.offer_id}: pressing 1 did not connect ({answer.status_code})")
            return
        await asyncio.sleep(self.handle_seconds)
        held.hung_up_at = time.time()
        try:
            ended = await asyncio.to_thread(rep_floor.call_ended, self.system, ring, int(self.handle_seconds))
            if ended.status_code != 200:
                self.errors.append(f"{ring.offer_id}: end of call answered {ended.status_code}")
        except Exception as exc:
            self.errors.append(f"end of call {ring.offer_id}: {type(exc).__name__}")

    def busy(self) -> int:
        return len(self.tasks)


async def sample_floor(client: Client, system: System, stop: asyncio.Event, problems: list[str]) -> int:
    """The router's floor once a second: what it must never show (one rep, two offers; one work, two reps)."""
    samples = 0
    while not stop.is_set():
        try:
            seen = await rep_floor.floor(client, system)
            samples += 1
            problems += [f"{datetime.now(UTC):%H:%M:%S} {p}" for p in rep_floor.floor_problems(seen)]
        except Exception as exc:
            log(f"floor query failed: {type(exc).__name__}")
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass
    return samples


async def post_troubles(system: System, people: list[Patient], rate: float) -> None:
    """Open loop: trouble i goes out at start + i / rate, whatever the earlier posts wait for."""
    start = time.monotonic() + 0.5

    async def one(i: int, patient: Patient) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        try:
            await asyncio.to_thread(rep_floor.text_trouble, system, patient)
        except Exception as exc:
            patient.answer = -1
            log(f"trouble {i} got no answer: {type(exc).__name__}")

    await asyncio.gather(*(one(i, p) for i, p in enumerate(people)))


def book_all(system: System, store: Store, people: list[Patient], seconds: float) -> float:
    """Book every appointment (8 clients) and wait until every watch has prompted and listens."""
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: rep_floor.book(system, p), people))
    while (n := rep_floor.listening(store, people)) < len(people):
        if time.monotonic() - began > seconds:
            raise SystemExit(f"only {n} of {len(people)} watches listening after {seconds:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - began


def double_offers(store: Store, floor: Reps, all_rings: list[Ring]) -> list[str]:
    """Every way an offer could have gone out twice, from the local phone's and send-once's records."""
    found: list[str] = []
    per_offer: dict[str, list[Ring]] = defaultdict(list)
    for ring in all_rings:
        per_offer[ring.offer_id].append(ring)
    found += [f"{o} rang {len(r)} phones/times" for o, r in per_offer.items() if len(r) > 1]
    rows = rep_floor.offer_rows(store, list(per_offer))
    found += [f"{o} has {n} send-once rows" for o, n in rows.items() if n != 1]

    def over(ring: Ring) -> float:
        """When the rep stopped holding this offer: hung up (accepted), or the call stopped ringing."""
        held = floor.held.get(ring.offer_id)
        if held is not None and held.accepted:
            return held.hung_up_at or float("inf")
        if ring.ended_at is not None:
            ended = ring.ended_at if ring.ended_at.tzinfo else ring.ended_at.replace(tzinfo=UTC)
            return ended.timestamp()
        return float("inf")  # still ringing, or answered and not connected

    by_phone: dict[str, list[Ring]] = defaultdict(list)
    by_work: dict[str, list[Ring]] = defaultdict(list)
    for ring in all_rings:
        by_phone[ring.to].append(ring)
        by_work[ring.escalation_id].append(ring)
    for groups, what in ((by_phone, "rep"), (by_work, "work")):
        for key, items in groups.items():
            items.sort(key=lambda r: r.created_at)
            for before, after in itertools.pairwise(items):
                if after.created_at.timestamp() < over(before):
                    found.append(f"{what} {key}: {after.offer_id} rang while {before.offer_id} was held")
    return found


def stages(store: Store, people: list[Patient], first: dict[str, Ring]) -> dict[str, list[float]]:
    """Reply → case opened (the case's row), → escalation opened (its timeline entry), → first ring."""
    out: dict[str, list[float]] = {
        "reply → case opened": [],
        "case opened → escalation opened": [],
        "escalation opened → rung": [],
    }
    with store.session() as s:
        for p in people:
            case = rep_floor.trouble_case(store, p)
            if case is None:
                continue
            opened = case.opened_at if case.opened_at.tzinfo else case.opened_at.replace(tzinfo=UTC)
            out["reply → case opened"].append(opened.timestamp() - p.trouble_at)
            at = s.scalars(
                select(TimelineItem.at)
                .where(TimelineItem.case_id == case.case_id, TimelineItem.what == "escalation_opened")
                .order_by(TimelineItem.at)
            ).first()
            if at is None:
                continue
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            out["case opened → escalation opened"].append(at.timestamp() - opened.timestamp())
            if case.case_id in first:
                out["escalation opened → rung"].append(
                    first[case.case_id].created_at.timestamp() - at.timestamp()
                )
    return out


def claimed(store: Store, people: list[Patient]) -> int:
    ids = [p.appointment_id for p in people]
    with store.session() as s:
        rows = s.scalars(select(EscalationRow.claimed_by).where(EscalationRow.appointment_id.in_(ids)))
        return sum(1 for by in rows if by)


async def until(check: Callable[[], bool], seconds: float) -> bool:
    """Poll `check` every half second for up to `seconds`; whether it came true."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)


def uptime_now() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return found.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def bench(args: argparse.Namespace) -> int:
    policy = RoutingPolicy(
        offer_seconds=args.offer_seconds,
        wrap_up_seconds=args.wrap_up_seconds,
        auto_call_reasons=("checkin_trouble", "patient_person", "patient_unhappy"),
    )
    tmp = Path(tempfile.mkdtemp(prefix="mr-routing-"))
    url = args.database_url or f"sqlite:///{tmp / 'makeright.db'}"
    migrate(url)
    system = System(url, tmp / "var", "processes", LOG_LEVEL="WARNING", **rep_floor.routing_env(policy))
    store = Store(url)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(64))
    loads = [os.getloadavg()[0]]
    uptime = [uptime_now()]
    try:
        system.start()
        log(f"system up: web {system.base}, logs in {tmp / 'var'}")
        client = await rep_floor.connect(system)
        await rep_floor.start_router(client, system, policy)
        phones = {f"+1212555{i:04d}": f"rep{i:02d}" for i in range(args.reps)}
        for phone, user in phones.items():
            await rep_floor.presence(client, system, user, "available", phone)
        log(f"{args.reps} reps available")
        floor = Reps(system, store, phones, args.accept_seconds, args.handle_seconds)
        stop = asyncio.Event()
        reps = asyncio.create_task(floor.run(stop))

        # warm-up: a few troubles end to end, so the first figures do not pay for cold caches
        warm = rep_floor.make_patients(3)
        await asyncio.to_thread(book_all, system, store, warm, 120)
        await post_troubles(system, warm, 2.0)
        await until(lambda: len(floor.held) >= len(warm) and not floor.busy(), 120)
        await asyncio.sleep(args.wrap_up_seconds + 1)
        warm_ids = set(floor.held)
        log("warm-up done")

        people = rep_floor.make_patients(int(args.rate * args.duration))
        took = await asyncio.to_thread(book_all, system, store, people, 600)
        log(f"{len(people)} appointments booked, every check-in prompt out and listening, in {took:.0f} s")
        loads.append(os.getloadavg()[0])

        problems: list[str] = []
        sampler = asyncio.create_task(sample_floor(client, system, stop, problems))
        procs = system.procs
        before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        began = time.monotonic()
        await post_troubles(system, people, args.rate)
        posting = time.monotonic() - began
        log(f"{len(people)} troubles posted in {posting:.1f} s; waiting for the rings")
        await until(lambda: len(floor.held) - len(warm_ids) >= len(people), 60)
        measured = time.monotonic() - began
        after = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        loads.append(os.getloadavg()[0])
        # let the calls end, so what the reps held is known for the double-offer count
        await until(lambda: not floor.busy(), args.handle_seconds + 30)
        await asyncio.sleep(1)
        stop.set()
        samples = await sampler
        await reps

        all_rings = rep_floor.rings(store, list(phones))
        first: dict[str, Ring] = {}
        for ring in all_rings:
            first.setdefault(ring.case_id, ring)
        values: list[float] = []
        never: list[str] = []
        for p in people:
            case = rep_floor.trouble_case(store, p)
            rung = first.get(case.case_id) if case is not None else None
            if rung is None:
                never.append(p.appointment_id if case is None else case.case_id)
                continue
            values.append(rung.created_at.timestamp() - p.trouble_at)
        doubles = double_offers(store, floor, [r for r in all_rings if r.offer_id not in warm_ids])
        doubles += problems
        answers: dict[int, int] = defaultdict(int)
        for p in people:
            answers[p.answer] += 1
        split = stages(store, people, first)
        cpu = {name: (after.get(name, 0) - before.get(name, 0)) / measured for name in after}
        accepted = sum(h.accepted for o, h in floor.held.items() if o not in warm_ids)
        load = max(loads)
        uptime.append(uptime_now())
    finally:
        system.close()

    p50, p90, p99 = (percentile(values, q) for q in (50, 90, 99))
    peak = max(values) if values else float("nan")
    command = "python bench/routing.py " + shlex.join(sys.argv[1:])
    print()
    print(f"command        {command.strip()}")
    print(f"commit         {commit()}")
    print(f"machine load   {' → '.join(f'{x:.2f}' for x in loads)} (1-min load average: start, booked, end)")
    print(f"uptime         before: {uptime[0]}")
    print(f"               after:  {uptime[-1]}")
    print(f"troubles       {len(people)} at {args.rate:g}/s over {posting:.1f} s, webhook answers "
          f"{dict(answers)}; {args.reps} reps, accept after {args.accept_seconds:g} s, handle "
          f"{args.handle_seconds:g} s, wrap-up {args.wrap_up_seconds} s")  # fmt: skip
    print(f"rung           {len(values)}; never rung {len(never)} {never[:5]}")
    print(f"reply → ring   p50 {ms(p50)}, p90 {ms(p90)}, p99 {ms(p99)}, max {ms(peak)} "
          f"({'goal met' if p90 < 5 else 'GOAL MISSED'}: p90 < 5 s)")  # fmt: skip
    taken = claimed(store, people)
    print(f"accepted       {accepted} offers taken by pressing 1; escalations claimed {taken}")
    print(f"double offers  {len(doubles)} {doubles[:5]} (floor sampled {samples} times)")
    for name, xs in split.items():
        print(f"stage          {name}: p50 {ms(percentile(xs, 50))}, p90 {ms(percentile(xs, 90))}")
    print(f"cpu (cores)    {', '.join(f'{n} {c:.2f}' for n, c in cpu.items())}")
    if floor.errors:
        print(f"rep errors     {len(floor.errors)} {floor.errors[:5]}")
    print()
    print("| reps | troubles/s x s | rung / never | p50 | p90 | p99 | max | double offers | "
          "CPU (cores): worker / Temporal / web | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.reps} | {args.rate:g}/s x {args.duration:g} s | {len(values)} / {len(never)} | {ms(p50)} | "
        f"{ms(p90)} | {ms(p99)} | {ms(peak)} | {len(doubles)} | {cpu.get('worker', 0):.2f} / "
        f"{cpu.get('temporal', 0):.2f} / {cpu.get('web', 0):.2f} | {load:.1f} |"
    )
    return 0 if not never and not doubles and p90 < 5 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1.0, help="troubles a second")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of troubles")
    parser.add_argument(
        "--accept-seconds", type=float, default=1.0, help="1 pressed this long after the ring"
    )
    parser.add_argument("--handle-seconds", type=float, default=8.0, help="then talks this long")
    parser.add_argument("--wrap-up-seconds", type=int, default=2, help="ROUTING__WRAP_UP_SECONDS")
    parser.add_argument("--offer-seconds", type=int, default=20, help="ROUTING__OFFER_SECONDS")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a fresh directory")
    return asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
