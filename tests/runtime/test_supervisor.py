"""`make run`'s supervisor: a port another process holds stops start-up before anything starts, on the
terminal, naming the setting (not after the banner, with the reason only in var/temporal.log); and the
banner waits until Temporal, the worker and the web app all answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.supervisor import busy_ports, embedded_env, until_ready
from tests.support.http import free_port
from tests.support.settings import make_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something listens on, as a running makeright's Temporal or web app would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_every_port_it_will_bind_is_checked(sqlite_url: str, tmp_path: Path, held_port: int) -> None:
    free = {"temporal_port": free_port(), "temporal_ui_port": free_port(), "web_port": free_port()}
    assert busy_ports(make_settings(sqlite_url, tmp_path, **free)) == []
    for setting in ["temporal_port", "temporal_ui_port", "web_port"]:
        settings = make_settings(sqlite_url, tmp_path, **{**free, setting: held_port})
        name = setting.upper()
        assert busy_ports(settings) == [
            f"port {held_port} is in use ({name}): another makeright or Temporal is running; "
            f"stop it or set {name}"
        ]
    # with TEMPORAL_ADDRESS set no Temporal server is started here: its ports are not ours to check
    elsewhere = make_settings(
        sqlite_url, tmp_path, **{**free, "temporal_port": held_port}, temporal_address="127.0.0.1:1"
    )
    assert busy_ports(elsewhere) == []


def test_a_second_make_run_says_why_before_any_banner(tmp_path: Path, held_port: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "MAKERIGHT_"))}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'makeright.db'}",
        TEMPORAL_PORT=str(held_port),
        TEMPORAL_UI_PORT=str(free_port()),
        WEB_PORT=str(free_port()),
    )
    done = subprocess.run(
        [sys.executable, "run.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""  # no banner, no child started
    assert done.stderr == (
        f"makeright: port {held_port} is in use (TEMPORAL_PORT): another makeright or Temporal is running; "
        "stop it or set TEMPORAL_PORT\n"
    )
    assert not (tmp_path / "var" / "temporal.log").exists()


async def test_the_banner_waits_for_temporal_and_stops_when_a_child_exits(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError, match=r"^Temporal is not up after 1s"):
        await until_ready(settings, f"http://127.0.0.1:{free_port()}", 1, lambda: None, seconds=1)

    def worker_died() -> None:
        raise RuntimeError("worker exited with status 1 during start-up")

    with pytest.raises(RuntimeError, match="worker exited"):
        await until_ready(settings, f"http://127.0.0.1:{free_port()}", 1, worker_died, seconds=30)


def test_make_run_sets_the_inbound_email_defaults_in_the_embedded_mode_only(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The local mailbox on /dev/phone answers through the real inbound webhook out of the box."""
    embedded = make_settings(sqlite_url, tmp_path)
    env = embedded_env(embedded, {"PATH": "/bin"})
    assert env["INBOUND_EMAIL_ADDRESS"] == "care@reply.makeright.local"
    assert env["SENDGRID_INBOUND_TOKEN"]
    chosen = make_settings(
        sqlite_url, tmp_path, inbound_email_address="care@reply.example.com", sendgrid_inbound_token="mine"
    )
    assert "INBOUND_EMAIL_ADDRESS" not in embedded_env(chosen, {})
    assert embedded_env(embedded, {"SENDGRID_INBOUND_TOKEN": "set"})["SENDGRID_INBOUND_TOKEN"] == "set"
    production = make_settings(sqlite_url, tmp_path, temporal_address="temporal.example:7233")
    assert embedded_env(production, {"PATH": "/bin"}) == {"PATH": "/bin"}
