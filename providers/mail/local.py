"""The local mailbox (SENDGRID_MODE=local): records the mail in the case store and prints it, masked."""

from __future__ import annotations

from datetime import datetime

from domain.masking import mask_text
from domain.messaging import OutboundMessage
from store import outbox
from store.db import Store


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
