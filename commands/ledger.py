"""`ledger [--day DATE] [--days N]`: compensation per UTC day (store/ledger.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from commands.common import JsonOpt, emit_json, err, load, out, store_for
from store import ledger as ledger_store
from store.db import migrate


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def ledger_command(
    day: Annotated[
        str | None, typer.Option(help="only this UTC day, YYYY-MM-DD (default: the last --days days)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="without --day: this many days up to today")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Compensation per UTC day: issued, pending approval and denied, and what is left of the daily
    budget. Exit 1 when the ledger and the local gift-card book disagree (GIFT_CARD_MODE=local)."""
    settings = load()
    comp = settings.policy.compensation
    today = datetime.now(UTC).date()
    if day is not None:
        try:
            since = until = date.fromisoformat(day)
        except ValueError:
            raise typer.BadParameter(f"not a date (YYYY-MM-DD): {day!r}", param_hint="--day") from None
    else:
        since, until = today - timedelta(days=days - 1), today
    migrate(settings.database_url)
    store = store_for(settings)
    totals = ledger_store.day_totals(store, since, until, comp.currency, comp.daily_budget)
    problems = ledger_store.unbalanced(store) if settings.gift_card_mode == "local" else []
    if as_json:
        emit_json(
            {
                "currency": comp.currency,
                "daily_budget": _money(comp.daily_budget) if comp.daily_budget is not None else None,
                "patient_yearly_cap": (
                    _money(comp.patient_yearly_cap) if comp.patient_yearly_cap is not None else None
                ),
                "days": [t.as_json() for t in totals],
                "unbalanced": problems,
            }
        )
    else:
        table = Table(
            "day (UTC)",
            "issued",
            "cards",
            "being ordered",
            "pending approval",
            "waiting",
            "denied",
            "budget",
            "budget left",
            title=f"compensation ledger ({comp.currency})",
            title_justify="left",
        )
        for t in totals:
            table.add_row(
                t.day.isoformat(),
                _money(t.issued),
                str(t.issued_count),
                _money(t.reserved),
                _money(t.pending),
                str(t.pending_count),
                _money(t.denied),
                _money(t.budget),
                _money(t.budget_left),
            )
        out.print(table)
        cap = comp.patient_yearly_cap
        out.print(f"per-patient cap: {_money(cap) if cap is not None else 'none'} a rolling year")
        for problem in problems:
            err.print(f"makeright: ledger unbalanced: {escape(problem)}")
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("ledger")(ledger_command)
