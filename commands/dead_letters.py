"""`dead-letters [list]`, `dead-letters show ID`, `dead-letters resubmit ID…` (dispatch/dead_letters.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from commands.common import JsonOpt, LimitOpt, current_user, emit_json, fail, load, out, store_for
from dispatch.dead_letters import letter_json, reasons, resubmit
from domain.masking import mask_text
from store import dead_letters as letters_store

letters_app = typer.Typer(help="refused input (dead letters), with the reasons")


def _list_letters(limit: int, as_json: bool) -> None:
    found = letters_store.recent(store_for(load()), limit)
    if as_json:
        emit_json([letter_json(letter, whole_body=False) for letter in found])
        return
    if not found:
        out.print("no dead letters")
        return
    table = Table("id", "received", "endpoint", "status", "why", "body", "resubmitted")
    for letter in found:
        preview = mask_text(letter.raw[:120].decode("utf-8", "replace")).replace("\n", " ")
        table.add_row(
            f"#{letter.id}",
            f"{letter.received_at:%Y-%m-%d %H:%M:%S}",
            letter.endpoint,
            str(letter.status_code),
            escape("; ".join(reasons(letter.errors))),
            escape(preview + ("…" if len(letter.raw) > 120 else "")),
            f"as event #{letter.resubmitted_as}" if letter.resubmitted_at else "-",
        )
    out.print(table)


@letters_app.callback(invoke_without_command=True)
def letters_default(ctx: typer.Context, limit: LimitOpt = 50, as_json: JsonOpt = False) -> None:
    """Refused input with the reasons (`dead-letters` alone lists them)."""
    if ctx.invoked_subcommand is None:
        _list_letters(limit, as_json)


@letters_app.command("list")
def letters_list(limit: LimitOpt = 50, as_json: JsonOpt = False) -> None:
    """Refused input, newest first, with the reasons."""
    _list_letters(limit, as_json)


@letters_app.command("show")
def letters_show(letter_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
    """The whole stored body (contact details masked) and why it was refused."""
    letter = letters_store.get(store_for(load()), letter_id)
    if letter is None:
        raise fail(f"no dead letter #{letter_id}")
    view = letter_json(letter, whole_body=True)
    if as_json:
        emit_json(view)
        return
    out.print(
        f"[bold]#{letter.id}[/]  {view['received_at'][:19]}  {letter.endpoint}  {letter.status_code}  "
        f"{escape(letter.content_type or '-')}"
    )
    if letter.resubmitted_at:
        out.print(f"resubmitted {view['resubmitted_at'][:19]} by {letter.resubmitted_by}, as event "
                  f"#{letter.resubmitted_as}")  # fmt: skip
    out.print("[bold]why[/]")
    for reason in view["reasons"]:
        out.print(f"  {escape(reason)}")
    out.print("[bold]body[/]")
    body = view["body"]
    try:
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        pass  # not JSON: shown as it came
    out.print(escape(body), soft_wrap=True)


@letters_app.command("resubmit")
def letters_resubmit(
    letter_ids: Annotated[list[int], typer.Argument(metavar="ID…")],
    by: Annotated[str | None, typer.Option(help="who resubmits (default: the login name)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge each stored body with the current code; one valid now is acted on as if just received
    (duplicates recognised as usual). Exit 1 if any is still invalid or cannot be resubmitted."""
    settings = load()
    results = asyncio.run(resubmit(settings, store_for(settings), letter_ids, by or current_user()))
    if as_json:
        emit_json([asdict(r) for r in results])
    else:
        for r in results:
            if r.taken:
                line = f"#{r.id}  {r.result}  event #{r.event_row_id}"
                line += f"  case {r.case_id or '-'}  workflow {r.workflow_id or '-'}"
                if r.result == "accepted":
                    line += f"  ({r.dispatched})"
                out.print(escape(line))
            else:
                out.print(f"#{r.id}  [red]{r.result}[/]")
                for reason in r.reasons:
                    out.print(f"    {escape(reason)}")
    if not all(r.taken for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(letters_app, name="dead-letters")
