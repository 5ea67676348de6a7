"""The CLI against a real Temporal dev server (reset does not work on the time-skipping server): export a
history, replay it (and a tampered copy), and retry failed cases with the current code. A retried case
messages nobody twice for a step and pays nobody twice.

Every command here runs as a separate process, as an engineer runs it: a short-lived Temporal client
must not crash the process at shutdown (FIELD-NOTES), and a command's own Temporal client on a second
event loop in a thread of the test's process, beside the test's worker, crashed the whole test process
(a segmentation fault in CI), so these are never run in-process (tests/support/cli_in_process.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.booking_conflict import BookRequest
from domain.cases import CaseStatus, Outcome
from domain.tickets import TicketRequest, TicketResult
from store.models import (
    CalendarEntry,
    Case,
    GiftCardOrder,
    LedgerEntry,
    OutboundMessageRow,
    TimelineItem,
)
from tests.support import cli_process
from tests.support.cli_process import cli_env_on
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import Harness, fail_case, rerun_result, running

pytestmark = pytest.mark.e2e  # every test here needs the Temporal dev server (a real process)

PHONE = "+31612345678"


@activity.defn(name="book_slot")
async def book_slot(request: BookRequest) -> bool:
    raise ApplicationError("the calendar adapter is broken", non_retryable=True)


@activity.defn(name="link_root_cause")
async def link_root_cause(request: TicketRequest) -> TicketResult:
    raise ApplicationError("the ticket tracker is broken", non_retryable=True)


# the activities' Python names route them (worker.build_worker); keep them as the real ones'
assert book_slot.__name__ == "book_slot" and link_root_cause.__name__ == "link_root_cause"


def count(h: Harness, model: Any, *where: Any) -> int:
    return h.count(model, *where)


async def test_export_then_replay_the_file_and_a_tampered_copy(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = cli_env_on(settings, dev_server_env)
    async with running(settings, dev_server_env) as h:
        _, handle = await h.open_case(example_event())
        await h.sms_reply(PHONE, "1")
        await rerun_result(h, handle.id)
    workflow_id = handle.id

    exported = await asyncio.to_thread(cli_process.run_cli_times, env, "export", workflow_id)
    assert exported.code == 0, exported.err
    history = json.loads(exported.out)
    assert history["events"][0]["eventType"] in (
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "WorkflowExecutionStarted",
    )
    assert PHONE not in exported.out and "Uptown" not in exported.out  # payloads as stored: encrypted
    path = tmp_path / f"{workflow_id}.json"
    written = await cli_process.run_cli_async(env, "export", workflow_id, "-o", str(path))
    assert written.code == 0 and json.loads(path.read_text()) == history

    ok = await asyncio.to_thread(cli_process.run_cli_times, env, "replay", "--file", str(path))
    assert (ok.code, ok.out.strip()) == (0, f"{workflow_id}  ok"), ok
    by_id = await asyncio.to_thread(cli_process.run_cli_times, env, "replay", workflow_id, "--json")
    assert by_id.code == 0 and json.loads(by_id.out)[0]["result"] == "ok"
    by_query = await cli_process.run_cli_async(env, "replay", "--query", f"WorkflowId = '{workflow_id}'")
    assert (by_query.code, by_query.out.strip()) == (0, f"{workflow_id}  ok")

    # somebody changed the workflow: the history no longer matches what the code does (the offer text,
    # an activity task on the Twilio queue: the store's steps are local activities, named inside markers)
    tampered = path.read_text().replace('"send_sms"', '"send_sms_v0"')
    assert tampered != path.read_text()
    bad = tmp_path / "tampered.json"
    bad.write_text(tampered)
    nondet = await asyncio.to_thread(cli_process.run_cli_times, env, "replay", "--file", str(bad))
    assert nondet.code == 1
    (line,) = nondet.out.strip().splitlines()
    assert line.startswith(f"{workflow_id}  nondeterministic  event ") and "send_sms" in line
    verdicts = json.loads(
        (await cli_process.run_cli_async(env, "replay", "--file", str(path), str(bad), "--json")).out
    )
    assert [v["result"] for v in verdicts] == ["ok", "nondeterministic"] and verdicts[1]["event_id"]

    # three times: a failed Temporal call must not abort the process as it exits (exit 134, seen under load)
    missing = await asyncio.to_thread(cli_process.run_cli_times, env, "export", "no-such-workflow")
    assert missing.code == 1 and "no workflow no-such-workflow" in missing.err


def sms(h: Harness, case_id: str, key: str) -> int:
    return count(
        h, OutboundMessageRow, OutboundMessageRow.case_id == case_id, OutboundMessageRow.key == key,
        OutboundMessageRow.channel == "sms",
    )  # fmt: skip


async def test_retry_after_a_failed_booking_sends_nothing_twice(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = cli_env_on(settings, dev_server_env)
    # the calendar adapter is broken: the patient answers the offer, the booking fails, the case fails
    async with running(settings, dev_server_env, overrides={"book_slot": book_slot}) as h:
        accepted, handle = await h.open_case(example_event())
        await h.sms_reply(PHONE, "2")
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
    case_id = await fail_case(h, handle.id)
    assert case_id == accepted.case_id
    assert sms(h, case_id, "offer-1") == 1 and len(h.deliveries("sms", PHONE)) == 1

    dry = await cli_process.run_cli_async(env, "retry", "--failed", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    plan = json.loads(dry.out)
    assert plan["dry_run"] and plan["retried"] == [case_id] and plan["cases"][0]["reset_event_id"]
    with h.store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "failed"  # a dry run changes nothing

    # the cause is fixed (a worker with the working activity): retry re-runs the case
    async with running(settings, dev_server_env) as h:
        retried = await cli_process.run_cli_async(env, "retry", case_id, "--by", "erin")
        assert retried.code == 0, retried.err
        assert case_id in retried.out and "retried 1, skipped 0, errors 0" in retried.out
        result = await rerun_result(h, handle.id)
        # a second retry finds nothing to do: the case is no longer failed
        again = await cli_process.run_cli_async(env, "retry", case_id, "--json")
        assert again.code == 0 and json.loads(again.out)["skipped"][0]["case_id"] == case_id

    assert (result.status, result.outcome) == (CaseStatus.RESOLVED, Outcome.REBOOKED)
    # the patient's reply was applied again by the reset: no new offer, no second confirmation
    assert sms(h, case_id, "offer-1") == 1 and sms(h, case_id, "confirmation") == 1
    bodies = [d.body for d in h.deliveries("sms", PHONE)]
    assert len(bodies) == 3 and "ingepland" in bodies[1] and "cadeaubon" in bodies[2]  # the gift card once
    assert count(h, LedgerEntry, LedgerEntry.case_id == case_id) == 1
    assert count(h, GiftCardOrder) == 1
    with h.store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and (case.status, case.failure_kind) == ("resolved", None)
        steps = list(s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == case_id)))
        assert "case_failed" in steps and "case_retried" in steps and "workflow_reset" in steps
        assert count(h, CalendarEntry, CalendarEntry.appointment_id == case.appointment_id) == 1


async def test_retry_after_the_gift_card_was_issued_pays_once(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = cli_env_on(settings, dev_server_env)
    # the ticket tracker is broken: rebooked, confirmed, paid, then the root-cause step fails the case
    async with running(settings, dev_server_env, overrides={"link_root_cause": link_root_cause}) as h:
        _, handle = await h.open_case(example_event())
        await h.sms_reply(PHONE, "1")
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
    case_id = await fail_case(h, handle.id)
    assert count(h, GiftCardOrder) == 1 and count(h, LedgerEntry, LedgerEntry.case_id == case_id) == 1

    async with running(settings, dev_server_env) as h:
        retried = await cli_process.run_cli_async(
            env, "retry", "--failed", "--kind", "booking_conflict", "--json"
        )
        assert retried.code == 0, retried.err
        assert json.loads(retried.out)["retried"] == [case_id]
        result = await rerun_result(h, handle.id)

    assert result.status is CaseStatus.RESOLVED and result.ticket_id
    assert count(h, GiftCardOrder) == 1
    assert count(h, LedgerEntry, LedgerEntry.case_id == case_id) == 1
    assert len(h.deliveries("email", "ada@example.com")) == 2  # confirmation, gift card: once each
    assert sms(h, case_id, "offer-1") == 1 and sms(h, case_id, "confirmation") == 1
    # the re-run offers the slots the patient was texted (kept per round), so the re-applied "1" finds the
    # booking the failed run made: one calendar entry, the same slot
    with h.store.session() as s:
        booked = s.scalars(
            select(CalendarEntry).where(CalendarEntry.appointment_id == result_appointment(h, case_id))
        ).all()
    assert len(booked) == 1


def result_appointment(h: Harness, case_id: str) -> str:
    with h.store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.appointment_id


async def test_retry_a_terminated_case_and_skip_what_cannot_run(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = cli_env_on(settings, dev_server_env)
    async with running(settings, dev_server_env) as h:
        _, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        running_case, running_handle = await h.open_case(example_event(data__patient__phone="+31612340000"))
        await h.wait_for(lambda: h.deliveries("sms", "+31612340000"))
        # its last step done (waiting for the patient), so no status it writes lands after `fail_case`'s
        await h.until_idle(running_handle)
        await handle.terminate("stuck")
        case_id = await fail_case(h, handle.id, "workflow_terminated")
        # a case marked failed whose workflow still runs is skipped, with why; so is one not failed
        await fail_case(h, running_handle.id)
        since = datetime.now(UTC).replace(year=2000).isoformat()
        ran = await cli_process.run_cli_async(env, "retry", "--failed", "--since", since, "--json")
        assert ran.code == 0, ran.err
        summary = json.loads(ran.out)
        assert summary["retried"] == [case_id]
        assert summary["skipped"] == [
            {"case_id": running_case.case_id, "why": "its workflow is still running"}
        ]
        unknown = await cli_process.run_cli_async(env, "retry", "case-nope", case_id)
        assert unknown.code == 1 and "no such case" in unknown.out and "not failed" in unknown.out

        await h.sms_reply(PHONE, "3")  # the re-run waits for the patient, who answers now
        result = await rerun_result(h, handle.id)
        await h.end(running_handle)
    assert (result.status, result.outcome) == (CaseStatus.RESOLVED, Outcome.REBOOKED)
    assert sms(h, case_id, "offer-1") == 1 and sms(h, case_id, "confirmation") == 1
    assert count(h, LedgerEntry, LedgerEntry.case_id == case_id) == 1
