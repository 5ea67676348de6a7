"""`simulate`: a day (calls, booking conflicts, check-ins, emails) run on makeright's own workflows and
router, on Temporal's time-skipping test server with the local providers and a database of its own
(simulation/). No settings needed beyond ROUTING__* (the floor's rules, read from the environment as the
worker reads them)."""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from commands.common import JsonOpt, emit_json, err, out
from simulation import report
from simulation.model import Behaviour, Params, parse_reps


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def simulate_command(
    hours: Annotated[float, typer.Option(min=0.01, max=48, help="how long the simulated day lasts")] = 1.0,
    reps: Annotated[int | None, typer.Option(min=0, help="reps on duty the whole time")] = None,
    reps_by_hour: Annotated[
        str | None,
        typer.Option(help='reps per hour of the run instead, "HOUR:REPS,…" (e.g. "0:2,3:5,8:3")'),
    ] = None,
    conflicts_per_hour: Annotated[float, typer.Option(min=0, help="booking conflicts an hour")] = 0,
    checkins_per_hour: Annotated[float, typer.Option(min=0, help="check-ins an hour")] = 0,
    calls_per_hour: Annotated[float, typer.Option(min=0, help="calls to the support line an hour")] = 0,
    emails_per_hour: Annotated[float, typer.Option(min=0, help="emails from patients an hour")] = 0,
    handle_seconds: Annotated[float, typer.Option(min=1, help="mean time a rep spends on a call")] = 240,
    patience_seconds: Annotated[
        float, typer.Option(min=0, help="mean time a caller waits before hanging up (0: never)")
    ] = 120,
    rep_answer_seconds: Annotated[
        float, typer.Option(min=0, help="how long a rep takes to pick up and press 1")
    ] = 0,
    seed: Annotated[int, typer.Option(help="the random draws' seed: the same seed, the same figures")] = 1,
    behaviour: Annotated[
        Path | None, typer.Option(help="a JSON file of patients' behaviour shares (README)")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="write an HTML report with charts per hour here")
    ] = None,
    segment_hours: Annotated[
        int,
        typer.Option(
            min=0, help="run a longer day as segments of this many hours, side by side (0: in one run)"
        ),
    ] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Run makeright's own workflows and routing on Temporal's time-skipping test server, fed by simulated
    patients (Poisson arrivals per kind; callers with exponential patience; conflicts' and check-ins'
    patients answering as README's shares say; people writing in) and reps (on duty per --reps, pick up
    after --rep-answer-seconds, exponential handle times); print the day's figures beside Erlang A's."""
    if reps is not None and reps_by_hour is not None:
        raise typer.BadParameter("give one of --reps and --reps-by-hour", param_hint="--reps")
    try:
        by_hour = parse_reps(reps_by_hour) if reps_by_hour is not None else {0: 3 if reps is None else reps}
        shares = Behaviour.load(behaviour)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    params = Params(
        hours=hours,
        reps_by_hour=by_hour,
        calls_per_hour=calls_per_hour,
        conflicts_per_hour=conflicts_per_hour,
        checkins_per_hour=checkins_per_hour,
        emails_per_hour=emails_per_hour,
        handle_seconds=handle_seconds,
        patience_seconds=patience_seconds,
        rep_answer_seconds=rep_answer_seconds,
        seed=seed,
        behaviour=shares,
    )
    columns = (
        TextColumn("simulated hour {task.fields[hour]:.2f} of {task.total:g}"),
        BarColumn(),
        TextColumn("{task.fields[cases]} cases, {task.fields[calls]} calls"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("day", total=hours, hour=0.0, cases=0, calls=0)

        def progress(done: float, cases: int, calls: int) -> None:
            bar.update(task, completed=done, hour=done, cases=cases, calls=calls)

        # the local phone prints every ring; the worker's logs are its own business: neither is this output
        logging.getLogger("makeright").setLevel(logging.WARNING)
        with contextlib.redirect_stdout(io.StringIO()):
            # here, not at the top: the CLI loads no workflow or activity until a command runs them
            from simulation.day import run_day

            try:
                result = run_day(params, progress, segment_hours=segment_hours)
            except RuntimeError as exc:  # stalled every attempt (README, "A day, simulated")
                err.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
    figures: dict[str, Any] = result.as_json()
    if out_dir is not None:
        page = report.write(result, out_dir)
        err.print(f"report: {page}")
    if as_json:
        emit_json(figures)
        return
    erlang = figures["erlang_a"]
    out.print(
        f"{hours:g} h, {_n(figures['calls_in'], 'call')}, {_n(figures['cases'], 'case')}, seed {seed} "
        f"(simulated in {result.wall_seconds:.0f} s of wall time):"
    )
    out.print(
        f"  calls answered at the first ring  {_pct(figures['calls_answered_first_ring_pct'])}"
        f"   (Erlang A {_pct(erlang['calls_answered_first_ring_pct'])})"
    )
    out.print(
        f"  calls abandoned                   {_pct(figures['calls_abandoned_pct'])}"
        f"   (Erlang A {_pct(erlang['calls_abandoned_pct'])})"
    )
    out.print(f"  reps' time on work (occupancy)    {_pct(figures['rep_occupancy_pct'])}")
    if figures["emails_in"]:
        out.print(
            f"  emails answered within the hour   {_pct(figures['emails_answered_within_hour_pct'])}"
            f"   ({_n(figures['emails_in'], 'email')})"
        )
    if figures["cases"]:
        p50, p90 = figures["resolution_p50_seconds"], figures["resolution_p90_seconds"]
        out.print(
            f"  cases resolved without a person   {_pct(figures['resolved_without_rep_pct'])}"
            f"   (of the resolved; {_n(figures['cases'], 'case')} opened)"
        )
        out.print(f"  messages per resolved case        {figures['messages_per_resolved_case'] or '-'}")
        out.print(
            f"  time to resolve (p50 / p90)       {'-' if p50 is None else f'{p50:.0f} s'} / "
            f"{'-' if p90 is None else f'{p90:.0f} s'}"
        )


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
