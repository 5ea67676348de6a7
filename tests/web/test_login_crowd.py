"""Console sign-ins under a crowd, over real HTTP: a parallel burst cannot slip past the throttle, failures
bring a back-off that ends (never a lock a guesser can hold a rep in), and no more than a few scrypt hashes
(128 MiB each) run at once, whatever arrives."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from store import users
from tests.support.console_harness import client, csrf_from, http_login, start_console

BURST = 20


@pytest.fixture
def console(any_db_url: str, tmp_path: Path) -> Iterator[Any]:
    server, settings, store = start_console(any_db_url, tmp_path)
    with server:
        yield server, settings, store


def _burst(server: Any, username: str, password: str, n: int = BURST) -> list[httpx.Response]:
    """`n` sign-ins at once, each from its own browser with its own login form."""
    forms = []
    for _ in range(n):
        browser = client(server)
        page = browser.get("/console/login")
        forms.append((browser, csrf_from(page.text)))
    start = threading.Barrier(n)

    def attempt(form: tuple[httpx.Client, str]) -> httpx.Response:
        browser, csrf = form
        start.wait()
        try:
            return browser.post(
                "/console/login", data={"username": username, "password": password, "csrf_token": csrf}
            )
        finally:
            browser.close()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(attempt, forms))


def test_a_parallel_burst_passes_the_throttle_at_most_the_allowed_number_of_times(console: Any) -> None:
    server, _, _ = console
    answers = _burst(server, "rita", "not the password")
    checked = [a for a in answers if a.status_code == 401]
    refused = [a for a in answers if a.status_code == 429]
    assert len(checked) + len(refused) == BURST, [a.status_code for a in answers]
    # the free attempts a user has before the back-off starts, and not one more
    assert 1 <= len(checked) <= 3
    for answer in refused:
        assert int(answer.headers["retry-after"]) >= 1


def test_failures_bring_a_back_off_that_ends_not_a_lock(console: Any) -> None:
    server, _, store = console
    with client(server) as browser:
        for _ in range(3):
            assert http_login(browser, "rita", "not the password").status_code == 401
        refused = http_login(browser, "rita")  # the right password, too soon: not even looked at
        assert refused.status_code == 429
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60  # a short back-off, not 15 minutes
        assert re.search(r"Too many failed sign-ins; try again in 1 minute\.", refused.text)
    # once the back-off has passed (moved into the past here), the right password gets in
    from store.models import LoginThrottle

    with store.session() as s:
        s.execute(update(LoginThrottle).values(not_before=time.time() - 1))
    with client(server) as browser:
        assert http_login(browser, "rita").status_code == 303


def test_hashing_never_runs_more_than_two_at_once(console: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, _, _ = console
    running = 0
    most = 0
    lock = threading.Lock()
    real = users._scrypt

    def counted(*args: Any) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)
            return real(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(users, "_scrypt", counted)
    # different names, so the per-user throttle lets each try once
    forms = []
    for n in range(12):
        browser = client(server)
        forms.append((browser, csrf_from(browser.get("/console/login").text), f"user-{n}"))

    def attempt(form: tuple[httpx.Client, str, str]) -> int:
        browser, csrf, name = form
        data = {"username": name, "password": "not the password", "csrf_token": csrf}
        try:
            return browser.post("/console/login", data=data).status_code
        finally:
            browser.close()

    with ThreadPoolExecutor(len(forms)) as pool:
        codes = list(pool.map(attempt, forms))
    assert most <= 2
    assert all(code in (401, 503) for code in codes), codes
    assert codes.count(401) >= 2
