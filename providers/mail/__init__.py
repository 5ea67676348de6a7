"""Email. `local` records the mail in the case store (shown on /dev/phone) and prints it; `sendgrid`
sends through SendGrid."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from domain.messaging import OutboundMessage

if TYPE_CHECKING:
    from config import Settings
    from store.db import Store


class MailGateway(Protocol):
    def send_email(self, msg: OutboundMessage) -> str: ...
    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None: ...


def gateway_for(settings: Settings, store: Store) -> MailGateway:
    """The gateway SENDGRID_MODE chooses: SendGrid (live) or the local mailbox."""
    if settings.sendgrid_mode == "live":
        from providers.mail.sendgrid import LiveSendGrid

        return LiveSendGrid(
            settings.sendgrid_api_key, settings.sendgrid_from_email, settings.sendgrid_api_base_url
        )
    from providers.mail.local import LocalMailbox

    return LocalMailbox(store, settings.sendgrid_from_email)
