"""SendGrid (SENDGRID_MODE=live): the v3 mail send through the official SDK."""

from __future__ import annotations

import http.client
import urllib.error
import uuid
from datetime import datetime

from domain.masking import mask_text
from domain.messaging import OutboundMessage
from providers.errors import UNVERIFIABLE, ProviderAmbiguous, ProviderNotProcessed, ProviderRejected


class LiveSendGrid:
    """The real SendGrid v3 mail send through the official SDK."""

    def __init__(self, api_key: str, from_email: str, base_url: str) -> None:
        from sendgrid import SendGridAPIClient

        self.from_email = from_email
        self.client = SendGridAPIClient(api_key=api_key, host=base_url.rstrip("/"))
        # the SDK waits forever by default; a hung connection is then reported as a lost answer
        self.client.client.timeout = 15

    def send_email(self, msg: OutboundMessage) -> str:
        from python_http_client.exceptions import HTTPError
        from sendgrid.helpers.mail import CustomArg, Header, Mail, ReplyTo

        mail = Mail(
            from_email=self.from_email,
            to_emails=msg.to,
            subject=msg.subject or "",
            plain_text_content=msg.body,
        )
        # custom args are stored by SendGrid as non-PII: only our opaque message reference goes there.
        # On the personalization: the mail-level `custom_args` is a string in SendGrid's OpenAPI document.
        mail.personalizations[0].add_custom_arg(CustomArg("makeright_ref", f"{msg.case_id}:{msg.key}"))
        if msg.reply_to:
            mail.reply_to = ReplyTo(msg.reply_to)  # the patient's answer comes back naming its case
        if msg.in_reply_to:
            # an answer to the patient's email: in the same thread in their mail program
            mail.add_header(Header("In-Reply-To", msg.in_reply_to))
            mail.add_header(Header("References", msg.in_reply_to))
        try:
            response = self.client.send(mail)
        except HTTPError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if status == 429:
                raise ProviderNotProcessed("sendgrid 429") from None
            if 400 <= status < 500:
                raise ProviderRejected(
                    status, mask_text(f"sendgrid refused the mail: {_reason(exc)}")
                ) from None
            # a 5xx answer is an answer: SendGrid did not accept the mail
            raise ProviderNotProcessed(f"sendgrid {status}") from None
        except TimeoutError:
            raise ProviderAmbiguous("sendgrid timed out") from None
        except urllib.error.URLError as exc:
            # urllib wraps what fails while connecting and sending; the request was not taken
            raise ProviderNotProcessed(f"sendgrid unreachable: {type(exc.reason).__name__}") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            # the request went out and the answer was lost (reset, closed without a status line)
            raise ProviderAmbiguous(f"sendgrid answer lost: {type(exc).__name__}") from None
        return str(response.headers.get("X-Message-Id") or f"sg-{uuid.uuid4().hex}")

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        # SendGrid cannot be asked whether a mail went out: when an attempt's outcome is lost, send-once
        # sends it once more (a lost mail is worse than a duplicate one) and marks the row resent
        return UNVERIFIABLE


def _reason(exc: Exception) -> str:
    import json

    body = getattr(exc, "body", b"") or b""
    try:
        errors = json.loads(body).get("errors", [])
        return "; ".join(str(e.get("message", "")) for e in errors)[:300] or "no reason given"
    except (ValueError, AttributeError):
        return "no reason given"
