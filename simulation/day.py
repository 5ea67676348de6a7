"""A long day as segments: `--hours 10` runs as five 2-hour segments, each on a time-skipping server and a
database of its own, in as many processes as the machine has cores, and their figures pooled.

Why: a simulated hour costs the same wall time wherever it falls in the day, but one process uses one
core, and the test server now and then stalls a run for good (README, "A day, simulated"): a segment that
stalls is run again on its own instead of the whole day. The price is an edge at each segment's start: the
floor starts empty (no backlog carried over from the segment before, every rep free) and a segment's last
cases finish in its own tail. With the reps a day needs, the backlog is a few minutes' work at most.

Each segment draws from streams of its own (the seed and its place in the day: `Params.seed_key`), so the
same seed still gives the same day."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import multiprocessing
import os
import queue
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from simulation.engine import Progress, simulate
from simulation.model import Hour, Params, Result

log = logging.getLogger("makeright.simulation")

SEGMENT_HOURS = 2


def segments(params: Params, segment_hours: int) -> list[Params]:
    """The day cut into whole-hour segments of `segment_hours` (the last may be shorter); the day itself when
    it is no longer than one. Each segment's reps are the day's for the hours it covers."""
    if segment_hours <= 0 or params.hours <= segment_hours:
        return [params]
    out: list[Params] = []
    start = 0
    while start < params.hours - 1e-9:
        length = min(float(segment_hours), params.hours - start)
        reps = {h - start: params.reps_at(h) for h in range(start, start + math.ceil(length))}
        out.append(replace(params, hours=length, reps_by_hour=reps, segment=len(out)))
        start += segment_hours
    return out


def merge(params: Params, parts: list[Result]) -> Result:
    """One day's figures from its segments': the hours end to end, the counts added up, the resolution
    times of every segment's resolved cases together."""
    hours: list[Hour] = []
    offset = 0
    for part in parts:
        hours.extend(replace(h, hour=h.hour + offset) for h in part.hours)
        offset += math.ceil(part.params.hours)
    return Result.of_hours(
        params,
        hours,
        messages_to_resolved=sum(p.messages_to_resolved for p in parts),
        resolution_seconds=[s for p in parts for s in p.resolution_seconds],
        wrap_up_seconds=parts[0].wrap_up_seconds if parts else 0,
        stalls=[s for p in parts for s in p.stalls],
    )


def run_day(
    params: Params,
    progress: Progress | None = None,
    routing: dict[str, Any] | None = None,
    segment_hours: int = SEGMENT_HOURS,
    processes: int | None = None,
    attempts: int = 3,
) -> Result:
    """The day's figures: in this process when it is one segment, else its segments in a pool of processes
    (one per core unless `processes`), each started again up to `attempts` times when the test server
    stalls it."""
    wall = time.monotonic()
    parts = segments(params, segment_hours)
    if len(parts) == 1:
        result = _with_attempts(params, progress, routing, attempts)
    else:
        result = merge(params, _in_pool(parts, progress, routing, processes, attempts))
    result.wall_seconds = time.monotonic() - wall
    return result


def _with_attempts(
    params: Params, progress: Progress | None, routing: dict[str, Any] | None, attempts: int
) -> Result:
    stalls: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            result = asyncio.run(simulate(params, progress, routing))
        except RuntimeError as exc:  # the test server stalled the run (README, "A day, simulated")
            stalls.append(
                f"segment {params.segment}, attempt {attempt}: {str(exc).split(': the last events')[0]}"
            )
            log.warning("%s", stalls[-1])
            continue
        result.stalls = stalls
        return result
    raise RuntimeError(f"stalled {attempts} times: {stalls[-1]}")


def _segment(params: Params, routing: dict[str, Any] | None, attempts: int, ticks: Any) -> Result:
    """One segment, in a process of the pool: the local phone's prints and the worker's logs kept out of
    the terminal, progress sent back on `ticks`."""
    logging.getLogger("makeright").setLevel(logging.WARNING)

    def progress(done: float, cases: int, calls: int) -> None:
        ticks.put((params.segment, done, cases, calls))

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return _with_attempts(params, progress, routing, attempts)
        except Exception as exc:  # not every SDK error survives the trip back to the pool: its words do
            raise RuntimeError(f"segment {params.segment}: {type(exc).__name__}: {exc}") from None


def _in_pool(
    parts: list[Params],
    progress: Progress | None,
    routing: dict[str, Any] | None,
    processes: int | None,
    attempts: int,
) -> list[Result]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop, no SDK runtime
    with (
        context.Manager() as manager,
        ProcessPoolExecutor(
            max_workers=min(len(parts), processes or os.cpu_count() or 1), mp_context=context
        ) as pool,
    ):
        ticks = manager.Queue()
        futures: list[Future[Result]] = [pool.submit(_segment, p, routing, attempts, ticks) for p in parts]
        seen: dict[int, tuple[float, int, int]] = {}
        while not all(f.done() for f in futures):
            try:
                segment, done, cases, calls = ticks.get(timeout=0.2)
            except queue.Empty:
                continue
            seen[segment] = (done, cases, calls)
            if progress is not None:
                progress(*(sum(v[i] for v in seen.values()) for i in range(3)))  # type: ignore[arg-type]
        return [f.result() for f in futures]
