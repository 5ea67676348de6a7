"""Request bodies bounded while they stream in, before any route reads them (a pure ASGI middleware).

A request whose `Content-Length` is over its path's limit is answered 413 at once, its body never read; a
body without one (chunked) is counted as it arrives and answered 413 as soon as the count passes the limit,
whatever the route was doing with it. uvicorn itself sets no limit, and `await request.body()` reads
everything it is sent, so without this a route's own size check comes after the memory is spent.

The limits are per path prefix (`limit_table`; the longest prefix wins): the booking platform's events and
the providers' webhooks, the small HTML forms (sign-in, the patient's links, the console's actions, the
local phone), the codec server (the Temporal UI decodes whole histories' payloads), everything else. A new
route with bodies of its own (e.g. an inbound-email webhook with attachments) is one more `Limit` row."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("makeright.web")

KIB = 1024
MIB = 1024 * KIB
# SendGrid posts its event webhook in batches (up to about 1 MB): the route allowed that before too
SENDGRID_EVENTS_LIMIT = 1 * MIB


@dataclass(frozen=True)
class Limit:
    """Bodies under `prefix` (a path, or a path ending in `/` for everything under it) hold at most
    `limit` bytes; `html`: the refusal is a page (a browser's form), else JSON; `keep`: a refusal is kept
    as a dead letter (what came: its headers and size, never the body), for hostile input an engineer may
    want to look at (`cli.py dead-letters`)."""

    prefix: str
    limit: int
    html: bool = False
    keep: bool = False

    def matches(self, path: str) -> bool:
        if self.prefix.endswith("/"):
            return path.startswith(self.prefix) or path == self.prefix.rstrip("/")
        return path == self.prefix or path.startswith(self.prefix + "/")


INBOUND_EMAIL_PATH = "/webhooks/sendgrid/inbound"


def limit_table(
    *, events: int, webhooks: int, forms: int, codec: int, default: int, inbound_email: int | None = None
) -> tuple[Sequence[Limit], int]:
    """The table the app uses (sizes from settings' BODY_LIMITS__…), and the limit for any other path."""
    rows = (
        Limit("/events", events),
        Limit("/webhooks/", webhooks),
        Limit("/webhooks/sendgrid/events", max(webhooks, SENDGRID_EVENTS_LIMIT)),
        # SendGrid Inbound Parse: a patient's email (its attachments are dropped, never kept)
        Limit(INBOUND_EMAIL_PATH, inbound_email if inbound_email is not None else webhooks, keep=True),
        Limit("/console/", forms, html=True),
        Limit("/choose/", forms, html=True),
        Limit("/feedback/", forms, html=True),
        Limit("/dev/phone/", forms, html=True),
        Limit("/codec/", codec),
    )
    return rows, default


class BodyTooLarge(Exception):
    """Raised from `receive` when a streamed body passes its limit; the middleware answers 413."""


# a refusal to keep (`Limit.keep`): the request's scope, its row, the Content-Length it announced (None:
# chunked) and the bytes read before it was refused; answers the dead letter's id (None: not kept)
KeepRefused = Callable[[Scope, "Limit", int | None, int], Awaitable[int | None]]


def too_large_body(limit: int, html: bool, dead_letter_id: int | None = None) -> tuple[bytes, bytes]:
    if html:
        page = (
            "<!doctype html><title>Too large</title><h1>Request body too large</h1>"
            f"<p>At most {limit} bytes are accepted here. Go back and send less.</p>"
        )
        return page.encode(), b"text/html; charset=utf-8"
    refusal: dict[str, Any] = {"error": "request body too large", "limit": limit}
    if dead_letter_id is not None:
        refusal["errors"] = [{"field": "body", "reason": f"over the limit of {limit} bytes"}]
        refusal["dead_letter_id"] = dead_letter_id
    return json.dumps(refusal).encode(), b"application/json"


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, limits: Sequence[Limit], default: int, keep_refused: KeepRefused | None = None
    ) -> None:
        self.app = app
        # longest prefix first: the most specific row wins
        self.limits = sorted(limits, key=lambda row: len(row.prefix), reverse=True)
        self.default = default
        self.keep_refused = keep_refused

    async def _kept(self, scope: Scope, row: Limit, declared: int | None, received: int) -> int | None:
        """Keep the refusal as a dead letter when its row asks to; never fails the 413 itself."""
        if not row.keep or self.keep_refused is None:
            return None
        try:
            return await self.keep_refused(scope, row, declared, received)
        except Exception as exc:  # the database away: the refusal stands, unrecorded
            log.warning("a refused body on %s was not kept: %s", row.prefix, type(exc).__name__)
            return None

    def limit_for(self, path: str) -> Limit:
        for row in self.limits:
            if row.matches(path):
                return row
        return Limit("", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        row = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > row.limit:
            # the body is never read: uvicorn closes the connection after
            await _refuse(send, row, await self._kept(scope, row, declared, 0))
            return

        received = 0
        tripped = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, tripped
            if tripped:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > row.limit:
                    tripped = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if tripped:
                # the route caught the error and answered anyway: the 413 below stands instead
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if tripped and not started:
            await _refuse(send, row, await self._kept(scope, row, declared, received))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 refuses a malformed one before it gets here
    return None


async def _refuse(send: Send, row: Limit, dead_letter_id: int | None = None) -> None:
    body, content_type = too_large_body(row.limit, row.html, dead_letter_id)
    headers: list[Any] = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
