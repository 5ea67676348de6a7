"""End to end over real HTTP: `run.py` (what `make run` runs) starts the Temporal dev server, the worker
and the web app; a signed event goes in, the patient answers through a signed Twilio webhook, and the case
API shows the case resolved. The system is stopped and restarted in the middle: cases survive."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.settings import ROOT, example_event
from tests.support.system import System

# the whole system, started for real: longer than the suite's 120 s a test
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
def system(any_db_url: str, tmp_path: Path) -> Iterator[System]:
    """On both databases: the restart."""
    running = System(any_db_url, tmp_path / "var")
    yield running
    running.close()


@pytest.fixture
def on_sqlite(sqlite_url: str, tmp_path: Path) -> Iterator[System]:
    running = System(sqlite_url, tmp_path / "var")
    yield running
    running.close()


@pytest.fixture
def on_postgres(postgres_url: str, tmp_path: Path) -> Iterator[System]:
    running = System(postgres_url, tmp_path / "var")
    yield running
    running.close()


def test_booking_conflict_end_to_end_survives_a_restart(system: System) -> None:
    system.env["WORKER_PROCESSES"] = "2"  # two full workers share the case's tasks
    system.start()
    # the banner tells a newcomer the command that works from the checkout, and where the local phone is
    banner = system.wait(
        lambda: "stop             Ctrl-C" in (t := system.log.read_text()) and t, 30, "the banner"
    )
    assert "(users: .venv/bin/python cli.py users add)" in banner
    assert f"local phone      {system.base}/dev/phone" in banner
    assert f"workers          2 on task queue {system.env['TASK_QUEUE']!r}" in banner  # both polling
    event = example_event()
    accepted = system.post_event(event)
    assert accepted.status_code == 202, accepted.text
    case_id = accepted.json()["case_id"]
    assert system.post_event(event).json()["duplicate"] is True

    def offered() -> bool:
        return any(step["what"] == "sms_sent" for step in system.case(case_id)["timeline"])

    system.wait(offered, 60, "the SMS offer")
    assert system.case(case_id)["status"] == "waiting_patient"

    # Ctrl-C stops everything cleanly; the case waits in the durable state under VAR_DIR
    assert system.stop() == 0
    system.start()

    assert system.patient_texts("+31612345678", "1").status_code == 200
    case = system.wait(
        lambda: (c := system.case(case_id))["status"] == "resolved" and c, 60, "the case to be resolved"
    )
    assert case["outcome"] == "rebooked"
    assert case["new_slot"] and case["new_slot"]["start"]
    assert case["compensation"] == {"amount": "10.00", "currency": "USD", "status": "issued"}
    assert case["ticket_id"] and case["root_cause"] == "practice_calendar_out_of_sync"
    steps = [step["what"] for step in case["timeline"]]
    assert steps.count("compensation_issued") == 1
    # the offer, the confirmation and the gift card: nothing twice across the restart
    assert steps.count("sms_sent") == 3
    assert "+31612345678" not in json.dumps(case)  # masked for an engineer
    assert system.stop() == 0


def test_a_patient_who_asks_for_a_person_is_handled_by_a_rep_end_to_end(on_sqlite: System) -> None:
    system = on_sqlite
    system.start()
    ann = {"Authorization": "Bearer e2e-ann"}
    case_id = system.post_event(example_event()).json()["case_id"]
    system.wait(lambda: system.case(case_id)["status"] == "waiting_patient", 60, "the SMS offer")
    assert system.patient_texts("+31612345678", "can someone call me please").status_code == 200

    def open_escalation() -> dict[str, Any] | None:
        listed = httpx.get(f"{system.base}/api/escalations?status=open", headers=ann, timeout=10).json()
        return next((e for e in listed if e["case_id"] == case_id), None)

    escalation = system.wait(open_escalation, 60, "the escalation")
    assert (escalation["level"], escalation["kind"], escalation["breached"]) == (
        "reps",
        "booking_conflict",
        False,
    )
    assert system.case(case_id)["status"] == "escalated"
    path = f"{system.base}/api/escalations/{escalation['escalation_id']}"
    claimed = httpx.post(f"{path}/claim", headers=ann, timeout=30)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "ann"
    again = httpx.post(f"{path}/claim", headers={"Authorization": "Bearer e2e-supervisor"}, timeout=30)
    assert again.status_code == 409
    resolved = httpx.post(
        f"{path}/resolve",
        json={"notes": "Rebooked by phone", "root_cause": "practice_calendar_out_of_sync"},
        headers=ann,
        timeout=30,
    )
    assert resolved.status_code == 200, resolved.text
    case = system.wait(
        lambda: (c := system.case(case_id))["status"] == "resolved" and c, 60, "the case to be resolved"
    )
    assert case["outcome"] == "resolved_by_rep"
    assert case["compensation"]["status"] == "issued"
    assert system.stop() == 0


def test_check_in_trouble_end_to_end_with_a_rep_who_calls_and_resolves(on_postgres: System) -> None:
    system = on_postgres
    """What a person plays after `make run`: book, get the prompt, reply with trouble, a rep (added with
    the CLI) claims, the system calls the rep and bridges the patient in, the rep resolves."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, select

    from store.models import LocalDelivery

    # the prompt goes 10 minutes before the start: with a slot 5 minutes away, it goes at once
    system.env["CHECKIN_PROMPT_LEAD_MINUTES"] = "10"
    system.start()
    added = subprocess.run(
        [sys.executable, "cli.py", "users", "add", "ann", "--role", "rep", "--phone", "+12125550101",
         "--password-stdin"],
        cwd=ROOT, env=system.env, input=b"a long rep password\n", capture_output=True, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    engine = create_engine(system.env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))

    def texts_to(number: str) -> list[str]:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    select(LocalDelivery.body)
                    .where(LocalDelivery.to_address == number)
                    .order_by(LocalDelivery.id)
                )
            )

    event = example_event("appointment_booked.json")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    event["data"]["slot"] = {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    booked = system.post_event(event)
    assert booked.status_code == 202 and booked.json()["case_id"] is None

    prompt = system.wait(lambda: texts_to("+31612345678"), 60, "the check-in prompt")[0]
    assert "Uptown Orthopedics" in prompt
    assert system.patient_texts("+31612345678", "de kiosk weigert mijn verzekeringspas").status_code == 200

    ann = {"Authorization": "Bearer e2e-ann"}

    def open_escalation() -> dict[str, Any] | None:
        listed = httpx.get(f"{system.base}/api/escalations?status=open", headers=ann, timeout=10).json()
        return next((e for e in listed if e["appointment_id"] == event["data"]["appointment_id"]), None)

    escalation = system.wait(open_escalation, 60, "the check-in escalation")
    assert escalation["kind"] == "checkin_trouble"
    deadline = datetime.fromisoformat(escalation["sla_deadline"])
    assert deadline - datetime.now(UTC) <= timedelta(minutes=5)  # a rep must call within minutes
    path = f"{system.base}/api/escalations/{escalation['escalation_id']}"
    assert httpx.post(f"{path}/claim", headers=ann, timeout=30).status_code == 200
    called = httpx.post(f"{path}/call", headers=ann, timeout=30)
    assert called.status_code == 200, called.text
    ring = system.wait(lambda: texts_to("+12125550101"), 30, "the rep's phone to ring")[0]
    assert "+316****5678" in ring  # the rep's phone shows whom it dials, masked; the patient sees our number
    resolved = httpx.post(
        f"{path}/resolve",
        json={
            "notes": "Front desk re-scanned the card.",
            "root_cause": "insurer_data_outdated",
            "compensation": {"amount": "15.00", "currency": "USD"},
        },
        headers=ann,
        timeout=30,
    )
    assert resolved.status_code == 200, resolved.text
    case_id = escalation["case_id"]
    case = system.wait(
        lambda: (c := system.case(case_id))["status"] == "resolved" and c, 60, "the case to be resolved"
    )
    assert (case["kind"], case["outcome"], case["root_cause"]) == (
        "checkin_trouble",
        "resolved_by_rep",
        "insurer_data_outdated",
    )
    assert case["compensation"] == {"amount": "15.00", "currency": "USD", "status": "issued"}
    system.wait(
        lambda: len(texts_to("+31612345678")) >= 3, 30, "the follow-up SMS"
    )  # prompt, we'll call, follow-up
    assert system.stop() == 0
