"""`worker` and `run`: the processes, as `python worker.py` and `python run.py` run them (runtime/)."""

from __future__ import annotations

import typer

from commands.common import load


def worker_command() -> None:
    """Run the Temporal workers (workflows, and one rate-limited worker per provider) until Ctrl-C."""
    from runtime.worker import serve

    raise typer.Exit(serve(load()))


def run_command() -> None:
    """What `make run` runs: migrate, the dev server (unless TEMPORAL_ADDRESS is set), the worker and the
    web app; Ctrl-C stops them all."""
    from runtime.supervisor import supervise

    raise typer.Exit(supervise(load()))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.command("run")(run_command)
