"""SendGrid Inbound Parse: a patient's email, posted as multipart/form-data (`from`, `to`, `cc`, `subject`,
`text`, `html`, `headers`, `envelope` JSON, `charsets` JSON, `attachments`, `attachment-info`,
`attachmentN`), with HTTP Basic auth whose password is SENDGRID_INBOUND_TOKEN (the user name is not
checked). Hostile input: bounded in size (web/body_limit.py, 413), attachments dropped with a note,
HTML stripped by a sanitiser, undecodable text replaced, and what a machine sent (auto-replies, bounces)
recorded and never answered. Stored first (store/inbound_email.py), then a choice goes to its case's
workflow through the dispatcher. 200 when accepted, 4xx for what is malformed (kept as a dead letter),
503 only for an outage: SendGrid retries anything but a 2xx for three days."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from domain import inbound_email
from domain.jsonload import BadJson, load_json
from store import inbound_email as emails
from store import inbox
from web.body_limit import INBOUND_EMAIL_PATH
from web.deps import services

log = logging.getLogger("makeright.web")

router = APIRouter()

TEXT_FIELDS = ("from", "to", "cc", "subject", "text", "html", "headers")
MAX_ADDRESS_FIELD = 4_000


def _authorised(token: str, header: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _user, colon, password = decoded.partition(":")
    return bool(colon) and hmac.compare_digest(password.encode(), token.encode())


def _recharset(value: str, charset: str) -> str:
    """A field SendGrid says is in `charset`: the form parser read its bytes as UTF-8, or Latin-1 when
    they were not UTF-8; read them again in the declared charset (undecodable bytes replaced)."""
    charset = charset.strip().lower()
    if not charset or charset in ("utf-8", "utf8", "us-ascii", "ascii"):
        return value
    try:
        raw = value.encode("latin-1")
        return raw.decode(charset, errors="replace")
    except (UnicodeEncodeError, LookupError):
        return value  # it was valid UTF-8 after all, or a charset nobody knows: as read


@router.post(INBOUND_EMAIL_PATH)
async def inbound_email_post(request: Request) -> JSONResponse:
    svc = services(request)
    token = svc.settings.sendgrid_inbound_token
    if not token:
        return JSONResponse(
            {"error": "inbound email is not accepted: SENDGRID_INBOUND_TOKEN is not set"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="makeright inbound email"'},
        )
    if not _authorised(token, request.headers.get("authorization", "")):
        return JSONResponse(
            {"error": "bad or missing HTTP Basic credentials"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="makeright inbound email"'},
        )
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return JSONResponse(
            {"error": "expected multipart/form-data (SendGrid Inbound Parse)"}, status_code=415
        )
    limit = svc.settings.body_limits.inbound_email
    raw = await request.body()  # bounded by the body limit; kept as it came should it be a dead letter
    try:
        form = await request.form(max_files=100, max_fields=200, max_part_size=limit)
    except MultiPartException as exc:
        return await _refuse(request, raw, [{"field": "body", "reason": f"not a readable form: {exc}"}], 400)

    fields: dict[str, str] = {}
    attachments = 0
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            attachments += 1  # dropped: never read, never kept
            await value.close()
        elif name in TEXT_FIELDS or name in ("envelope", "charsets", "attachments"):
            fields.setdefault(name, value)

    errors: list[dict[str, str]] = []
    envelope: dict[str, Any] = {}
    charsets: dict[str, Any] = {}
    for name in ("envelope", "charsets"):
        if not fields.get(name):
            continue
        try:
            parsed = load_json(fields[name].encode())
        except BadJson as exc:
            errors.append({"field": name, "reason": f"not JSON: {exc}"})
            continue
        if not isinstance(parsed, dict):
            errors.append({"field": name, "reason": "must be a JSON object"})
            continue
        if name == "envelope":
            envelope = parsed
        else:
            charsets = parsed
    for name, charset in charsets.items():
        if name in fields and isinstance(charset, str):
            fields[name] = _recharset(fields[name], charset)
    from_field = fields.get("from", "")
    sender = inbound_email.sender(from_field)
    if not from_field.strip():
        errors.append({"field": "from", "reason": "required"})
    elif sender is None:
        errors.append({"field": "from", "reason": "no email address in it"})
    envelope_to = envelope.get("to", [])
    if envelope and not (
        isinstance(envelope_to, list) and all(isinstance(item, str) for item in envelope_to)
    ):
        errors.append({"field": "envelope.to", "reason": "must be a list of addresses"})
    if errors:
        return await _refuse(request, raw, errors, 422)
    assert sender is not None

    headers = inbound_email.header_map(fields.get("headers", ""))
    recipients = inbound_email.addresses(
        fields.get("to", "")[:MAX_ADDRESS_FIELD], fields.get("cc", "")[:MAX_ADDRESS_FIELD]
    ) + [str(item).strip().lower() for item in envelope_to[:50]]
    declared = attachments or _count(fields.get("attachments", ""))
    text = await asyncio.to_thread(inbound_email.new_text, fields.get("text", ""), fields.get("html", ""))
    mail = emails.Incoming(
        from_address=sender,
        recipients=recipients,
        subject=" ".join(fields.get("subject", "").split()),
        text=text,
        headers=headers,
        automatic=inbound_email.automatic(headers, sender),
        notes=(f"{declared} attachment(s) dropped: makeright keeps none",) if declared else (),
    )
    accepted = await asyncio.to_thread(emails.accept, svc.store, mail, svc.settings.inbound_email_address)
    if not accepted.duplicate:
        # an inquiry the email opened starts first, then the email is offered to reps (or its choice
        # handed to its case)
        for row_id in (accepted.opened_row_id, accepted.event_row_id):
            if row_id is not None:
                await svc.dispatcher.dispatch(row_id)
    log.info("inbound email %s: %s (%s)", accepted.email_id, accepted.status, accepted.why)
    return JSONResponse(
        {
            "email_id": accepted.email_id,
            "case_id": accepted.case_id,
            "status": accepted.status,
            "duplicate": accepted.duplicate,
        }
    )


def _count(value: str) -> int:
    return int(value) if value.strip().isdecimal() and len(value.strip()) < 4 else 0


async def _refuse(request: Request, raw: bytes, errors: list[dict[str, str]], status: int) -> JSONResponse:
    svc = services(request)
    letter = await asyncio.to_thread(
        inbox.keep_dead_letter,
        svc.store,
        INBOUND_EMAIL_PATH,
        request.headers.get("content-type"),
        raw,
        status,
        errors,
    )
    summary = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return JSONResponse(
        {"error": f"invalid inbound email: {summary}", "errors": errors, "dead_letter_id": letter},
        status_code=status,
    )
