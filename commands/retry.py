"""`retry CASE_ID… | --failed [--kind K] [--since ISO-TIME] [--dry-run]`: re-run failed cases with the
current code (dispatch/retry.py says how, and why it is safe)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from commands.common import JsonOpt, current_user, emit_json, err, load, out, store_for
from config import Settings
from dispatch import retry
from dispatch.connection import connect
from domain.base import CaseKind
from store.db import Store


async def _retry(
    settings: Settings, store: Store, case_ids: list[str], dry_run: bool, by: str, show_progress: bool
) -> list[retry.Retry]:
    client = await connect(settings)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not show_progress or len(case_ids) < 2,
    )
    with progress:
        task = progress.add_task("retrying" if not dry_run else "checking", total=len(case_ids))
        return await retry.retry_cases(
            client,
            store,
            case_ids,
            dry_run=dry_run,
            by=by,
            on_case=lambda case_id: progress.update(task, description=case_id),
            on_done=lambda _: progress.advance(task),
        )


def parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {value!r}", param_hint="--since") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_command(
    case_ids: Annotated[list[str] | None, typer.Argument(metavar="[CASE_ID…]")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="every failed case (see --kind, --since)")] = False,
    kind: Annotated[CaseKind | None, typer.Option(help="with --failed: only this kind")] = None,
    since: Annotated[
        str | None, typer.Option(help="with --failed: only cases that failed at or after this ISO time")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would run; change nothing")] = False,
    by: Annotated[str | None, typer.Option(help="who retries (default: the login name)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-run failed cases with the current code (a reset of each case's workflow to its first workflow
    task). Prints what was retried, skipped (with why) and errors; exit 1 if any error."""
    ids = case_ids or []
    if bool(ids) == failed:
        raise typer.BadParameter("give case ids, or --failed (one of them)")
    if not failed and (kind is not None or since is not None):
        raise typer.BadParameter("--kind and --since go with --failed")
    since_at = parse_since(since)
    settings = load()
    store = store_for(settings)
    if failed:
        ids = retry.select_failed(store, kind.value if kind else None, since_at)
    if not ids:
        if as_json:
            emit_json({"dry_run": dry_run, "retried": [], "skipped": [], "errors": [], "cases": []})
        else:
            out.print("no failed cases")
        return
    results = asyncio.run(_retry(settings, store, ids, dry_run, by or current_user(), not as_json))
    errors = [r for r in results if r.result == "error"]
    if as_json:
        emit_json(retry.summary(results, dry_run))
    else:
        title = "retry (dry run: nothing changed)" if dry_run else "retry"
        table = Table("case", "result", "workflow", "reset to event", "why", title=title)
        for r in results:
            colour = {"retried": "green", "would_retry": "cyan", "skipped": "yellow"}.get(r.result, "red")
            table.add_row(
                r.case_id,
                f"[{colour}]{r.result.replace('_', ' ')}[/]",
                r.workflow_id or "-",
                str(r.reset_event_id) if r.reset_event_id else "-",
                escape(r.why or ""),
            )
        out.print(table)
        counts = {k: sum(r.result == k for r in results) for k in ("retried", "would_retry", "skipped")}
        out.print(
            f"{'would retry' if dry_run else 'retried'} {counts['would_retry' if dry_run else 'retried']}, "
            f"skipped {counts['skipped']}, errors {len(errors)}"
        )
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("retry")(retry_command)
