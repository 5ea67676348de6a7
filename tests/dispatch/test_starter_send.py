"""`starter.py send` from a terminal: what it says when nothing answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.sending import send_file
from tests.support.http import free_port
from tests.support.settings import EXAMPLES, make_settings


def test_send_to_a_closed_port_names_web_port_and_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # bound and released: nothing listens there
    settings = make_settings(
        f"sqlite:///{tmp_path / 'makeright.db'}",
        tmp_path,
        web_port=port,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    assert send_file(settings, EXAMPLES / "booking_conflict.json") == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"could not reach http://127.0.0.1:{port}/events")
    assert "make run" in lines[0] and "WEB_PORT" in lines[0] and "--url" in lines[0]
    assert str(port) in lines[0]
