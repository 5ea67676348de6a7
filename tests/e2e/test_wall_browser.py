"""The SLA wall in a real browser (Debian's Chromium, driven by Playwright) against the web app over HTTP:
it renders for a kiosk's ?token=, refreshes itself without anyone reloading it (a case resolved a moment
ago shows up), and has no phone number or email address on it. Screenshot: test-artifacts/wall.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from config import Settings
from store.db import Store
from tests.support.browser import launch_chromium
from tests.support.http import LiveServer, offline_web
from tests.support.settings import ROOT
from tests.support.wall_seed import (
    EMAIL,
    PHONE,
    ago,
    call,
    email,
    escalate,
    open_case,
    pay,
    reps_on_duty,
    resolve,
    ticket,
)

pytestmark = pytest.mark.e2e  # every test here starts real processes

ARTIFACTS = ROOT / "test-artifacts"
# anything that looks like a phone number (7+ digits, maybe with + and separators) or an email address
PHONE_LIKE = re.compile(r"\+?\d[\d \-().]{6,}\d")
EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture
def app_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return offline_web(
        sqlite_url,
        tmp_path,
    )[0]


def a_day_of_work(store: Store, now: datetime) -> None:
    """What a wall sees after a day: cases every hour (first contacts mostly within the SLA, a slow
    afternoon), escalations claimed and one waiting, tickets that keep coming back, gift cards paid."""
    for hours_ago in range(23, 0, -1):
        for n in range(2 + (hours_ago * 7) % 5):
            slow = 14 <= hours_ago <= 16 and n == 0
            opened = now - timedelta(hours=hours_ago, minutes=7 * n + 3)
            case_id = open_case(store, opened, contact_after=(840 if slow else 60 + 45 * n + hours_ago * 3))
            if n % 3 != 2:
                resolve(store, case_id, at=opened + timedelta(minutes=35))
    recent = []
    for minutes, contact in ((9, 95), (8, 140), (7, 65), (6, 300), (5, 120), (4, 720), (3, 80)):
        recent.append(open_case(store, ago(minutes, now), contact_after=contact))
    for case_id in recent[:3]:
        resolve(store, case_id)
    escalate(store, recent[3], ago(6, now), status="claimed", claimed_at=ago(5, now))
    escalate(store, recent[5], ago(4, now), status="open")
    ticket(
        store, "practice_calendar_out_of_sync", recent[:4], url="https://example.atlassian.net/browse/OPS-7"
    )
    ticket(store, "moved_by_practice", recent[4:6])
    ticket(store, "double_booking", recent[6:], status="fixed")
    pay(store, recent[3], "10.00")
    pay(store, recent[1], "10.00")
    pay(store, recent[5], "40.00", status="pending_approval")


def test_the_wall_renders_refreshes_and_shows_no_contact_details(app_settings: Settings) -> None:
    from web.app import create_app

    store = Store(app_settings.database_url)
    now = datetime.now(UTC)
    a_day_of_work(store, now)
    waiting = open_case(store, now - timedelta(seconds=5), contact_after=2)  # answered by text, resolving now
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"{app_settings.public_base_url}/wall?token=dev-auditor-token&refresh=1"
    with LiveServer(create_app(app_settings, relay=False), app_settings.web_port), sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.goto(url)
            resolved = page.locator('[data-k="cases_resolved"]')
            before = int(resolved.inner_text())
            expect(page.locator('[data-k="first_contact_p90"] h2')).to_have_text("First contact p90")
            expect(page.locator('[data-k="escalations_open"] .big')).to_have_text("2")
            expect(page.locator("svg rect")).to_have_count(24)
            page.evaluate("window.notReloaded = true")

            resolve(store, waiting)  # the case closes while the wall hangs on the wall

            expect(resolved).to_have_text(str(before + 1), timeout=15_000)
            assert page.evaluate("window.notReloaded === true")  # refreshed in place, not reloaded by hand

            page.screenshot(path=str(ARTIFACTS / "wall.png"))
            html = page.content()
            text = page.locator("body").inner_text()
            for contact in (PHONE, EMAIL, "+316", "mailto:", "tel:"):
                assert contact not in html
            assert not PHONE_LIKE.search(text), PHONE_LIKE.search(text)
            assert not EMAIL_LIKE.search(text), EMAIL_LIKE.search(text)
            # it fits one screen: nothing to scroll on a 1080p monitor
            assert page.evaluate("document.documentElement.scrollHeight") <= 1080
        finally:
            browser.close()


def a_day_of_people(store: Store, now: datetime) -> None:
    """The support line and the mailbox over a day: most calls taken at the first ring and most emails
    answered within the hour, a short-staffed lunch (slow answers, a caller who hung up, late emails),
    one email waiting now; reps on the floor."""
    for hours_ago in range(23, -1, -1):
        lunch = 3 <= hours_ago <= 4
        for n in range(3 + (hours_ago * 5) % 4):
            arrived = now - timedelta(hours=hours_ago, minutes=9 * n + 2)
            if arrived > now:
                continue
            slow = lunch and n % 2 == 0
            if lunch and n == 1:
                call(store, arrived, answered_after=None, abandoned=True)
            else:
                call(store, arrived, answered_after=25 if slow or (hours_ago + n) % 11 == 5 else 3)
        for n in range(2 + hours_ago % 3):
            received = now - timedelta(hours=hours_ago, minutes=13 * n + 5)
            if hours_ago == 0 and n == 0:
                email(store, received, answered_after=None)  # waiting now
            elif n == 0:
                email(store, received, answered_after=None, understood=True)  # a "1" that rebooked
            else:
                email(store, received, answered_after=5400 if lunch else 600 + 300 * n)
    reps_on_duty(store, available=3, busy=2, wrap_up=1)


def test_the_wall_shows_the_two_numbers_per_hour(app_settings: Settings) -> None:
    """The headline numbers, and the same two per hour on the 24-hour chart; reps and the oldest waiting
    email; one 1080p screen. Screenshot: test-artifacts/wall-people.png (docs/wall-people.png)."""
    from web.app import create_app

    store = Store(app_settings.database_url)
    now = datetime.now(UTC)
    a_day_of_work(store, now)
    a_day_of_people(store, now)
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"{app_settings.public_base_url}/wall?token=dev-auditor-token"
    with LiveServer(create_app(app_settings, relay=False), app_settings.web_port), sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.goto(url)
            expect(page.locator('[data-k="calls_first_ring"] h2')).to_have_text(
                "Calls answered at the first ring"
            )
            expect(page.locator('[data-k="reps_available"]')).to_have_text("3")
            expect(page.locator('[data-k="reps_busy"]')).to_have_text("3")
            expect(page.locator('[data-k="oldest_waiting_email"]')).to_be_visible()
            people = page.locator('svg[data-k="people_hourly"]')
            expect(people).to_be_visible()
            expect(people.locator("circle.calls")).to_have_count(24)
            expect(people.locator("circle.emails").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "wall-people.png"))
            assert page.evaluate("document.documentElement.scrollHeight") <= 1080
        finally:
            browser.close()
