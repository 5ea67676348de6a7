"""The rep console over plain HTTP (no browser, no Temporal): login, sessions, CSRF, who sees what."""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

import cli
from config import Settings
from domain.escalation import REPLY_FOR_A_PERSON
from store import escalations, login_throttle, users
from store.db import Store
from store.models import ConsoleSession, LoginThrottle, User, utcnow
from tests.support.console_harness import (
    MASKED_PHONE,
    PASSWORD,
    PATIENT_EMAIL,
    PATIENT_PHONE,
    claimed_escalation,
    client,
    csrf_from,
    http_login,
    insert_case,
    start_console,
)
from tests.support.http import LiveServer
from web.console import SESSION_COOKIE

Console = tuple[LiveServer, Settings, Store]


@pytest.fixture
def console(sqlite_url: str, tmp_path: Path) -> Iterator[Console]:
    server, settings, store = start_console(sqlite_url, tmp_path)
    with server:
        yield server, settings, store


def test_login_sets_a_server_side_session_and_logout_ends_it(any_db_url: str, tmp_path: Path) -> None:
    server, _, store = start_console(any_db_url, tmp_path)
    with server:
        with client(server) as browser:
            wrong = http_login(browser, "rita", "not the password")
            assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
            assert SESSION_COOKIE not in browser.cookies
            unknown = http_login(browser, "nobody", PASSWORD)
            assert unknown.status_code == 401 and "Wrong username or password" in unknown.text

            answer = http_login(browser, "rita")
            assert answer.status_code == 303 and answer.headers["location"] == "/console"
            cookie = answer.headers["set-cookie"]
            assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
            assert "Path=/console" in cookie and "Secure" not in cookie  # http here
            token = browser.cookies[SESSION_COOKIE]
            with store.session() as s:
                stored = s.scalars(select(ConsoleSession)).all()
            # only a hash of the token is kept
            assert [row.token_hash for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]
            assert stored[0].username == "rita"
            assert (
                timedelta(minutes=479) < stored[0].expires_at - stored[0].created_at <= timedelta(minutes=480)
            )

            queue = browser.get("/console")
            assert queue.status_code == 200 and "Escalation queue" in queue.text and "Rita Rep" in queue.text
            assert queue.headers["cache-control"] == "no-store"

            bye = browser.post("/console/logout", data={"csrf_token": csrf_from(queue.text)})
            assert bye.status_code == 303 and bye.headers["location"].startswith("/console/login")
            with store.session() as s:
                assert s.scalars(select(ConsoleSession)).all() == []
        with client(server) as replay:
            # the old cookie is worth nothing after logout
            replay.cookies.set(SESSION_COOKIE, token)
            again = replay.get("/console")
            assert again.status_code == 303 and again.headers["location"] == "/console/login"


def test_login_goes_back_where_it_was_asked_for_and_never_elsewhere(console: Console) -> None:
    server, _, _ = console
    with client(server) as browser:
        page = browser.get("/console/escalations/esc-1?x=1")
        assert page.status_code == 303
        assert page.headers["location"] == "/console/login?next=/console/escalations/esc-1%3Fx%3D1"
        form = browser.get(page.headers["location"])
        assert 'name="next" value="/console/escalations/esc-1?x=1"' in form.text
        back = browser.post(
            "/console/login",
            data={
                "username": "rita",
                "password": PASSWORD,
                "csrf_token": csrf_from(form.text),
                "next": "/console/escalations/esc-1?x=1",
            },
        )
        assert back.status_code == 303 and back.headers["location"] == "/console/escalations/esc-1?x=1"
    for elsewhere in ("//evil.example/console", "https://evil.example", "/api/cases"):
        with client(server) as browser:
            form = browser.get("/console/login")
            answer = browser.post(
                "/console/login",
                data={
                    "username": "rita",
                    "password": PASSWORD,
                    "csrf_token": csrf_from(form.text),
                    "next": elsewhere,
                },
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/console", elsewhere


def test_session_cookie_is_secure_behind_https(sqlite_url: str, tmp_path: Path) -> None:
    server, _, _ = start_console(sqlite_url, tmp_path, public_base_url="https://console.example")
    with server, client(server) as browser:
        page = browser.get("/console/login")
        login_csrf = page.cookies.get("makeright_login_csrf")
        assert login_csrf and "Secure" in page.headers["set-cookie"]
        answer = browser.post(
            "/console/login",
            data={"username": "sue", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
            headers={"Cookie": f"makeright_login_csrf={login_csrf}"},  # httpx keeps Secure cookies for https
        )
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"] and "HttpOnly" in answer.headers["set-cookie"]


def test_posts_without_the_csrf_token_are_refused(console: Console) -> None:
    server, _, store = console
    escalation_id = claimed_escalation(store, "rita")
    with client(server) as browser:
        page = browser.get("/console/login")
        # the login form itself carries one
        no_token = browser.post("/console/login", data={"username": "rita", "password": PASSWORD})
        assert no_token.status_code == 403 and SESSION_COOKIE not in browser.cookies
        forged = browser.post(
            "/console/login", data={"username": "rita", "password": PASSWORD, "csrf_token": "forged"}
        )
        assert forged.status_code == 403 and csrf_from(page.text) != "forged"

        assert http_login(browser, "rita").status_code == 303
        for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
            release = browser.post(f"/console/escalations/{escalation_id}/release", data=data)
            assert release.status_code == 403 and "security token" in release.text
            approve = browser.post(
                f"/console/escalations/{escalation_id}/approve", data={**data, "amount": "5"}
            )
            assert approve.status_code == 403
        assert browser.post("/console/logout").status_code == 403
        assert browser.get("/console").status_code == 200  # still signed in
    row = escalations.get(store, escalation_id)
    assert row is not None and row.status == "claimed" and row.approved_amount is None


def test_expired_session_goes_back_to_login(console: Console) -> None:
    server, _, store = console
    with client(server) as browser:
        assert http_login(browser, "rob").status_code == 303
        assert browser.get("/console").status_code == 200
        with store.session() as s:
            s.execute(update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        page = browser.get("/console/supervisor")
        assert page.status_code == 303
        assert page.headers["location"] == "/console/login?next=/console/supervisor"
        post = browser.post("/console/escalations/esc-1/claim", data={"csrf_token": "x"})
        assert post.status_code == 303 and post.headers["location"] == "/console/login"
        with store.session() as s:
            assert s.scalars(select(ConsoleSession)).all() == []  # removed, not just ignored


def test_contact_details_are_full_only_for_the_claimer_and_supervisors(console: Console) -> None:
    server, _, store = console
    escalation_id = claimed_escalation(store, "rita")
    from store.models import InboundMessage

    row = escalations.get(store, escalation_id)
    assert row is not None
    with store.session() as s:  # the patient's reply in this case: health information
        s.add(
            InboundMessage(
                channel="sms",
                provider_id="SMtrouble1",
                from_address=PATIENT_PHONE,
                body="my insurance card fails",
                case_id=row.case_id,
            )
        )
    seen: dict[str, str] = {}
    for who in ("rita", "rob", "sue", "aud"):
        with client(server) as browser:
            assert http_login(browser, who).status_code == 303
            page = browser.get(f"/console/escalations/{escalation_id}")
            assert page.status_code == 200
            seen[who] = page.text
    for who in ("rita", "sue"):
        assert PATIENT_PHONE in seen[who] and PATIENT_EMAIL in seen[who], who
        assert "my insurance card fails" in seen[who]
    for who in ("rob", "aud"):
        # masked everywhere on the page, the timeline's details included
        assert PATIENT_PHONE not in seen[who] and PATIENT_EMAIL not in seen[who], who
        assert MASKED_PHONE in seen[who] and "a**@example.com" in seen[who]
        assert "my insurance card fails" not in seen[who]
    assert "claim the escalation to see the contact details" in seen["rob"]


def test_a_reply_for_a_person_is_read_with_the_patients_whole_conversation(console: Console) -> None:
    """A reply that fitted no open question reaches a rep with the conversation: what is open, and where
    each of the patient's messages went (this case's, another case's), for the claimer alone."""
    from store import inbox

    server, _, store = console
    escalation_id = claimed_escalation(store, "rita", reason=REPLY_FOR_A_PERSON)
    row = escalations.get(store, escalation_id)
    assert row is not None
    other = insert_case(store)
    for n, (text, case_id) in enumerate([("2", other.case_id), ("can I come Thursday?", None)]):
        inbox.accept_patient_answer(
            store, "twilio_sms", f"SMconv{n}", PATIENT_PHONE, text, case_id, {"channel": "sms", "text": text}
        )
    pages = {}
    for who in ("rita", "rob"):
        with client(server) as browser:
            assert http_login(browser, who).status_code == 303
            pages[who] = browser.get(f"/console/escalations/{escalation_id}").text
    assert "The patient's conversation" in pages["rita"]
    assert "can I come Thursday?" in pages["rita"] and "for a person" in pages["rita"]
    assert f"({other.case_id})" in pages["rita"]  # the other case's message, named as such
    assert "can I come Thursday?" not in pages["rob"]  # not the claimer: health information stays hidden


def test_every_permission_is_checked_on_the_server(console: Console) -> None:
    server, _, store = console
    escalation_id = claimed_escalation(store, "rita")
    with client(server) as browser:
        assert http_login(browser, "rob").status_code == 303
        page = browser.get(f"/console/escalations/{escalation_id}")
        token = csrf_from(page.text)
        # rob is offered nothing on rita's escalation ...
        assert 'action="/console/escalations/' not in page.text
        # ... and posting anyway is refused, with the reason on the page
        answer = browser.post(
            f"/console/escalations/{escalation_id}/approve", data={"csrf_token": token, "amount": "20.00"}
        )
        assert answer.status_code == 403
        assert "claimed by rita; only they or a supervisor may approve it" in answer.text
        assert 'role="alert"' in answer.text
        unknown = browser.post(f"/console/escalations/{escalation_id}/pay", data={"csrf_token": token})
        assert unknown.status_code == 404
        missing = browser.post("/console/escalations/esc-none/claim", data={"csrf_token": token})
        assert missing.status_code == 404 and "esc-none" in missing.text
        supervisor_only = browser.get("/console/supervisor")
        assert supervisor_only.status_code == 403 and "Supervisors only" in supervisor_only.text
    with client(server) as browser:
        assert http_login(browser, "aud").status_code == 303
        page = browser.get(f"/console/escalations/{escalation_id}")
        assert "actions are for reps and supervisors" in page.text
        answer = browser.post(
            f"/console/escalations/{escalation_id}/release", data={"csrf_token": csrf_from(page.text)}
        )
        assert answer.status_code == 403 and "a auditor may not release" in answer.text
    row = escalations.get(store, escalation_id)
    assert row is not None and row.status == "claimed" and row.claimed_by == "rita"


def test_cli_adds_and_lists_console_users(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    args = ["users", "add", "kim", "--role", "rep", "--phone", "+12125550199", "--name", "Kim Lee"]
    assert cli.main([*args, "--password-stdin"]) == 0
    assert "user kim (rep) saved" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["users", "add", "lee", "--role", "rep", "--password-stdin"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert cli.main(["users", "add", "lee", "--role", "rep", "--phone", "0612", "--password-stdin"]) == 2
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "typed at the prompt")
    assert cli.main(["users", "add", "sam", "--role", "supervisor"]) == 0
    capsys.readouterr()
    assert cli.main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "kim" in listed and "+12125550199" in listed and "Kim Lee" in listed and "sam" in listed
    assert "password" not in listed and "scrypt" not in listed
    from store.users import authenticate

    assert authenticate(Store(sqlite_url), "kim", "a long enough password") is not None
    assert authenticate(Store(sqlite_url), "sam", "typed at the prompt") is not None


def _error_of(page: httpx.Response) -> str:
    found = re.search(r"Too many failed sign-ins; try again in \d+ minutes?\.", page.text)
    assert found, page.text[:2000]
    return found.group(0)


def test_repeated_failed_sign_ins_are_throttled_per_user_and_per_address(console: Console) -> None:
    server, _, store = console
    with client(server) as browser:
        for _ in range(login_throttle.PER_USER):
            assert http_login(browser, "rita", "not the password").status_code == 401
        # now even the right password is refused, and the password is not even looked at
        refused = http_login(browser, "rita")
        assert refused.status_code == 429 and SESSION_COOKIE not in browser.cookies
        message = _error_of(refused)
        # a back-off, not a lock: seconds at first, doubling, at most 15 minutes
        assert message == "Too many failed sign-ins; try again in 1 minute."
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "Wrong username or password" not in refused.text

        # no user enumeration: a name nobody has gets exactly the same answers
        for _ in range(login_throttle.PER_USER):
            assert http_login(browser, "nobody", "not the password").status_code == 401
        unknown = http_login(browser, "nobody", "not the password")
        assert unknown.status_code == 429 and _error_of(unknown) == message

        # others from the same address still get in, and a success forgets that user's failures
        assert http_login(browser, "sue", "not the password").status_code == 401
        assert http_login(browser, "sue").status_code == 303
        browser.cookies.clear()

        # the state is in the database: every replica sees it
        assert login_throttle.blocked_for(store, "RITA ", "127.0.0.1") is not None
        assert login_throttle.blocked_for(store, "sue", "127.0.0.1") is None

        # per address: 20 attempts in a row, whatever the names, make everybody from there wait (the
        # refused ones were never counted, sue's success gave its attempt back)
        for n in range(login_throttle.PER_ADDRESS - 2 * login_throttle.PER_USER - 1):
            assert http_login(browser, f"guess-{n}", "not the password").status_code == 401
        by_address = http_login(browser, "sue")
        assert by_address.status_code == 429 and _error_of(by_address) == message

        # the back-off passes (moved into the past here): everybody may try again, rita gets in
        with store.session() as s:
            s.execute(update(LoginThrottle).values(not_before=time.time() - 1))
        assert http_login(browser, "rita").status_code == 303


def test_an_old_cost_password_hash_is_upgraded_at_the_next_sign_in(console: Console) -> None:
    server, _, store = console
    old = users.hash_password(PASSWORD, n=2**14)
    with store.session() as s:
        s.execute(update(User).where(User.username == "rita").values(password_hash=old))
    assert old.startswith("scrypt$16384$8$1$") and users.needs_rehash(old)
    with client(server) as browser:
        assert http_login(browser, "rita", "not the password").status_code == 401
        assert users.get(store, "rita").password_hash == old  # type: ignore[union-attr]  # only on success
        assert http_login(browser, "rita").status_code == 303
    upgraded = users.get(store, "rita").password_hash  # type: ignore[union-attr]
    assert upgraded != old and upgraded.startswith(f"scrypt${2**17}$8$1$")
    assert not users.needs_rehash(upgraded)
    with client(server) as browser:  # and the new hash takes the same password
        assert http_login(browser, "rita").status_code == 303
