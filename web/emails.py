"""Patients' emails, for reps (CONTRACT.md "Patients writing in"): `GET /api/emails?status=…` and
`POST /api/emails/{email_id}/reply` `{"text": "..."}`, which sends the answer through SendGrid in the
patient's thread (In-Reply-To and References: their Message-ID; the subject `Re: …`) and marks the email
answered. Sent once: the answer is an outbound message of its own (send-once's intent row, keyed by the
email), so a second reply, or a retry after an answer got lost, cannot send it twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from config import ApiToken
from domain.inbound_email import reply_address, reply_subject
from domain.jsonload import BadJson, load_json
from domain.masking import mask_text
from domain.messaging import Channel, OutboundMessage
from providers.errors import ProviderAmbiguous, ProviderNotProcessed, ProviderRejected
from store import cases, consent, outbox
from store import inbound_email as emails
from web.deps import Services, caller, only_filters, services

router = APIRouter(prefix="/api/emails")

READERS = ("rep", "supervisor", "engineer", "auditor")
ANSWERERS = ("rep", "supervisor")
MAX_ANSWER_CHARS = 20_000
STUCK_SENDING = timedelta(minutes=2)


@router.get("", dependencies=[Depends(only_filters("status", "limit"))])
async def list_emails(
    request: Request,
    status: Literal["waiting", "answered", "understood", "ignored"] | None = None,
    limit: int = Query(default=200, ge=1, le=1000),
    who: ApiToken = Depends(caller),
) -> list[dict[str, Any]]:
    if who.role not in READERS:
        raise HTTPException(403, f"a {who.role} may not read patients' emails")
    rows = await asyncio.to_thread(emails.listing, services(request).store, status, limit)
    return [emails.view(row, unmasked=unmasked(who.role, who.user, row.assigned_to)) for row in rows]


def unmasked(role: str, user: str, assigned_to: str | None) -> bool:
    """As for cases: a supervisor, and the rep the email is assigned to, see what the patient wrote whole."""
    return role == "supervisor" or (role == "rep" and assigned_to == user)


@router.post("/{email_id}/reply")
async def reply(email_id: str, request: Request, who: ApiToken = Depends(caller)) -> JSONResponse:
    if who.role not in ANSWERERS:
        return JSONResponse({"error": f"a {who.role} may not answer patients"}, status_code=403)
    svc = services(request)
    text = await _answer_text(request)
    status, body = await send_answer(svc, email_id, who.user, who.role, text)
    headers = {"Retry-After": "5"} if status == 503 else None  # SendGrid away: try again shortly
    return JSONResponse(body, status_code=status, headers=headers)


async def send_answer(
    svc: Services, email_id: str, user: str, role: str, text: str
) -> tuple[int, dict[str, Any]]:
    """A rep's (or supervisor's) answer to a patient's email, sent through SendGrid in the patient's thread
    and the email marked answered; the router then hears its work is done (the rep who took it wraps up,
    an offer still out is withdrawn). The API and the console both answer through here. (200, the email
    as the API shows it) or (4xx/5xx, {"error"})."""
    row = await asyncio.to_thread(emails.get, svc.store, email_id)
    if row is None:
        return 404, {"error": f"no email {email_id}"}
    if row.status == emails.ANSWERED:
        return 409, {"error": f"email {email_id} is answered already"}
    if row.status == emails.IGNORED:
        # an auto-reply or a bounce: answering it could start a loop between two machines
        return 409, {"error": f"email {email_id} was sent by a machine: never answered"}
    if await asyncio.to_thread(consent.opted_out, svc.store, "email", row.from_address):
        return 409, {"error": "the patient opted out of email"}
    msg = OutboundMessage(
        # an email with no case yet is answered under its own id (send-once keys the answer by it)
        case_id=row.case_id or email_id,
        key=f"email-reply:{email_id}",
        channel=Channel.EMAIL,
        to=row.from_address,
        subject=reply_subject(row.subject),
        body=text,
        in_reply_to=row.message_id,
        reply_to=await asyncio.to_thread(_reply_to, svc, row.case_id, row.from_address),
    )
    refused = await _send_once(svc, msg, has_case=row.case_id is not None)
    if refused is not None:
        return refused
    told = await asyncio.to_thread(emails.answered, svc.store, email_id, user, text)
    if told is not None:
        await svc.dispatcher.dispatch(told)  # the relay tells the router should this fail
    row = await asyncio.to_thread(emails.get, svc.store, email_id)
    assert row is not None
    return 200, emails.view(row, unmasked=unmasked(role, user, row.assigned_to))


def _reply_to(svc: Services, case_id: str | None, to: str) -> str | None:
    address = svc.settings.inbound_email_address
    if not address or case_id is None:
        return None
    token = cases.email_token_for(svc.store, case_id, to)
    return reply_address(address, token) if token else None


async def _send_once(
    svc: Services, msg: OutboundMessage, has_case: bool
) -> tuple[int, dict[str, Any]] | None:
    """Send the answer once (send-once's intent row first, the provider's id after); None when it went
    out, else the refusal. A second reply finds the intent sent (409) or being sent (409)."""
    before = await asyncio.to_thread(outbox.begin, svc.store, msg)
    if before.status == "sent":
        return 409, {"error": "this email is answered already"}
    if before.status == "sending" and datetime.now(UTC) - before.created_at < STUCK_SENDING:
        # another request is sending it now (SendGrid answers within 15 s); one older than this died
        # mid-send, and SendGrid cannot be asked whether it went: it is sent again
        return 409, {"error": "an answer to this email is being sent"}
    gateway = svc.mail_gateway()
    try:
        provider_id = await asyncio.to_thread(gateway.send_email, msg)
    except ProviderRejected as exc:
        await asyncio.to_thread(outbox.finish, svc.store, before.id, "rejected", None, exc.reason)
        return 502, {"error": mask_text(f"SendGrid refused the answer: {exc.reason}")}
    except (ProviderNotProcessed, ProviderAmbiguous) as exc:
        status = "unknown" if isinstance(exc, ProviderAmbiguous) else "failed_retryable"
        await asyncio.to_thread(outbox.finish, svc.store, before.id, status, None, str(exc))
        return 503, {"error": "SendGrid is unavailable: the answer was not sent, try again shortly"}
    if has_case:
        await asyncio.to_thread(outbox.sent, svc.store, before.id, provider_id, msg, "email_sent")
    else:
        await asyncio.to_thread(outbox.finish, svc.store, before.id, "sent", provider_id)
    return None


async def _answer_text(request: Request) -> str:
    raw = await request.body()
    try:
        body = load_json(raw) if raw.strip() else {}
    except BadJson as exc:
        raise HTTPException(422, f"body: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "body: must be a JSON object")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(422, "text: required, the answer's words")
    if len(text) > MAX_ANSWER_CHARS:
        raise HTTPException(422, f"text: at most {MAX_ANSWER_CHARS} characters")
    return text.strip()
