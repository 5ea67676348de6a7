"""`export WORKFLOW_ID [-o FILE]` and `replay WORKFLOW_ID… | --file FILE… | --query FILTER`
(runtime/histories.py). The replayer loads every workflow: it is imported when a command needs it, so
the other commands start without it.

Every command that talks to Temporal does all its work inside one `asyncio.run(...)`, with one client, and
returns only when nothing of the client is still running (short-lived clients can otherwise crash at
interpreter shutdown; FIELD-NOTES)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from commands.common import JsonOpt, emit_json, err, fail, load, out
from dispatch.connection import not_found
from domain.masking import one_line


def export_command(
    workflow_id: str,
    output: Annotated[str, typer.Option("-o", "--output", help="file to write; `-` is stdout")] = "-",
) -> None:
    """The workflow's history as Temporal's JSON (payloads as stored: encrypted)."""
    settings = load()
    try:
        from runtime.histories import export_history

        text = asyncio.run(export_history(settings, workflow_id))
    except Exception as exc:
        if not_found(exc):
            raise fail(f"no workflow {workflow_id}") from None
        raise fail(f"could not export {workflow_id}: {one_line(exc)}") from None
    if output == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(output).write_text(text + "\n")
        err.print(f"{workflow_id}: history written to {escape(output)}")


def replay_command(
    targets: Annotated[list[str] | None, typer.Argument(metavar="[WORKFLOW_ID… | FILE…]")] = None,
    from_files: Annotated[
        bool, typer.Option("--file", help="the arguments are exported histories (no Temporal server needed)")
    ] = False,
    query: Annotated[str | None, typer.Option(help="a Temporal list filter (WorkflowType='…')")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay histories against the current code: one line per workflow, `ok` or `nondeterministic` with
    the event id and reason. Exit 1 if any did not replay."""
    given = targets or []
    if query and given:
        raise typer.BadParameter("--query takes no workflow ids or files")
    if not query and not given:
        raise typer.BadParameter("give workflow ids, or --file FILE…, or --query FILTER")
    if from_files and query:
        raise typer.BadParameter("--file and --query do not go together")
    ids, paths = ([], [Path(p) for p in given]) if from_files else (given, [])
    for path in paths:
        if not path.is_file():
            raise typer.BadParameter(f"no file {path}", param_hint="--file")
    settings = load()
    try:
        from runtime.histories import replay_histories

        results = asyncio.run(replay_histories(settings, ids, paths, query))
    except Exception as exc:
        if not_found(exc):
            raise fail(f"no such workflow: {one_line(exc)}") from None
        raise fail(f"could not replay: {one_line(exc)}") from None
    if as_json:
        emit_json([asdict(r) for r in results])
    else:
        if not results:
            out.print("no workflows")
        for r in results:
            colour = "green" if r.result == "ok" else "red"
            out.print(escape(r.line()).replace(f"  {r.result}", f"  [{colour}]{r.result}[/]", 1))
    if any(r.result != "ok" for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("replay")(replay_command)
