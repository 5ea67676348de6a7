"""The real web app over real HTTP inside a test: a free port, uvicorn in a thread."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from config import Settings
from domain.signing import sign


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real web app over real HTTP: uvicorn in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        import threading

        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("web app did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


Web = tuple[LiveServer, Settings]


def post_event(
    to: LiveServer | str, signed_with: Settings | str, event: Any, *, secret: str | None = None,
    at: float | None = None, content_type: str = "application/cloudevents+json", signature: str | None = None,
    timeout: float = 30, http: httpx.Client | None = None,
) -> httpx.Response:  # fmt: skip
    """POST /events as the booking platform does: `event` (a dict, or bytes sent as they are) signed at `at`
    (default now) with the events secret, `signed_with` being the app's settings or the secret itself
    (`secret` overrides either, for a wrong one; `signature` replaces the header). To a LiveServer or a
    base URL, through `http` if given (a client with its own connection pool)."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    key = secret or (signed_with if isinstance(signed_with, str) else signed_with.events_signing_secret)
    header = signature if signature is not None else sign(key, body, int(at or time.time()))
    base = to if isinstance(to, str) else to.url
    return (http or httpx).post(
        f"{base}/events",
        content=body,
        headers={"Content-Type": content_type, "X-Makeright-Signature": header},
        timeout=timeout,
    )


def twilio_post(
    server: LiveServer, settings: Settings, params: dict[str, str], token: str | None = None
) -> httpx.Response:
    url = f"{settings.public_base_url}/webhooks/twilio/sms"
    signature = RequestValidator(token or settings.twilio_auth_token).compute_signature(url, params)
    return httpx.post(
        f"{server.url}/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )


def offline_web(database_url: str, var_dir: Path, **overrides: Any) -> tuple[Settings, int]:
    """Settings for the web app on a free port (the port too) with no Temporal: nothing listens at its
    address, so accepted events, answers and reports are stored and wait in the inbox for a relay. The
    embedded mode of `make run` (no TEMPORAL_ADDRESS, the dev server's port a free one) unless
    `overrides` say otherwise, e.g. `temporal_address=…` for production."""
    from tests.support.settings import make_settings

    port = free_port()
    values: dict[str, Any] = {
        "web_port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        "temporal_port": free_port(),
    }
    values.update(overrides)
    return make_settings(database_url, var_dir, **values), port
