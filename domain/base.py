"""The base every model shares, and the case kinds (used by cases and escalations alike)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# The failure type of a provider's definitive refusal (a 4xx): the activities raise `ProviderRejected`
# (providers/errors.py) or an ApplicationError of this type; workflows never retry it.
PROVIDER_REJECTED = "ProviderRejected"


class CaseKind(StrEnum):
    BOOKING_CONFLICT = "booking_conflict"
    CHECKIN_TROUBLE = "checkin_trouble"
    INQUIRY = "inquiry"
