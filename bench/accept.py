"""The inbox's accept path on its own (run on demand; not in `make bench`): the CPU this process spends
storing one booking event and opening its case (`store.inbox.accept_booking_event`, what `POST /events`
does after the signature check and the parse), without HTTP, clients or Temporal. It isolates the store's
share of ingest, which `bench/ingress.py` measures only together with uvicorn, FastAPI and the clients.

python bench/accept.py [--events 3000] [--postgres | --database-url URL] [--repeat 3]

Each repeat: a fresh migrated database, the events built and validated before the clock starts, 200 accepted
to warm the pool and the statement cache, then the rest timed: `cpu` is this process's CPU (user + system)
per accepted event, `wall` the elapsed time per event (it includes the database server's work and the round
trips). Compare commits back to back: the machine's own spread is ±10 % from run to run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.events import BookingEvent  # noqa: E402
from store import inbox  # noqa: E402
from store.db import Store  # noqa: E402
from tests.support.databases import drop_postgres, migrated_postgres_url, migrated_sqlite_url  # noqa: E402
from tests.support.settings import example_event  # noqa: E402

WARM = 200


def once(url: str, events: int) -> tuple[float, float]:
    """CPU and wall milliseconds per accepted event, after the warm-up."""
    store = Store(url)
    bodies = []
    for _ in range(events + WARM):
        body = example_event()
        bodies.append((json.dumps(body).encode(), BookingEvent.received(body)))
    for raw, event in bodies[:WARM]:
        inbox.accept_booking_event(store, raw, event)
    cpu, wall = time.process_time(), time.perf_counter()
    for raw, event in bodies[WARM:]:
        assert not inbox.accept_booking_event(store, raw, event).duplicate
    return 1000 * (time.process_time() - cpu) / events, 1000 * (time.perf_counter() - wall) / events


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--database-url", default=None, help="default: a fresh SQLite file each repeat")
    db.add_argument("--postgres", action="store_true", help="a fresh local PostgreSQL database each repeat")
    args = parser.parse_args()
    for n in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres:
                url = migrated_postgres_url()
            else:
                url = args.database_url or migrated_sqlite_url(Path(tmp) / "accept.db")
            try:
                cpu, wall = once(url, args.events)
            finally:
                if args.postgres:
                    drop_postgres(url)
        where = url.split(":", 1)[0]
        print(f"repeat {n + 1}  {where:10}  {args.events} events  cpu {cpu:.3f} ms/event  wall {wall:.3f} ms")


if __name__ == "__main__":
    main()
