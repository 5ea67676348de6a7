"""One Typer app for every command people type: `python cli.py …`, `makeright …` (the venv's script), and
`python starter.py send|relay`. One module per feature, each thin over the library that does the work
(store/, dispatch/, runtime/):

makeright cases [--status S] [--appointment A] [--kind K] [--limit N] [--json]
makeright case CASE_ID [--json]                  one case with its timeline (contact details masked)
makeright dead-letters [list] [--limit N] [--json]
makeright dead-letters show ID [--json]          the whole stored body (masked) and the reasons
makeright dead-letters resubmit ID…              judge the body with the current code; act on it if
                                                 valid now, as if just received
makeright export WORKFLOW_ID [-o FILE]           the history as Temporal's JSON (payloads encrypted)
makeright replay WORKFLOW_ID… | --file FILE… | --query "LIST FILTER"
                                                 replay histories against the current code
makeright retry CASE_ID… | --failed [--kind K] [--since ISO-TIME] [--dry-run]
                                                 re-run failed cases with the current code
makeright users add NAME --role ROLE [--phone +E164] [--name "Display Name"] [--password-stdin]
                                                 a new console user (an existing one: `users set`)
makeright users set NAME [--role R] [--phone +E164 | --no-phone] [--name N] [--password-stdin]
                   [--activate]                  change only what is given
makeright users deactivate NAME                  no more sign-ins; their sessions end now
makeright users list
makeright ledger [--day DATE] [--days N] [--json]
                                                 compensation per UTC day: issued, pending, denied,
                                                 and the daily budget left
makeright staffing --calls-per-hour R | --calls-by-hour "H:R,…" [--handle-seconds S]
                   [--patience-seconds S] [--first-ring-pct P] [--max-abandoned-pct P] [--json]
                                                 the fewest reps for the wall's call figures (Erlang A)
makeright simulate [--hours H] [--reps K | --reps-by-hour "H:K,…"] [--calls-per-hour R]
                   [--handle-seconds S] [--patience-seconds S] [--rep-answer-seconds S] [--seed N]
                   [--behaviour FILE] [--out DIR] [--json]
                                                 a simulated day of the support line on makeright's own
                                                 workflows and router (time-skipping Temporal), vs Erlang A
makeright migrate                                bring the database schema up to date
makeright codec new-key KEY_ID                   a fresh CODEC_KEYS entry, for rotation
makeright send FILE [--in-minutes N] …           sign and send an event file (as `starter.py send`)
makeright relay                                  dispatch stored events that are still pending
makeright worker                                 the Temporal workers (as `python worker.py`)
makeright run                                    the whole system (as `make run`, `python run.py`)

Exit codes: 0 success, 1 something was found wrong (not found, nondeterministic, an error), 2 bad usage
(a setting missing or wrong included: runtime/startup.py). `--json` prints machine-readable output
instead of tables. Contact details are masked everywhere.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import typer

from commands import (
    cases,
    codec,
    dead_letters,
    events,
    histories,
    ledger,
    migrate,
    processes,
    retry,
    simulate,
    staffing,
    users,
)
from runtime.startup import guarded

app = typer.Typer(
    name="cli.py",
    help="makeright for engineers: cases, dead letters, workflow histories, retries.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for feature in (
    cases,
    dead_letters,
    histories,
    retry,
    migrate,
    codec,
    users,
    ledger,
    events,
    processes,
    staffing,
    simulate,
):
    feature.register(app)


def run(typer_app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Run a Typer app as a program; returns its exit code (for tests and the scripts' `main`)."""

    def body() -> int:
        try:
            typer_app(args=argv, prog_name=prog_name, standalone_mode=True)
        except SystemExit as exc:
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        return 0

    try:
        return guarded(body)
    finally:
        # A command that failed on a Temporal call leaves its client in the exception's reference cycle;
        # freed only by the interpreter's shutdown, its Rust side can no longer take the GIL and the
        # process aborted after printing its answer ("Fatal Python error: PyGILState_Release", exit 134:
        # 7 of 30 `export no-such-workflow` on a busy machine). Freed here, while Python is whole: for
        # every program run through here (cli.py, makeright, starter.py).
        gc.collect()


def main(argv: list[str] | None = None) -> int:
    """`python cli.py …` and `makeright …`."""
    prog_name = "makeright" if Path(sys.argv[0]).name == "makeright" else "cli.py"
    return run(app, argv, prog_name)
