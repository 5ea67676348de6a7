"""The check-in watch and the check-in-trouble case: inputs, signals, the watch's record and results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from domain.base import Model
from domain.cases import CaseStatus
from domain.events import BookingEventData
from domain.policy import RecoveryPolicy


class WatchStatus(StrEnum):
    WAITING = "waiting"  # a timer runs to the prompt
    LISTENING = "listening"  # the prompt went out: replies are routed here
    TROUBLE = "trouble"  # a reply reported trouble: a check-in-trouble case is open
    ENDED = "ended"


class CheckInWatchInput(Model):
    """What `booking.appointment_booked` (or a reschedule without a watch) starts a watch with. The
    check-in timing comes from config through the starter, like every other policy value."""

    appointment_id: str
    event_id: str
    data: BookingEventData
    policy: RecoveryPolicy
    public_base_url: str
    prompt_lead_minutes: int = Field(default=0, ge=0)
    listen_minutes: int = Field(default=60, gt=0)


class WatchMove(Model):
    """`booking.appointment_rescheduled`: the watch follows the appointment to `data.slot`."""

    event_id: str
    data: BookingEventData


class WatchCancel(Model):
    """`booking.appointment_cancelled`: the watch ends."""

    event_id: str


class WatchRecord(Model):
    """The watch as the store keeps it (the row replies are routed by)."""

    appointment_id: str
    workflow_id: str
    patient_id: str
    patient_phone: str | None
    status: WatchStatus
    slot_start: datetime
    prompt_at: datetime
    listen_until: datetime
    case_id: str | None = None


class WatchResult(Model):
    appointment_id: str
    status: WatchStatus
    prompts_sent: int
    ended_because: Literal[
        "listen_window_over", "cancelled", "opted_out", "unreachable", "no_phone", "landline"
    ]
    case_id: str | None = None


class TroubleCaseRequest(Model):
    """Open (or find) the check-in-trouble case for one appointment at one time."""

    appointment_id: str
    data: BookingEventData
    # the reply that reported the trouble (its provider id): it becomes the case's first message
    reply_ref: str | None = None


class TroubleCase(Model):
    case_id: str
    workflow_id: str
    reply_token: str
    status: CaseStatus
    opened: bool  # False: the case already existed (a second trouble reply, a re-run watch)


class CheckInTroubleInput(Model):
    case_id: str
    appointment_id: str
    data: BookingEventData
    policy: RecoveryPolicy
    public_base_url: str
    reply_token: str
    watch_workflow_id: str
