"""Email. `local` records the mail in the case store (shown on /dev/phone) and prints it; `sendgrid`
sends through SendGrid."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.messaging import OutboundMessage


class MailGateway(Protocol):
    def send_email(self, msg: OutboundMessage) -> str: ...
    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None: ...
