"""The local mailbox on `/dev/phone` (embedded mode only, like the rest of the local phone): a patient's
address shows the emails they got (with the Reply-To that names their case), and the person at the
keyboard answers one, quoting it as a mail client would, or writes a new email to support.

Either is posted as SendGrid Inbound Parse posts a received email: multipart/form-data with `from`, `to`,
`subject`, `text`, `html`, `headers` (Message-ID, In-Reply-To, References), `envelope` and `charsets`
JSON, over real HTTP to `POST /webhooks/sendgrid/inbound` with HTTP Basic auth (SENDGRID_INBOUND_TOKEN).
Nothing here calls the store to accept it: a refusal shows on the page as the webhook answered it.

Patient data (addresses, bodies) never goes to the log."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import escape

from config import Settings
from domain.inbound_email import reply_subject
from store import local_phone
from web.body_limit import INBOUND_EMAIL_PATH
from web.deps import services
from web.dev_phone import WEBHOOK_TIMEOUT, render_phone, thread_url

log = logging.getLogger("makeright.dev_phone")

router = APIRouter(prefix="/dev/phone")

MAX_SUBJECT = 300
MAX_TEXT = 10_000  # the local phone's forms are small (BODY_LIMITS__FORMS)
# what the mailbox's mail client calls itself, and where its Message-IDs come from
MAILER = "makeright local mailbox"
MESSAGE_ID_DOMAIN = "mailbox.makeright.local"
OUTCOME_LIMIT = 300


@dataclass(frozen=True)
class Outgoing:
    """An email as the patient's mail client sends it to support."""

    from_address: str
    to_address: str
    subject: str
    text: str
    in_reply_to: str | None = None  # the Message-ID of the email answered
    references: str | None = None
    from_name: str | None = None

    def message_id(self) -> str:
        return f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"


def inbound_parse_fields(mail: Outgoing, message_id: str, now: datetime) -> dict[str, str]:
    """The form SendGrid Inbound Parse posts for `mail` (its documented fields; UTF-8 throughout)."""
    sender = formataddr((mail.from_name or "", mail.from_address))
    header_lines = [
        f"Received: by mx.sendgrid.net with SMTP id {uuid.uuid4().hex[:16]}; {format_datetime(now)}",
        "MIME-Version: 1.0",
        f"From: {sender}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {message_id}",
        f"Subject: {mail.subject}",
        f"To: {mail.to_address}",
    ]
    if mail.in_reply_to:
        header_lines.append(f"In-Reply-To: {mail.in_reply_to}")
        header_lines.append(f"References: {mail.references or mail.in_reply_to}")
    header_lines += [
        f"X-Mailer: {MAILER}",
        'Content-Type: multipart/alternative; boundary="000000000000mailbox"',
    ]
    html = '<div dir="ltr">' + str(escape(mail.text)).replace("\n", "<br>\n") + "</div>"
    return {
        "headers": "\n".join(header_lines) + "\n",
        "dkim": "{@makeright.local : pass}",
        "to": mail.to_address,
        "from": sender,
        "subject": mail.subject,
        "text": mail.text,
        "html": html,
        "sender_ip": "127.0.0.1",
        "spam_report": "",
        "envelope": json.dumps({"to": [mail.to_address], "from": mail.from_address}),
        "attachments": "0",
        "spam_score": "0.0",
        "charsets": json.dumps(
            {"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": "UTF-8", "html": "UTF-8"}
        ),
        "SPF": "pass",
    }


async def post_as_sendgrid(settings: Settings, mail: Outgoing) -> tuple[str | None, dict[str, Any]]:
    """POST `mail` to the inbound webhook as Inbound Parse would: (what went wrong or None, its answer)."""
    now = datetime.now(UTC)
    fields = inbound_parse_fields(mail, mail.message_id(), now)
    parts = {name: (None, value.encode("utf-8")) for name, value in fields.items()}
    url = settings.public_base_url + INBOUND_EMAIL_PATH
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT) as client:
            response = await client.post(
                url,
                files=parts,
                auth=("sendgrid", settings.sendgrid_inbound_token),
                headers={"User-Agent": "Sendlib/1.0 (makeright local mailbox)"},
            )
    except httpx.HTTPError as exc:
        log.warning("dev mailbox: inbound webhook not reachable: %s", type(exc).__name__)
        return (
            f"Could not reach the inbound webhook ({type(exc).__name__}). "
            "Is PUBLIC_BASE_URL the address this app answers on?"
        ), {}
    try:
        answer: Any = response.json()
    except ValueError:
        answer = {}
    if response.is_success and isinstance(answer, dict):
        return None, answer
    log.warning("dev mailbox: inbound webhook answered %s", response.status_code)
    reason = answer.get("error") if isinstance(answer, dict) else None
    return f"The inbound webhook answered {response.status_code}: {reason or response.reason_phrase}", {}


OUTCOMES = {
    "understood": "makeright understood it and acted at once",
    "waiting": "it waits for a rep to answer",
    "answered": "a rep answered it",
    "ignored": "recognised as a machine's mail: never answered",
}


def outcome(answer: dict[str, Any], to_address: str) -> str:
    status = str(answer.get("status") or "")
    told = OUTCOMES.get(status, status or "accepted")
    case = f" (case {answer['case_id']})" if answer.get("case_id") else " (no case)"
    again = " SendGrid had posted it before: nothing new happened." if answer.get("duplicate") else ""
    return f"Sent to {to_address}: {told}{case}.{again}"[:OUTCOME_LIMIT]


@router.post("/email")
async def send_email(
    request: Request,
    from_address: str = Form(""),
    subject: str = Form(""),
    text: str = Form(""),
    answering: str = Form(""),
) -> Response:
    """Send an email to support as `from_address`: an answer to the delivered email `answering` (to its
    Reply-To, threaded) or, without one, a new email to INBOUND_EMAIL_ADDRESS."""
    svc = services(request)
    settings = svc.settings
    _, sender = parseaddr(from_address.strip())
    sender = sender.strip().lower()
    if "@" not in sender:
        return await render_phone(request, None, error="Write from an email address.", status=422)
    draft = {"subject": subject, "text": text, "answering": answering}
    if not text.strip():
        return await render_phone(
            request, sender, error="Write something first.", mail_draft=draft, status=422
        )
    answered = None
    if answering.strip():
        answered = (
            await asyncio.to_thread(local_phone.mail, svc.store, int(answering))
            if answering.strip().isdecimal()
            else None
        )
        if answered is None:
            return await render_phone(request, sender, error="There is no such email to answer.", status=404)
    if answered is not None and answered.reply_to:
        to_address = answered.reply_to
    elif answered is not None:
        problem = (
            f"This email has no Reply-To (INBOUND_EMAIL_ADDRESS was unset when it was sent): an answer "
            f"would go to {answered.from_address}, which nobody reads. Write a new email to support instead."
        )
        return await render_phone(request, sender, error=problem, mail_draft=draft, status=422)
    elif settings.inbound_email_address:
        to_address = settings.inbound_email_address
    else:
        problem = "INBOUND_EMAIL_ADDRESS is not set: support has no address to write to."
        return await render_phone(request, sender, error=problem, mail_draft=draft, status=422)
    mail = Outgoing(
        from_address=sender,
        to_address=to_address,
        subject=(subject.strip() or (reply_subject(answered.subject or "") if answered else ""))[
            :MAX_SUBJECT
        ],
        text=text[:MAX_TEXT],
        in_reply_to=answered.message_id if answered else None,
    )
    refused, answer = await post_as_sendgrid(settings, mail)
    if refused:
        return await render_phone(request, sender, error=refused, mail_draft=draft, status=502)
    back = thread_url(sender) + "&" + urlencode({"mailed": outcome(answer, to_address)})
    return RedirectResponse(back, status_code=303)
