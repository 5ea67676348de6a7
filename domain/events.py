"""Events in: the booking system's CloudEvents and the patient, practice, provider and slot they carry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from domain import phones
from domain.base import Model

# The validation context of an event as it enters (`BookingEvent.received`): phone numbers are parsed,
# normalised to E.164 and judged SMS-capable here, once. Without it (the starter re-reading a stored event,
# a workflow's input) the stored values are trusted as they are: a number-plan update cannot turn an
# accepted case invalid, nor a replayed workflow different.
INGRESS: dict[str, bool] = {"ingress": True}


def _at_ingress(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("ingress"))


def _parsed_phone(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or not _at_ingress(info):
        return value
    try:
        return phones.normalise(value)
    except phones.PhoneError as exc:
        raise PydanticCustomError("phone_number", "{reason}", {"reason": str(exc)}) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a UTC offset, e.g. 2026-11-24T10:00:00-05:00")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Patient(Model):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)  # E.164 once received (any format in)
    # whether `phone` can receive a text: False for a landline. Judged at ingress from the numbering plan
    # and carried with the case from then on (absent from inputs recorded before: True, as they behaved)
    sms_capable: bool = Field(default=True, validate_default=True)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    timezone: str = "UTC"

    _phone = field_validator("phone")(_parsed_phone)

    @field_validator("sms_capable")
    @classmethod
    def _judged_at_ingress(cls, value: bool, info: ValidationInfo) -> bool:
        if not _at_ingress(info):
            return value
        phone = info.data.get("phone")  # already E.164 (absent when it was refused)
        return phone is not None and phones.parse(phone).sms_capable

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def language(self) -> str:
        return self.locale.split("-")[0].lower()


class Practice(Model):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    timezone: str = "UTC"

    _phone = field_validator("phone")(_parsed_phone)
    _known_zone = field_validator("timezone")(Patient._known_zone.__func__)  # type: ignore[attr-defined]


class Provider(Model):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    specialty: str = Field(min_length=1, max_length=100)


class Slot(Model):
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: object) -> datetime:
        start = getattr(info, "data", {}).get("start")
        if start is not None and end <= start:
            raise ValueError("must be after start")
        return end


class BookingEventData(Model):
    appointment_id: str = Field(min_length=1, max_length=100)
    patient: Patient
    practice: Practice
    provider: Provider
    slot: Slot
    cause: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9_.-]+$")


class EventType(StrEnum):
    SLOT_CANCELLED_BY_PRACTICE = "booking.slot_cancelled_by_practice"
    SLOT_DOUBLE_BOOKED = "booking.slot_double_booked"
    APPOINTMENT_MOVED_BY_PRACTICE = "booking.appointment_moved_by_practice"
    APPOINTMENT_BOOKED = "booking.appointment_booked"
    APPOINTMENT_RESCHEDULED = "booking.appointment_rescheduled"
    APPOINTMENT_CANCELLED = "booking.appointment_cancelled"


CONFLICT_TYPES = frozenset(
    {
        EventType.SLOT_CANCELLED_BY_PRACTICE,
        EventType.SLOT_DOUBLE_BOOKED,
        EventType.APPOINTMENT_MOVED_BY_PRACTICE,
    }
)


class BookingEvent(Model):
    """A CloudEvents 1.0 envelope in structured JSON mode."""

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: EventType
    time: AwareDatetime | None = None
    data: BookingEventData

    @classmethod
    def received(cls, payload: object) -> BookingEvent:
        """An event as it enters from outside: validated, phone numbers parsed and normalised (INGRESS)."""
        return cls.model_validate(payload, context=INGRESS)
