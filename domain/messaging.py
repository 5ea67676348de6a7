"""Messages to and from patients: channels, outbound messages and their results, replies, contact history."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field

from domain.base import Model
from domain.replies import MAX_CHOICES, Intent, Understood, against_offers


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


class PatientReply(Model):
    """A patient's answer, whatever the channel it came by, as ingress understood it. The text itself
    stays in the case store (the inbox row and inbound message found by `provider_ref`), out of workflow
    history: what the workflow acts on is the intent, classified once when the reply is relayed."""

    channel: Channel
    intent: Intent
    choice: int | None = Field(default=None, ge=1, le=MAX_CHOICES)  # any digit 1-9 the patient sent
    received_at: datetime
    provider_ref: str | None = None  # the provider's message id

    def understood(self, offered: int = 0) -> Understood:
        """The reply against an offer of `offered` numbered options (0: none): a number not offered is
        unknown."""
        return against_offers(Understood(self.intent, self.choice), offered)


class OutboundMessage(Model):
    """One message to one patient. `key` names it within the case, so sending it again is a no-op."""

    case_id: str
    key: str
    channel: Channel
    to: str
    subject: str | None = None
    body: str
    # email only: where the patient's reply goes (set at sending: the case's Reply-To, domain.inbound_email),
    # and the patient's message this one answers (In-Reply-To and References: the same thread)
    reply_to: str | None = None
    in_reply_to: str | None = None
    # voice only: spoken prompt with keypad gather, answered at this callback
    gather_action_url: str | None = None
    # voice only: when set, the call (to a rep) speaks `body`, then dials this number in (a bridge)
    dial: str | None = None
    language: str = "en"
    # voice only: an offer of work to a rep (domain.routing): `body` is the whisper, `gather_action_url`
    # takes their key (1 accepts), the call rings at most `ring_seconds`, and its status callbacks name it
    offer_id: str | None = None
    ring_seconds: int | None = None


class SendResult(Model):
    message_id: str  # our intent id
    provider_id: str | None
    # unavailable: the provider stayed down past the retry budget (nothing known to be sent)
    status: Literal["sent", "already_sent", "rejected", "unavailable"]
    reason: str | None = None

    @property
    def reached_provider(self) -> bool:
        return self.status in ("sent", "already_sent")


class BridgeCallRequest(Model):
    """Call the rep, then dial the patient in: the patient sees our number, never the rep's."""

    case_id: str
    key: str
    rep_user: str
    patient_phone: str
    language: str = "en"


class ContactHistoryRequest(Model):
    """What makeright started with a patient's addresses lately, for the frequency caps."""

    addresses: tuple[str, ...]
    since: datetime
    exclude_case_id: str | None = None
    patient_id: str | None = None


class ContactHistory(Model):
    # when each conversation makeright started with the patient began (its first message; any case but
    # this one): what the caps count (`contact_rules.conversation_of`), not every message within one
    sent: tuple[datetime, ...] = ()
    last_heard_from: datetime | None = None  # the patient's own latest message to us
    # their other cases still in progress that have exchanged messages with them (sent them one, or
    # heard from them): a case deferred until the morning has not, and does not count
    other_open_cases: int = 0

    def in_conversation(self, now: datetime, window: timedelta = timedelta(hours=24)) -> bool:
        """An exchange is under way: they wrote to us lately, or another of their cases in progress has
        exchanged messages with them."""
        recent = self.last_heard_from is not None and now - self.last_heard_from <= window
        return recent or self.other_open_cases > 0


class DeliveryProblem(Model):
    """A provider's report that a message did not reach the patient."""

    channel: Channel
    key: str  # the message's key within its case
    status: str  # undelivered | failed | bounce | dropped | no-answer | busy | machine
    provider_ref: str | None = None
