"""The wall's numbers from the real system: `run.py` (dev server, worker, web app), a signed event, the
patient's answer through the signed Twilio webhook; `/api/wall` and `/wall` then count the case as the
workflows recorded it (first contact, resolved without a person, compensation, its problem ticket)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.settings import example_event
from tests.support.system import System

pytestmark = pytest.mark.e2e


@pytest.fixture
def system(sqlite_url: str, tmp_path: Path) -> Iterator[System]:
    running = System(sqlite_url, tmp_path / "var")
    yield running
    running.close()


def test_a_case_played_through_shows_on_the_wall(system: System) -> None:
    system.start()
    # from a minute ago, not "today": the test may run across midnight UTC
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    def wall() -> dict[str, Any]:
        answer = httpx.get(
            f"{system.base}/api/wall",
            params={"since": since},
            headers={"Authorization": "Bearer e2e-ann"},  # a rep's token: the header, never ?token=
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    start = wall()
    event = example_event()
    case_id = system.post_event(event).json()["case_id"]
    system.wait(lambda: system.case(case_id)["status"] == "waiting_patient", 60, "the SMS offer")
    assert system.patient_texts("+31612345678", "1").status_code == 200
    system.wait(lambda: system.case(case_id)["status"] == "resolved", 60, "the case to be resolved")

    now = wall()
    assert now["cases_opened"] - start["cases_opened"] == 1
    assert now["cases_resolved"] - start["cases_resolved"] == 1
    assert now["resolved_without_rep_pct"] == 100.0
    # the offer reached the provider within seconds of the event's arrival
    assert now["first_contact_p90_seconds"] is not None and now["first_contact_p90_seconds"] < 600
    assert now["first_contact_within_sla_pct"] == 100.0
    assert now["compensation"]["issued"] == "10.00"
    assert [(c["cause"], c["occurrences"]) for c in now["top_root_causes"]] == [
        ("practice_calendar_out_of_sync", 1)
    ]
    assert sum(h["cases_opened"] for h in now["hourly"]) >= 1  # on the 24-hour chart

    # the kiosk: an auditor token (read-only) in the address
    page = httpx.get(f"{system.base}/wall", params={"token": "e2e-auditor"}, timeout=10)
    assert page.status_code == 200
    for private in ("+31612345678", event["data"]["patient"]["email"], event["data"]["patient"]["name"]):
        assert private not in page.text
    assert system.stop() == 0
