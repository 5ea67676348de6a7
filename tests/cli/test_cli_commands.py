"""`python cli.py …`: cases, dead letters (show, resubmit), users, migrate, codec keys, usage errors,
--json. The commands run in this process as they would in their own (tests/support/cli_in_process.py:
the same argv, environment, stdin, pipes); the entry point itself runs as a separate process once.
Temporal is not reachable here: a resubmitted event is stored and waits for the relay, as from
POST /events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from domain.events import BookingEvent
from store import inbox
from store.db import Store
from store.models import Case, ConsoleSession, DeadLetter, ReceivedEvent
from tests.support import cli_process
from tests.support.cli_in_process import run_cli, run_cli_times
from tests.support.cli_process import cli_env, env_for
from tests.support.settings import example_event

PHONE = "+31612345678"


@pytest.mark.e2e
def test_cli_py_as_a_process_prints_and_exits_with_the_commands_status(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`python cli.py …` in its own process: the output on its stdout and stderr, the exit code (0 done,
    1 something wrong, 2 bad usage) as the process's status."""
    env = env_for(sqlite_url, tmp_path)
    empty = cli_process.run_cli(env, "cases")
    assert (empty.code, empty.out.strip(), empty.err) == (0, "no cases", "")
    missing = cli_process.run_cli(env, "case", "case-missing")
    assert missing.code == 1 and "no case case-missing" in missing.err and missing.out == ""
    assert cli_process.run_cli(env, "nonsense").code == 2


def test_cases_listing_usage_errors_and_json(sqlite_url: str, tmp_path: Path) -> None:
    env = env_for(sqlite_url, tmp_path)
    empty = run_cli_times(env, "cases")
    assert (empty.code, empty.out.strip()) == (0, "no cases")
    assert json.loads(run_cli(env, "cases", "--json").out) == []

    bogus = run_cli(env, "cases", "--status", "bogus")
    assert bogus.code == 2
    assert "bogus" in bogus.err and "waiting_patient" in bogus.err and "failed" in bogus.err
    assert run_cli(env, "cases", "--kind", "nope").code == 2
    assert run_cli(env, "retry").code == 2  # neither ids nor --failed
    assert run_cli(env, "retry", "case-1", "--failed").code == 2
    assert run_cli(env, "retry", "--failed", "--since", "yesterday").code == 2
    assert run_cli(env, "replay").code == 2
    assert run_cli(env, "nonsense").code == 2

    missing = run_cli(env, "case", "case-missing")
    assert missing.code == 1 and "no case case-missing" in missing.err

    store = Store(sqlite_url)
    event = example_event()
    accepted = inbox.accept_booking_event(store, json.dumps(event).encode(), _parsed(event))
    listed = run_cli_times(env, "cases", "--status", "open", "--kind", "booking_conflict")
    assert accepted.case_id is not None
    assert listed.code == 0 and accepted.case_id in listed.out and "case" in listed.out.splitlines()[1]
    rows = json.loads(run_cli(env, "cases", "--json").out)
    assert [r["case_id"] for r in rows] == [accepted.case_id]
    assert rows[0]["patient"]["phone"] == "+316****5678" and rows[0]["failure"] is None
    shown = run_cli_times(env, "case", accepted.case_id or "")
    assert shown.code == 0 and "case_opened" in shown.out and "failure" in shown.out
    assert PHONE not in shown.out and "ada@example.com" not in shown.out
    view = json.loads(run_cli(env, "case", accepted.case_id or "", "--json").out)
    assert view["case_id"] == accepted.case_id and view["failure"] is None
    assert [t["what"] for t in view["timeline"]] == ["case_opened"]


def _parsed(event: dict[str, Any]) -> BookingEvent:
    return BookingEvent.model_validate(event)


def _letter(store: Store, endpoint: str, body: bytes, errors: list[dict[str, str]]) -> int:
    return inbox.keep_dead_letter(store, endpoint, "application/cloudevents+json", body, 422, errors)


def test_dead_letters_show_and_resubmit(any_db_url: str, tmp_path: Path) -> None:
    env = env_for(any_db_url, tmp_path)
    store = Store(any_db_url)
    assert run_cli(env, "dead-letters").out.strip() == "no dead letters"

    # refused by an older version of the code (say, a stricter rule since relaxed): valid today
    valid_now = example_event()
    valid_id = _letter(
        store, "/events", json.dumps(valid_now).encode(), [{"field": "data.cause", "reason": "unknown cause"}]
    )
    invalid = example_event()
    invalid["data"]["patient"]["email"] = "not-an-email"
    invalid_id = _letter(
        store, "/events", json.dumps(invalid).encode(), [{"field": "data.patient.email", "reason": "bad"}]
    )
    sms_id = _letter(
        store, "/webhooks/twilio/sms", f"From={PHONE}&Body=1".encode(), [{"field": "form", "reason": "x"}]
    )

    listed = run_cli_times(env, "dead-letters", "list")
    assert listed.code == 0 and f"#{valid_id}" in listed.out and "/webhooks/twilio/sms" in listed.out
    assert PHONE not in listed.out
    as_json = json.loads(run_cli(env, "dead-letters", "--json", "--limit", "2").out)
    assert [d["id"] for d in as_json] == [sms_id, invalid_id]

    shown = run_cli_times(env, "dead-letters", "show", str(invalid_id))
    assert shown.code == 0 and "data.patient.email" in shown.out
    assert "Uptown Orthopedics" in shown.out and '"specversion"' in shown.out  # the whole body
    assert PHONE not in shown.out and "ada@example.com" not in shown.out and "+316****5678" in shown.out
    shown_json = json.loads(run_cli(env, "dead-letters", "show", str(invalid_id), "--json").out)
    assert json.loads(shown_json["body"])["data"]["patient"]["phone"] == "+316****5678"
    assert shown_json["reasons"] == ["data.patient.email: bad"]
    assert run_cli(env, "dead-letters", "show", "999999").code == 1

    # still invalid: the reasons, exit 1, nothing stored
    again = run_cli(env, "dead-letters", "resubmit", str(invalid_id))
    assert again.code == 1 and "invalid" in again.out and "data.patient.email" in again.out
    assert PHONE not in again.out
    # only booking events can be resubmitted
    refused = run_cli(env, "dead-letters", "resubmit", str(sms_id))
    assert refused.code == 1 and "only booking events" in refused.out

    # valid now: stored in the inbox, its case opened, dispatched (here: left pending for the relay)
    done = run_cli(env, "dead-letters", "resubmit", str(valid_id), "--json")
    assert done.code == 0, done
    (answer,) = json.loads(done.out)
    assert answer["result"] == "accepted" and answer["case_id"] and answer["dispatched"] == "pending"
    with store.session() as s:
        row = s.scalars(select(ReceivedEvent).where(ReceivedEvent.external_id == valid_now["id"])).one()
        assert row.case_id == answer["case_id"] and row.id == answer["event_row_id"]
        assert s.get(Case, answer["case_id"]) is not None
        letter = s.get(DeadLetter, valid_id)
        assert letter is not None and letter.resubmitted_as == row.id and letter.resubmitted_at is not None
    # the same again: a duplicate, as POST /events would answer; nothing new
    dup = run_cli(env, "dead-letters", "resubmit", str(valid_id))
    assert dup.code == 0 and "duplicate" in dup.out and answer["case_id"] in dup.out
    with store.session() as s:
        assert len(s.scalars(select(ReceivedEvent)).all()) == 1
    # several at once: the valid one is a duplicate, the invalid one fails the run
    both = run_cli(env, "dead-letters", "resubmit", str(valid_id), str(invalid_id))
    assert both.code == 1 and "duplicate" in both.out and "invalid" in both.out


def test_migrate_brings_a_new_database_up_to_date_and_new_key_makes_a_usable_key(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    from encryption import parse_keys

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = cli_env(url, tmp_path, "127.0.0.1:1")
    first = run_cli(env, "migrate")
    assert first.code == 0, first.err
    assert "up to date" in first.out
    assert {"cases", "case_offers", "dead_letters"} <= set(inspect(create_engine(url)).get_table_names())
    assert run_cli(env, "migrate").code == 0  # again: nothing to do, still fine

    made = run_cli(env, "codec", "new-key", "k2")
    assert made.code == 0, made.err
    ring = parse_keys(made.out.strip())
    assert ring.ids == ["k2"] and len(ring.current[1]) == 32
    assert run_cli(env, "codec", "new-key", "k2").out != made.out  # fresh each time
    assert run_cli(env, "codec", "new-key", "bad id!").code == 2


def test_codec_ui_token_mints_a_short_lived_token_for_the_path_form(tmp_path: Path) -> None:
    import time

    from encryption import parse_keys, ui_tokens
    from tests.support.settings import TEST_CODEC_KEYS

    env = cli_env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path, "127.0.0.1:1")
    before = time.time()
    minted = run_cli(env, "codec", "ui-token", "--hours", "8", "--user", "erin")
    assert minted.code == 0, minted.err
    token = minted.out.strip()
    assert "/codec/t/" + token in minted.err and "works until" in minted.err
    held = ui_tokens.verify(parse_keys(TEST_CODEC_KEYS), token, time.time())
    assert held.user == "erin"
    assert before + 8 * 3600 - 5 <= held.expires_at <= time.time() + 8 * 3600 + 5
    assert token not in ("dev-engineer-token", "dev-supervisor-token")
    assert run_cli(env, "codec", "ui-token", "--hours", "25").code == 2  # at most a day
    assert run_cli(env, "codec", "ui-token", "--hours", "0").code == 2


def test_users_add_refuses_an_existing_user_and_set_changes_only_what_is_given(
    sqlite_url: str, tmp_path: Path
) -> None:
    from store import sessions, users

    env = env_for(sqlite_url, tmp_path)
    store = Store(sqlite_url)
    made = run_cli(
        env, "users", "add", "rita", "--role", "rep", "--phone", "+12125550101", "--name", "Rita Rep",
        "--password-stdin", stdin="first password 1\n",
    )  # fmt: skip
    assert made.code == 0, made.err

    # add again: refused, pointing at `users set`; nothing changed (the phone is not wiped)
    again = run_cli(env, "users", "add", "rita", "--role", "supervisor", "--password-stdin", stdin="x" * 12)
    assert again.code == 1 and "exists" in again.err and "users set" in again.err
    rita = users.get(store, "rita")
    assert rita is not None and (rita.role, rita.phone, rita.display_name) == (
        "rep",
        "+12125550101",
        "Rita Rep",
    )

    # partial changes
    assert run_cli(env, "users", "set", "rita", "--role", "supervisor").code == 0
    rita = users.get(store, "rita")
    assert rita is not None and (rita.role, rita.phone, rita.display_name) == (
        "supervisor",
        "+12125550101",
        "Rita Rep",
    )
    assert run_cli(env, "users", "set", "rita", "--name", "Rita R.", "--phone", "+12125550199").code == 0
    rita = users.get(store, "rita")
    assert rita is not None and (rita.phone, rita.display_name) == ("+12125550199", "Rita R.")
    assert run_cli(env, "users", "set", "rita", "--no-phone").code == 0
    rita = users.get(store, "rita")
    assert rita is not None and rita.phone is None and rita.role == "supervisor"

    # a new password: the old one no longer signs in, and sessions made with it end
    token = sessions.start(store, "rita", 60)
    changed = run_cli(env, "users", "set", "rita", "--password-stdin", stdin="second password 2\n")
    assert changed.code == 0 and "password" in changed.out, changed.err
    assert sessions.find(store, token) is None
    assert users.authenticate(store, "rita", "first password 1") is None
    assert users.authenticate(store, "rita", "second password 2") is not None

    # usage errors and unknown users
    assert run_cli(env, "users", "set", "rita").code == 2  # nothing to change
    assert run_cli(env, "users", "set", "rita", "--phone", "+1212", "--no-phone").code == 2
    assert run_cli(env, "users", "set", "rita", "--phone", "0612345678").code == 2
    assert run_cli(env, "users", "set", "rita", "--role", "king").code == 2
    short = run_cli(env, "users", "set", "rita", "--password-stdin", stdin="short\n")
    assert short.code == 2 and "10 characters" in short.err
    missing = run_cli(env, "users", "set", "nobody", "--role", "rep")
    assert missing.code == 1 and "no user 'nobody'" in missing.err

    # deactivate: no sign-ins, every session ends; --activate undoes it
    first, second = sessions.start(store, "rita", 60), sessions.start(store, "rita", 60)
    gone = run_cli(env, "users", "deactivate", "rita")
    assert gone.code == 0 and "2 session(s) ended" in gone.out, gone.err
    assert sessions.find(store, first) is None and sessions.find(store, second) is None
    with store.session() as s:
        assert s.scalars(select(ConsoleSession)).all() == []
    assert users.authenticate(store, "rita", "second password 2") is None
    listed = json.loads(run_cli(env, "users", "list", "--json").out)
    assert [(u["username"], u["active"]) for u in listed] == [("rita", False)]
    assert run_cli(env, "users", "deactivate", "nobody").code == 1
    assert run_cli(env, "users", "set", "rita", "--activate").code == 0
    assert users.authenticate(store, "rita", "second password 2") is not None
