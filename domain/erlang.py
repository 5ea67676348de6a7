"""Erlang A: how many reps a call rate needs, from the queue contact centres plan with.

Calls arrive at random (Poisson, `calls_per_hour`), a rep talks for an exponential time (mean
`handle_seconds`), and a caller who waits gives up after an exponential patience (mean `patience_seconds`).
With `reps` reps this is the Palm / Erlang-A queue (M/M/n+M): a birth-death chain over the number of calls
in the system, k. Calls come in at rate λ in every state; they leave at k·μ while every caller is with a
rep (k ≤ n), and at n·μ + (k - n)·θ once k - n of them are waiting (those finish or hang up). Its
stationary distribution π gives every figure:

- a caller finds a rep free with probability Σ_{k<n} π_k (arrivals see the time average: PASTA);
- the share who hang up is the rate of hang-ups over the rate of calls, Σ_{k>n} (k - n)·θ·π_k / λ;
- a caller who finds m callers already waiting reaches a rep after m + 1 departures from the queue in
  front of them, each at rate n·μ + j·θ (j the callers still ahead), unless their own patience runs out
  first. "Answered at the first ring" is reaching a rep within `ring_seconds` of arrival (6 s: CONTRACT).

Erlang C is the same queue with infinite patience (θ = 0); with θ = μ the number in the system is Poisson
with mean λ/μ (the infinite-server queue), a closed form the tests check the chain against. Pure
arithmetic: no I/O, no clock, no packages (`pyworkforce` has an ErlangA but pulls in ortools and pandas for
a few lines of this)."""

from __future__ import annotations

import math
from dataclasses import dataclass

RING_SECONDS = 6.0  # a call is answered at the first ring when a rep accepted it within this (CONTRACT.md)
_TAIL = 1e-12  # the chain is cut where a state is this much less likely than the likeliest


@dataclass(frozen=True)
class Figures:
    """What `reps` reps give at a call rate: shares in percent, of all calls that came in."""

    reps: int
    calls_per_hour: float
    answered_first_ring_pct: float
    abandoned_pct: float
    waited_pct: float  # found no rep free
    occupancy_pct: float  # of the reps' time, talking

    def as_json(self) -> dict[str, float | int]:
        return {
            "reps": self.reps,
            "calls_answered_first_ring_pct": round(self.answered_first_ring_pct, 2),
            "calls_abandoned_pct": round(self.abandoned_pct, 2),
            "occupancy_pct": round(self.occupancy_pct, 2),
        }


def stationary(reps: int, arrival: float, service: float, abandon: float) -> list[float]:
    """π_k for k = 0, 1, … (rates per second), normalised, cut where the tail no longer counts."""
    if reps < 0 or arrival < 0 or service <= 0 or abandon < 0:
        raise ValueError("rates must be positive and reps not negative")
    if abandon == 0 and arrival >= reps * service:
        raise ValueError("with infinite patience the queue grows without end: add reps")
    weights = [1.0]
    peak = 1.0
    k = 0
    while True:
        k += 1
        death = k * service if k <= reps else reps * service + (k - reps) * abandon
        weights.append(weights[-1] * arrival / death)
        peak = max(peak, weights[-1])
        # past the mode the weights only fall: stop once they are negligible
        if death > arrival and weights[-1] < _TAIL * peak:
            break
        if k > 1_000_000:  # pragma: no cover - rates this far apart are not a contact centre
            raise ValueError("the queue is too long to compute")
    total = math.fsum(weights)
    return [w / total for w in weights]


def reached_within(ahead: int, seconds: float, reps: int, service: float, abandon: float) -> float:
    """The probability that a caller with `ahead` callers waiting in front of them reaches a rep within
    `seconds`, before their own patience runs out. The queue in front moves one place at rate
    reps·μ + j·θ (j still ahead, finishing or hanging up); the caller hangs up at rate θ. Computed by
    uniformisation of that small chain (a sum over the Poisson number of its events by `seconds`)."""
    if reps == 0:
        return 0.0
    rates = [reps * service + j * abandon for j in range(ahead + 1)]  # from j ahead to j - 1 (-1: reached)
    uniform = max(rates) + abandon
    # probability mass over "j callers ahead" (index j), the caller still waiting; reached so far
    mass = [0.0] * (ahead + 1)
    mass[ahead] = 1.0
    lam_t = uniform * seconds
    weight = math.exp(-lam_t)  # Poisson(lam_t) at n = 0
    reached_after = 0.0  # P(reached within the first n uniformised events)
    total = 0.0
    n = 0
    cumulative = weight
    while True:
        # after n events: reached with probability reached_after; weight = P(N = n)
        total += weight * reached_after
        if 1.0 - cumulative < 1e-13 or n > 100_000:
            total += (1.0 - cumulative) * reached_after
            break
        # one more event: from j ahead move on with rate_j / uniform, hang up with θ / uniform
        moved = [0.0] * (ahead + 1)
        for j, p in enumerate(mass):
            if p == 0.0:
                continue
            step = p * rates[j] / uniform
            if j == 0:
                reached_after += step
            else:
                moved[j - 1] += step
            moved[j] += p * (uniform - rates[j] - abandon) / uniform
        mass = moved
        n += 1
        weight *= lam_t / n
        cumulative += weight
    return min(1.0, max(0.0, total))


def figures(
    reps: int,
    calls_per_hour: float,
    handle_seconds: float,
    patience_seconds: float,
    ring_seconds: float = RING_SECONDS,
) -> Figures:
    """Erlang A's figures for `reps` reps (patience 0 or less: callers never hang up, Erlang C)."""
    arrival = calls_per_hour / 3600.0
    service = 1.0 / handle_seconds
    abandon = 1.0 / patience_seconds if patience_seconds > 0 else 0.0
    if arrival == 0:
        return Figures(reps, calls_per_hour, 100.0, 0.0, 0.0, 0.0)
    pi = stationary(reps, arrival, service, abandon)
    free = math.fsum(pi[:reps])
    abandoned = math.fsum((k - reps) * abandon * p for k, p in enumerate(pi) if k > reps) / arrival
    answered_quickly = free + math.fsum(
        p * reached_within(k - reps, ring_seconds, reps, service, abandon)
        for k, p in enumerate(pi)
        if k >= reps and p > 1e-15
    )
    carried = arrival * (1.0 - abandoned) / service  # Erlangs of talking
    occupancy = carried / reps if reps else 0.0
    return Figures(
        reps=reps,
        calls_per_hour=calls_per_hour,
        answered_first_ring_pct=100.0 * answered_quickly,
        abandoned_pct=100.0 * abandoned,
        waited_pct=100.0 * (1.0 - free),
        occupancy_pct=100.0 * occupancy,
    )


def fewest_reps(
    calls_per_hour: float,
    handle_seconds: float,
    patience_seconds: float,
    first_ring_pct: float,
    max_abandoned_pct: float,
    ring_seconds: float = RING_SECONDS,
    most: int = 10_000,
) -> Figures:
    """The fewest reps whose figures meet both targets (the shares only improve with every rep added)."""
    if not 0 <= first_ring_pct < 100:
        raise ValueError("the first-ring target is a share below 100 %")
    if not 0 < max_abandoned_pct <= 100:
        raise ValueError("the abandonment ceiling is a share above 0 %")
    if calls_per_hour == 0:
        return Figures(0, 0.0, 100.0, 0.0, 0.0, 0.0)  # no calls: nobody needed for them
    offered = calls_per_hour * handle_seconds / 3600.0
    # Erlang C (no hang-ups) needs more reps than the load, or the queue grows without end
    reps = 1 if patience_seconds > 0 else math.floor(offered) + 1
    while reps <= most:
        got = figures(reps, calls_per_hour, handle_seconds, patience_seconds, ring_seconds)
        if got.answered_first_ring_pct >= first_ring_pct and got.abandoned_pct <= max_abandoned_pct:
            return got
        reps += 1
    raise ValueError(f"no staffing up to {most} reps meets the targets")


def erlang_c_wait_probability(reps: int, offered_erlangs: float) -> float:
    """Erlang C's probability of waiting (callers never hang up), by its closed form: for the tests and
    for anyone comparing with a published table."""
    if offered_erlangs >= reps:
        return 1.0
    term = 1.0
    below = 1.0  # Σ_{k<n} A^k / k!
    for k in range(1, reps):
        term *= offered_erlangs / k
        below += term
    top = term * offered_erlangs / reps * reps / (reps - offered_erlangs)
    return top / (below + top)


def hour_values(text: str, what: str = "RATE", most_hour: int = 23) -> dict[int, float]:
    """`"0:10,8:60"` as {hour: value}: whole hours 0..`most_hour`, values numbers ≥ 0. ValueError naming
    the part at fault (`what` names the value in the message: RATE, REPS)."""
    named: dict[int, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        hour, sep, value = part.partition(":")
        try:
            h, v = int(hour), float(value)
        except ValueError:
            raise ValueError(f"{part!r}: expected HOUR:{what} (a whole hour, a number)") from None
        if not sep or not 0 <= h <= most_hour or v < 0 or not math.isfinite(v):
            raise ValueError(f"{part!r}: expected HOUR:{what}, the hour 0-{most_hour} and the number ≥ 0")
        named[h] = v
    if not named:
        raise ValueError(f"no HOUR:{what} given")
    return named


def parse_profile(text: str) -> dict[int, float]:
    """`"0:10,8:60,18:20"`: from hour 0 ten calls an hour, from 8 sixty, from 18 twenty; every hour of the
    day gets the rate of the last hour named at or before it (before the first: the last of the day)."""
    named = hour_values(text)
    last = named[max(named)]
    profile: dict[int, float] = {}
    for h in range(24):
        last = named.get(h, last)
        profile[h] = last
    return profile
