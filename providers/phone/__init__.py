"""The phone: SMS and voice calls with keypad choices. `local` records what it would send (shown on
/dev/phone); `twilio` sends through Twilio."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.messaging import OutboundMessage


class PhoneGateway(Protocol):
    def send_sms(self, msg: OutboundMessage) -> str: ...
    def place_call(self, msg: OutboundMessage) -> str: ...
    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None: ...
    def end_call(self, provider_id: str) -> None: ...
