"""A burst of booking conflicts (a practice cancels a whole day, a calendar sync goes wrong): N events at
once, against the floor the Twilio rate limit alone sets (N / RATE_LIMITS__TWILIO seconds).

python bench/burst.py [N] [--clients 64] [--database-url URL]        e.g. `bench/burst.py 5000`

The system runs as `make run` runs it (bench/firstcontact.py), Twilio live pointed at a recording stand-in.
All N events are posted as fast as `--clients` connections allow, each for its own patient.

Reading the output: `contacted` is the time from the first post to the last patient's first text at the
stand-in; `floor` is N divided by the Twilio queue's rate limit (what a perfect system would need);
`ratio` the two divided (target <= 1.05). `answers` counts the web app's final status codes (all 202 is
the target: no 5xx); `no answer` counts sends that got none (a dropped connection), which the client sent
again with the same event id as a real one would; `lost` patients never texted within the wait. `ingest`
is how long posting all N took, `texts/s` the stand-in's arrival rate over the busiest part.
`--twilio-rate R` sets RATE_LIMITS__TWILIO for the run (the floor is N / R).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.firstcontact import log, patients, post_at_rate, system, wait_for_texts  # noqa: E402
from config import load_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("events", nargs="?", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (make run: one per core)")
    parser.add_argument("--twilio-rate", type=float, default=None, help="RATE_LIMITS__TWILIO for the run")
    args = parser.parse_args()

    rate = args.twilio_rate or load_settings().rate_limits.twilio
    floor = args.events / rate
    people = patients(args.events, args.seed)
    with system(args.database_url, args.workers, RATE_LIMITS__TWILIO=str(rate)) as run:
        before = run.cpu_seconds()
        began = time.time()
        asyncio.run(post_at_rate(run, people, rate=0, clients=args.clients))
        ingest = time.time() - began
        log(f"{args.events} events posted in {ingest:.1f}s")
        first = wait_for_texts(run, people, floor * 3 + 120)
        took = time.time() - began
        cpu = {k: round((v - before.get(k, 0)) / took, 2) for k, v in run.cpu_seconds().items()}
    answers: dict[int, int] = {}
    for entry in run.posted:
        answers[entry.status] = answers.get(entry.status, 0) + 1
    contacted = [first[p.phone] for p in people if p.phone in first]
    last = max(contacted) - began if contacted else float("nan")
    arrivals = sorted(contacted)
    middle = arrivals[len(arrivals) // 10 : len(arrivals) * 9 // 10]
    steady = (len(middle) - 1) / (middle[-1] - middle[0]) if len(middle) > 1 else float("nan")
    accept = sorted(e.answered_in for e in run.posted)
    unanswered = [name for e in run.posted for name in e.errors]
    print()
    print(f"events          {args.events} posted by {args.clients} clients in {ingest:.1f}s")
    print(f"answers         {answers}  (accept p50 {accept[len(accept) // 2]:.2f}s, max {accept[-1]:.2f}s)")
    print(f"no answer       {len(unanswered)} sends, sent again: {dict(Counter(unanswered))}")
    print(f"contacted       {len(contacted)} patients, the last {last:.1f}s after the first post")
    print(f"floor           {floor:.1f}s ({args.events} texts at the Twilio limit of {rate:g}/s)")
    print(f"ratio           {last / floor:.3f}  (target <= 1.05)")
    print(f"texts/s         {steady:.1f} between the 10th and 90th percentile of arrivals")
    print(f"lost            {args.events - len(contacted)}")
    print(f"cpu (cores)     {cpu}")
    ok = answers.get(202, 0) == args.events and len(contacted) == args.events
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
