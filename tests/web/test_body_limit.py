"""Request bodies are bounded while they stream in (web/body_limit.py), over real HTTP: a Content-Length over
the path's limit is refused before the body is sent, a chunked body is refused as soon as it passes the
limit, and the small forms (sign-in, the patient's links) have a small limit of their own."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.http import LiveServer, offline_web
from web.app import create_app
from web.body_limit import KIB, MIB, BodyLimitMiddleware, limit_table

# long enough for a loaded machine, far shorter than reading 1 GB (or waiting for it forever)
PROMPT = 10.0


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings, port = offline_web(sqlite_url, tmp_path)
    with LiveServer(create_app(settings, relay=False), port) as live:
        yield live


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response (the server closes the connection after a 413)."""
    sock.settimeout(PROMPT)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _request_head(path: str, content_type: str, framing: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    ).encode()


def test_a_huge_content_length_is_refused_before_the_body_is_sent(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT) as sock:
        # 1 GB announced, a few bytes sent: the answer must not wait for the rest
        sock.sendall(_request_head("/events", "application/json", "Content-Length: 1000000000") + b'{"id"')
        status, headers, body = _answer(sock)
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"error": "request body too large", "limit": 256 * KIB}


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(server: LiveServer) -> None:
    chunk = b"x" * (64 * KIB)
    with socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT) as sock:
        sock.sendall(_request_head("/events", "application/json", "Transfer-Encoding: chunked"))
        # five chunks (320 KiB, over 256 KiB) and no last chunk: the answer comes without the rest
        for _ in range(5):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        status, _, body = _answer(sock)
    assert status == 413
    assert json.loads(body) == {"error": "request body too large", "limit": 256 * KIB}


def test_a_chunked_webhook_over_its_limit_is_refused(server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"Body=" + b"x" * (64 * KIB)

    answer = httpx.post(
        f"{server.url}/webhooks/twilio/sms",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=PROMPT,
    )
    assert answer.status_code == 413
    assert answer.json() == {"error": "request body too large", "limit": 256 * KIB}


def test_the_login_form_over_its_small_limit_is_refused(server: LiveServer) -> None:
    answer = httpx.post(
        f"{server.url}/console/login",
        data={"username": "rita", "password": "x" * (32 * KIB)},
        timeout=PROMPT,
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "too large" in answer.text


@pytest.mark.parametrize("path", ["/choose/case-1/1?t=abc", "/feedback/case-1/5?t=abc"])
def test_the_patient_link_forms_over_their_limit_are_refused(server: LiveServer, path: str) -> None:
    answer = httpx.post(f"{server.url}{path}", data={"comment": "x" * (32 * KIB)}, timeout=PROMPT)
    assert answer.status_code == 413


def test_a_body_within_its_limit_reaches_the_route(server: LiveServer) -> None:
    # a sign-in with a stale form: the route answers it (not the body limit)
    answer = httpx.post(f"{server.url}/console/login", data={"username": "rita", "password": "x"})
    assert answer.status_code != 413
    # an event of 200 KiB is under /events' limit: the route judges it (no signature here)
    answer = httpx.post(
        f"{server.url}/events", content=b"x" * (200 * KIB), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401


def test_the_longest_prefix_wins_and_everything_else_has_the_default() -> None:
    rows, default = limit_table(events=1, webhooks=2, forms=3, codec=4, default=5)
    middleware = BodyLimitMiddleware(lambda *a: None, rows, default)  # type: ignore[arg-type]
    assert middleware.limit_for("/events").limit == 1
    assert middleware.limit_for("/events/x").limit == 1
    assert middleware.limit_for("/eventsx").limit == 5
    assert middleware.limit_for("/webhooks/twilio/sms").limit == 2
    assert middleware.limit_for("/webhooks/sendgrid/events").limit == MIB  # SendGrid's batches
    assert middleware.limit_for("/console/login").limit == 3
    assert middleware.limit_for("/codec/t/token/decode").limit == 4
    assert middleware.limit_for("/api/escalations/e/claim").limit == 5
