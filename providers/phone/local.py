"""The local phone (TWILIO_MODE=local): records the message in the case store (shown on /dev/phone) and
prints it, masked."""

from __future__ import annotations

from datetime import datetime

from domain.masking import mask_text
from domain.messaging import OutboundMessage
from domain.sms import segments
from providers.phone.twiml import CALL_EVENTS, offer_status_url
from store import local_calls, outbox
from store.db import Store


class LocalPhone:
    """Records instead of sending: the local phone's inbox is the `local_deliveries` table."""

    def __init__(self, store: Store, from_number: str) -> None:
        self.store = store
        self.from_number = from_number

    def send_sms(self, msg: OutboundMessage) -> str:
        sid = outbox.record_local_delivery(self.store, msg, self.from_number)
        parts = segments(msg.body)
        print(
            f"[local sms] to {mask_text(msg.to)} ({msg.key}): {parts.count} {parts.encoding} segment(s),"
            f" {sid}",
            flush=True,
        )
        return sid

    def place_call(self, msg: OutboundMessage) -> str:
        if msg.offer_id is not None:  # an offer to a rep: it rings until answered, and waits for their key
            # the same status callback as live mode's, relative: the page that plays Twilio's side knows
            # PUBLIC_BASE_URL, the worker need not
            callback = local_calls.Callback(offer_status_url("", msg), CALL_EVENTS)
            sid = local_calls.record_offer(self.store, msg, self.from_number, callback)
            print(f"[local call] offer {msg.offer_id} to {mask_text(msg.to)}: {sid}", flush=True)
            return sid
        if msg.dial:  # a bridge: the local phone shows whom the rep is being connected to
            msg = msg.model_copy(update={"body": f"{msg.body} (dialling {mask_text(msg.dial)})"})
        sid = outbox.record_local_delivery(self.store, msg, self.from_number)
        print(f"[local call] to {mask_text(msg.to)} ({msg.key}): {sid}", flush=True)
        return sid

    def end_call(self, provider_id: str) -> None:
        """The local phone stops ringing (or hangs up) the call, as Twilio would on `status=canceled`."""
        local_calls.end_by_provider_id(self.store, provider_id)
        print(f"[local call] {provider_id} ended", flush=True)

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        return outbox.find_local_delivery(self.store, msg, since)
