"""Run a CLI command in this process, as `python cli.py …` would run it in its own: the same `main` with the
same argv, environment (exactly the subprocess's: `cli_env`), working directory and stdin; stdout and
stderr are pipes (not a terminal), read back as text. A command that raises ends with exit 1 and the
traceback on stderr, as the interpreter would. About 50 ms a command instead of 1 to 2 s of start-up.

For what a command parses, does and prints, and its exit code. What only a process shows (the entry point
`cli.py`, a short-lived Temporal client at interpreter shutdown: FIELD-NOTES) stays with
tests/support/cli_process.py, and so does every command that talks to Temporal beside a worker in the
test's process: its own client on a second event loop in a thread crashed the test process (a
segmentation fault in CI)."""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from rich.console import Console

import commands
from commands import common
from tests.support.cli_process import Ran, repeated
from tests.support.settings import ROOT

# what a Console decides when it is made, from the environment and whether its stream is a terminal
_MADE_AT_START = ("_width", "_height", "_color_system", "no_color", "is_interactive", "_force_terminal")


def _pipe() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    # as subprocess.run(text=True) reads a pipe: universal newlines
    return raw.getvalue().decode("utf-8").replace("\r\n", "\n")


@contextmanager
def _as_a_new_process(env: dict[str, str], args: tuple[str, ...], stdin: str | None) -> Iterator[Ran]:
    """The process-wide state a fresh `python cli.py …` starts with, for the length of one command."""
    out, err = _pipe(), _pipe()
    ran = Ran(0, "", "")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name not in env:
                mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        mp.chdir(ROOT)
        mp.setattr(sys, "argv", [str(ROOT / "cli.py"), *args])
        mp.setattr(sys, "stdin", io.StringIO(stdin or ""))
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        # the commands' consoles were made when commands/common.py was imported, under this process's
        # environment and streams: make them as the new process would (its width from COLUMNS, no colour
        # on a pipe)
        for console in (common.out, common.err):
            fresh = Console(stderr=console.stderr, highlight=False, width=common._width())
            for name in _MADE_AT_START:
                mp.setattr(console, name, getattr(fresh, name))
        try:
            yield ran
        finally:
            ran.out, ran.err = _read(out), _read(err)


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    """`python cli.py ARGS…` with this environment and stdin, run here: its exit code, stdout, stderr."""
    with _as_a_new_process(env, args, stdin) as ran:
        try:
            ran.code = commands.main(list(args))
        except SystemExit as exc:  # as the interpreter turns `raise SystemExit(x)` into a status
            code = exc.code
            ran.code = code if isinstance(code, int) else (0 if code is None else 1)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            ran.code = 1
    return ran


def run_cli_times(env: dict[str, str], *args: str, times: int = 3) -> Ran:
    """A read-only command several times in a row, here: the same exit code and output every time."""
    return repeated(run_cli, env, *args, times=times)
