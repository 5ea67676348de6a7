"""`/`: the start page. It links what this deployment serves (the local phone only when it is mounted) and
shows the README's first steps; no patient data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import LiveServer, free_port, offline_web
from web.app import create_app


def _home(sqlite_url: str, tmp_path: Path, **overrides: Any) -> httpx.Response:
    settings, port = offline_web(
        sqlite_url,
        tmp_path,
        # the embedded mode (no TEMPORAL_ADDRESS; its dev server's port one nothing listens on)
        **{"temporal_address": None, "temporal_port": free_port(), **overrides},
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        return httpx.get(f"{server.url}/")


def _links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_home_links_console_phone_docs_and_first_steps(sqlite_url: str, tmp_path: Path) -> None:
    page = _home(sqlite_url, tmp_path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert {"/console", "/dev/phone", "/docs", "/wall"} <= _links(page.text)
    assert ".venv/bin/python starter.py send examples/booking_conflict.json" in page.text
    assert ".venv/bin/python cli.py users add" in page.text
    assert "/codec/t/&lt;ui-token&gt;" in page.text  # how to read encrypted payloads in the UI
    assert "cli.py codec ui-token --hours 8" in page.text
    assert "Temporal UI" in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("twilio", "sendgrid"), [("live", "local"), ("local", "live")])
def test_home_has_no_phone_link_when_the_phone_is_not_mounted(
    sqlite_url: str, tmp_path: Path, twilio: str, sendgrid: str
) -> None:
    page = _home(sqlite_url, tmp_path, twilio_mode=twilio, sendgrid_mode=sendgrid)
    assert page.status_code == 200
    assert "/console" in _links(page.text)
    assert "/docs" not in _links(page.text)  # a live provider is production: no API docs served
    assert "/dev/phone" not in page.text
    assert "Local phone" not in page.text
