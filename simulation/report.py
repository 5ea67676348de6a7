"""`simulate --out DIR`: one HTML page (index.html) with the day per hour, charts as inline SVG (no
packages, no files beside it), written for someone who has never heard of Erlang."""

from __future__ import annotations

import html
import json
from pathlib import Path

from simulation.model import Result

WIDTH, HEIGHT, PAD, TOP = 640, 240, 40, 62


def _fmt(value: float | None, unit: str = " %") -> str:
    return "—" if value is None else f"{value:.1f}{unit}"


def _chart(
    title: str, hours: list[int], series: list[tuple[str, str, list[float | None]]], top: float
) -> str:
    """Bars per hour for the first series, lines for the others; y from 0 to `top`."""
    n = max(len(hours), 1)
    step = (WIDTH - 2 * PAD) / n
    y = lambda v: HEIGHT - PAD - (HEIGHT - PAD - TOP) * (v / top if top else 0)  # noqa: E731
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{PAD}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
    ]
    for frac in (0, 0.5, 1):
        tick = top * frac
        parts.append(
            f'<text x="{PAD - 4}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">{tick:g}</text>'
            f'<line x1="{PAD}" y1="{y(tick):.1f}" x2="{WIDTH - PAD}" y2="{y(tick):.1f}" stroke="#eee"/>'
        )
    for i, hour in enumerate(hours):
        x = PAD + step * (i + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="10" text-anchor="middle">{hour}</text>'
        )
    legend_x = PAD
    for k, (name, colour, values) in enumerate(series):
        if k == 0:
            for i, v in enumerate(values):
                if v is None:
                    continue
                left = PAD + step * i + step * 0.15
                parts.append(
                    f'<rect x="{left:.1f}" y="{y(v):.1f}" width="{step * 0.7:.1f}" '
                    f'height="{HEIGHT - PAD - y(v):.1f}" fill="{colour}"><title>{v:g}</title></rect>'
                )
        else:
            points = [
                f"{PAD + step * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(values) if v is not None
            ]
            if points:
                parts.append(
                    f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
                for p in points:
                    cx, cy = p.split(",")
                    parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        parts.append(
            f'<rect x="{legend_x}" y="28" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="37" font-size="11">{html.escape(name)}</text>'
        )
        legend_x += max(130, 14 + 7 * len(name) + 20)  # the next label after this one's words
    parts.append("</svg>")
    return "".join(parts)


def _reps(by_hour: dict[int, int]) -> str:
    """`{0: 3, 4: 6}` as "3 from hour 0, 6 from hour 4" (the run's hours); one number all day as "8"."""
    if len(by_hour) == 1:
        return str(next(iter(by_hour.values())))
    return ", ".join(f"{n} from hour {h}" for h, n in sorted(by_hour.items()))


def page(result: Result) -> str:
    p = result.params
    figures = result.as_json()
    hours = [h.hour for h in result.hours]
    rows = "".join(
        f"<tr><td>{h.hour}</td><td>{h.calls_in}</td><td>{h.reps}</td><td>{_fmt(h.first_ring_pct)}</td>"
        f"<td>{_fmt(h.erlang_first_ring_pct)}</td><td>{h.abandoned} ({_fmt(h.abandoned_pct)})</td>"
        f"<td>{_fmt(h.erlang_abandoned_pct)}</td><td>{h.callbacks}</td><td>{_fmt(h.occupancy_pct)}</td>"
        f"<td>{h.emails_in}</td><td>{_fmt(h.emails_within_hour_pct)}</td><td>{h.cases_opened}</td>"
        f"<td>{_fmt(h.resolved_without_rep_pct)}</td></tr>"
        for h in result.hours
    )
    charts = [
        _chart(
            "Calls in, per hour",
            hours,
            [("calls in", "#4a7bd0", [float(h.calls_in) for h in result.hours])],
            max([h.calls_in for h in result.hours] + [1]),
        ),
        _chart(
            "Answered at the first ring (within 6 s), %",
            hours,
            [
                ("simulated", "#3a9a5b", [h.first_ring_pct for h in result.hours]),
                ("Erlang A", "#d07a2a", [h.erlang_first_ring_pct for h in result.hours]),
            ],
            100,
        ),
        _chart(
            "Callers who hung up before a rep, %",
            hours,
            [
                ("simulated", "#c0504d", [h.abandoned_pct for h in result.hours]),
                ("Erlang A", "#d07a2a", [h.erlang_abandoned_pct for h in result.hours]),
            ],
            max(
                [h.abandoned_pct or 0 for h in result.hours]
                + [h.erlang_abandoned_pct or 0 for h in result.hours]
                + [10]
            ),
        ),
        _chart(
            "How busy the reps were: % of their time on calls, call-backs and emails",
            hours,
            [
                ("occupancy %", "#8064a2", [h.occupancy_pct for h in result.hours]),
            ],
            100,
        ),
    ]
    if figures["emails_in"] or figures["cases"]:
        charts.append(
            _chart(
                "Emails answered within the hour, and cases resolved without a person, %",
                hours,
                [
                    ("emails within the hour", "#4a7bd0", [h.emails_within_hour_pct for h in result.hours]),
                    (
                        "resolved without a person",
                        "#3a9a5b",
                        [h.resolved_without_rep_pct for h in result.hours],
                    ),
                ],
                100,
            )
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>makeright: a simulated day</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }}
th {{ background: #f4f4f4; }}
.figures td:first-child {{ text-align: left; }}
p.note {{ color: #555; }}
</style></head><body>
<h1>A simulated day</h1>
<p>{p.hours:g} hours, {figures["calls_in"]} calls ({p.calls_per_hour:g} an hour at random),
{figures["emails_in"]} emails from patients, {figures["cases"]} cases opened (booking conflicts at
{p.conflicts_per_hour:g} an hour, check-ins at {p.checkins_per_hour:g} an hour of which some report
trouble, emails from people with no case at {p.emails_per_hour:g} an hour), reps on duty
{html.escape(_reps(p.reps_by_hour))},
after each call a rep wraps up for {result.wrap_up_seconds} s (ROUTING__WRAP_UP_SECONDS),
a rep talks {p.handle_seconds:g} s on average, a caller waits {p.patience_seconds:g} s on average
before hanging up, a rep picks up after {p.rep_answer_seconds:g} s.
Seed {p.seed}: the same seed gives the same day.</p>
<p class="note">makeright's own router offered every call to one free rep at a time, as it does on a real
floor; the figures are read from its records. "Erlang A" is what the textbook queue (random arrivals,
random talk times, impatient callers, a rep who answers at once) predicts for the same numbers: where the
two differ, makeright's rules (wrap-up after a call, one rep rung at a time) are the difference.{
        " Erlang A counts the calls only: the reps' other work this day (emails, the automatic calls of"
        " escalations, call-backs) takes reps from the line, which the textbook does not see."
        if figures["emails_in"] or figures["cases"]
        else ""
    }</p>
<table class="figures">
<tr><th>the day</th><th>simulated</th><th>Erlang A</th></tr>
<tr><td>calls answered at the first ring (a rep within 6 s)</td>
<td>{_fmt(figures["calls_answered_first_ring_pct"])}</td>
<td>{_fmt(figures["erlang_a"]["calls_answered_first_ring_pct"])}</td></tr>
<tr><td>callers who hung up first</td><td>{_fmt(figures["calls_abandoned_pct"])}</td>
<td>{_fmt(figures["erlang_a"]["calls_abandoned_pct"])}</td></tr>
<tr><td>reps' time on work (calls, call-backs, automatic calls, emails)</td>
<td>{_fmt(figures["rep_occupancy_pct"])}</td><td></td></tr>
<tr><td>emails answered within the hour</td><td>{_fmt(figures["emails_answered_within_hour_pct"])}</td>
<td></td></tr>
<tr><td>cases resolved without a person (of those resolved)</td>
<td>{_fmt(figures["resolved_without_rep_pct"])}</td><td></td></tr>
<tr><td>messages to the patient per resolved case</td>
<td>{_fmt(figures["messages_per_resolved_case"], "")}</td><td></td></tr>
<tr><td>time to resolve a case: half within / nine in ten within</td>
<td>{_fmt(figures["resolution_p50_seconds"], " s")} / {_fmt(figures["resolution_p90_seconds"], " s")}</td>
<td></td></tr>
</table>
{"".join(f"<div>{c}</div>" for c in charts)}
<h2>Per hour</h2>
<table>
<tr><th>hour</th><th>calls in</th><th>reps on duty</th><th>first ring</th><th>Erlang A</th>
<th>hung up</th><th>Erlang A</th><th>callbacks</th><th>occupancy</th><th>emails in</th>
<th>emails within the hour</th><th>cases opened</th><th>resolved without a person</th></tr>
{rows}
</table>
<p class="note">A case counts in the hour it opened; "resolved without a person" is of the cases
resolved by the end of the run (the day and half an hour after it). Escalations that do not ring a rep
(a patient nobody reached, a compensation to approve) wait in the console's queue, which the simulated
reps do not work: those cases stay open.</p>
</body></html>
"""


def write(result: Result, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    target.write_text(page(result))
    (out_dir / "figures.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    return target
