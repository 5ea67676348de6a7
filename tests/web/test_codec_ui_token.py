"""The codec server's path form (`/codec/t/<token>/…`, for the Temporal UI, which cannot send a header) takes
only a short-lived ui-token an engineer mints (`cli.py codec ui-token`), never an API token: an address
lands in browser history and logs, and API tokens never expire. The header form keeps taking engineer and
supervisor API tokens (CONTRACT.md)."""

from __future__ import annotations

import time

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from config import Settings
from encryption import parse_keys, ui_tokens
from encryption.codec import new_key_spec
from tests.support.http import LiveServer

Web = tuple[LiveServer, Settings]
PLAIN = Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"Ada Jansen"')])


def _encrypted(server: LiveServer) -> str:
    encoded = httpx.post(
        f"{server.url}/codec/encode",
        content=json_format.MessageToJson(PLAIN),
        headers={"Authorization": "Bearer dev-engineer-token"},
        timeout=30,
    )
    assert encoded.status_code == 200, encoded.text
    assert "Ada Jansen" not in encoded.text
    return encoded.text


def _decode_with_path(server: LiveServer, token: str, body: str) -> httpx.Response:
    return httpx.post(f"{server.url}/codec/t/{token}/decode", content=body, timeout=30)


def test_the_path_form_reads_payloads_with_a_minted_ui_token(web: Web) -> None:
    server, settings = web
    body = _encrypted(server)
    token = ui_tokens.mint(settings.key_ring(), "erin", int(time.time()) + 3600)
    back = _decode_with_path(server, token, body)
    assert back.status_code == 200, back.text
    decoded = Payloads()
    json_format.Parse(back.text, decoded)
    assert decoded == PLAIN
    assert httpx.post(f"{server.url}/codec/t/{token}/encode", content="{}", timeout=30).status_code == 200


def test_the_path_form_refuses_api_tokens_of_every_role(web: Web) -> None:
    server, _ = web
    body = _encrypted(server)
    for api_token in ("dev-engineer-token", "dev-supervisor-token", "dev-rep-token", "dev-auditor-token"):
        refused = _decode_with_path(server, api_token, body)
        assert refused.status_code == 401, api_token
        assert "ui-token" in refused.json()["error"]


def test_the_path_form_refuses_expired_tampered_and_forged_ui_tokens(web: Web) -> None:
    server, settings = web
    body = _encrypted(server)
    ring = settings.key_ring()
    expired = ui_tokens.mint(ring, "erin", int(time.time()) - 1)
    assert "expired" in _decode_with_path(server, expired, body).json()["error"]
    good = ui_tokens.mint(ring, "erin", int(time.time()) + 3600)
    prefix, payload, signature = good.split(".")
    # a later expiry written into the payload, the signature kept
    longer = ui_tokens.mint(ring, "erin", int(time.time()) + 30 * 24 * 3600).split(".")[1]
    forged_key = ui_tokens.mint(parse_keys(new_key_spec(ring.current[0])), "erin", int(time.time()) + 3600)
    for bad in (
        expired,
        f"{prefix}.{longer}.{signature}",
        f"{prefix}.{payload}.{signature[:-2]}AA",
        f"{prefix}.{payload}.",
        forged_key,
        "ui1.e30.e30",
        "ui1.!!!.x",
    ):
        refused = _decode_with_path(server, bad, body)
        assert refused.status_code == 401, (bad, refused.text)


def test_the_header_form_keeps_taking_engineer_and_supervisor_api_tokens(web: Web) -> None:
    server, settings = web
    body = _encrypted(server)
    for api_token, status in (
        ("dev-engineer-token", 200),
        ("dev-supervisor-token", 200),
        ("dev-rep-token", 403),
        ("dev-auditor-token", 403),
    ):
        answer = httpx.post(
            f"{server.url}/codec/decode",
            content=body,
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=30,
        )
        assert answer.status_code == status, api_token
    # a ui-token is for the path only
    ui = ui_tokens.mint(settings.key_ring(), "erin", int(time.time()) + 3600)
    header = httpx.post(
        f"{server.url}/codec/decode", content=body, headers={"Authorization": f"Bearer {ui}"}, timeout=30
    )
    assert header.status_code == 401
