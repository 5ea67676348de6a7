"""`POST /events`: booking events in, exactly as CONTRACT.md says."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dispatch.dispatcher import DISPATCH_WAIT_SECONDS
from domain.events import EventType
from domain.intake import parse_booking_event
from domain.jsonload import BadJson, load_json
from domain.signing import SignatureError, verify
from store import inbox, metrics
from store.db import database_unavailable
from web.api_schema import EVENTS_OPENAPI, EVENTS_RESPONSES
from web.deps import Services, services

log = logging.getLogger("makeright.events")
router = APIRouter()

MEDIA_TYPES = ("application/cloudevents+json", "application/json")
MAX_BODY_BYTES = 256 * 1024
KNOWN_TYPES = frozenset(t.value for t in EventType)


@router.post(
    "/events",
    status_code=202,
    summary="A booking event in (CloudEvents 1.0, signed)",
    openapi_extra=EVENTS_OPENAPI,
    responses=EVENTS_RESPONSES,
)
async def receive_event(request: Request) -> JSONResponse:
    svc = services(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in MEDIA_TYPES:
        wanted = " or ".join(MEDIA_TYPES)
        await _count(svc, None, "invalid")
        return JSONResponse(
            {"error": f"unsupported media type {content_type or '(none)'!r}; send {wanted}"}, status_code=415
        )
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        await _count(svc, None, "invalid")
        return JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
    try:
        verify(
            svc.settings.events_signing_secret, raw, request.headers.get("x-makeright-signature"), time.time()
        )
    except SignatureError as exc:
        await _count(svc, raw, "unauthorized")
        return JSONResponse({"error": str(exc)}, status_code=401)

    event, errors = parse_booking_event(raw)
    if event is None:
        return await _refuse(svc, raw, content_type, errors)

    accepted = await asyncio.to_thread(inbox.accept_booking_event, svc.store, raw, event)
    answer = {
        "case_id": accepted.case_id,
        "workflow_id": accepted.workflow_id,
        "duplicate": accepted.duplicate,
    }
    if accepted.duplicate:
        return JSONResponse(answer, status_code=200)
    # Committed: now act. If Temporal is slow or away, the relay picks the event up later.
    try:
        await asyncio.wait_for(svc.dispatcher.dispatch(accepted.event_row_id), DISPATCH_WAIT_SECONDS)
    except TimeoutError:
        pass
    return JSONResponse(answer, status_code=202)


async def _count(svc: Services, raw: bytes | None, result: str) -> None:
    """A refused request leaves no inbox row: /metrics counts it by the type it claims (one of ours, else
    "unknown": a refused body does not get to invent label values). A database that is away does not
    turn the refusal into a 503: the count is lost, the answer is not."""
    try:
        await asyncio.to_thread(metrics.count_event, svc.store, claimed_type(raw), result)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("event not counted (%s): database unavailable", result)


def claimed_type(raw: bytes | None) -> str:
    try:
        payload = load_json(raw) if raw else None
    except BadJson:
        return "unknown"
    claimed = payload.get("type") if isinstance(payload, dict) else None
    return claimed if isinstance(claimed, str) and claimed in KNOWN_TYPES else "unknown"


async def _refuse(svc: Services, raw: bytes, content_type: str, errors: list[dict[str, Any]]) -> JSONResponse:
    await _count(svc, raw, "invalid")
    letter = await asyncio.to_thread(
        inbox.keep_dead_letter, svc.store, "/events", content_type, raw, 422, errors
    )
    return JSONResponse(
        {"error": "invalid event", "errors": errors, "dead_letter_id": letter}, status_code=422
    )
