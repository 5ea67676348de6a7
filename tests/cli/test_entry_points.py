"""The entry points are thin: one Typer app holds every command (`python cli.py …`, `makeright …`),
`starter.py` runs its `send` and `relay`, and every `main()` reports a bad setting the same way."""

from __future__ import annotations

import pytest
import typer

from commands import app
from commands.events import starter_app
from config import ConfigError
from runtime.startup import guarded


def names(typer_app: typer.Typer) -> set[str]:
    commands = {c.name for c in typer_app.registered_commands if c.name}
    groups = {g.name for g in typer_app.registered_groups if g.name}
    return commands | groups


def test_one_app_holds_every_command() -> None:
    assert names(app) == {
        "cases", "case", "dead-letters", "export", "replay", "retry", "migrate", "codec", "users", "ledger",
        "send", "relay", "worker", "run", "staffing", "simulate",
    }  # fmt: skip
    assert names(starter_app) == {"send", "relay"}


def test_a_bad_setting_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        raise ConfigError("missing setting TWILIO_AUTH_TOKEN")

    assert guarded(main) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "makeright: missing setting TWILIO_AUTH_TOKEN\n"
    assert guarded(lambda: 0) == 0


@pytest.mark.parametrize("script", ["cli.py", "starter.py", "worker.py", "run.py"])
def test_a_python_without_the_packages_says_how_to_run_it(script: str) -> None:
    """`python cli.py` with a Python outside the venv: how to set up and run it, not a traceback.
    `-S` leaves out site-packages, as a system Python without makeright's packages would."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-S", script, "--help"], cwd=root, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "make setup" in done.stderr and f".venv/bin/python {script}" in done.stderr
