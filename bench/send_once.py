"""Send-once's first step on its own (run on demand; not in `make bench`): the CPU this process spends
recording the intent to send one new message (`store.outbox.begin_unless_opted_out`: the patient's consent
and the intent, in one transaction), what every text and email of a case does before its provider call.

python bench/send_once.py [--messages 1500] [--postgres | --database-url URL]

A fresh migrated database (SQLite in a temporary folder unless told otherwise), 100 messages to warm the
pool and the statement cache, then the rest timed: `cpu` is this process's CPU (user + system) per message.
Compare commits back to back: the machine's own spread is wide from run to run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.messaging import Channel, OutboundMessage  # noqa: E402
from store import outbox  # noqa: E402
from store.db import Store, engine_for  # noqa: E402
from tests.support.databases import drop_postgres, migrated_postgres_url, migrated_sqlite_url  # noqa: E402

WARM = 100


def cpu_per_message(url: str, messages: int) -> float:
    """CPU milliseconds per new message's intent, after the warm-up."""
    store = Store(url)
    sms = [
        OutboundMessage(case_id=f"case-{i}", key="offer-1", channel=Channel.SMS, to="+14155550100", body="hi")
        for i in range(messages + WARM)
    ]
    for msg in sms[:WARM]:
        outbox.begin_unless_opted_out(store, msg)
    start = time.process_time()
    for msg in sms[WARM:]:
        outbox.begin_unless_opted_out(store, msg)
    return (time.process_time() - start) / messages * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1500)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url")
    where.add_argument("--postgres", action="store_true", help="a fresh database on the local PostgreSQL")
    args = parser.parse_args()
    url = args.database_url
    fresh = url is None and args.postgres
    if fresh:
        url = migrated_postgres_url()
    elif url is None:
        url = migrated_sqlite_url(Path(tempfile.mkdtemp(prefix="mr_send_once_")) / "makeright.db")
    try:
        cpu = cpu_per_message(url, args.messages)
        print(f"{Store(url).engine.dialect.name}  {args.messages} messages  cpu {cpu:.3f} ms/message")
    finally:
        engine_for(url).dispose()
        if fresh:
            drop_postgres(url)


if __name__ == "__main__":
    main()
