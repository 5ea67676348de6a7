"""`GET /api/wall` and `GET /wall` over real HTTP (CONTRACT.md, "Operations: the wall and metrics"): the
numbers after a few cases, null percentages when there is nothing to count, `?since`, who may look, and no
contact details anywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings
from store import wall as wall_store
from store.db import Store
from tests.support.console_harness import add_team, http_login
from tests.support.http import LiveServer, offline_web
from tests.support.wall_seed import (
    EMAIL,
    PHONE,
    ago,
    call,
    email,
    escalate,
    open_case,
    pay,
    resolve,
    ticket,
)
from web.app import create_app

# "today" (UTC) in the data and in the code under test must be one day
pytestmark = pytest.mark.usefixtures("within_one_utc_day")

Web = tuple[LiveServer, Settings]
TOKEN = "dev-auditor-token"  # any role may look


def get_wall(server: LiveServer, token: str | None = TOKEN, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/api/wall", headers=headers, params=params, timeout=30)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_an_empty_wall_counts_nothing_and_has_no_percentages(web: Web) -> None:
    server, _ = web
    answer = get_wall(server)
    assert answer.status_code == 200
    wall = answer.json()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert wall["since"] == iso(today)  # today (UTC) unless ?since
    assert wall["cases_opened"] == wall["cases_resolved"] == wall["escalations_open"] == 0
    for nothing_to_count in (
        "resolved_without_rep_pct",
        "first_contact_p50_seconds",
        "first_contact_p90_seconds",
        "first_contact_within_sla_pct",
        "escalations_claimed_within_sla_pct",
        "oldest_open_escalation_seconds",
        "csat_pct",
    ):
        assert wall[nothing_to_count] is None, nothing_to_count
    assert wall["first_contact_sla_seconds"] == 600
    assert wall["compensation"] == {
        "issued": "0.00",
        "pending_approval": "0.00",
        "budget": "500.00",
        "currency": "USD",
    }
    assert wall["feedback_count"] == 0
    assert wall["top_root_causes"] == wall["recent_feedback"] == []
    assert len(wall["hourly"]) == 24
    assert all(h["cases_opened"] == 0 and h["first_contact_p90_seconds"] is None for h in wall["hourly"])


def seed(store: Store, now: datetime) -> dict[str, str]:
    """Five cases in the last hour (and one older), two resolved, three escalations, two problem tickets."""
    old = open_case(store, ago(180, now), contact_after=50)  # before the window below
    a = open_case(store, ago(30, now), contact_after=120)
    b = open_case(store, ago(20, now), contact_after=300)
    c = open_case(store, ago(40, now), contact_after=900)  # contacted, but past the 10 min SLA
    d = open_case(store, ago(15, now))  # nobody reached yet, 15 min in: the SLA is already missed
    e = open_case(store, ago(1, now))  # one minute old: not counted either way yet
    resolve(store, a)  # on its own
    resolve(store, b)  # with a rep:
    escalate(store, b, ago(25, now), status="resolved", claimed_at=ago(24, now))
    escalate(store, c, ago(35, now), status="open", breached_at=ago(20, now))  # nobody claimed it in time
    escalate(store, d, ago(12, now), status="claimed", claimed_at=ago(11, now))
    ticket(
        store, "practice_calendar_out_of_sync", [a, c, d], url="https://example.atlassian.net/browse/OPS-7"
    )
    ticket(store, "double_booking", [b], status="fixed")
    pay(store, a, "10.00")
    pay(store, c, "25.00", status="pending_approval")
    return {"old": old, "a": a, "b": b, "c": c, "d": d, "e": e}


def test_the_numbers_after_a_few_cases(web: Web) -> None:
    server, settings = web
    store = Store(settings.database_url)
    now = datetime.now(UTC)
    seed(store, now)
    since = now - timedelta(hours=2)
    wall: dict[str, Any] = get_wall(server, since=iso(since)).json()

    assert wall["since"] == iso(since)
    assert wall["cases_opened"] == 5
    assert wall["cases_resolved"] == 2
    assert wall["resolved_without_rep_pct"] == 50.0
    # first contacts in the window: 120 s, 300 s, 900 s (nearest rank)
    assert wall["first_contact_p50_seconds"] == 300
    assert wall["first_contact_p90_seconds"] == 900
    # within 600 s: 2 of the 3 contacted plus the one still waiting 15 minutes in
    assert wall["first_contact_within_sla_pct"] == 50.0
    assert wall["escalations_open"] == 2  # open and claimed; the resolved one is done
    assert 35 * 60 - 5 <= wall["oldest_open_escalation_seconds"] <= 35 * 60 + 60
    # claimed before the deadline: b and d; c breached unclaimed
    assert wall["escalations_claimed_within_sla_pct"] == pytest.approx(66.7)
    assert wall["compensation"] == {
        "issued": "10.00",
        "pending_approval": "25.00",
        "budget": "500.00",
        "currency": "USD",
    }
    top = wall["top_root_causes"]
    assert [(t["cause"], t["occurrences"], t["status"]) for t in top] == [
        ("practice_calendar_out_of_sync", 3, "open"),
        ("double_booking", 1, "fixed"),
    ]
    assert top[0]["practice_id"] == "prac-9" and top[0]["ticket_id"].startswith("PRB-")
    assert top[0]["url"] == "https://example.atlassian.net/browse/OPS-7"
    # no feedback table yet (issue 10 part 4): nothing to count
    assert wall["csat_pct"] is None and wall["feedback_count"] == 0 and wall["recent_feedback"] == []
    # the chart: all six cases of the last 24 hours, in the hour they opened
    hourly = wall["hourly"]
    assert len(hourly) == 24
    assert sum(h["cases_opened"] for h in hourly) == 6
    assert hourly[-1]["hour"] == iso(now.replace(minute=0, second=0, microsecond=0))
    assert any(h["first_contact_p90_seconds"] is not None for h in hourly)

    text = get_wall(server, since=iso(since)).text
    for contact in (PHONE, EMAIL, "+316", "@"):
        assert contact not in text


def test_a_follow_up_on_a_low_rating_does_not_make_a_case_resolved_by_a_person(web: Web) -> None:
    """A patient who rated the help 1 or 2 gets a rep's call after the case closed: the case was still
    resolved without a person."""
    server, settings = web
    store = Store(settings.database_url)
    now = datetime.now(UTC)
    alone, unhappy = (
        open_case(store, ago(30, now), contact_after=20),
        open_case(store, ago(20, now), contact_after=20),
    )
    resolve(store, alone)
    resolve(store, unhappy)
    escalate(store, unhappy, ago(5, now), reason="patient_unhappy")
    wall = get_wall(server, since=iso(now - timedelta(hours=1))).json()
    assert wall["cases_resolved"] == 2 and wall["resolved_without_rep_pct"] == 100.0
    assert wall["escalations_open"] == 1  # the follow-up is work for a rep all the same


def test_since_narrows_the_window(web: Web) -> None:
    server, settings = web
    store = Store(settings.database_url)
    now = datetime.now(UTC)
    seed(store, now)
    recent = get_wall(server, since=iso(now - timedelta(minutes=22))).json()
    assert recent["cases_opened"] == 3  # b, d and e
    assert recent["first_contact_p50_seconds"] == recent["first_contact_p90_seconds"] == 300
    # escalations open are the queue as it stands, whatever the window
    assert recent["escalations_open"] == 2
    # an offset is accepted, a non-time is not
    offset = (now - timedelta(hours=3, minutes=5)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert get_wall(server, since=offset).json()["cases_opened"] == 6
    assert get_wall(server, since="yesterday").status_code == 422


def test_who_may_look(web: Web) -> None:
    server, settings = web
    assert get_wall(server, token=None).status_code == 401
    assert get_wall(server, token="not-a-token").status_code == 401
    for token in ("dev-rep-token", "dev-supervisor-token", "dev-engineer-token", "dev-auditor-token"):
        assert get_wall(server, token=token).status_code == 200, token
    # a kiosk: an auditor's token (read-only) in the address
    kiosk = httpx.get(f"{server.url}/api/wall", params={"token": "dev-auditor-token"}, timeout=30)
    assert kiosk.status_code == 200 and kiosk.json()["cases_opened"] == 0
    assert httpx.get(f"{server.url}/api/wall", params={"token": "nope"}, timeout=30).status_code == 401

    # the page: a kiosk URL shows it; without anything the browser goes to the console login
    page = httpx.get(f"{server.url}/wall", params={"token": "dev-auditor-token"}, timeout=30)
    assert page.status_code == 200 and "First contact p90" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    bare = httpx.get(f"{server.url}/wall", timeout=30, follow_redirects=True)
    assert bare.url.path == "/console/login" and bare.url.params["next"] == "/console/wall"
    # a console user signs in and lands on the wall
    add_team(Store(settings.database_url))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        signed_in = http_login(client, "rita")
        assert signed_in.status_code == 303
        wall = client.get("/wall", follow_redirects=True)
        assert wall.status_code == 200 and wall.url.path == "/console/wall"
        assert "First contact p90" in wall.text
        # the console's header links the wall
        assert 'href="/wall"' in client.get("/console").text


def test_a_token_that_can_act_is_refused_in_the_address(web: Web) -> None:
    """An address lands in browser history, on the kiosk's screen and in access logs: `?token=` takes only
    an auditor's token. The same tokens in the header still open the wall."""
    server, _settings = web
    for token in ("dev-rep-token", "dev-supervisor-token", "dev-engineer-token"):
        for path in ("/api/wall", "/wall", "/console/wall"):
            refused = httpx.get(f"{server.url}{path}", params={"token": token}, timeout=30)
            assert refused.status_code == 403, (token, path)
            assert "auditor" in refused.json()["error"]
        assert get_wall(server, token=token).status_code == 200, token
    for path in ("/api/wall", "/wall", "/console/wall"):
        auditor = httpx.get(f"{server.url}{path}", params={"token": "dev-auditor-token"}, timeout=30)
        assert auditor.status_code == 200, path


def test_the_page_shows_the_numbers_and_no_contact_details(web: Web) -> None:
    server, settings = web
    store = Store(settings.database_url)
    seed(store, datetime.now(UTC))
    page = httpx.get(f"{server.url}/wall", params={"token": TOKEN, "since": iso(ago(120))}, timeout=30)
    assert page.status_code == 200
    html = page.text
    assert "Practice calendar out of sync" in html  # the catalogue's label
    assert "https://example.atlassian.net/browse/OPS-7" in html  # the tracker issue, linked
    assert "<svg" in html and "polyline" in html  # the 24-hour chart, drawn on the server
    assert "cdn" not in html.lower() and "<script src" not in html
    for contact in (PHONE, EMAIL, "+316", "mailto:", "tel:"):
        assert contact not in html


def test_the_first_contact_sla_comes_from_config(sqlite_url: str, tmp_path: Path) -> None:
    settings, port = offline_web(
        sqlite_url,
        tmp_path,
        first_contact_sla_seconds=200,
    )
    now = datetime.now(UTC)
    seed(Store(settings.database_url), now)
    with LiveServer(create_app(settings, relay=False), port) as server:
        wall = get_wall(server, since=iso(now - timedelta(hours=2))).json()
    assert wall["first_contact_sla_seconds"] == 200
    # within 200 s: only the 120 s contact, of three contacted and the one still waiting
    assert wall["first_contact_within_sla_pct"] == 25.0


def test_feedback_plugs_in_with_csat_and_quotes_without_contact_details(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patient feedback (issue 10 part 4) lands in one store function; what it returns is counted and
    quoted, newest first, and a phone number or address a patient typed never reaches the wall."""
    server, _ = web
    now = datetime.now(UTC)
    said = [
        wall_store.Feedback(5, "Quick and kind, thank you!", now - timedelta(minutes=9)),
        wall_store.Feedback(4, None, now - timedelta(minutes=7)),
        wall_store.Feedback(2, f"Call me back on {PHONE} or mail {EMAIL}", now - timedelta(minutes=5)),
        wall_store.Feedback(5, "Rebooked in a minute", now - timedelta(minutes=1)),
    ]
    monkeypatch.setattr(wall_store, "feedback_since", lambda s, since: said)
    wall = get_wall(server).json()
    assert wall["feedback_count"] == 4
    assert wall["csat_pct"] == 75.0  # three of four rated 4 or 5
    assert [f["score"] for f in wall["recent_feedback"]] == [5, 2, 4, 5]
    assert wall["recent_feedback"][0]["comment"] == "Rebooked in a minute"
    page = httpx.get(f"{server.url}/wall", params={"token": TOKEN}, timeout=30).text
    assert "Quick and kind, thank you!" in page and "75 %" in page
    for text in (get_wall(server).text, page):
        assert PHONE not in text and EMAIL not in text


def test_the_wall_shows_emails_answered_within_an_hour_beside_the_calls(web: Web) -> None:
    """The monitor's second headline number (CONTRACT.md, "The wall and metrics: people")."""
    from store.models import InboundEmail

    server, settings = web
    store = Store(settings.database_url)
    now = datetime.now(UTC)
    with store.session() as s:
        for n, (status, answered_after) in enumerate(
            (("understood", None), ("answered", 30), ("ignored", None))
        ):
            received = now - timedelta(minutes=1)
            s.add(
                InboundEmail(
                    email_id=f"em-{n}",
                    message_id=f"<{n}@patient.example>",
                    from_address=f"p{n}@example.com",
                    status=status,
                    received_at=received,
                    answered_at=received + timedelta(seconds=answered_after) if answered_after else None,
                )
            )
    wall = get_wall(server).json()
    assert (wall["emails_in"], wall["emails_answered_within_hour_pct"]) == (2, 100.0)
    assert wall["email_first_reply_p90_seconds"] is not None and wall["oldest_waiting_email_seconds"] is None
    page = httpx.get(f"{server.url}/wall", params={"token": TOKEN}, timeout=30)
    assert page.status_code == 200
    assert "Emails answered within an hour" in page.text and "Calls answered at the first ring" in page.text
    assert "p0@example.com" not in page.text


def test_the_two_headline_numbers_per_hour_on_the_chart(web: Web) -> None:
    """Each hour of the 24-hour chart has its calls at the first ring and its emails within the hour
    (as shares of that hour's calls and decided emails), beside the CONTRACT's fields, unchanged."""
    server, settings = web
    store = Store(settings.database_url)
    now = datetime.now(UTC)
    two_hours_ago = (now - timedelta(hours=2)).replace(minute=10, second=0, microsecond=0)
    call(store, two_hours_ago, answered_after=3)  # first ring
    call(store, two_hours_ago + timedelta(minutes=5), answered_after=20)  # answered, not at the first ring
    call(store, two_hours_ago + timedelta(minutes=9), answered_after=None, abandoned=True)
    call(store, two_hours_ago + timedelta(minutes=20), answered_after=4)
    email(store, two_hours_ago, answered_after=None, understood=True)  # acted on at once
    email(store, two_hours_ago + timedelta(minutes=1), answered_after=1800)
    email(store, two_hours_ago + timedelta(minutes=2), answered_after=5400)  # answered, but late
    email(store, two_hours_ago + timedelta(minutes=3), answered_after=None)  # waiting past its hour
    email(
        store, now.replace(second=0, microsecond=0), answered_after=None
    )  # waiting within its hour: undecided

    hourly = get_wall(server).json()["hourly"]
    assert len(hourly) == 24
    for hour in hourly:
        assert {"hour", "cases_opened", "first_contact_p90_seconds"} <= set(hour)
    by_hour = {h["hour"]: h for h in hourly}
    busy = by_hour[iso(two_hours_ago.replace(minute=0))]
    assert (busy["calls_in"], busy["calls_answered_first_ring_pct"]) == (4, 50.0)
    assert (busy["emails_in"], busy["emails_answered_within_hour_pct"]) == (4, 50.0)
    current = hourly[-1]
    assert (current["emails_in"], current["emails_answered_within_hour_pct"]) == (1, None)
    quiet = hourly[0]
    assert (quiet["calls_in"], quiet["calls_answered_first_ring_pct"]) == (0, None)
    page = httpx.get(f"{server.url}/wall", params={"token": TOKEN}, timeout=30).text
    assert 'data-k="people_hourly"' in page
    assert "of 4 calls" in page and "50 % of 4 emails" in page
