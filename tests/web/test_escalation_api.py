"""The escalation API over real HTTP (CONTRACT.md): the web app talks to a real Temporal test server whose
worker runs the Escalation workflow; refusals come back as 403/409 with {"error"}."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from config import Settings
from tests.support.escalations import start
from tests.support.http import LiveServer, free_port
from tests.support.settings import make_settings
from tests.support.workflow_harness import Harness, running

TOKENS = "rep:ann:tok-ann,rep:bob:tok-bob,supervisor:sue:tok-sue,auditor:tok-aud"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    from web.app import create_app

    port = free_port()
    target = time_skipping_env.client.service_client.config.target_host
    settings: Settings = make_settings(
        sqlite_url,
        tmp_path,
        api_tokens=TOKENS,
        temporal_address=target,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    async with running(settings, time_skipping_env) as h:
        with LiveServer(create_app(settings, relay=False), port) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                yield h, http


async def post(
    http: httpx.AsyncClient, path: str, token: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    response = await http.post(path, json=body or {}, headers=bearer(token))
    return response


async def test_a_rep_claims_approves_within_the_limit_and_resolves_over_http(
    api: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, http = api
    escalation_id, handle = await start(h, pending="20.00")
    listed = (await http.get("/api/escalations?status=open", headers=bearer("tok-ann"))).json()
    assert [e["escalation_id"] for e in listed] == [escalation_id]
    first = listed[0]
    assert first["status"] == "open" and first["claimed_by"] is None and first["breached"] is False
    assert first["pending_approval"] == {"amount": "20.00", "currency": "USD"}
    assert set(first) >= {
        "escalation_id",
        "case_id",
        "appointment_id",
        "kind",
        "level",
        "status",
        "claimed_by",
        "sla_deadline",
        "breached",
        "pending_approval",
    }
    case_id = first["case_id"]

    claimed = await post(http, f"/api/escalations/{escalation_id}/claim", "tok-ann")
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["status"], claimed.json()["claimed_by"]) == ("claimed", "ann")

    # the claimer sees the patient's phone in full; another rep sees it masked
    mine = (await http.get(f"/api/cases/{case_id}", headers=bearer("tok-ann"))).json()
    theirs = (await http.get(f"/api/cases/{case_id}", headers=bearer("tok-bob"))).json()
    assert mine["patient"]["phone"] == "+31612345678"
    assert theirs["patient"]["phone"] == "+316****5678"

    approved = await post(
        http, f"/api/escalations/{escalation_id}/approve", "tok-ann", {"amount": "20.00", "currency": "USD"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["pending_approval"] is None and approved.json()["approved"]["amount"] == "20.00"

    resolved = await post(
        http,
        f"/api/escalations/{escalation_id}/resolve",
        "tok-ann",
        {"notes": "Called, rebooked, apologised.", "root_cause": "practice_calendar_out_of_sync"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    final = await h.result(handle)
    assert final.resolved_by == "ann" and final.root_cause == "practice_calendar_out_of_sync"
    got = (await http.get(f"/api/escalations/{escalation_id}", headers=bearer("tok-aud"))).json()
    assert (got["status"], got["resolved_by"]) == ("resolved", "ann")
    # once resolved the claimer's view of contact details ends too
    after = (await http.get(f"/api/cases/{case_id}", headers=bearer("tok-ann"))).json()
    assert after["patient"]["phone"] == "+316****5678"


async def test_refusals_over_http_are_403_or_409_with_a_message(
    api: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, http = api
    escalation_id, handle = await start(h, pending="30.00")
    path = f"/api/escalations/{escalation_id}"

    refused = await post(http, f"{path}/claim", "tok-aud")
    assert refused.status_code == 403 and "auditor may not claim" in refused.json()["error"]
    refused = await post(http, f"{path}/resolve", "tok-ann", {"notes": "x"})
    assert refused.status_code == 409 and "claim the escalation before" in refused.json()["error"]

    assert (await post(http, f"{path}/claim", "tok-ann")).status_code == 200
    refused = await post(http, f"{path}/claim", "tok-bob")
    assert refused.status_code == 409 and refused.json() == {"error": "already claimed by ann"}
    refused = await post(http, f"{path}/approve", "tok-ann", {"amount": "30.00", "currency": "USD"})
    assert refused.status_code == 403
    assert refused.json() == {"error": "30.00 USD is above your approval limit of 25.00 USD"}
    refused = await post(http, f"{path}/approve", "tok-bob", {"amount": "5.00"})
    assert refused.status_code == 403 and "claimed by ann" in refused.json()["error"]
    refused = await post(http, f"{path}/resolve", "tok-ann", {"notes": "x"})
    assert refused.status_code == 409 and "decide the pending compensation" in refused.json()["error"]

    # bad input names the field
    bad = await post(http, f"{path}/approve", "tok-ann", {"amount": "lots"})
    assert bad.status_code == 422 and bad.json()["error"].startswith("amount:")
    bad = await post(http, f"{path}/deny", "tok-ann", {})
    assert bad.status_code == 422 and "reason" in bad.json()["error"]
    bad = await post(http, f"{path}/reassign", "tok-sue", {"to": "nobody-here"})
    assert bad.status_code == 422 and "nobody-here" in bad.json()["error"]
    # unknown things
    assert (await post(http, "/api/escalations/esc-nope/claim", "tok-ann")).status_code == 404
    assert (await post(http, f"{path}/dance", "tok-ann")).status_code == 404
    assert (await http.post(f"{path}/claim")).status_code == 401

    # the supervisor takes over: reassigns to bob, approves above the rep limit, bob denies nothing
    reassigned = await post(http, f"{path}/reassign", "tok-sue", {"to": "bob"})
    assert reassigned.status_code == 200 and reassigned.json()["claimed_by"] == "bob"
    approved = await post(http, f"{path}/approve", "tok-sue", {"amount": "30.00", "currency": "USD"})
    assert approved.status_code == 200, approved.text
    done = await post(http, f"{path}/resolve", "tok-bob", {"notes": "ok"})
    assert done.status_code == 200
    final = await h.result(handle)
    assert (final.approved_by, final.resolved_by) == ("sue", "bob")
    ended = await post(http, f"{path}/release", "tok-bob")
    assert ended.status_code == 409 and "resolved" in ended.json()["error"]


async def test_approve_with_nothing_pending_grants_the_amount_once_within_the_limit(
    api: tuple[Harness, httpx.AsyncClient],
) -> None:
    """CONTRACT.md: `/approve` grants the amount given when nothing is pending (the rep decided the patient
    deserves it), within the caller's approval limit; `/deny` has nothing to deny."""
    h, http = api
    escalation_id, handle = await start(h)
    path = f"/api/escalations/{escalation_id}"
    assert (await post(http, f"{path}/claim", "tok-ann")).status_code == 200
    over = await post(http, f"{path}/approve", "tok-ann", {"amount": "30.00", "currency": "USD"})
    assert over.status_code == 403 and "above your approval limit" in over.json()["error"]
    missing = await post(http, f"{path}/approve", "tok-ann", {})
    assert missing.status_code == 422 and missing.json()["error"].startswith("amount")
    granted = await post(http, f"{path}/approve", "tok-ann", {"amount": "15.00", "currency": "USD"})
    assert granted.status_code == 200, granted.text
    assert granted.json()["approved"]["amount"] == "15.00" and granted.json()["pending_approval"] is None
    again = await post(http, f"{path}/approve", "tok-ann", {"amount": "5.00", "currency": "USD"})
    assert again.status_code == 409 and "already granted" in again.json()["error"]
    nothing = await post(http, f"{path}/deny", "tok-ann", {"reason": "no"})
    assert nothing.status_code == 409 and "no compensation is waiting" in nothing.json()["error"]
    done = await post(http, f"{path}/resolve", "tok-ann", {"notes": "sorted"})
    assert done.status_code == 200
    final = await h.result(handle)
    assert final.approved is not None and final.approved.amount == Decimal("15.00")


async def test_resolve_may_carry_compensation_within_the_limit(
    api: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, http = api
    escalation_id, handle = await start(h)
    path = f"/api/escalations/{escalation_id}"
    assert (await post(http, f"{path}/claim", "tok-ann")).status_code == 200
    body = {"notes": "sorted", "compensation": {"amount": "30.00", "currency": "USD"}}
    over = await post(http, f"{path}/resolve", "tok-ann", body)
    assert over.status_code == 403 and "above your approval limit of 25.00 USD" in over.json()["error"]
    body["compensation"] = {"amount": "20.00", "currency": "USD"}
    done = await post(http, f"{path}/resolve", "tok-ann", body)
    assert done.status_code == 200, done.text
    final = await h.result(handle)
    assert final.compensation is not None and final.compensation.amount == Decimal("20.00")


async def test_an_amount_in_another_currency_is_refused_naming_the_policys(
    api: tuple[Harness, httpx.AsyncClient],
) -> None:
    """The limits are in the policy's currency: 25.00 of any other is not within a rep's 25.00 USD."""
    h, http = api
    escalation_id, handle = await start(h)
    path = f"/api/escalations/{escalation_id}"
    assert (await post(http, f"{path}/claim", "tok-ann")).status_code == 200
    body = {"notes": "sorted", "compensation": {"amount": "25.00", "currency": "JPY"}}
    refused = await post(http, f"{path}/resolve", "tok-ann", body)
    assert refused.status_code == 403 and refused.json() == {"error": "compensation is paid in USD, not JPY"}
    refused = await post(http, f"{path}/approve", "tok-ann", {"amount": "15.00", "currency": "EUR"})
    assert refused.status_code == 403 and "paid in USD" in refused.json()["error"]
    # the workflow's validator, which has the last word, refuses it too
    from temporalio.client import WorkflowUpdateFailedError

    from domain.escalation import Actor, EscalationState, Money, ResolveRequest
    from tests.support.workflow_harness import as_web

    euros = Money(amount=Decimal("25.00"), currency="EUR")
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        request = ResolveRequest(actor=Actor(user="ann", role="rep"), notes="x", compensation=euros)
        await handle.execute_update("resolve", as_web(h.settings, escalation_id, "resolve", request))
    assert "paid in USD" in str(failed.value.cause)
    # no currency given: the policy's
    granted = await post(http, f"{path}/approve", "tok-ann", {"amount": "15.00"})
    assert granted.status_code == 200, granted.text
    current = await handle.query("current", result_type=EscalationState)
    assert current.approved == Money(amount=Decimal("15.00"), currency="USD")


async def test_a_rep_may_not_deny_a_pending_amount_above_their_limit(
    api: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, http = api
    escalation_id, _handle = await start(h, pending="30.00")
    path = f"/api/escalations/{escalation_id}"
    assert (await post(http, f"{path}/claim", "tok-ann")).status_code == 200
    refused = await post(http, f"{path}/deny", "tok-ann", {"reason": "no"})
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("30.00 USD is above your approval limit of 25.00 USD")
    denied = await post(http, f"{path}/deny", "tok-sue", {"reason": "already compensated"})
    assert denied.status_code == 200, denied.text
    assert denied.json()["pending_approval"] is None
