"""The engineers' CLI lists dead letters with their reasons, and cases, with contact details masked."""

from __future__ import annotations

import json

import pytest

import cli
from tests.support.http import Web, post_event
from tests.support.settings import example_event


def test_dead_letters_and_cases_are_listed(
    web: Web, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server, settings = web
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    bad = example_event()
    bad["data"]["patient"]["email"] = "not-an-email"
    assert post_event(server, settings, bad).status_code == 422
    good = example_event()
    case_id = post_event(server, settings, good).json()["case_id"]

    assert cli.main(["dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "/events" in out and "422" in out and "data.patient.email" in out
    assert "+31612345678" not in out  # the refused body is shown masked

    assert cli.main(["cases", "--status", "open"]) == 0
    assert case_id in capsys.readouterr().out
    assert cli.main(["case", case_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["case_id"] == case_id and shown["patient"]["phone"] == "+316****5678"
    assert cli.main(["case", "case-missing"]) == 1
