"""Engineers' command line: cases, refused input, workflow histories, and re-running failed cases.

python cli.py cases [--status S] [--appointment A] [--kind K] [--limit N] [--json]
python cli.py case CASE_ID [--json]                  one case with its timeline (contact details masked)
python cli.py dead-letters [list] [--limit N] [--json]
python cli.py dead-letters show ID [--json]          the whole stored body (masked) and the reasons
python cli.py dead-letters resubmit ID…              judge the body with the current code; act on it if
                                                     valid now, as if just received
python cli.py export WORKFLOW_ID [-o FILE]           the history as Temporal's JSON (payloads encrypted)
python cli.py replay WORKFLOW_ID… | --file FILE… | --query "LIST FILTER"
                                                     replay histories against the current code
python cli.py retry CASE_ID… | --failed [--kind K] [--since ISO-TIME] [--dry-run]
                                                     re-run failed cases with the current code
python cli.py users add NAME --role ROLE [--phone +E164] [--name "Display Name"] [--password-stdin]
                                                     a new console user (an existing one: `users set`)
python cli.py users set NAME [--role R] [--phone +E164 | --no-phone] [--name N] [--password-stdin]
                   [--activate]                      change only what is given
python cli.py users deactivate NAME                  no more sign-ins; their sessions end now
python cli.py users list
python cli.py ledger [--day DATE] [--days N] [--json]
                                                     compensation per UTC day: issued, pending, denied,
                                                     and the daily budget left
python cli.py migrate                                bring the database schema up to date
python cli.py codec new-key KEY_ID                   a fresh CODEC_KEYS entry, for rotation

Exit codes: 0 success, 1 something was found wrong (not found, nondeterministic, an error), 2 bad usage.
`--json` prints machine-readable output instead of tables. Contact details are masked everywhere.

How `retry` re-runs a case: it RESETS the case's workflow to its first workflow task (the event id of
the first WORKFLOW_TASK_COMPLETED in the latest run's history, as `temporal workflow reset --type
FirstWorkflowTask` picks it), instead of starting a new workflow. A reset keeps the original input
exactly as stored (encrypted; no need to rebuild it from the store) and re-applies the signals that
arrived after that point, i.e. the patient's replies, so the re-run sees what the patient already said.
Every step then runs again with the current code, and re-running is safe: messages go once per
(case, channel, key) (store/outbox.py: a step already sent comes back `already_sent` without reaching the
provider) and gift cards once per case (the provider and the ledger are keyed on domain.ids.gift_card_key),
so no patient is messaged twice for a step and nobody is paid twice. Before the reset the case is reopened
(store.cases.reopen_for_retry); if the reset is refused, the case is put back as failed.

Every command that talks to Temporal does all its work inside one `asyncio.run(...)`, with one client, and
returns only when nothing of the client is still running (short-lived clients can otherwise crash at
interpreter shutdown; FIELD-NOTES).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from config import ConfigError, Settings, load_settings
from domain import phones
from domain.base import CaseKind
from domain.masking import mask_text
from domain.models import CaseStatus
from encryption.codec import new_key_spec
from store import cases as cases_store
from store import dead_letters as letters_store
from store import ledger as ledger_store
from store import users
from store.db import Store, migrate
from store.models import DeadLetter
from store.views import case_view, load_cases

app = typer.Typer(
    name="cli.py",
    help="makeright for engineers: cases, dead letters, workflow histories, retries.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="console users", no_args_is_help=True)
letters_app = typer.Typer(help="refused input (dead letters), with the reasons")
app.add_typer(users_app, name="users")
app.add_typer(letters_app, name="dead-letters")
codec_app = typer.Typer(help="payload encryption keys", no_args_is_help=True)
app.add_typer(codec_app, name="codec")


def _width() -> int | None:
    # piped or captured output gets wide lines (ids are never wrapped); a terminal keeps its own width
    return None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200


out = Console(highlight=False, width=_width())
err = Console(stderr=True, highlight=False, width=_width())

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON instead of tables")]


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"makeright: {escape(message)}")
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def store_for(settings: Settings) -> Store:
    return Store(settings.database_url)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "engineer"


# ---------------------------------------------------------------------- cases


@app.command("cases")
def cases_command(
    status: Annotated[CaseStatus | None, typer.Option(help="only cases in this status")] = None,
    appointment: Annotated[str | None, typer.Option(help="only this appointment's cases")] = None,
    kind: Annotated[CaseKind | None, typer.Option(help="only cases of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List cases, newest first."""
    settings = settings_or_exit()
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


@app.command("case")
def case_command(case_id: str, as_json: JsonOpt = False) -> None:
    """One case with its timeline (contact details masked)."""
    settings = settings_or_exit()
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


# ---------------------------------------------------------------------- dead letters


def _reasons(errors: Iterable[dict[str, Any]]) -> list[str]:
    return [mask_text(f"{e.get('field')}: {e.get('reason')}") for e in errors]


def _letter_json(letter: DeadLetter, whole_body: bool) -> dict[str, Any]:
    body = letter.raw.decode("utf-8", "replace")
    return {
        "id": letter.id,
        "received_at": letter.received_at.isoformat(),
        "endpoint": letter.endpoint,
        "content_type": letter.content_type,
        "status_code": letter.status_code,
        "reasons": _reasons(letter.errors),
        "body": mask_text(body if whole_body else body[:120]),
        "resubmitted_at": letter.resubmitted_at.isoformat() if letter.resubmitted_at else None,
        "resubmitted_by": letter.resubmitted_by,
        "resubmitted_as": letter.resubmitted_as,
    }


def _list_letters(limit: int, as_json: bool) -> None:
    found = letters_store.recent(store_for(settings_or_exit()), limit)
    if as_json:
        emit_json([_letter_json(letter, whole_body=False) for letter in found])
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
            escape("; ".join(_reasons(letter.errors))),
            escape(preview + ("…" if len(letter.raw) > 120 else "")),
            f"as event #{letter.resubmitted_as}" if letter.resubmitted_at else "-",
        )
    out.print(table)


LimitOpt = Annotated[int, typer.Option(min=1, help="at most this many, newest first")]


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
    letter = letters_store.get(store_for(settings_or_exit()), letter_id)
    if letter is None:
        raise fail(f"no dead letter #{letter_id}")
    view = _letter_json(letter, whole_body=True)
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


@dataclass
class Resubmitted:
    id: int
    result: str  # accepted | duplicate | invalid | refused | not_found
    case_id: str | None = None
    workflow_id: str | None = None
    event_row_id: int | None = None
    dispatched: str | None = None  # the inbox row's status afterwards (dispatched, pending, …)
    reasons: list[str] = field(default_factory=list)


async def _resubmit(settings: Settings, store: Store, ids: list[int], by: str) -> list[Resubmitted]:
    from starter import Starter
    from store import inbox
    from web.events import DISPATCH_WAIT_SECONDS, parse_booking_event

    starter = Starter(settings, store)
    results = []
    for letter_id in ids:
        letter = await asyncio.to_thread(letters_store.get, store, letter_id)
        if letter is None:
            results.append(Resubmitted(letter_id, "not_found", reasons=["no such dead letter"]))
            continue
        if letter.endpoint != "/events":
            why = f"it came to {letter.endpoint}: only booking events (/events) can be resubmitted"
            results.append(Resubmitted(letter_id, "refused", reasons=[why]))
            continue
        event, errors = parse_booking_event(letter.raw)
        if event is None:
            results.append(Resubmitted(letter_id, "invalid", reasons=_reasons(errors)))
            continue
        accepted = await asyncio.to_thread(inbox.accept_booking_event, store, letter.raw, event)
        if not accepted.duplicate:
            # exactly as POST /events: committed, then acted on; if Temporal is away, a relay does it later
            try:
                await asyncio.wait_for(starter.dispatch(accepted.event_row_id), DISPATCH_WAIT_SECONDS)
            except TimeoutError:
                pass
        await asyncio.to_thread(letters_store.mark_resubmitted, store, letter_id, accepted.event_row_id, by)

        results.append(
            Resubmitted(
                letter_id,
                "duplicate" if accepted.duplicate else "accepted",
                case_id=accepted.case_id,
                workflow_id=accepted.workflow_id,
                event_row_id=accepted.event_row_id,
                dispatched=await asyncio.to_thread(inbox.event_status, store, accepted.event_row_id),
            )
        )
    return results


@letters_app.command("resubmit")
def letters_resubmit(
    letter_ids: Annotated[list[int], typer.Argument(metavar="ID…")],
    by: Annotated[str | None, typer.Option(help="who resubmits (default: the login name)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge each stored body with the current code; one valid now is acted on as if just received
    (duplicates recognised as usual). Exit 1 if any is still invalid or cannot be resubmitted."""
    settings = settings_or_exit()
    results = asyncio.run(_resubmit(settings, store_for(settings), letter_ids, by or current_user()))
    if as_json:
        emit_json([asdict(r) for r in results])
    else:
        for r in results:
            if r.result in ("accepted", "duplicate"):
                line = f"#{r.id}  {r.result}  event #{r.event_row_id}"
                line += f"  case {r.case_id or '-'}  workflow {r.workflow_id or '-'}"
                if r.result == "accepted":
                    line += f"  ({r.dispatched})"
                out.print(escape(line))
            else:
                out.print(f"#{r.id}  [red]{r.result}[/]")
                for reason in r.reasons:
                    out.print(f"    {escape(reason)}")
    if any(r.result not in ("accepted", "duplicate") for r in results):
        raise typer.Exit(1)


# ---------------------------------------------------------------------- Temporal: export, replay


def _not_found(exc: BaseException) -> bool:
    from temporalio.service import RPCError, RPCStatusCode

    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


async def _export(settings: Settings, workflow_id: str) -> str:
    from temporal_client import connect

    client = await connect(settings)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()


@app.command("export")
def export_command(
    workflow_id: str,
    output: Annotated[str, typer.Option("-o", "--output", help="file to write; `-` is stdout")] = "-",
) -> None:
    """The workflow's history as Temporal's JSON (payloads as stored: encrypted)."""
    settings = settings_or_exit()
    try:
        text = asyncio.run(_export(settings, workflow_id))
    except Exception as exc:
        if _not_found(exc):
            raise fail(f"no workflow {workflow_id}") from None
        raise fail(f"could not export {workflow_id}: {_one_line(exc)}") from None
    if output == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(output).write_text(text + "\n")
        err.print(f"{workflow_id}: history written to {escape(output)}")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return mask_text(text)[:limit]


def quiet_temporal_runtime() -> None:
    """The SDK core logs a failing workflow task (each nondeterministic replay) to stdout, which would mix
    with the command's own output (and its --json): this process reports those itself."""
    from temporalio.runtime import Runtime, TelemetryConfig

    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=None)), error_if_already_set=False)


_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_EVENT_ID = re.compile(r"(?:HistoryEvent\(id: |event[ _]?id[:= ]+|event #?)(\d+)", re.IGNORECASE)
_QUOTED = re.compile(r"'([^']+)'")


def _event_names(event: Any) -> list[str]:
    """The names a nondeterminism message may quote for an event: activity, child workflow, timer,
    signal, marker."""
    names = []
    for attrs, fields in (
        ("activity_task_scheduled_event_attributes", ("activity_type", "activity_id")),
        ("start_child_workflow_execution_initiated_event_attributes", ("workflow_type", "workflow_id")),
        ("timer_started_event_attributes", ("timer_id",)),
        ("marker_recorded_event_attributes", ("marker_name",)),
        ("signal_external_workflow_execution_initiated_event_attributes", ("signal_name",)),
    ):
        if event.HasField(attrs):
            for name in fields:
                value = getattr(getattr(event, attrs), name)
                names.append(value if isinstance(value, str) else getattr(value, "name", ""))
    return [n for n in names if n]


def describe_replay_failure(exc: BaseException, history: Any = None) -> tuple[str, int | None, str]:
    """(verdict, event id, reason), in one line and without payloads: `nondeterministic` for a history the
    current code would not produce, `failed` for anything else (an undecryptable payload, a crash). The
    event id is the one the SDK names, else the first event of the history the reason quotes."""
    from temporalio.workflow import NondeterminismError

    message = " ".join(str(exc).split())
    inner = _CORE_MESSAGE.search(message)
    reason = inner.group(1).replace('\\"', '"') if inner else message
    nondet = isinstance(exc, NondeterminismError) or "Nondeterminism" in message
    reason = re.sub(r"^\[TMPRL\d+\]\s*", "", reason)
    reason = re.sub(r"^Nondeterminism error:\s*", "", reason)
    found = _EVENT_ID.search(message)
    event_id = int(found.group(1)) if found else None
    if event_id is None and history is not None:
        quoted = _QUOTED.findall(reason)
        for event in history.events:
            if any(name in quoted for name in _event_names(event)):
                event_id = int(event.event_id)
                break
    verdict = "nondeterministic" if nondet else "failed"
    return verdict, event_id, mask_text(reason)[:240] or type(exc).__name__


@dataclass
class Replayed:
    workflow_id: str
    run_id: str
    result: str  # ok | nondeterministic | failed
    event_id: int | None = None
    reason: str | None = None

    def line(self) -> str:
        if self.result == "ok":
            return f"{self.workflow_id}  ok"
        where = f"event {self.event_id}: " if self.event_id is not None else ""
        return f"{self.workflow_id}  {self.result}  {where}{self.reason}"


def history_from_file(path: Path) -> Any:
    from temporalio.client import WorkflowHistory

    text = path.read_text()
    workflow_id = path.stem
    try:
        events = json.loads(text).get("events") or []
        started = events[0].get("workflowExecutionStartedEventAttributes") or {}
        workflow_id = started.get("workflowId") or workflow_id
    except (ValueError, AttributeError, IndexError):
        pass  # from_json says what is wrong with it
    return WorkflowHistory.from_json(workflow_id, text)


async def _replay(settings: Settings, ids: list[str], files: list[Path], query: str | None) -> list[Replayed]:
    from temporalio.client import WorkflowHistory

    from temporal_client import connect, data_converter
    from worker import replayer

    quiet_temporal_runtime()
    histories: list[WorkflowHistory] = [history_from_file(path) for path in files]
    if ids or query:
        client = await connect(settings)
        for workflow_id in ids:
            histories.append(await client.get_workflow_handle(workflow_id).fetch_history())
        if query:
            async for history in client.list_workflows(query).map_histories():
                histories.append(history)
    replaying = replayer(data_converter(settings))

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results: list[Replayed] = []
    async with replaying.workflow_replay_iterator(each()) as replayed:
        async for result in replayed:
            history = result.history
            if result.replay_failure is None:
                results.append(Replayed(history.workflow_id, history.run_id, "ok"))
            else:
                verdict, event_id, reason = describe_replay_failure(result.replay_failure, history)
                results.append(Replayed(history.workflow_id, history.run_id, verdict, event_id, reason))
    return results


@app.command("replay")
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
    settings = settings_or_exit()
    try:
        results = asyncio.run(_replay(settings, ids, paths, query))
    except Exception as exc:
        if _not_found(exc):
            raise fail(f"no such workflow: {_one_line(exc)}") from None
        raise fail(f"could not replay: {_one_line(exc)}") from None
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


# ---------------------------------------------------------------------- retry

RETRYABLE_KINDS = (CaseKind.BOOKING_CONFLICT.value, CaseKind.CHECKIN_TROUBLE.value)


@dataclass
class Retry:
    case_id: str
    result: str  # retried | would_retry | skipped | error
    why: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    reset_event_id: int | None = None
    new_run_id: str | None = None


def first_workflow_task_event_id(history: Any) -> int | None:
    """Where `temporal workflow reset --type FirstWorkflowTask` resets to: the first
    WORKFLOW_TASK_COMPLETED; with none, the event after the first WORKFLOW_TASK_SCHEDULED."""
    from temporalio.api.enums.v1 import EventType

    fallback = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return int(event.event_id)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED and fallback is None:
            fallback = int(event.event_id) + 1
    return fallback


def select_failed(store: Store, kind: str | None, since: datetime | None) -> list[str]:
    kinds = (kind,) if kind is not None else RETRYABLE_KINDS
    return cases_store.failed_case_ids(store, kinds, since)


async def _plan_one(client: Any, store: Store, case_id: str) -> Retry:
    from temporalio.client import WorkflowExecutionStatus

    case = await asyncio.to_thread(lambda: load_cases(store, case_id=case_id))
    if not case:
        return Retry(case_id, "error", "no such case")
    row = case[0][0]
    if row.status != "failed":
        return Retry(case_id, "skipped", f"status is {row.status}, not failed", row.workflow_id)
    if not row.workflow_id:
        return Retry(case_id, "skipped", "the case has no workflow")
    try:
        described = await client.get_workflow_handle(row.workflow_id).describe()
    except Exception as exc:
        if _not_found(exc):
            return Retry(case_id, "skipped", "its workflow is not in Temporal", row.workflow_id)
        raise
    if described.status == WorkflowExecutionStatus.RUNNING:
        return Retry(case_id, "skipped", "its workflow is still running", row.workflow_id, described.run_id)
    history = await client.get_workflow_handle(row.workflow_id, run_id=described.run_id).fetch_history()
    event_id = first_workflow_task_event_id(history)
    if event_id is None:
        return Retry(case_id, "skipped", "its workflow never ran a workflow task", row.workflow_id)
    return Retry(case_id, "would_retry", None, row.workflow_id, described.run_id, event_id)


async def _reset(client: Any, store: Store, plan: Retry, by: str) -> Retry:
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import ResetReapplyType
    from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest

    from domain.models import TimelineEntry
    from store import cases

    assert plan.workflow_id and plan.run_id and plan.reset_event_id
    before = await asyncio.to_thread(lambda: load_cases(store, case_id=plan.case_id))
    previous = before[0][0]
    await asyncio.to_thread(cases.reopen_for_retry, store, plan.case_id, by)
    try:
        answer = await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=plan.workflow_id, run_id=plan.run_id),
                reason=f"makeright retry by {by}",
                workflow_task_finish_event_id=plan.reset_event_id,
                request_id=str(uuid.uuid4()),
                # the patient's replies (signals) after the reset point are applied again
                reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
            )
        )
    except Exception as exc:
        await asyncio.to_thread(
            cases.retry_not_started,
            store,
            plan.case_id,
            previous.failure_kind,
            previous.failure_message,
            previous.failure_at,
            _one_line(exc),
        )
        raise
    await asyncio.to_thread(
        cases.add_timeline,
        store,
        TimelineEntry(
            case_id=plan.case_id,
            what="workflow_reset",
            key=f"reset:{answer.run_id}",
            detail={"from_run": plan.run_id, "to_event": plan.reset_event_id, "run_id": answer.run_id},
        ),
    )
    return Retry(
        plan.case_id, "retried", None, plan.workflow_id, plan.run_id, plan.reset_event_id, answer.run_id
    )


async def _retry(
    settings: Settings, store: Store, case_ids: list[str], dry_run: bool, by: str, show_progress: bool
) -> list[Retry]:
    from temporal_client import connect

    client = await connect(settings)
    results: list[Retry] = []
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
        for case_id in case_ids:
            progress.update(task, description=f"{case_id}")
            try:
                plan = await _plan_one(client, store, case_id)
                if plan.result == "would_retry" and not dry_run:
                    plan = await _reset(client, store, plan, by)
            except Exception as exc:  # one case's trouble does not stop the run
                plan = Retry(case_id, "error", _one_line(exc))
            results.append(plan)
            progress.advance(task)
    return results


def parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO time: {value!r}", param_hint="--since") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("retry")
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
    settings = settings_or_exit()
    store = store_for(settings)
    if failed:
        ids = select_failed(store, kind.value if kind else None, since_at)
    if not ids:
        if as_json:
            emit_json({"dry_run": dry_run, "retried": [], "skipped": [], "errors": [], "cases": []})
        else:
            out.print("no failed cases")
        return
    results = asyncio.run(_retry(settings, store, ids, dry_run, by or current_user(), not as_json))
    errors = [r for r in results if r.result == "error"]
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "retried": [r.case_id for r in results if r.result in ("retried", "would_retry")],
                "skipped": [{"case_id": r.case_id, "why": r.why} for r in results if r.result == "skipped"],
                "errors": [{"case_id": r.case_id, "error": r.why} for r in errors],
                "cases": [asdict(r) for r in results],
            }
        )
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


# ---------------------------------------------------------------------- users


def phone_option(phone: str | None) -> str | None:
    """--phone parsed like every number that enters (domain.phones): E.164 out, or exit 2 with why."""
    if phone is None:
        return None
    try:
        return phones.normalise(phone)
    except phones.PhoneError as exc:
        raise fail(f"--phone {phone!r} {exc}", 2) from None


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (run once per deploy, before the new workers and web app)."""
    settings = settings_or_exit()
    migrate(settings.database_url)
    out.print("database schema is up to date")


@codec_app.command("new-key")
def codec_new_key(
    key_id: Annotated[str, typer.Argument(help="a name for the key, e.g. k2 or 2026-11")],
) -> None:
    """Print a fresh CODEC_KEYS entry (KEY_ID:BASE64_32_BYTES). To rotate, put it first in CODEC_KEYS and
    keep the old keys after it until no history needs them (docs/deploy.md)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", key_id):
        raise typer.BadParameter("letters, digits, '.', '_' or '-', at most 40", param_hint="KEY_ID")
    sys.stdout.write(new_key_spec(key_id) + "\n")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help=f"one of {', '.join(users.ROLES)}")],
    phone: Annotated[str | None, typer.Option(help="where the bridge call rings this user, +E164")] = None,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="password from stdin")] = False,
) -> None:
    """Create a console user. The password is prompted for (twice), or read from stdin. An existing user
    is refused: change one with `users set`."""
    if role not in users.ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(users.ROLES)}", param_hint="--role")
    phone = phone_option(phone)
    settings = settings_or_exit()
    migrate(settings.database_url)  # users are often added before the first `make run`
    store = store_for(settings)
    if users.get(store, username) is not None:  # before asking for a password that would not be used
        raise fail(_exists(username))
    try:
        password = read_password(password_stdin)
        user = users.add_user(store, username, role, password, phone=phone, display_name=name)
    except users.UserExists:
        raise fail(_exists(username)) from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"user {escape(user.username)} ({user.role}) saved")


def _exists(username: str) -> str:
    return (
        f"user {username!r} exists already; change it with `cli.py users set {username} "
        "[--role R] [--phone +E164 | --no-phone] [--name N] [--password-stdin] [--activate]`"
    )


@users_app.command("set")
def users_set(
    username: str,
    role: Annotated[str | None, typer.Option(help=f"one of {', '.join(users.ROLES)}")] = None,
    phone: Annotated[str | None, typer.Option(help="where the bridge call rings this user, +E164")] = None,
    no_phone: Annotated[bool, typer.Option("--no-phone", help="remove the phone number")] = False,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="a new password from stdin (ends their sessions)")
    ] = False,
    activate: Annotated[bool, typer.Option("--activate", help="allow sign-ins again")] = False,
) -> None:
    """Change a console user: only what is given changes."""
    if role is not None and role not in users.ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(users.ROLES)}", param_hint="--role")
    if phone is not None and no_phone:
        raise fail("give --phone or --no-phone, not both", 2)
    phone = phone_option(phone)
    if (
        role is None
        and phone is None
        and not no_phone
        and name is None
        and not password_stdin
        and not activate
    ):
        raise fail(
            "nothing to change: give --role, --phone, --no-phone, --name, --password-stdin or --activate", 2
        )
    settings = settings_or_exit()
    migrate(settings.database_url)
    changes: dict[str, Any] = {"role": role, "display_name": name, "activate": activate}
    if phone is not None or no_phone:
        changes["phone"] = phone
    try:
        if password_stdin:
            changes["password"] = read_password(True)
        changed = users.set_user(store_for(settings), username, **changes)
    except users.NoSuchUser:
        raise fail(f"no user {username!r} (create one with `cli.py users add`)") from None
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    ended = f"; {changed.sessions_ended} session(s) ended" if changed.sessions_ended else ""
    out.print(f"user {escape(username)} changed: {', '.join(changed.changes)}{ended}")


@users_app.command("deactivate")
def users_deactivate(username: str) -> None:
    """No more sign-ins for this user; their console sessions end now (`users set NAME --activate`
    undoes it)."""
    settings = settings_or_exit()
    migrate(settings.database_url)
    try:
        ended = users.deactivate(store_for(settings), username)
    except users.NoSuchUser:
        raise fail(f"no user {username!r}") from None
    out.print(f"user {escape(username)} deactivated; {ended} session(s) ended")


@users_app.command("list")
def users_list(as_json: JsonOpt = False) -> None:
    """Console users (never their passwords)."""
    settings = settings_or_exit()
    migrate(settings.database_url)
    found = users.all_users(store_for(settings))
    rows = [
        {
            "username": u.username,
            "role": u.role,
            "active": u.active,
            "phone": u.phone,  # staff numbers, shown as before (patients' are masked everywhere)
            "name": u.display_name,
        }
        for u in found
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print("no users")
        return
    table = Table("user", "role", "state", "phone", "name")
    for u in found:
        state = "active" if u.active else "inactive"
        table.add_row(escape(u.username), u.role, state, u.phone or "-", escape(u.display_name or ""))
    out.print(table)


# ---------------------------------------------------------------------- ledger


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


@app.command("ledger")
def ledger_command(
    day: Annotated[
        str | None, typer.Option(help="only this UTC day, YYYY-MM-DD (default: the last --days days)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="without --day: this many days up to today")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Compensation per UTC day: issued, pending approval and denied, and what is left of the daily
    budget. Exit 1 when the ledger and the local gift-card book disagree (GIFT_CARD_MODE=local)."""
    settings = settings_or_exit()
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (for tests and `python cli.py`)."""
    try:
        app(args=argv, prog_name="cli.py", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
