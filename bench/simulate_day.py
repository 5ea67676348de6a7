"""The issue's day, simulated: how long `cli.py simulate` takes for a mid-sized practice group's day, and what
it says about staffing.

python bench/simulate_day.py [--hours 10] [--reps 8] [--conflicts 40] [--checkins 200] [--calls 60]
                             [--emails 30] [--seed 1] [--segment-hours 2] [--attempts 3] [--out DIR]

Runs exactly what `cli.py simulate` runs (simulation/day.run_day: the day in segments side by side, each the
real workflows, router and store on a time-skipping test server of its own) and prints the figures
(CONTRACT.md's JSON) with the wall-clock time, the CPU time of this process and its children (the
segments' processes and their test servers), the machine's load average before and after, and any
segment the test server stalled and that was run again. `--out` writes the HTML report as
`cli.py simulate --out` does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation import report
from simulation.day import run_day
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
    parser.add_argument("--segment-hours", type=int, default=2, help="0: the day in one run")
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
    before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the local phone prints every text and call it 'sends': not this benchmark's output
    with contextlib.redirect_stdout(io.StringIO()):
        result = run_day(params, segment_hours=args.segment_hours, attempts=args.attempts)
    seconds = result.wall_seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime) + (
        children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    )
    if args.out is not None:
        report.write(result, args.out)
    print(
        json.dumps(
            {
                "commit": commit(),
                "command": " ".join(sys.argv),
                "wall_seconds": round(seconds, 1),
                "cpu_seconds": round(cpu, 1),
                "load_before": round(load_before, 2),
                "load_after": round(os.getloadavg()[0], 2),
                "stalled_attempts": result.stalls,
                "figures": result.as_json(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
