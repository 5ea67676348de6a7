"""First-contact latency at a steady rate: from `POST /events` to the offer text reaching Twilio.

python bench/latency.py RATE DURATION            e.g. `bench/latency.py 10 300`: 10 events/s for 5 minutes
python bench/latency.py --sweep 4,6,8,10,12 --each 60
                                                 each rate for 60 s on one running system, in order; the
                                                 figures also go to bench/results/latency.json (the plot)

The system runs as `make run` runs it (bench/firstcontact.py: Temporal dev server on its file, worker, web
app; SQLite unless --database-url), Twilio live pointed at a recording stand-in in its own process. Events
go out open-loop (event i at start + i/RATE, whatever earlier ones wait for), each for its own patient.

Reading the output: p50/p90/p99/max of first contact in ms over every event of the run; `late` counts
patients with no text 60 s after the last post. A rate the system cannot keep up with shows as a p99
that grows with the run's length (the queue grows): that rate is past the knee. `cpu` is each process's
CPU seconds over the run divided by its length (1.0 = one core of the two).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.firstcontact import (  # noqa: E402
    Run,
    latencies,
    log,
    patients,
    post_at_rate,
    summary,
    system,
    wait_for_texts,
)

RESULTS = ROOT / "bench" / "results" / "latency.json"


def measure(run: Run, rate: float, duration: float, seed: int) -> dict[str, Any]:
    people = patients(int(rate * duration), seed)
    before, began = run.cpu_seconds(), time.monotonic()
    first_post = len(run.posted)
    asyncio.run(post_at_rate(run, people, rate))
    posting = time.monotonic() - began
    first = wait_for_texts(run, people, 60)
    took = time.monotonic() - began
    after = run.cpu_seconds()
    entries = run.posted[first_post:]
    values = latencies(run, entries, first)
    statuses: dict[int, int] = {}
    for e in entries:
        statuses[e.status] = statuses.get(e.status, 0) + 1
    row: dict[str, Any] = {
        "rate": rate,
        "duration": duration,
        "events": len(people),
        "posted_per_s": len(people) / posting,
        "answers": statuses,
        "contacted": len(values),
        "late": len(people) - len(values),
        "accept_p99": sorted(e.answered_in for e in entries)[int(0.99 * (len(entries) - 1))],
        **summary(values),
        "cpu": {k: round((after.get(k, 0) - before.get(k, 0)) / took, 2) for k in after},
    }
    log(
        f"rate {rate:g}/s for {duration:g}s: {row['contacted']}/{row['events']} contacted, "
        f"p50 {row['p50'] * 1000:.0f} ms, p90 {row['p90'] * 1000:.0f} ms, p99 {row['p99'] * 1000:.0f} ms, "
        f"max {row['max'] * 1000:.0f} ms; answers {statuses}; cpu {row['cpu']}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rate", nargs="?", type=float, default=10.0)
    parser.add_argument("duration", nargs="?", type=float, default=300.0)
    parser.add_argument("--sweep", help="comma-separated rates, each run for --each seconds")
    parser.add_argument("--each", type=float, default=60.0, help="with --sweep: seconds per rate")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (make run: one per core)")
    args = parser.parse_args()

    rates = [float(r) for r in args.sweep.split(",")] if args.sweep else [args.rate]
    rows = []
    with system(args.database_url, workers=args.workers) as run:
        for i, rate in enumerate(rates):
            rows.append(measure(run, rate, args.each if args.sweep else args.duration, args.seed + i))
            time.sleep(5)  # let the open cases' next steps settle between rates
    print()
    print("| events/s | events | contacted | p50 | p90 | p99 | max | 202s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['rate']:g} | {r['events']} | {r['contacted']} | {r['p50'] * 1000:.0f} ms | "
            f"{r['p90'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms | "
            f"{r['answers'].get(202, 0)} |"
        )
    if args.sweep:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"measured": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=1))
        log(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
