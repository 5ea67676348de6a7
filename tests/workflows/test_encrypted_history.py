"""Patient data is never readable in Temporal history: a finished case's raw history, read from a real
server without the codec, holds no phone number, email, name, message text, reply token or rep's note;
the same history decoded through the web app's codec server shows them (for an engineer's token only)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from sqlalchemy import select
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.escalation import Actor, ByActor, ResolveRequest
from encryption import ui_tokens
from runtime.worker import build_activities
from store.db import Store
from store.models import Case, EscalationRow
from tests.support.histories import LOCAL_ACTIVITY_MARKER
from tests.support.http import LiveServer, free_port
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import running
from web.app import create_app
from workflows import patches as workflow_patches

PHONE, EMAIL, NAME = "+31612345678", "ada@example.com", "Ada Jansen"
NOTE = "Spoke with Ada Jansen at home"
REP = Actor(user="rita", role="rep")


def payloads_of(history: WorkflowHistory) -> list[Payload]:
    """Every payload anywhere in the history's events (inputs, results, signals, Updates, failures)."""
    found: list[Payload] = []

    def walk(message: Any) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if hasattr(value, "ListFields"):
                walk(value)
                continue
            items = value.values() if hasattr(value, "values") and callable(value.values) else value
            for item in items:
                if hasattr(item, "ListFields"):
                    walk(item)

    for event in history.events:
        walk(event)
    return found


def raw_bytes(history: WorkflowHistory) -> bytes:
    return b"".join(event.SerializeToString() for event in history.events) + history.to_json().encode()


@pytest.fixture
def codec_web(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings]]:
    port = free_port()
    settings = make_settings(sqlite_url, tmp_path, public_base_url=f"http://127.0.0.1:{port}")
    with LiveServer(create_app(settings, relay=False), port) as server:
        yield server, settings


async def finished_case_histories(
    settings: Settings, env: WorkflowEnvironment
) -> tuple[list[WorkflowHistory], str]:
    """A patient who asks for a person ('0', with their name in the text); a rep claims and resolves with
    notes: the case workflow and its escalation's history."""
    async with running(settings, env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "0 please call me, Ada Jansen")
        escalation_id = await h.escalation(accepted.case_id)
        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(escalation_id, "resolve", ResolveRequest(actor=REP, notes=NOTE, root_cause="no_sms"))
        await handle.result()
        with h.store.session() as s:
            case = s.get(Case, accepted.case_id)
            assert case is not None and case.status == "resolved"
            token = case.reply_token
            assert s.scalar(select(EscalationRow.escalation_id).where(EscalationRow.case_id == case.case_id))
        histories = [await handle.fetch_history()]
        histories.append(await env.client.get_workflow_handle(escalation_id).fetch_history())
    return histories, token


@pytest.mark.e2e
async def test_raw_history_holds_no_patient_data_and_the_codec_server_reads_it(
    dev_server_env: WorkflowEnvironment, codec_web: tuple[LiveServer, Settings]
) -> None:
    server, settings = codec_web
    histories, token = await finished_case_histories(settings, dev_server_env)
    secret_texts = [PHONE, EMAIL, NAME, NOTE, token, "please call me", "Uptown Orthopedics"]

    raw = b"".join(raw_bytes(h) for h in histories)
    for text in secret_texts:
        assert text.encode() not in raw, f"{text!r} is readable in raw history"
    payloads = [p for h in histories for p in payloads_of(h)]
    assert len(payloads) > 20
    # the plain kinds allowed: the SDK's own patch marker and the TemporalChangeVersion search
    # attribute, which name a workflow.patched id and nothing else, and a local activity's marker
    # metadata (which step, which attempt, when: its input and result are encrypted like any other)
    unencrypted = [p for p in payloads if p.metadata.get("encoding") != b"binary/encrypted"]
    patch_ids = {v for k, v in vars(workflow_patches).items() if k.endswith("_PATCH") and isinstance(v, str)}
    step_names = {fn.__name__ for fn in build_activities(settings, Store(settings.database_url))}
    patches = []
    for p in unencrypted:
        value = json.loads(p.data)
        if isinstance(value, dict) and "activity_type" in value:
            assert set(value) <= LOCAL_ACTIVITY_MARKER, f"plain payload in history: {p.data!r}"
            assert value["activity_type"] in step_names, f"plain payload in history: {p.data!r}"
            continue
        named = {value["id"]} if isinstance(value, dict) else set(value)
        assert named <= patch_ids, f"plain payload in history: {p.data!r}"
        patches.append(p)
    assert len(patches) < len(payloads) / 3  # a marker and the search attribute per patch passed, no more

    body = json_format.MessageToJson(Payloads(payloads=payloads))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        decoded = await http.post(
            "/codec/decode",
            content=body,
            headers={
                "Authorization": "Bearer dev-engineer-token",
                "Content-Type": "application/json",
                "X-Namespace": "default",
            },
        )
        assert decoded.status_code == 200, decoded.text
        plain = Payloads()
        json_format.Parse(decoded.text, plain)
        clear = b"".join(p.data for p in plain.payloads)
        for text in secret_texts:
            if text == "please call me":
                continue  # the reply's text stays in the case store; history carries what it meant
            assert text.encode() in clear, f"{text!r} not found in the decoded history"

        # the same request without a token, with another role's token, with an unknown one
        refused = {
            "none": await http.post("/codec/decode", content=body),
            "rep": await http.post(
                "/codec/decode", content=body, headers={"Authorization": "Bearer dev-rep-token"}
            ),
            "unknown": await http.post(
                "/codec/decode", content=body, headers={"Authorization": "Bearer nope"}
            ),
        }
        assert {k: r.status_code for k, r in refused.items()} == {"none": 401, "rep": 403, "unknown": 401}
        assert all(PHONE not in r.text for r in refused.values())


async def test_codec_server_encode_round_trip_cors_and_path_token(
    codec_web: tuple[LiveServer, Settings],
) -> None:
    server, settings = codec_web
    origin = "http://127.0.0.1:8233"
    plain = Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"+31612345678"')])
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        preflight = await http.options(
            "/codec/decode",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert preflight.headers["access-control-allow-credentials"] == "true"

        stranger = await http.options(
            "/codec/decode",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in stranger.headers

        sup = {"Authorization": "Bearer dev-supervisor-token", "Origin": origin}
        encoded = await http.post("/codec/encode", content=json_format.MessageToJson(plain), headers=sup)
        assert encoded.status_code == 200, encoded.text
        assert encoded.headers["access-control-allow-origin"] == origin
        assert "31612345678" not in encoded.text
        # the UI cannot send a header of its own: a short-lived ui-token may sit in the path instead
        ui_token = ui_tokens.mint(settings.key_ring(), "erin", int(time.time()) + 3600)
        back = await http.post(f"/codec/t/{ui_token}/decode", content=encoded.text)
        assert back.status_code == 200, back.text
        decoded = Payloads()
        json_format.Parse(back.text, decoded)
        assert decoded == plain
        # never an API token (tests/web/test_codec_ui_token.py)
        api_token = await http.post("/codec/t/dev-engineer-token/decode", content=encoded.text)
        assert api_token.status_code == 401
        assert (await http.post("/codec/t/wrong/decode", content=encoded.text)).status_code == 401

        bad = await http.post("/codec/decode", content=b"[[[[", headers=sup)
        assert bad.status_code == 422 and "body" in bad.json()["error"]

        # a payload encrypted under a key this server does not hold
        foreign = Payloads(
            payloads=[
                Payload(
                    metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"gone"},
                    data=b"x" * 40,
                )
            ]
        )
        missing = await http.post("/codec/decode", content=json_format.MessageToJson(foreign), headers=sup)
        assert missing.status_code == 422 and "gone" in missing.json()["error"]
