"""SendGrid's event webhook: signed (ECDSA P-256 over timestamp + raw body), replayed within 5 minutes at
most, de-duplicated on `sg_event_id`. A bounce or a drop moves the case to the next channel."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from domain.jsonload import BadJson, ascii_int, load_json
from store import callbacks, inbox
from web.deps import services

router = APIRouter(prefix="/webhooks/sendgrid")

MAX_BODY_BYTES = 1024 * 1024
REPLAY_WINDOW_SECONDS = 300
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


def verified(public_key: str, raw: bytes, signature: str, timestamp: str) -> bool:
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        return bool(EventWebhook(public_key).verify_signature(raw.decode(), signature, timestamp))
    except Exception:  # a malformed key, signature or body is simply not a valid signature
        return False


@router.post("/events")
async def events(request: Request) -> JSONResponse:
    svc = services(request)
    key = svc.settings.sendgrid_webhook_public_key
    if not key:
        return JSONResponse(
            {"error": "SendGrid events are not accepted: SENDGRID_WEBHOOK_PUBLIC_KEY is not set"},
            status_code=403,
        )
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    stamp = ascii_int(timestamp)
    if stamp is None:
        return JSONResponse(
            {"error": f"{TIMESTAMP_HEADER}: missing, or not unix seconds in ASCII digits"}, status_code=403
        )
    if abs(time.time() - stamp) > REPLAY_WINDOW_SECONDS:
        stale = f"{TIMESTAMP_HEADER}: stale (more than 5 minutes off)"
        return JSONResponse({"error": stale}, status_code=403)
    if not signature or not await asyncio.to_thread(verified, key, raw, signature, timestamp):
        return JSONResponse({"error": "invalid event webhook signature"}, status_code=403)

    errors: list[dict[str, Any]] = []
    try:
        batch = load_json(raw)
    except BadJson as exc:
        batch, errors = None, [{"field": "body", "reason": str(exc)}]
    if batch is not None and not isinstance(batch, list):
        errors = [{"field": "body", "reason": "must be a JSON array of events"}]
    reports: list[tuple[callbacks.Report, dict[str, Any]]] = []
    for n, item in enumerate(batch if isinstance(batch, list) else []):
        problem = _check(item)
        if problem:
            errors.append({"field": f"[{n}].{problem[0]}", "reason": problem[1]})
            continue
        message_id = str(item.get("sg_message_id") or "").split(".")[0] or None
        reports.append(
            (
                callbacks.Report(
                    source="sendgrid_event",
                    external_id=str(item["sg_event_id"]),
                    channel="email",
                    status=str(item["event"]),
                    provider_id=message_id,
                    ref=str(item["makeright_ref"]) if item.get("makeright_ref") else None,
                ),
                {"reason": str(item.get("reason") or "")[:200], "type": item.get("type")},
            )
        )
    if errors:
        letter = await asyncio.to_thread(
            inbox.keep_dead_letter,
            svc.store,
            "/webhooks/sendgrid/events",
            "application/json",
            raw,
            422,
            errors,
        )
        return JSONResponse(
            {"error": "invalid event batch", "errors": errors, "dead_letter_id": letter}, status_code=422
        )
    for report, extra in reports:
        stored = await asyncio.to_thread(callbacks.accept, svc.store, report, extra)
        if stored.act and not stored.duplicate:
            await svc.dispatcher.dispatch(stored.row_id)
    return JSONResponse({"accepted": len(reports)})


def _check(item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return "", "each event must be an object"
    for field in ("sg_event_id", "event"):
        value = item.get(field)
        if not isinstance(value, str) or not value or len(value) > 200:
            return field, "required: a string of at most 200 characters"
    return None
