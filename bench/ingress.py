"""Ingress and relay benchmark (run on demand: `make bench`; results go in bench/RESULTS.md by hand).

1. Accept: N signed booking events posted over real HTTP to the web app, run as a deployment runs it:
   `uvicorn --factory web.app:create_app --workers K` (K processes sharing one listening socket, the
   kernel spreading connections over them; a load balancer in front of K single-process replicas
   behaves the same way). Clients: P client processes (default: one per core), each with C concurrent
   keep-alive connections (async httpx), signatures computed before the clock starts. Temporal is away
   unless --temporal-up (so by default the number is the store's: sign check, parse, commit; each web
   process's relay loop and inline dispatch still run, as deployed, finding Temporal away).
   accepted/s = answers 202 over the whole batch (first request sent to last answer received). Then every
   accepted event is checked to be in the inbox exactly once.
2. Relay: the same N events taken from the inbox to a Temporal dev server (in memory) by R relays at
   once, a worker running the cases: how long until every case's workflow is started, and that none
   started twice. --no-relay skips it.

python bench/ingress.py [--events 500] [--web-processes 1] [--client-processes 2] [--clients 16]
                        [--relays 2] [--database-url URL | --postgres] [--temporal-up] [--no-relay]

Reading the output: `accepted` is the figure (events/s answered 202); `latency` is per request as a client
saw it (it includes queueing in the client when the server is saturated); `inbox` must say every accepted
event is stored once (`exactly once: yes`). Everything runs on this machine: clients, web processes and the
database share its cores, so the figure is a floor for what the web tier does on its own cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench.procstat import cpu_seconds  # noqa: E402
from domain.signing import sign  # noqa: E402
from runtime.supervisor import WEB_KEEP_ALIVE_SECONDS  # noqa: E402
from store.db import Store, migrate  # noqa: E402
from store.models import ReceivedEvent  # noqa: E402
from tests.support.databases import drop_postgres, fresh_postgres_url  # noqa: E402
from tests.support.settings import TEST_CONVERTER, example_event, make_settings, venv_binary  # noqa: E402
from tests.support.system import SECRET, System  # noqa: E402

# --------------------------------------------------------------------------- the web tier, as processes


class WebTier:
    """The web app as `uvicorn --workers K` (the environment of a System with how="processes": Temporal's
    port is free unless the bench starts a dev server on it). Its own process group, so stopping it leaves
    no worker behind."""

    def __init__(
        self, database_url: str, var_dir: Path, processes: int, extra: list[str] | None = None
    ) -> None:
        self.stack = System(database_url, var_dir, "processes")
        self.processes = processes
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.stack.base

    def __enter__(self) -> WebTier:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "web.app:create_app",
            "--host", "127.0.0.1", "--port", str(self.stack.web_port),
            # info: each worker logs "Application startup complete", which says when all are serving
            "--workers", str(self.processes), "--log-level", "info", "--no-access-log",
            "--timeout-keep-alive", str(WEB_KEEP_ALIVE_SECONDS), *self.extra,
        ]  # fmt: skip
        out = open(self.stack.var_dir / "web.log", "ab")  # the child keeps it open
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.stack.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        try:
            self._wait_started()
        except BaseException:
            self.__exit__()  # nothing left behind
            raise
        return self

    def _wait_started(self) -> None:
        self.stack.wait_for_port("web", self.stack.web_port)
        # every worker serving: each logs its start-up (the socket is shared before that)
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while time.monotonic() < deadline:
                if http.get("/healthz").status_code == 200 and self._workers_started():
                    return
                time.sleep(0.2)
        raise RuntimeError(f"web tier did not start:\n{self.stack.tail('web')}")

    def _workers_started(self) -> bool:
        log = self.stack.tail("web", 100_000)
        return log.count("Application startup complete") >= self.processes

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        # SIGTERM: uvicorn's supervisor stops its workers; then nothing of the group may remain
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def process_tree(root: int) -> list[int]:
    """`root` and every descendant of it."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process on the machine (other users' work included)."""
    found = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith("postgres"):
                found[int(comm.parent.name)] = cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return found


def postgres_cpu_since(before: dict[int, float]) -> float:
    """PostgreSQL's CPU since `before` (processes that exited meanwhile are not counted)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in postgres_cpu().items())


# --------------------------------------------------------------------------- the clients


def signed_batch(count: int, secret: str) -> list[tuple[str, bytes, str]]:
    """(event id, body, signature header) for `count` new booking conflicts, signed now."""
    now = int(time.time())
    batch = []
    for n in range(count):
        # each patient a number of their own (Dutch mobiles), as real traffic has: parsing is not all cached
        event = example_event(data__patient__phone=f"+3161{n % 10_000_000:07d}")
        body = json.dumps(event).encode()
        batch.append((event["id"], body, sign(secret, body, now)))
    return batch


async def post_all(
    url: str, batch: list[tuple[str, bytes, str]], clients: int
) -> list[tuple[str, int, float]]:
    """Post the batch over `clients` keep-alive connections; (event id, status, seconds) per event."""
    results: list[tuple[str, int, float]] = []
    todo = iter(batch)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def client() -> None:
            for event_id, body, signature in todo:
                headers = {"Content-Type": "application/cloudevents+json", "X-Makeright-Signature": signature}
                began = time.perf_counter()
                try:
                    answer = await http.post("/events", content=body, headers=headers)
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                results.append((event_id, status, time.perf_counter() - began))

        await asyncio.gather(*(client() for _ in range(clients)))
    return results


async def post_all_raw(
    url: str, batch: list[tuple[str, bytes, str]], clients: int
) -> list[tuple[str, int, float]]:
    """The same over plain HTTP/1.1 keep-alive connections (asyncio streams, each request's bytes made
    before the clock starts): a client that costs a tenth of httpx's CPU, so that on a machine shared with
    the server the figure is the server's. Reads each answer whole (status line, headers, body)."""
    host, port = url.removeprefix("http://").split(":")
    requests = [
        (
            event_id,
            (
                f"POST /events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/cloudevents+json\r\n"
                f"X-Makeright-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body,
        )
        for event_id, body, signature in batch
    ]
    results: list[tuple[str, int, float]] = []
    todo = iter(requests)

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for event_id, request in todo:
                began = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                results.append((event_id, status, time.perf_counter() - began))
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(clients)))
    return results


def client_process(
    url: str, batch: list[tuple[str, bytes, str]], clients: int, raw: bool, go: Any, out: Any
) -> None:
    """One client process: waits for the start signal, posts its share, sends back (start, end, CPU
    seconds, results)."""
    go.wait()
    began, cpu = time.time(), time.process_time()
    results = asyncio.run((post_all_raw if raw else post_all)(url, batch, clients))
    out.put((began, time.time(), time.process_time() - cpu, results))


def accept(
    url: str, batch: list[tuple[str, bytes, str]], processes: int, clients: int, raw: bool
) -> tuple[float, float, list[tuple[str, int, float]]]:
    """The whole batch over `processes` client processes of `clients` connections each: (seconds from the
    first request to the last answer, the clients' CPU seconds, every result)."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    shares = [batch[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=client_process, args=(url, share, clients, raw, go, out)) for share in shares]
    for proc in procs:
        proc.start()
    time.sleep(1.0 + 0.5 * processes)  # let each import and get ready before the clock starts
    go.set()
    collected = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    took = max(end for _, end, _, _ in collected) - min(start for start, _, _, _ in collected)
    cpu = sum(cpu for _, _, cpu, _ in collected)
    return took, cpu, [r for _, _, _, results in collected for r in results]


def inbox_check(store: Store, accepted_ids: set[str]) -> tuple[int, int, bool]:
    """(booking rows in the inbox, distinct event ids among them, every accepted id there exactly once)."""
    with store.session() as s:
        rows = s.execute(
            select(ReceivedEvent.external_id, func.count())
            .where(ReceivedEvent.source == "booking")
            .group_by(ReceivedEvent.external_id)
        ).all()
    counts = dict(rows)
    total = sum(counts.values())
    exactly_once = all(counts.get(i) == 1 for i in accepted_ids) and set(counts) == accepted_ids
    return total, len(counts), exactly_once


# --------------------------------------------------------------------------- the relay phase


async def relay_phase(url: str, events: int, relays: int, temporal_port: int, var_dir: Path) -> None:
    from temporalio.testing import WorkflowEnvironment

    from dispatch.dispatcher import Dispatcher
    from runtime.worker import build_worker

    settings = make_settings(url, var_dir, temporal_address=f"127.0.0.1:{temporal_port}")
    store = Store(url)
    binary = venv_binary("temporal")
    assert binary
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary, port=temporal_port, data_converter=TEST_CONVERTER
    )
    try:
        # the web tier's task queue: the bench's System made one of its own
        async with build_worker(env.client, settings, store):
            starters = [Dispatcher(settings, store) for _ in range(relays)]
            for starter in starters:
                starter._client = env.client
            began = time.perf_counter()
            while True:
                await asyncio.gather(*(starter.relay_once() for starter in starters))
                with store.session() as s:
                    waiting = s.scalar(select(func.count()).where(ReceivedEvent.status == "pending"))
                if not waiting:
                    break
            took = time.perf_counter() - began
            with store.session() as s:
                statuses = dict(
                    s.execute(select(ReceivedEvent.status, func.count()).group_by(ReceivedEvent.status)).all()
                )
            await asyncio.sleep(2)  # visibility (the list below) lags the starts a little
            started = 0
            async for _ in env.client.list_workflows("WorkflowType = 'BookingConflictRecovery'"):
                started += 1
        print(f"relayed         {events} events by {relays} relays in {took:.2f}s = {events / took:.0f}/s; "
              f"inbox {statuses}; workflows started {started}")  # fmt: skip
    finally:
        await env.shutdown()


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--web-processes", type=int, default=1, help="uvicorn --workers K")
    parser.add_argument("--client-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clients", type=int, default=16, help="connections per client process")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: plain HTTP/1.1 over asyncio streams (cheap); httpx: httpx.AsyncClient",
    )
    parser.add_argument("--relays", type=int, default=2)
    parser.add_argument("--no-relay", action="store_true", help="accept only")
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    db.add_argument(
        "--postgres", action="store_true", help="a fresh database on the local PostgreSQL, dropped after"
    )
    parser.add_argument(
        "--uvicorn-args", default="", help='more uvicorn options, e.g. "--http h11 --loop asyncio" to compare'
    )
    parser.add_argument("--temporal-up", action="store_true", help="a dev server up while accepting")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mr-bench-"))
    if args.postgres:
        subprocess.run([str(ROOT / "scripts" / "ensure-postgres")], check=True)
        url = fresh_postgres_url()
    else:
        url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    try:
        migrate(url)
        run(args, url, tmp)
    finally:
        if args.postgres:
            drop_postgres(url)


def run(args: argparse.Namespace, url: str, tmp: Path) -> None:
    batch = signed_batch(args.events, SECRET)
    load_before = os.getloadavg()[0]
    with WebTier(url, tmp, args.web_processes, args.uvicorn_args.split()) as web:
        temporal_port = web.stack.temporal_port
        dev_server = None
        if args.temporal_up:
            web.stack.spawn("temporal")
            dev_server = web.stack.procs["temporal"]
        assert web.proc is not None
        web_pids = process_tree(web.proc.pid)
        web_before, pg_before = [cpu_seconds(pid) for pid in web_pids], postgres_cpu()
        try:
            took, client_cpu, results = accept(
                web.url, batch, args.client_processes, args.clients, args.client == "raw"
            )
            # per process: a worker that got few of the connections shows here
            web_each = [cpu_seconds(pid) - before for pid, before in zip(web_pids, web_before, strict=True)]
            web_cpu = sum(web_each)
            pg_cpu = postgres_cpu_since(pg_before)
        finally:
            if dev_server is not None:
                dev_server.kill()
                dev_server.wait()
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    accepted_ids = {event_id for event_id, status, _ in results if status == 202}
    latencies = sorted(seconds for _, _, seconds in results)
    total, distinct, once = inbox_check(Store(url), accepted_ids)
    temporal = "up (dev server, no worker)" if args.temporal_up else "away"
    print(f"database        {url.split(':')[0].split('+')[0]}")
    print(f"web             {args.web_processes} process(es) (uvicorn --workers); clients "
          f"{args.client_processes} process(es) x {args.clients} connections ({args.client}); "
          f"Temporal {temporal}; "
          f"load before {load_before:.2f}")  # fmt: skip
    rate = len(accepted_ids) / took
    print(f"accepted        {len(accepted_ids)} of {len(batch)} in {took:.2f}s = {rate:.0f}/s "
          f"(answers {dict(sorted(statuses.items()))})")  # fmt: skip
    p50, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95)]
    print(
        f"latency         p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    per = 1000 / max(len(results), 1)
    spread = "/".join(f"{seconds:.1f}" for seconds in sorted(web_each, reverse=True) if seconds >= 0.05)
    print(f"cpu per event   web {web_cpu * per:.1f} ms (CPU seconds by process: {spread}), "
          f"clients {client_cpu * per:.1f} ms, "
          f"postgres (every server process) {pg_cpu * per:.1f} ms; "
          f"machine load after {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"inbox           {total} rows, {distinct} event ids; exactly once: {'yes' if once else 'NO'}")
    if not args.no_relay and not args.temporal_up:
        asyncio.run(relay_phase(url, len(accepted_ids), args.relays, temporal_port, tmp))
    if not once or len(accepted_ids) != len(batch):
        sys.exit(1)


if __name__ == "__main__":
    main()
