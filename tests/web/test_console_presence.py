"""Reps on duty in the console over plain HTTP (no Temporal): the presence switch on every page of a rep or
supervisor, the supervisor's floor with "Set away", the queue naming who each escalation is offered to or
with, and the switch's forms checked (CSRF, the same 403/422 as the API) before the router is asked."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from config import Settings
from domain.base import CaseKind
from domain.escalation import EscalationPolicy, EscalationRecord, EscalationState, EscalationStatus
from domain.routing import FloorSnapshot, RepStatus, RepView
from store import escalations, reps
from store.db import Store
from store.models import utcnow
from tests.support.console_harness import client, csrf_from, http_login, insert_case, start_console
from tests.support.http import LiveServer

Console = tuple[LiveServer, Settings, Store]


@pytest.fixture
def console(sqlite_url: str, tmp_path: Path) -> Iterator[Console]:
    server, settings, store = start_console(sqlite_url, tmp_path)
    with server:
        yield server, settings, store


def open_escalation(store: Store, reason: str = "checkin_trouble") -> str:
    """An open escalation, written by the same projection the Escalation workflow writes."""
    case = insert_case(store)
    now = utcnow()
    escalation_id = f"esc-{case.case_id}-{uuid.uuid4().hex[:4]}"
    state = EscalationState(
        escalation_id=escalation_id,
        case_id=case.case_id,
        appointment_id=case.appointment_id,
        kind=CaseKind.BOOKING_CONFLICT,
        reason=reason,
        level_name="reps",
        status=EscalationStatus.OPEN,
        sla_deadline=now + timedelta(hours=4),
        opened_at=now,
    )
    escalations.record(
        store,
        EscalationRecord(state=state, what="escalation_opened", seq=0, detail={}, policy=EscalationPolicy()),
    )
    return escalation_id


def view(user: str, status: RepStatus, **changes: object) -> RepView:
    values: dict[str, object] = {
        "user": user,
        "status": status,
        "since": utcnow() - timedelta(minutes=5),
        "languages": ("en", "nl"),
        "missed_in_a_row": 0,
    }
    values.update(changes)
    return RepView.model_validate(values)


@contextmanager
def signed_in(server: LiveServer, user: str) -> Iterator[httpx.Client]:
    with client(server) as browser:
        assert http_login(browser, user).status_code == 303
        yield browser


def switch(html: str) -> str:
    found = re.search(r'<section class="presence".*?</section>', html, re.S)
    assert found, "no presence switch on the page"
    return found.group(0)


def test_every_page_of_a_rep_shows_their_presence_and_a_form_to_go_available(console: Console) -> None:
    server, _, _ = console
    with signed_in(server, "rita") as browser:
        for path in ("/console", "/console/supervisor", "/console/escalations/nope"):
            page = browser.get(path)
            assert page.status_code in (200, 403, 404), path
            bar = switch(page.text)
            assert 'id="my-status">away<' in bar and "not taking work yet" in bar
            assert 'action="/console/presence"' in bar and "Go available" in bar
            # the phone on record, masked, as the hint; every language offered, all ticked at first
            assert "+121****0101" in bar and "+12125550101" not in page.text
            assert (
                'name="languages" value="en" checked' in bar and 'name="languages" value="nl" checked' in bar
            )
            assert f'name="csrf_token" value="{csrf_from(page.text)}"' in bar
    with signed_in(server, "aud") as browser:
        assert 'class="presence"' not in browser.get("/console").text  # auditors take no work


def test_the_switch_shows_the_reps_state_and_what_they_are_offered(console: Console) -> None:
    server, _, store = console
    escalation_id = open_escalation(store)
    now = utcnow()
    expires = now + timedelta(seconds=20)
    reps.save_floor(
        store,
        FloorSnapshot(
            reps=(
                view(
                    "rita",
                    RepStatus.OFFERED,
                    work_id=escalation_id,
                    offer_expires_at=expires,
                    languages=("nl",),
                ),
            ),
            at=now,
        ),
    )
    with signed_in(server, "rita") as browser:
        bar = switch(browser.get("/console").text)
    assert 'id="my-status">offered<' in bar and "offered to you" in bar
    assert f'href="/console/escalations/{escalation_id}"' in bar and "trouble at check-in" in bar
    assert f'datetime="{expires.isoformat()}"' in bar and "press 1" in bar
    assert "Go away" in bar  # taking work: the switch goes the other way
    assert 'value="nl" checked' in bar and 'value="en" checked' not in bar  # their languages


def test_the_queue_says_who_each_escalation_is_offered_to_or_with(console: Console) -> None:
    server, _, store = console
    offered, busy, waiting = open_escalation(store), open_escalation(store), open_escalation(store)
    now = utcnow()
    reps.save_floor(
        store,
        FloorSnapshot(
            reps=(
                view(
                    "rita", RepStatus.OFFERED, work_id=offered, offer_expires_at=now + timedelta(seconds=20)
                ),
                view("rob", RepStatus.BUSY, work_id=busy),
            ),
            at=now,
        ),
    )
    with signed_in(server, "sue") as browser:
        page = browser.get("/console").text
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r'<tr class="esc[^"]*" data-escalation="([^"]+)">(.*?)</tr>', page, re.S)
    }
    assert set(rows) == {offered, busy, waiting}
    assert "offered to rita" in rows[offered]
    assert "with rob on a call" in rows[busy]
    assert "offered to" not in rows[waiting] and "on a call" not in rows[waiting]


def test_the_supervisor_sees_the_floor_with_a_set_away_button_per_rep(console: Console) -> None:
    server, _, store = console
    escalation_id = open_escalation(store)
    now = utcnow()
    reps.save_floor(
        store,
        FloorSnapshot(
            reps=(
                view("rita", RepStatus.BUSY, work_id=escalation_id, missed_total=3),
                view("rob", RepStatus.AWAY, missed_in_a_row=2, missed_total=2, languages=("nl",)),
            ),
            at=now,
        ),
    )
    with signed_in(server, "sue") as browser:
        page = browser.get("/console/supervisor").text
    floor = re.search(r'<section class="card" id="floor">.*?</section>', page, re.S)
    assert floor is not None
    rows = dict(re.findall(r'<tr data-rep="([^"]+)">(.*?)</tr>', floor.group(0), re.S))
    assert set(rows) == {"rita", "rob"}
    assert "Rita Rep" in rows["rita"] and "busy" in rows["rita"] and "on a call" in rows["rita"]
    assert f'href="/console/escalations/{escalation_id}"' in rows["rita"]
    assert 'action="/console/reps/rita/away"' in rows["rita"]
    assert "Set away" not in rows["rob"]  # away already
    assert re.search(r'class="n">2</td>\s*<td class="n">2</td>', rows["rob"])  # missed in a row, in all
    assert "NL" in rows["rob"] and "+1212" not in floor.group(0)
    assert "1 on a call" in floor.group(0) and "1 away" in floor.group(0)


def test_the_switchs_forms_are_checked_before_the_router_is_asked(console: Console) -> None:
    server, _, store = console
    with signed_in(server, "rita") as browser:
        csrf = csrf_from(browser.get("/console").text)
        stale = browser.post("/console/presence", data={"status": "away", "csrf_token": "old"})
        assert stale.status_code == 403 and "security token" in stale.text
        bad = browser.post(
            "/console/presence",
            data={"status": "available", "phone": "12", "csrf_token": csrf, "languages": "en"},
        )
        assert bad.status_code == 422 and "phone:" in bad.text and "not available yet" in bad.text
        none = browser.post("/console/presence", data={"status": "available", "csrf_token": csrf})
        assert none.status_code == 422 and "languages:" in none.text  # every box unticked
        # a valid change goes to the router (away here: 503, said on the page)
        away = browser.post(
            "/console/presence", data={"status": "available", "csrf_token": csrf, "languages": ["en", "nl"]}
        )
        assert away.status_code == 503 and "try again" in away.text
        # a rep cannot set another away
        reps.save_floor(store, FloorSnapshot(reps=(view("rob", RepStatus.AVAILABLE),), at=utcnow()))
        refused = browser.post("/console/reps/rob/away", data={"csrf_token": csrf})
        assert refused.status_code == 403 and "only a supervisor" in refused.text
    with signed_in(server, "aud") as browser:
        csrf = csrf_from(browser.get("/console").text)
        refused = browser.post("/console/presence", data={"status": "away", "csrf_token": csrf})
        assert refused.status_code == 403 and "only reps and supervisors" in refused.text
    with signed_in(server, "sue") as browser:
        csrf = csrf_from(browser.get("/console/supervisor").text)
        assert browser.post("/console/reps/rob/away", data={"csrf_token": "old"}).status_code == 403
        assert browser.post("/console/reps/nobody/away", data={"csrf_token": csrf}).status_code == 404
        assert browser.post("/console/reps/rob/away", data={"csrf_token": csrf}).status_code == 503


def test_a_done_change_is_said_on_the_page_it_came_from(console: Console) -> None:
    server, _, _ = console
    with signed_in(server, "rita") as browser:
        page = browser.get("/console/supervisor?presence=available")
        assert 'id="presence-done"' in page.text and "You are available" in page.text
        assert 'id="presence-done"' not in browser.get("/console?presence=bogus").text
