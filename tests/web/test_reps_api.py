"""Reps on duty over real HTTP (CONTRACT.md, "Reps on duty and routing"), with no Temporal reachable: who
may do what (403), bodies checked before anything is sent (422 naming each bad field), a valid change
answered 503 while Temporal is away, and GET /api/reps from the store, without phone numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings
from domain.routing import FloorSnapshot, RepStatus, RepView
from store import reps
from store.db import Store
from store.models import User
from tests.support.http import LiveServer, free_port
from tests.support.settings import make_settings

TOKENS = (
    "rep:ann:tok-ann,rep:bob:tok-bob,supervisor:sue:tok-sue,engineer:tok-eng,auditor:tok-aud,rep:cid:tok-cid"
)
ANN_PHONE = "+12125550101"  # on record for ann (a console user); bob and cid have none
T0 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)

Api = tuple[httpx.Client, Store, Settings]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def serve(db_url: str, tmp_path: Path) -> tuple[LiveServer, Settings, Store]:
    from web.app import create_app

    port = free_port()
    settings = make_settings(
        db_url,
        tmp_path,
        api_tokens=TOKENS,
        public_base_url=f"http://127.0.0.1:{port}",
        temporal_address=f"127.0.0.1:{free_port()}",  # nothing listens: Temporal is away
    )
    store = Store(db_url)
    with store.session() as s:
        s.add(User(username="ann", role="rep", password_hash="x", phone=ANN_PHONE, active=True))
    return LiveServer(create_app(settings, relay=False), port), settings, store


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[Api]:
    server, settings, store = serve(sqlite_url, tmp_path)
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http, store, settings


def presence(
    http: httpx.Client, token: str, body: Any, path: str = "/api/reps/me/presence"
) -> httpx.Response:
    return http.post(path, json=body, headers=bearer(token))


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert all(set(e) == {"field", "reason"} and e["reason"] for e in body["errors"])
    return [e["field"] for e in body["errors"]]


def test_only_reps_and_supervisors_say_where_they_take_work(api: Api) -> None:
    http, _, _ = api
    assert http.post("/api/reps/me/presence", json={"status": "away"}).status_code == 401
    assert presence(http, "not-a-token", {"status": "away"}).status_code == 401
    for token in ("tok-eng", "tok-aud"):
        refused = presence(http, token, {"status": "available", "phone": ANN_PHONE})
        assert refused.status_code == 403, refused.text
        assert set(refused.json()) == {"error"}
        # refused before the body is looked at: a bad one is a 403 too, not a 422
        assert presence(http, token, {"status": "dancing"}).status_code == 403


def test_a_bad_body_is_a_422_naming_each_field(api: Api) -> None:
    http, _, _ = api
    assert fields(presence(http, "tok-ann", {})) == ["status"]
    assert fields(presence(http, "tok-ann", {"status": "busy"})) == ["status"]
    assert fields(presence(http, "tok-ann", {"status": "available", "phone": "0612345678"})) == ["phone"]
    assert fields(presence(http, "tok-ann", {"status": "available", "phone": "+3161234"})) == ["phone"]
    assert fields(presence(http, "tok-ann", {"status": "available", "phone": 31612345678})) == ["phone"]
    for languages in ([], ["fr"], ["en", "fr"], "en", [1]):
        answer = presence(http, "tok-ann", {"status": "available", "languages": languages})
        assert fields(answer) == ["languages"], languages
    unknown = presence(http, "tok-ann", {"status": "available", "languages": ["en", "xx"]})
    assert "'xx'" in unknown.json()["errors"][0]["reason"]
    # every bad field at once, unknown ones too
    many = presence(http, "tok-ann", {"status": "on", "phone": "nope", "languages": [], "lang": ["en"]})
    assert sorted(fields(many)) == ["lang", "languages", "phone", "status"]
    assert "phone:" in many.json()["error"] and "languages:" in many.json()["error"]
    not_objects: list[Any] = [[], "available"]
    for body in not_objects:
        assert fields(presence(http, "tok-ann", body)) == ["body"]
    assert fields(http.post("/api/reps/me/presence", headers=bearer("tok-ann"))) == ["status"]  # no body
    raw = http.post("/api/reps/me/presence", content=b"{not json", headers=bearer("tok-ann"))
    assert fields(raw) == ["body"]


def test_going_available_with_no_phone_known_is_a_422_naming_phone(api: Api) -> None:
    http, store, _ = api
    refused = presence(http, "tok-bob", {"status": "available"})
    assert fields(refused) == ["phone"]
    assert "phone" in refused.json()["error"]
    # a blank phone is a phone left out
    assert fields(presence(http, "tok-bob", {"status": "available", "phone": " "})) == ["phone"]
    # going away needs none, and nor does a rep with one on record or one given: those go to the router
    # (away here: 503)
    for token, body in [
        ("tok-bob", {"status": "away"}),
        ("tok-ann", {"status": "available"}),
        ("tok-bob", {"status": "available", "phone": "+31 6 1234 5678", "languages": ["nl"]}),
        ("tok-sue", {"status": "available", "phone": "+31612345678"}),
    ]:
        answer = presence(http, token, body)
        assert answer.status_code == 503, (token, body, answer.text)
        assert answer.json()["error"] and answer.headers["retry-after"] == "5"
    # a rep the router already has (it may hold a phone they gave before) is left to the router to judge
    reps.save_floor(store, FloorSnapshot(reps=(view("bob", RepStatus.AWAY),), at=T0))
    assert presence(http, "tok-bob", {"status": "available"}).status_code == 503


def view(user: str, status: RepStatus, **changes: Any) -> RepView:
    values: dict[str, Any] = {
        "user": user,
        "status": status,
        "since": T0,
        "languages": ("en", "nl"),
        "missed_in_a_row": 0,
    }
    values.update(changes)
    return RepView.model_validate(values)


def test_the_floor_is_read_from_the_store_without_phone_numbers(any_db_url: str, tmp_path: Path) -> None:
    server, _, store = serve(any_db_url, tmp_path)
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/api/reps", headers=bearer("tok-sue")).json() == []
        reps.save_floor(
            store,
            FloorSnapshot(
                reps=(
                    view(
                        "bob", RepStatus.OFFERED, work_id="esc-1", offer_expires_at=T0 + timedelta(seconds=20)
                    ),
                    view("ann", RepStatus.AVAILABLE, languages=("nl",), missed_in_a_row=1, missed_total=4),
                ),
                waiting=0,
                at=T0,
            ),
        )
        for token in ("tok-sue", "tok-eng", "tok-aud"):
            answer = http.get("/api/reps", headers=bearer(token))
            assert answer.status_code == 200, answer.text
            assert answer.json() == [
                {
                    "user": "ann",
                    "status": "available",
                    "since": T0.isoformat(),
                    "languages": ["nl"],
                    "missed_in_a_row": 1,
                },
                {
                    "user": "bob",
                    "status": "offered",
                    "since": T0.isoformat(),
                    "languages": ["en", "nl"],
                    "missed_in_a_row": 0,
                },
            ]
            assert ANN_PHONE not in answer.text and "+1" not in answer.text
        for token in ("tok-ann", "tok-cid"):
            refused = http.get("/api/reps", headers=bearer(token))
            assert refused.status_code == 403 and set(refused.json()) == {"error"}
        assert http.get("/api/reps").status_code == 401
        assert http.get("/api/reps?status=away", headers=bearer("tok-sue")).status_code == 422


def test_only_a_supervisor_sets_another_rep_away(api: Api) -> None:
    http, store, _ = api
    reps.save_floor(store, FloorSnapshot(reps=(view("bob", RepStatus.AVAILABLE),), at=T0))
    for token in ("tok-ann", "tok-eng", "tok-aud"):
        refused = presence(http, token, {"status": "away"}, "/api/reps/bob/presence")
        assert refused.status_code == 403 and set(refused.json()) == {"error"}, token
    assert fields(presence(http, "tok-sue", {"status": "available"}, "/api/reps/bob/presence")) == ["status"]
    assert fields(presence(http, "tok-sue", {}, "/api/reps/bob/presence")) == ["status"]
    both = presence(http, "tok-sue", {"status": "away", "phone": ANN_PHONE}, "/api/reps/bob/presence")
    assert fields(both) == ["phone"]
    nobody = presence(http, "tok-sue", {"status": "away"}, "/api/reps/nobody/presence")
    assert nobody.status_code == 404 and "nobody" in nobody.json()["error"]
    # a valid request goes to the router: away here
    away = presence(http, "tok-sue", {"status": "away"}, "/api/reps/bob/presence")
    assert away.status_code == 503 and away.headers["retry-after"] == "5"
