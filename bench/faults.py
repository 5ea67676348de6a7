"""Fault benchmark (run on demand: `make bench`; results go in bench/RESULTS.md by hand).

The real processes (Temporal dev server on a file, worker, web app) run N cases over real HTTP while the
worker is SIGKILLed at random points of the work, the web app during ingest, the Temporal server twice
(and started again on its file), and the database is cut off for 10 s (PostgreSQL: through a TCP proxy
in front of a fresh database, the machine's server is never stopped; SQLite: a writer holds the file's
lock). Clients resend what got no answer, patients answer their offers. Counted: lost cases, duplicate
messages per step, double payments. The harness is the suite's fault test's (tests/support/fault_harness.py).

python bench/faults.py [--cases 200] [--database sqlite|postgresql] [--worker-kills 8] [--web-kills 2]
                       [--temporal-kills 2] [--db-outage 10] [--clients 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store.db import Store, migrate  # noqa: E402
from tests.support.databases import drop_postgres, fresh_postgres_url  # noqa: E402
from tests.support.fault_harness import Outage, Scenario, SqliteLock, TcpProxy, log, run  # noqa: E402
from tests.support.system import System  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--worker-kills", type=int, default=8)
    parser.add_argument("--web-kills", type=int, default=2, help="during ingest")
    parser.add_argument("--temporal-kills", type=int, default=2)
    parser.add_argument("--db-outage", type=float, default=10.0, help="seconds; 0 for none")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--ingest-seconds", type=float, default=30.0, help="events spread over this long")
    parser.add_argument("--gift-card-rate", default="10", help="requests/s (Tango's 1/s makes N cases N s)")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for every case to finish")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mr-faults-"))
    proxy: TcpProxy | None = None
    outage: Outage | None = None
    if args.database == "sqlite":
        url = f"sqlite:///{tmp / 'makeright.db'}"
        migrate(url)
        app_url = url
        outage = SqliteLock(str(tmp / "makeright.db"))
    else:
        url = fresh_postgres_url()
        migrate(url)
        parts = urlsplit(url)
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy.port}"
        app_url = urlunsplit(parts._replace(netloc=netloc))
        outage = proxy
    step = max(1, args.cases // (args.web_kills + 1))
    scenario = Scenario(
        cases=args.cases,
        clients=args.clients,
        ingest_seconds=args.ingest_seconds,
        web_kills_at=tuple(step * (i + 1) for i in range(args.web_kills)),
        worker_kills=args.worker_kills,
        temporal_kills=args.temporal_kills,
        db_outage_seconds=args.db_outage,
        deadline_seconds=args.deadline,
        seed=args.seed,
    )
    system = System(
        url, tmp / "var", "processes", app_db_url=app_url, RATE_LIMITS__GIFT_CARDS=args.gift_card_rate
    )
    log(f"{args.database}, {args.cases} cases, logs in {tmp / 'var'}")
    try:
        figures = run(scenario, system, Store(url), outage if args.db_outage else None)
    finally:
        if proxy is not None:
            proxy.close()
    print(f"database        {args.database}")
    print("\n".join(figures.lines()))
    if args.database == "postgresql":
        drop_postgres(url)
    clean = figures.lost == figures.duplicate_messages == figures.double_payments == 0
    return 0 if clean and figures.accepted == args.cases else 1


if __name__ == "__main__":
    raise SystemExit(main())
