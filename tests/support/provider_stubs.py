"""Providers that stay down (nothing ever processed), for the outage branches of the story."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.messaging import OutboundMessage
from providers.errors import ProviderNotProcessed, ProviderRejected
from providers.mail.local import LocalMailbox
from providers.phone.local import LocalPhone
from store.db import Store


class DownPhone(LocalPhone):
    """Twilio unreachable: nothing is ever processed."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, "+15005550006")
        self.attempts = 0

    def send_sms(self, msg: OutboundMessage) -> str:
        self.attempts += 1
        raise ProviderNotProcessed("twilio unreachable: ConnectError")

    def place_call(self, msg: OutboundMessage) -> str:
        self.attempts += 1
        raise ProviderNotProcessed("twilio unreachable: ConnectError")

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        return None


class DownMail(LocalMailbox):
    def send_email(self, msg: OutboundMessage) -> str:
        raise ProviderNotProcessed("sendgrid unreachable: ConnectError")

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        return None


class DownGiftCards:
    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        raise ProviderNotProcessed("gift-card provider unreachable")


class InvalidNumberPhone(LocalPhone):
    """Twilio's answer for a number that cannot receive messages (error 21211)."""

    def send_sms(self, msg: OutboundMessage) -> str:
        raise ProviderRejected(400, "twilio error 21211: invalid 'To' phone number")

    def place_call(self, msg: OutboundMessage) -> str:
        raise ProviderRejected(400, "twilio error 21211: invalid 'To' phone number")
