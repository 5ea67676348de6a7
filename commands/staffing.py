"""`staffing --calls-per-hour R | --calls-by-hour PROFILE`: the fewest reps that hold the wall's call figures,
by Erlang A (domain/erlang.py). No settings, no database: arithmetic on what is given."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from commands.common import JsonOpt, emit_json, out
from domain import erlang


def _pct(value: float) -> str:
    return f"{value:.1f} %"


def staffing_command(
    calls_per_hour: Annotated[
        float | None, typer.Option(min=0, help="calls to the support line an hour (Poisson arrivals)")
    ] = None,
    calls_by_hour: Annotated[
        str | None,
        typer.Option(help='a rate per hour of the day instead, "HOUR:RATE,…" (e.g. "0:5,8:60,18:20")'),
    ] = None,
    handle_seconds: Annotated[float, typer.Option(min=1, help="mean time a rep spends on a call")] = 240,
    patience_seconds: Annotated[
        float, typer.Option(min=0, help="mean time a caller waits before hanging up (0: never)")
    ] = 120,
    first_ring_pct: Annotated[
        float, typer.Option(min=0, max=99.99, help="share of calls a rep must accept within 6 s")
    ] = 90,
    max_abandoned_pct: Annotated[
        float, typer.Option(min=0.01, max=100, help="most callers who may hang up before a rep")
    ] = 5,
    as_json: JsonOpt = False,
) -> None:
    """The fewest reps (Erlang A: random arrivals, exponential handle time and patience, a rep who accepts
    at once) for which at least --first-ring-pct of calls are accepted within 6 s of arriving and at most
    --max-abandoned-pct hang up first; with the shares and how busy the reps are. Per hour of the day with
    --calls-by-hour."""
    if (calls_per_hour is None) == (calls_by_hour is None):
        raise typer.BadParameter(
            "give one of --calls-per-hour and --calls-by-hour", param_hint="--calls-per-hour"
        )

    def plan(rate: float) -> erlang.Figures:
        return erlang.fewest_reps(rate, handle_seconds, patience_seconds, first_ring_pct, max_abandoned_pct)

    if calls_per_hour is not None:
        got = plan(calls_per_hour)
        if as_json:
            emit_json(got.as_json())
            return
        out.print(
            f"{got.reps} reps for {calls_per_hour:g} calls an hour "
            f"(handle {handle_seconds:g} s, patience {patience_seconds:g} s):"
        )
        out.print(f"  calls answered at the first ring  {_pct(got.answered_first_ring_pct)}")
        out.print(f"  calls abandoned                   {_pct(got.abandoned_pct)}")
        out.print(f"  reps' time on calls (occupancy)   {_pct(got.occupancy_pct)}")
        out.print(f"targets: ≥ {first_ring_pct:g} % at the first ring, ≤ {max_abandoned_pct:g} % abandoned")
        return
    assert calls_by_hour is not None
    try:
        profile = erlang.parse_profile(calls_by_hour)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--calls-by-hour") from None
    hours = [(hour, rate, plan(rate)) for hour, rate in profile.items()]
    if as_json:
        emit_json({"hours": [{"hour": h, "calls_per_hour": r, **got.as_json()} for h, r, got in hours]})
        return
    table = Table(
        "hour",
        "calls/h",
        "reps",
        "first ring",
        "abandoned",
        "occupancy",
        title=f"reps per hour (Erlang A; handle {handle_seconds:g} s, patience {patience_seconds:g} s)",
        title_justify="left",
    )
    for hour, rate, got in hours:
        table.add_row(
            f"{hour:02d}:00",
            f"{rate:g}",
            str(got.reps),
            _pct(got.answered_first_ring_pct),
            _pct(got.abandoned_pct),
            _pct(got.occupancy_pct),
        )
    out.print(table)
    out.print(f"targets: ≥ {first_ring_pct:g} % at the first ring, ≤ {max_abandoned_pct:g} % abandoned")


def register(app: typer.Typer) -> None:
    app.command("staffing")(staffing_command)
