"""Ingress and relay benchmark (run on demand: `make bench`; results go in bench/RESULTS.md by hand).

1. Accept: N signed booking events posted over real HTTP to the web app while Temporal is away (so the
   number is the store's: validate, sign-check, commit), from C concurrent clients.
2. Relay: the same N events taken from the inbox to a Temporal dev server (in memory) by R relays at
   once: how long until every case's workflow is started, and that none started twice.

python bench/ingress.py [--events 500] [--clients 8] [--relays 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from domain.signing import sign  # noqa: E402
from starter import Starter  # noqa: E402
from store.db import Store, migrate  # noqa: E402
from store.models import ReceivedEvent  # noqa: E402
from tests.conftest import (  # noqa: E402
    TEST_CONVERTER,
    LiveServer,
    example_event,
    free_port,
    make_settings,
    venv_binary,
)
from web.app import create_app  # noqa: E402
from worker import build_worker  # noqa: E402


async def accept(url: str, secret: str, events: list[bytes], clients: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in events:
        queue.put_nowait(body)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while not queue.empty():
                body = queue.get_nowait()
                headers = {
                    "Content-Type": "application/cloudevents+json",
                    "X-Makeright-Signature": sign(secret, body, int(time.time())),
                }
                began = time.perf_counter()
                answer = await http.post("/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - began)
                assert answer.status_code == 202, answer.text

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--relays", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mr-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    migrate(url)
    web_port, temporal_port = free_port(), free_port()
    settings = make_settings(
        url,
        tmp,
        temporal_address=f"127.0.0.1:{temporal_port}",
        public_base_url=f"http://127.0.0.1:{web_port}",
    )
    bodies = [json.dumps(example_event()).encode() for _ in range(args.events)]
    with LiveServer(create_app(settings, relay=False), web_port) as server:
        began = time.perf_counter()
        latencies = await accept(server.url, settings.events_signing_secret, bodies, args.clients)
        took = time.perf_counter() - began
    latencies.sort()
    print(f"database        {url.split(':')[0]}")
    print(f"accepted        {len(latencies)} events in {took:.2f}s = {len(latencies) / took:.0f}/s "
          f"({args.clients} clients, Temporal away)")  # fmt: skip
    print(f"latency         p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms")  # fmt: skip

    store = Store(url)
    binary = venv_binary("temporal")
    assert binary
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary, port=temporal_port, data_converter=TEST_CONVERTER
    )
    try:
        async with build_worker(env.client, settings, store):
            relays = [Starter(settings, store) for _ in range(args.relays)]
            began = time.perf_counter()
            while True:
                await asyncio.gather(*(relay.relay_once() for relay in relays))
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
        print(f"relayed         {args.events} events by {args.relays} relays in {took:.2f}s "
              f"= {args.events / took:.0f}/s; inbox {statuses}; workflows started {started}")  # fmt: skip
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
