"""Erlang A (domain/erlang.py) against closed forms it must agree with, and a published Erlang C table."""

from __future__ import annotations

import math

import pytest

from domain import erlang

HANDLE = 240.0


def rate_for(erlangs: float, handle: float = HANDLE) -> float:
    """Calls an hour that make `erlangs` of offered load at this handle time."""
    return erlangs * 3600.0 / handle


def poisson(mean: float, k: int) -> float:
    return math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1))


@pytest.mark.parametrize("reps", [8, 10, 12, 14])
def test_patience_equal_to_handle_time_is_the_infinite_server_queue(reps: int) -> None:
    """With θ = μ every call leaves at rate μ whatever happens to it: the number in the system is Poisson."""
    load = 10.0
    got = erlang.figures(reps, rate_for(load), HANDLE, patience_seconds=HANDLE)
    waited = 1.0 - sum(poisson(load, k) for k in range(reps))
    abandoned = sum((k - reps) * poisson(load, k) for k in range(reps, 200)) / load
    assert got.waited_pct / 100 == pytest.approx(waited, rel=1e-9)
    assert got.abandoned_pct / 100 == pytest.approx(abandoned, rel=1e-9)


def test_without_hang_ups_it_is_erlang_c_as_the_tables_print_it() -> None:
    # the textbook table: 10 Erlangs on 11 agents wait with probability 0.6821
    assert erlang.erlang_c_wait_probability(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    for reps, load in ((11, 10.0), (5, 3.2), (30, 25.0)):
        got = erlang.figures(reps, rate_for(load), HANDLE, patience_seconds=0)
        assert got.waited_pct / 100 == pytest.approx(erlang.erlang_c_wait_probability(reps, load), rel=1e-9)
        assert got.abandoned_pct == 0
        # Erlang C's service level: P(wait ≤ t) = 1 - P(wait)·exp(-(nμ - λ)t)
        mu, lam = 1 / HANDLE, load / HANDLE
        level = 1 - erlang.erlang_c_wait_probability(reps, load) * math.exp(-(reps * mu - lam) * 6)
        assert got.answered_first_ring_pct / 100 == pytest.approx(level, rel=1e-9)


def test_every_rep_added_answers_more_calls_at_the_first_ring_and_loses_fewer() -> None:
    shares = [erlang.figures(n, 60, HANDLE, 120) for n in range(2, 12)]
    rings = [f.answered_first_ring_pct for f in shares]
    lost = [f.abandoned_pct for f in shares]
    assert rings == sorted(rings) and lost == sorted(lost, reverse=True)
    assert all(0 <= f.answered_first_ring_pct <= 100 and 0 <= f.occupancy_pct <= 100 for f in shares)


def test_the_fewest_reps_meet_both_targets_and_one_fewer_does_not() -> None:
    best = erlang.fewest_reps(60, HANDLE, 120, first_ring_pct=90, max_abandoned_pct=5)
    assert best.answered_first_ring_pct >= 90 and best.abandoned_pct <= 5
    fewer = erlang.figures(best.reps - 1, 60, HANDLE, 120)
    assert fewer.answered_first_ring_pct < 90 or fewer.abandoned_pct > 5
    # a stricter ceiling on hang-ups never needs fewer reps
    strict = erlang.fewest_reps(60, HANDLE, 120, first_ring_pct=50, max_abandoned_pct=0.5)
    assert strict.abandoned_pct <= 0.5
    assert erlang.fewest_reps(0, HANDLE, 120, 90, 5).reps == 0


def test_a_profile_gives_every_hour_the_rate_last_named() -> None:
    profile = erlang.parse_profile("8:60, 18:20,0:5")
    assert (profile[0], profile[7], profile[8], profile[17], profile[23]) == (5, 5, 60, 60, 20)
    assert erlang.parse_profile("9:30") == dict.fromkeys(range(24), 30.0)
    for bad in ("", "8", "25:10", "8:-1", "x:3", "8:nan"):
        with pytest.raises(ValueError):
            erlang.parse_profile(bad)
