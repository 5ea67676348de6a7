"""Fuzzing the ingress with hypothesis, over real HTTP: whatever arrives, correctly signed or not, the app
answers with a clear 2xx or 4xx (never a 5xx), and every invalid body is kept as a dead letter that says
why. Sized to fit CI (a few hundred requests); raise FUZZ_EXAMPLES to dig deeper on demand."""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from config import Settings
from domain.signing import sign
from store.db import Store
from store.models import DeadLetter, ReceivedEvent
from tests.support.http import LiveServer, offline_web, post_event
from tests.support.settings import example_event

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same inputs on every CI run; FUZZ_EXAMPLES and a seed explore further
)
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


class App:
    def __init__(self, server: LiveServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.store = Store(settings.database_url)
        self.http = httpx.Client(base_url=server.url, timeout=30)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    from store.db import migrate
    from web.app import create_app

    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'fuzz.db'}"
    migrate(url)
    # nothing listens: accepted events wait in the inbox
    config, port = offline_web(
        url,
        tmp,
        sendgrid_webhook_public_key=PUBLIC_KEY,
    )
    with LiveServer(create_app(config, relay=False), port) as server:
        running = App(server, config)
        yield running
        running.http.close()


# each reads as a digit to str.isdigit() (and some to int() or Decimal()), none is an ASCII digit
ODD_DIGITS = ["²", "①", "٣", "\uff13", "1²", "\uff11\uff17", "٣٠٠", "\U0001d7d7"]  # fullwidth 3, 17; bold 9

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.sampled_from(["", "+31612345678", "2026-11-24T10:00:00-05:00", "booking.slot_double_booked", "1.0"]),
    st.sampled_from(ODD_DIGITS),
)
odd_or_any_text = st.one_of(st.sampled_from(ODD_DIGITS), st.text(max_size=20))
any_json = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A valid event with a few fields replaced, removed or added; sometimes something else entirely."""
    if draw(st.integers(0, 9)) == 0:
        return draw(any_json)
    event = copy.deepcopy(example_event())
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(event)[1:]))
        parent: Any = event
        for part in where[:-1]:
            parent = parent[part]
        if not isinstance(parent, dict) or where[-1] not in parent:
            continue
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(any_json)
        elif action == "remove":
            del parent[where[-1]]
        else:
            parent[draw(st.text(max_size=10))] = draw(any_json)
    return event


@FUZZ
@given(event=mutated_events())
def test_any_signed_event_gets_a_clear_answer_and_invalid_ones_are_kept(app: App, event: Any) -> None:
    raw = json.dumps(event).encode()
    response = post_event(app.server, app.settings, raw, http=app.http)
    assert response.status_code in (200, 202, 413, 422), response.text
    answer = response.json()
    if response.status_code == 422:
        assert answer["errors"] and all(e["field"] and e["reason"] for e in answer["errors"])
        with app.store.session() as s:
            letter = s.get(DeadLetter, answer["dead_letter_id"])
            assert letter is not None and letter.raw == raw and letter.errors == answer["errors"]
    elif response.status_code in (200, 202):
        with app.store.session() as s:
            stored = s.scalars(select(ReceivedEvent).where(ReceivedEvent.external_id == event["id"])).first()
            assert stored is not None  # accepted means stored


@FUZZ
@given(raw=st.binary(max_size=2000))
def test_any_bytes_signed_or_not_never_break_the_event_endpoint(app: App, raw: bytes) -> None:
    assert post_event(app.server, app.settings, raw, http=app.http).status_code in (200, 202, 422)
    unsigned = app.http.post("/events", content=raw, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401


form_fields = st.dictionaries(
    st.sampled_from(
        [
            "MessageSid",
            "From",
            "To",
            "Body",
            "CallSid",
            "Digits",
            "MessageStatus",
            "CallStatus",
            "AnsweredBy",
            "X",
        ]
    ),
    st.one_of(
        st.sampled_from(ODD_DIGITS), st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80)
    ),
    max_size=8,
)


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/webhooks/twilio/sms",
            "/webhooks/twilio/voice/gather?case_id=case-x&round=1&lang=en",
            "/webhooks/twilio/sms/status",
            "/webhooks/twilio/voice/status",
        ]
    ),
    params=form_fields,
)
def test_any_signed_twilio_callback_gets_a_clear_answer(app: App, path: str, params: dict[str, str]) -> None:
    url = f"{app.settings.public_base_url}{path}"
    signature = RequestValidator(app.settings.twilio_auth_token).compute_signature(url, params)
    response = app.http.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code in (200, 422), response.text
    forged = app.http.post(path, data=params, headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403


@FUZZ
@given(
    batch=st.one_of(
        any_json,
        st.lists(
            st.dictionaries(
                st.sampled_from(["sg_event_id", "event", "sg_message_id", "makeright_ref", "email"]),
                json_leaf,
            ),
            max_size=5,
        ),
    )
)
def test_any_signed_sendgrid_batch_gets_a_clear_answer(app: App, batch: Any) -> None:
    raw = json.dumps(batch).encode()
    timestamp = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    response = app.http.post("/webhooks/sendgrid/events", content=raw, headers=headers)
    assert response.status_code in (200, 422), response.text


@FUZZ
@given(
    path=st.sampled_from(["/api/cases", "/api/escalations", "/api/cases/{x}", "/api/escalations/{x}"]),
    x=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="/?#%\\\x7f"),
        min_size=1,
        max_size=40,
    ),
    query=st.dictionaries(
        st.sampled_from(["status", "appointment_id", "limit"]), odd_or_any_text, max_size=3
    ),
)
def test_the_read_apis_answer_any_query_without_a_5xx(
    app: App, path: str, x: str, query: dict[str, str]
) -> None:
    response = app.http.get(
        path.replace("{x}", x), params=query, headers={"Authorization": "Bearer dev-supervisor-token"}
    )
    assert response.status_code in (200, 404, 422), response.text


# ---------------------------------------------------------------------- deep structures, non-ASCII digits

DEEP = 20_000


def deep(opening: str, closing: str, depth: int = DEEP) -> bytes:
    return (opening * depth + closing * depth).encode()


@pytest.mark.parametrize(
    "raw",
    [
        deep("[", "]"),
        deep('{"a":', "}"),
        b'{"specversion": "1.0", "data": ' + deep("[", "]") + b"}",
        b'{"specversion": "1.0", "data": ' + deep("[", "]", 200) + b"}",  # deep, but not for the parser
    ],
    ids=["array", "object", "inside-data", "200-deep"],
)
def test_deeply_nested_event_is_a_422_naming_the_reason_and_kept(app: App, raw: bytes) -> None:
    response = post_event(app.server, app.settings, raw, http=app.http)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["errors"] and all(e["field"] and e["reason"] for e in answer["errors"])
    if len(raw) > 1000:
        assert answer["errors"] == [{"field": "body", "reason": "nested more than 32 levels deep"}]
    with app.store.session() as s:
        letter = s.get(DeadLetter, answer["dead_letter_id"])
        assert letter is not None and letter.raw == raw and letter.errors == answer["errors"]


@pytest.mark.parametrize("odd", ODD_DIGITS)
def test_non_ascii_digits_in_the_signature_timestamp_are_a_401(app: App, odd: str) -> None:
    raw = json.dumps(example_event()).encode()
    header = sign(app.settings.events_signing_secret, raw, int(time.time())).replace("t=", f"t={odd}", 1)
    for value in (header, f"t={odd},v1=00", f"t={odd}"):
        response = app.http.post(
            "/events",
            content=raw,
            headers={b"Content-Type": b"application/json", b"X-Makeright-Signature": value.encode()},
        )
        assert response.status_code == 401, response.text
        assert "t=" in response.json()["error"]


def sendgrid_post(app: App, raw: bytes, timestamp: str) -> httpx.Response:
    signature = base64.b64encode(KEY.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    as_bytes = {k.encode(): v.encode() for k, v in headers.items()}  # UTF-8 header values, as sent
    return app.http.post("/webhooks/sendgrid/events", content=raw, headers=as_bytes)


@pytest.mark.parametrize("odd", ODD_DIGITS)
def test_non_ascii_digits_in_the_sendgrid_timestamp_are_refused_by_name(app: App, odd: str) -> None:
    response = sendgrid_post(app, b"[]", odd)
    assert response.status_code == 403, response.text
    assert "timestamp" in response.json()["error"] and "ASCII" in response.json()["error"]


def test_a_deep_sendgrid_batch_is_a_422_and_kept(app: App) -> None:
    raw = deep("[", "]")
    response = sendgrid_post(app, raw, str(int(time.time())))
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["errors"] == [{"field": "body", "reason": "nested more than 32 levels deep"}]
    with app.store.session() as s:
        letter = s.get(DeadLetter, answer["dead_letter_id"])
        assert letter is not None and letter.raw == raw


@pytest.mark.parametrize("odd", ODD_DIGITS)
def test_non_ascii_digits_in_twilio_keypad_answers_and_query_params(app: App, odd: str) -> None:
    path = f"/webhooks/twilio/voice/gather?case_id=case-x&round={odd}&lang={odd}"
    params = {"CallSid": f"CA{odd}", "To": "+31612345678", "Digits": odd}
    url = f"{app.settings.public_base_url}{httpx.URL(path)}"
    signature = RequestValidator(app.settings.twilio_auth_token).compute_signature(url, params)
    response = app.http.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code in (200, 422), response.text


@pytest.mark.parametrize("odd", ODD_DIGITS)
@pytest.mark.parametrize("path", ["/api/cases", "/api/escalations"])
def test_non_ascii_digits_in_limit_are_a_422_naming_the_field(app: App, path: str, odd: str) -> None:
    response = app.http.get(
        path, params={"limit": odd}, headers={"Authorization": "Bearer dev-supervisor-token"}
    )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["errors"][0]["field"] == "query.limit" and answer["errors"][0]["reason"]
    assert "limit" in answer["error"]


@pytest.mark.parametrize(
    "body",
    [
        deep("[", "]"),
        deep('{"a":', "}"),
        *(json.dumps({"amount": odd}).encode() for odd in ODD_DIGITS),
        b'{"amount": "1e999999"}',
        b'{"amount": "9' + b"9" * 5000 + b'"}',
        b'{"amount": 1e999999}',
    ],
)
def test_escalation_action_bodies_never_break_the_api(app: App, body: bytes) -> None:
    response = app.http.post(
        "/api/escalations/esc-none/approve",
        content=body,
        headers={"Authorization": "Bearer dev-supervisor-token", "Content-Type": "application/json"},
    )
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]


@pytest.mark.parametrize("amount", [*ODD_DIGITS, "1e999999", "9" * 5000, "1E+30"])
def test_odd_amounts_are_refused_with_the_field_named(amount: str) -> None:
    from web.escalation_actions import Refused, _money

    with pytest.raises(Refused) as refused:
        _money({"amount": amount}, "amount", "currency", "USD")
    assert refused.value.status == 422 and refused.value.message.startswith("amount: ")
