"""Presence end to end over real HTTP: the web app sends the change to the RepRouter workflow (started on
first use by Update-with-start) on a real Temporal server with a real worker; the router saves its floor
through store/reps.py, and GET /api/reps and the console show it. The router's own refusal (no phone to
ring) comes back as a 422 naming `phone`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.routing import Floor, router_workflow_id
from store.db import Store
from tests.support.console_harness import add_team, csrf_from, http_login
from tests.support.http import LiveServer, free_port
from tests.support.settings import make_settings
from tests.support.workflow_harness import Harness, running

TOKENS = "rep:ann:tok-ann,rep:bob:tok-bob,supervisor:sue:tok-sue,auditor:tok-aud"
ANN_PHONE = "+31612345678"

Floored = tuple[Harness, LiveServer, httpx.AsyncClient]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def floored(
    dev_server_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[Floored]:
    from web.app import create_app

    port = free_port()
    settings: Settings = make_settings(
        sqlite_url,
        tmp_path,
        api_tokens=TOKENS,
        temporal_address=dev_server_env.client.service_client.config.target_host,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    add_team(Store(sqlite_url))  # console users rita, rob (reps with phones on record), sue, aud
    async with running(settings, dev_server_env) as h:
        try:
            with LiveServer(create_app(settings, relay=False), port) as server:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                    yield h, server, http
        finally:
            # the router runs for good: end it with the test
            router = h.client.get_workflow_handle(router_workflow_id(settings.task_queue))
            with contextlib.suppress(Exception):
                await router.terminate("test over")


async def until_listed(
    http: httpx.AsyncClient, check: Callable[[dict[str, dict[str, Any]]], bool], what: str
) -> dict[str, dict[str, Any]]:
    """GET /api/reps (as the supervisor) until `check` holds: the router saves its snapshot just after it
    answers the Update."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(200):
        answer = await http.get("/api/reps", headers=bearer("tok-sue"))
        assert answer.status_code == 200, answer.text
        seen = {rep["user"]: rep for rep in answer.json()}
        if check(seen):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"GET /api/reps never showed {what}: {seen}")


@pytest.mark.timeout(180)
async def test_a_rep_goes_available_and_away_through_the_router(floored: Floored) -> None:
    h, _, http = floored
    router = h.client.get_workflow_handle(router_workflow_id(h.settings.task_queue))

    # no router runs yet: the first change starts it
    available = await http.post(
        "/api/reps/me/presence",
        json={"status": "available", "phone": "+31 6 1234 5678", "languages": ["nl"]},
        headers=bearer("tok-ann"),
    )
    assert available.status_code == 200, available.text
    rep = available.json()
    assert set(rep) == {"user", "status", "since", "languages", "missed_in_a_row"}
    assert (rep["user"], rep["status"], rep["languages"], rep["missed_in_a_row"]) == (
        "ann",
        "available",
        ["nl"],
        0,
    )
    # the router holds the phone, normalised to E.164 (the API never shows it)
    floor: Floor = await router.query("floor", result_type=Floor)
    assert floor.reps["ann"].phone == ANN_PHONE

    listed = await until_listed(
        http, lambda s: s.get("ann", {}).get("status") == "available", "ann available"
    )
    assert listed["ann"] == rep  # the store's copy is what the router answered
    assert ANN_PHONE not in (await http.get("/api/reps", headers=bearer("tok-aud"))).text

    away = await http.post("/api/reps/me/presence", json={"status": "away"}, headers=bearer("tok-ann"))
    assert away.status_code == 200, away.text
    assert away.json()["status"] == "away" and away.json()["languages"] == ["nl"]
    await until_listed(http, lambda s: s["ann"]["status"] == "away", "ann away")

    # bob, known to the router with no phone (he only ever went away), asks to go available without one:
    # the router refuses, and the API names the field
    assert (
        await http.post("/api/reps/me/presence", json={"status": "away"}, headers=bearer("tok-bob"))
    ).status_code == 200
    await until_listed(http, lambda s: "bob" in s, "bob")
    refused = await http.post(
        "/api/reps/me/presence", json={"status": "available"}, headers=bearer("tok-bob")
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["phone"]

    # ann again, with the phone the router already has; then her supervisor takes her off the floor
    again = await http.post("/api/reps/me/presence", json={"status": "available"}, headers=bearer("tok-ann"))
    assert again.status_code == 200 and again.json()["status"] == "available", again.text
    assert again.json()["languages"] == ["en", "nl"]  # left out: every language
    await until_listed(http, lambda s: s["ann"]["status"] == "available", "ann available again")
    set_away = await http.post("/api/reps/ann/presence", json={"status": "away"}, headers=bearer("tok-sue"))
    assert set_away.status_code == 200 and set_away.json()["status"] == "away", set_away.text
    await until_listed(http, lambda s: s["ann"]["status"] == "away", "ann set away")


@pytest.mark.timeout(180)
async def test_the_console_switch_goes_through_the_router(floored: Floored) -> None:
    h, server, http = floored

    def browse() -> tuple[int, str, str]:
        with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as browser:
            assert http_login(browser, "rita").status_code == 303
            csrf = csrf_from(browser.get("/console").text)
            # the phone on record (rita's), English only
            done = browser.post(
                "/console/presence",
                data={"status": "available", "languages": ["en"], "csrf_token": csrf, "next": "/console"},
            )
            assert done.status_code == 303, done.text
            page = browser.get(done.headers["location"]).text
            return done.status_code, done.headers["location"], page

    _, location, page = await asyncio.to_thread(browse)
    assert location == "/console?presence=available"
    assert 'id="presence-done"' in page
    listed = await until_listed(
        http, lambda s: s.get("rita", {}).get("status") == "available", "rita available"
    )
    assert listed["rita"]["languages"] == ["en"]
    router = h.client.get_workflow_handle(router_workflow_id(h.settings.task_queue))
    floor: Floor = await router.query("floor", result_type=Floor)
    assert floor.reps["rita"].phone == "+12125550101"  # on record (tests/support/console_harness.py)
