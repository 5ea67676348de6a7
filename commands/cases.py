"""`cases` and `case`: cases as the API shows them, contact details masked."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from commands.common import JsonOpt, emit_json, fail, load, out, store_for
from domain.base import CaseKind
from domain.cases import CaseStatus
from store.views import case_view, load_cases


def cases_command(
    status: Annotated[CaseStatus | None, typer.Option(help="only cases in this status")] = None,
    appointment: Annotated[str | None, typer.Option(help="only this appointment's cases")] = None,
    kind: Annotated[CaseKind | None, typer.Option(help="only cases of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List cases, newest first."""
    settings = load()
    currency = settings.policy.compensation.currency
    found = load_cases(
        store_for(settings),
        appointment_id=appointment,
        status=status.value if status else None,
        kind=kind.value if kind else None,
        limit=limit,
    )
    views = [case_view(case, ledger, [], unmasked=False, currency=currency) for case, ledger, _ in found]
    if as_json:
        for view in views:
            view.pop("timeline", None)
        emit_json(views)
        return
    if not views:
        out.print("no cases")
        return
    table = Table("case", "kind", "status", "outcome", "appointment", "opened", "ticket", "failure")
    for view in views:
        table.add_row(
            view["case_id"],
            view["kind"],
            view["status"],
            view["outcome"] or "-",
            view["appointment_id"],
            view["opened_at"][:19],
            view["ticket_id"] or "-",
            view["failure"]["kind"] if view["failure"] else "-",
        )
    out.print(table)


def case_command(case_id: str, as_json: JsonOpt = False) -> None:
    """One case with its timeline (contact details masked)."""
    settings = load()
    found = load_cases(store_for(settings), case_id=case_id)
    if not found:
        raise fail(f"no case {case_id}")
    case, ledger, timeline = found[0]
    view = case_view(case, ledger, timeline, unmasked=False, currency=settings.policy.compensation.currency)
    if as_json:
        emit_json(view)
        return
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    comp = view["compensation"]
    patient = view["patient"]
    failure = view["failure"]
    for label, value in [
        ("case", view["case_id"]),
        ("workflow", view["workflow_id"]),
        ("kind", view["kind"]),
        ("status", view["status"]),
        ("outcome", view["outcome"] or "-"),
        ("appointment", view["appointment_id"]),
        ("patient", f"{view['patient_id']}  {patient['phone'] or '-'}  {patient['email'] or '-'}"),
        ("practice", view["practice_id"]),
        ("event", view["event_type"]),
        ("new slot", json.dumps(view["new_slot"]) if view["new_slot"] else "-"),
        ("compensation", f"{comp['amount']} {comp['currency']} ({comp['status']})"),
        ("root cause", view["root_cause"] or "-"),
        ("ticket", view["ticket_id"] or "-"),
        ("failure", f"{failure['kind']} at {failure['at']}: {failure['message']}" if failure else "-"),
        ("opened", view["opened_at"]),
        ("closed", view["closed_at"] or "-"),
    ]:
        summary.add_row(label, escape(str(value)))
    out.print(summary)
    table = Table("at", "what", "detail", title="timeline", title_justify="left")
    for item in view["timeline"]:
        table.add_row(item["at"][:19], item["what"], escape(json.dumps(item["detail"], ensure_ascii=False)))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("cases")(cases_command)
    app.command("case")(case_command)
