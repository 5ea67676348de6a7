"""The issue's day, simulated: how long `cli.py simulate` takes for a mid-sized practice group's day, and what
it says about staffing.

python bench/simulate_day.py [--hours 10] [--reps 8] [--conflicts 40] [--checkins 200] [--calls 60]
                             [--emails 30] [--seed 1] [--out DIR]

Runs exactly what `cli.py simulate` runs (simulation/engine.simulate: the real workflows, router and store
on a time-skipping test server of its own) and prints the figures (CONTRACT.md's JSON) with the wall-clock
time (of the attempt that finished), the CPU time of this process (the engine and the worker; the test
server is a process of its own) and the machine's load average before and after. `--out` writes the HTML
report as `cli.py simulate --out` does. A run the test server stalls (README, "A day, simulated": it loses
one of the router's workflow tasks now and then) is started again, up to --attempts times, and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation import report
from simulation.engine import simulate
from simulation.model import Params


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=10)
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--conflicts", type=float, default=40)
    parser.add_argument("--checkins", type=float, default=200)
    parser.add_argument("--calls", type=float, default=60)
    parser.add_argument("--emails", type=float, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--attempts", type=int, default=3, help="runs started again after a stall")
    args = parser.parse_args()
    params = Params(
        hours=args.hours,
        reps_by_hour={0: args.reps},
        conflicts_per_hour=args.conflicts,
        checkins_per_hour=args.checkins,
        calls_per_hour=args.calls,
        emails_per_hour=args.emails,
        seed=args.seed,
    )
    load_before = os.getloadavg()[0]
    stalls = []
    for attempt in range(1, args.attempts + 1):
        wall = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_SELF)
        try:
            # the local phone prints every text and call it 'sends': not this benchmark's output
            with contextlib.redirect_stdout(io.StringIO()):
                result = asyncio.run(simulate(params))
            break
        except RuntimeError as exc:  # the test server lost a workflow task (README, "A day, simulated")
            stalls.append(f"attempt {attempt}: {str(exc).split(': the last events')[0]}")
            print(stalls[-1], file=sys.stderr)
    else:
        raise SystemExit(f"stalled {args.attempts} times")
    seconds = time.monotonic() - wall
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    if args.out is not None:
        report.write(result, args.out)
    print(
        json.dumps(
            {
                "commit": commit(),
                "command": " ".join(sys.argv),
                "wall_seconds": round(seconds, 1),
                "cpu_seconds_engine_and_worker": round(cpu, 1),
                "load_before": round(load_before, 2),
                "load_after": round(os.getloadavg()[0], 2),
                "stalled_attempts": stalls,
                "figures": result.as_json(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
