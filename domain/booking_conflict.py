"""A booking conflict's input and the requests its story makes: alternatives, offers, the booking."""

from __future__ import annotations

from datetime import datetime

from domain.base import Model
from domain.events import BookingEventData, EventType, Practice, Provider, Slot
from domain.policy import RecoveryPolicy


class BookingConflictInput(Model):
    case_id: str
    event_id: str
    event_type: EventType
    data: BookingEventData
    policy: RecoveryPolicy
    public_base_url: str
    # lets the patient choose by a link in an email; a capability for this case's choices only
    reply_token: str


class ConflictNote(Model):
    case_id: str
    data: BookingEventData


class AlternativesRequest(Model):
    case_id: str
    practice: Practice
    provider: Provider
    original: Slot
    not_before: datetime
    count: int
    search_days: int
    # the offers made in a round are kept: a retried or re-run case offers the same slots it texted
    offer_round: int | None = None


class OfferedSlot(Model):
    slot: Slot
    provider: Provider
    practice: Practice


class BookRequest(Model):
    case_id: str
    appointment_id: str
    patient_id: str
    offer: OfferedSlot


class EarlierOfferRequest(Model):
    """Whether an earlier booking-conflict case of this patient (by phone) may still ask them to choose."""

    case_id: str
    patient_phone: str
