"""SendGrid: email. `live` uses the official SDK; `local` records the mail in the case store and prints it."""

from __future__ import annotations

import http.client
import logging
import urllib.error
import uuid
from datetime import datetime
from typing import Protocol

from temporalio import activity

from activities.errors import ProviderAmbiguous, ProviderNotProcessed, ProviderRejected
from activities.outbound import UNVERIFIABLE, send_once
from domain.masking import mask_text
from domain.models import OutboundMessage, SendResult
from store import outbox
from store.db import Store

log = logging.getLogger(__name__)


class MailGateway(Protocol):
    def send_email(self, msg: OutboundMessage) -> str: ...
    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None: ...


class LocalMailbox:
    def __init__(self, store: Store, from_email: str) -> None:
        self.store = store
        self.from_email = from_email

    def send_email(self, msg: OutboundMessage) -> str:
        provider_id = outbox.record_local_delivery(self.store, msg, self.from_email)
        print(f"[local email] to {mask_text(msg.to)} ({msg.key}): {provider_id}", flush=True)
        return provider_id

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        return outbox.find_local_delivery(self.store, msg, since)


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
        from sendgrid.helpers.mail import CustomArg, Mail

        mail = Mail(
            from_email=self.from_email,
            to_emails=msg.to,
            subject=msg.subject or "",
            plain_text_content=msg.body,
        )
        # custom args are stored by SendGrid as non-PII: only our opaque message reference goes there.
        # On the personalization: the mail-level `custom_args` is a string in SendGrid's OpenAPI document.
        mail.personalizations[0].add_custom_arg(CustomArg("makeright_ref", f"{msg.case_id}:{msg.key}"))
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


class SendGridActivities:
    def __init__(self, store: Store, gateway: MailGateway) -> None:
        self.store = store
        self.gateway = gateway

    @activity.defn
    async def send_email(self, msg: OutboundMessage) -> SendResult:
        return await send_once(self.store, msg, self.gateway.send_email, self.gateway.find_sent, "email_sent")
