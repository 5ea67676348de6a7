"""What a simulated day is given (its parameters and the patients' behaviour) and what it measured.

Pure: no I/O. The engine (simulation/engine.py) draws every random number from one `random.Random(seed)`
in the order the simulated actions happen, so the same parameters and seed give the same day."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from domain import erlang


@dataclass(frozen=True)
class Behaviour:
    """How simulated patients behave, as shares (0-1) drawn per patient. The defaults are the README's
    ("A day, simulated"); `--behaviour FILE` (JSON, any of these keys) changes them."""

    # a caller still waiting when the line offers a callback (after ROUTING__CALLER_WAIT_SECONDS) presses 1
    caller_takes_callback: float = 0.0
    # a patient offered new slots after a conflict (by text, by email to a landline, by a call) answers with
    # a choice; asks for a person ("0"); replies STOP; the rest ignore the offer
    offer_answered: float = 0.70
    offer_asks_for_person: float = 0.08
    offer_stop: float = 0.02
    # a patient whose number is a landline (no texts: offers by email and calls, no check-in prompt)
    landline: float = 0.05
    # a patient texted the check-in prompt answers that all is good; reports trouble with the paperwork;
    # the rest do not answer
    checkin_all_good: float = 0.85
    checkin_trouble: float = 0.08
    # how long a patient takes to answer (mean, seconds; exponential)
    reply_mean_seconds: float = 240.0

    def __post_init__(self) -> None:
        for group in (
            ("offer_answered", "offer_asks_for_person", "offer_stop"),
            ("checkin_all_good", "checkin_trouble"),
        ):
            if sum(getattr(self, name) for name in group) > 1 + 1e-9:
                raise ValueError(f"{' + '.join(group)} is more than 1")

    @classmethod
    def load(cls, path: Path | None) -> Behaviour:
        if path is None:
            return cls()
        given = json.loads(path.read_text())
        if not isinstance(given, dict):
            raise ValueError("the behaviour file is a JSON object of shares")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown behaviour {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        for name, value in given.items():
            if name.endswith("_seconds"):
                if not isinstance(value, int | float) or not 0 < value <= 86400:
                    raise ValueError(f"{name} is a number of seconds, more than 0")
            elif not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} is a share between 0 and 1")
        return cls(**{k: float(v) for k, v in given.items()})


@dataclass(frozen=True)
class Params:
    hours: float = 1.0
    reps_by_hour: dict[int, int] = field(default_factory=lambda: {0: 3})  # hour of the run → reps on duty
    calls_per_hour: float = 0.0
    conflicts_per_hour: float = 0.0
    checkins_per_hour: float = 0.0
    emails_per_hour: float = 0.0
    handle_seconds: float = 240.0
    patience_seconds: float = 120.0  # 0: callers never hang up
    rep_answer_seconds: float = 0.0
    seed: int = 1
    # a long day runs as segments (simulation/day.py), each on a server of its own: this one's place
    segment: int = 0
    behaviour: Behaviour = field(default_factory=Behaviour)

    @property
    def seed_key(self) -> int | str:
        """What the random streams are seeded with: the seed, and the segment after the first."""
        return self.seed if self.segment == 0 else f"{self.seed}/{self.segment}"

    def reps_at(self, hour: int) -> int:
        """Reps on duty in the run's hour `hour` (the last hour named at or before it)."""
        named = [h for h in sorted(self.reps_by_hour) if h <= hour]
        return self.reps_by_hour[named[-1]] if named else self.reps_by_hour[min(self.reps_by_hour)]

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reps_by_hour"] = {str(h): n for h, n in sorted(self.reps_by_hour.items())}
        return out


def parse_reps(text: str) -> dict[int, int]:
    """`"0:2,3:5,8:3"`: two reps from the run's hour 0, five from hour 3, three from hour 8."""
    found = erlang.hour_values(text, "REPS", most_hour=48)
    if any(not n.is_integer() for n in found.values()):
        raise ValueError(f"{text!r}: reps are whole numbers")
    return {hour: int(n) for hour, n in found.items()}


@dataclass
class Hour:
    """One hour of the run, as measured from the store."""

    hour: int
    reps: int
    seconds: float = 3600.0  # of the run in this hour (less in a last, partial hour)
    calls_in: int = 0
    answered_first_ring: int = 0
    abandoned: int = 0
    callbacks: int = 0
    talk_seconds: float = 0.0  # reps' time on answered calls within this hour
    emails_in: int = 0
    emails_within_hour: int = 0  # answered (a rep's answer sent, or makeright acted) within 3600 s
    cases_opened: int = 0
    resolved: int = 0  # of the cases opened this hour, resolved by the end of the run
    resolved_without_rep: int = 0
    erlang_first_ring_pct: float | None = None
    erlang_abandoned_pct: float | None = None

    @property
    def first_ring_pct(self) -> float | None:
        return pct(self.answered_first_ring, self.calls_in)

    @property
    def abandoned_pct(self) -> float | None:
        return pct(self.abandoned, self.calls_in)

    @property
    def occupancy_pct(self) -> float | None:
        return round(100.0 * self.talk_seconds / (self.reps * self.seconds), 1) if self.reps else None

    @property
    def emails_within_hour_pct(self) -> float | None:
        return pct(self.emails_within_hour, self.emails_in)

    @property
    def resolved_without_rep_pct(self) -> float | None:
        return pct(self.resolved_without_rep, self.resolved)


@dataclass
class Result:
    params: Params
    hours: list[Hour]
    cases: int
    calls_in: int
    answered_first_ring: int
    abandoned: int
    talk_seconds: float
    rep_seconds: float
    emails_in: int = 0
    emails_within_hour: int = 0
    resolved: int = 0
    resolved_without_rep: int = 0
    messages_to_resolved: int = 0  # texts, emails and calls to the patients of the resolved cases
    resolution_seconds: list[float] = field(default_factory=list)  # of each resolved case, open to close
    wall_seconds: float = 0.0  # how long the run took (not in the JSON: it is not the same twice)
    stalls: list[str] = field(default_factory=list)  # runs the test server stalled, started again
    wrap_up_seconds: int = 0  # the floor's rule the day ran with (ROUTING__WRAP_UP_SECONDS)

    @classmethod
    def of_hours(
        cls,
        params: Params,
        hours: list[Hour],
        messages_to_resolved: int = 0,
        resolution_seconds: list[float] | None = None,
        wrap_up_seconds: int = 0,
        stalls: list[str] | None = None,
    ) -> Result:
        """The day's totals from its hours (one run's, or a day's segments' end to end)."""
        return cls(
            params=params,
            hours=hours,
            cases=sum(h.cases_opened for h in hours),
            calls_in=sum(h.calls_in for h in hours),
            answered_first_ring=sum(h.answered_first_ring for h in hours),
            abandoned=sum(h.abandoned for h in hours),
            talk_seconds=sum(h.talk_seconds for h in hours),
            rep_seconds=sum(h.reps * h.seconds for h in hours),
            emails_in=sum(h.emails_in for h in hours),
            emails_within_hour=sum(h.emails_within_hour for h in hours),
            resolved=sum(h.resolved for h in hours),
            resolved_without_rep=sum(h.resolved_without_rep for h in hours),
            messages_to_resolved=messages_to_resolved,
            resolution_seconds=list(resolution_seconds or []),
            wrap_up_seconds=wrap_up_seconds,
            stalls=list(stalls or []),
        )

    def erlang(self) -> tuple[float | None, float | None]:
        """Erlang A's first-ring and abandoned shares for the same rates and reps, hours weighted by the
        calls each is expected to bring (equal here: one call rate all day)."""
        if self.params.calls_per_hour <= 0 or not self.hours:
            return None, None
        first = [h.erlang_first_ring_pct for h in self.hours if h.erlang_first_ring_pct is not None]
        gone = [h.erlang_abandoned_pct for h in self.hours if h.erlang_abandoned_pct is not None]
        return (
            round(sum(first) / len(first), 2) if first else None,
            round(sum(gone) / len(gone), 2) if gone else None,
        )

    def as_json(self) -> dict[str, Any]:
        """CONTRACT.md's object ("A day, simulated")."""
        first, gone = self.erlang()
        return {
            "hours": self.params.hours,
            "seed": self.params.seed,
            "cases": self.cases,
            "resolved_without_rep_pct": pct(self.resolved_without_rep, self.resolved),
            "messages_per_resolved_case": (
                round(self.messages_to_resolved / self.resolved, 2) if self.resolved else None
            ),
            "resolution_p50_seconds": percentile(self.resolution_seconds, 50),
            "resolution_p90_seconds": percentile(self.resolution_seconds, 90),
            "calls_in": self.calls_in,
            "calls_answered_first_ring_pct": pct(self.answered_first_ring, self.calls_in),
            "calls_abandoned_pct": pct(self.abandoned, self.calls_in),
            "emails_in": self.emails_in,
            "emails_answered_within_hour_pct": pct(self.emails_within_hour, self.emails_in),
            "rep_occupancy_pct": (
                round(100.0 * self.talk_seconds / self.rep_seconds, 1) if self.rep_seconds else None
            ),
            "erlang_a": {"calls_answered_first_ring_pct": first, "calls_abandoned_pct": gone},
        }


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest rank), to RESOLUTION_STEP seconds (it holds makeright's own latency
    on the machine that simulated, well under that); None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(RESOLUTION_STEP * round(ordered[rank - 1] / RESOLUTION_STEP))


RESOLUTION_STEP = 10


def erlang_hour(reps: int, params: Params) -> tuple[float | None, float | None]:
    if params.calls_per_hour <= 0:
        return None, None
    if reps == 0:
        return 0.0, (100.0 if params.patience_seconds > 0 else None)
    try:
        got = erlang.figures(reps, params.calls_per_hour, params.handle_seconds, params.patience_seconds)
    except ValueError:  # infinite patience and too few reps: the queue grows without end
        return 0.0, None
    return round(got.answered_first_ring_pct, 2), round(got.abandoned_pct, 2)
