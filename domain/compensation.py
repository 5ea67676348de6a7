"""Compensation: a gift card to issue, a payment to reserve against the caps, a card issued, a denial."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from domain.base import Model
from domain.policy import CompensationPolicy


class GiftCardRequest(Model):
    case_id: str
    patient_id: str
    amount: Decimal
    currency: str
    idempotency_key: str = Field(max_length=100)


class ReserveRequest(Model):
    """A payment the system would make on its own, checked against the caps and budget of `rules`."""

    payment: GiftCardRequest
    rules: CompensationPolicy


class GiftCardResult(Model):
    order_id: str
    amount: Decimal
    currency: str
    redemption_url: str
    already_issued: bool


class DenialRequest(Model):
    """Compensation a rep refused: kept in the ledger with the reason, never paid."""

    case_id: str
    patient_id: str
    amount: Decimal
    currency: str
    idempotency_key: str = Field(max_length=100)
    reason: str
    denied_by: str
