"""The simulator is only worth its figures if, where the textbook applies, it agrees with the textbook.
With only calls to the support line (no other work), Poisson arrivals, exponential handle times and
patience, a rep who presses 1 at once and no wrap-up, makeright's router is the Erlang-A queue (M/M/n+M)
but for its own latency: the simulated share answered at the first ring and the share abandoned must lie
within three binomial standard errors (over the calls simulated) of Erlang A's, at three staffing levels
around the knee (where a rep more or less changes the figures most). The run is short (three simulated
hours at 40 calls an hour per level), so the interval is wide; `cli.py simulate` over a longer day narrows
it (README, "A day, simulated")."""

from __future__ import annotations

import math

import pytest

from domain import erlang
from simulation.engine import simulate
from simulation.model import Params

pytestmark = pytest.mark.timeout(300)

RATE, HANDLE, PATIENCE, HOURS = 40.0, 180.0, 120.0, 3.0  # offered load 2 erlangs


def within(simulated_pct: float | None, predicted_pct: float, calls: int, what: str) -> str | None:
    """None when the simulated share is within 3 binomial standard errors of the predicted one."""
    assert simulated_pct is not None
    p = predicted_pct / 100
    se = 100 * math.sqrt(max(p * (1 - p), 1e-4) / calls)
    if abs(simulated_pct - predicted_pct) <= 3 * se:
        return None
    return (
        f"{what}: simulated {simulated_pct} %, Erlang A {predicted_pct:.1f} % ± {3 * se:.1f} "
        f"(3 SE, {calls} calls)"
    )


@pytest.mark.parametrize("reps", [2, 3, 4])
async def test_only_calls_agree_with_erlang_a(reps: int) -> None:
    params = Params(
        hours=HOURS,
        reps_by_hour={0: reps},
        calls_per_hour=RATE,
        handle_seconds=HANDLE,
        patience_seconds=PATIENCE,
        rep_answer_seconds=0,
        seed=reps,
    )
    result = await simulate(params, routing={"wrap_up_seconds": 0})
    got = result.as_json()
    predicted = erlang.figures(reps, RATE, HANDLE, PATIENCE)
    assert got["erlang_a"] == {
        "calls_answered_first_ring_pct": round(predicted.answered_first_ring_pct, 2),
        "calls_abandoned_pct": round(predicted.abandoned_pct, 2),
    }
    calls = got["calls_in"]
    # a Poisson count over three hours: within 4 standard deviations of its mean
    assert abs(calls - RATE * HOURS) <= 4 * math.sqrt(RATE * HOURS), calls
    problems = [
        within(got["calls_answered_first_ring_pct"], predicted.answered_first_ring_pct, calls, "first ring"),
        within(got["calls_abandoned_pct"], predicted.abandoned_pct, calls, "abandoned"),
    ]
    print(
        f"{reps} reps, {calls} calls: first ring {got['calls_answered_first_ring_pct']} % "
        f"(Erlang A {predicted.answered_first_ring_pct:.1f} %), abandoned {got['calls_abandoned_pct']} % "
        f"(Erlang A {predicted.abandoned_pct:.1f} %), occupancy {got['rep_occupancy_pct']} % "
        f"(Erlang A {predicted.occupancy_pct:.1f} %)"
    )
    assert [p for p in problems if p] == []
