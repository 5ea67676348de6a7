"""Gift cards: compensation issued once per case through a provider with an idempotency key, recorded
in the ledger. The local provider behaves like Tango Card RaaS: a repeated external reference returns
the original order."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity

from domain.models import DenialRequest, GiftCardRequest, GiftCardResult, TimelineEntry
from store import cases
from store.db import Store
from store.models import GiftCardOrder, LedgerEntry


class GiftCardProvider(Protocol):
    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        """Place (or find) the order for `external_ref`; returns (order id, redemption URL)."""
        ...


class LocalGiftCards:
    def __init__(self, store: Store, public_base_url: str) -> None:
        self.store = store
        self.public_base_url = public_base_url

    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        for _ in range(2):
            try:
                with self.store.session() as s:
                    existing = s.scalars(
                        select(GiftCardOrder).where(GiftCardOrder.external_ref == external_ref)
                    ).first()
                    if existing is None:
                        existing = GiftCardOrder(
                            order_id="GC-" + uuid.uuid4().hex[:12].upper(),
                            external_ref=external_ref,
                            amount=amount,
                            currency=currency,
                        )
                        s.add(existing)
                    order_id = existing.order_id
                return order_id, f"{self.public_base_url}/gift/{order_id}"
            except IntegrityError:
                continue
        raise RuntimeError("gift card order could not be placed")


class GiftCardActivities:
    def __init__(self, store: Store, provider: GiftCardProvider) -> None:
        self.store = store
        self.provider = provider

    @activity.defn
    async def issue_gift_card(self, req: GiftCardRequest) -> GiftCardResult:
        return await asyncio.to_thread(self._issue, req)

    def _issue(self, req: GiftCardRequest) -> GiftCardResult:
        with self.store.session() as s:
            paid_before = (
                s.scalar(
                    select(LedgerEntry.id).where(
                        LedgerEntry.idempotency_key == req.idempotency_key, LedgerEntry.status == "issued"
                    )
                )
                is not None
            )
        # the provider is idempotent on our key: asking again after a crash returns the original order
        order_id, url = self.provider.order(req.idempotency_key, req.amount, req.currency)
        if not paid_before:
            self._record(req, order_id)
        cases.add_timeline(
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="compensation_issued",
                key=f"ledger:{req.idempotency_key}",
                detail={"amount": str(req.amount), "currency": req.currency, "order_id": order_id},
            ),
        )
        return GiftCardResult(
            order_id=order_id,
            amount=req.amount,
            currency=req.currency,
            redemption_url=url,
            already_issued=paid_before,
        )

    def _record(self, req: GiftCardRequest, order_id: str) -> None:
        try:
            with self.store.session() as s:
                entry = _entry_for(s, req.idempotency_key)
                if entry is None:
                    s.add(_ledger_entry(req, "issued", order_id))
                else:  # approved after waiting: pay what was approved
                    entry.status = "issued"
                    entry.amount = req.amount
                    entry.provider_order_id = order_id
        except IntegrityError:
            pass  # recorded by a concurrent retry

    @activity.defn
    async def record_pending_approval(self, req: GiftCardRequest) -> None:
        """Compensation above the auto-approved amount waits in the ledger for a human with the authority."""
        await asyncio.to_thread(self._pending, req)

    def _pending(self, req: GiftCardRequest) -> None:
        try:
            with self.store.session() as s:
                if _entry_for(s, req.idempotency_key):
                    return
                s.add(_ledger_entry(req, "pending_approval"))
        except IntegrityError:
            return
        cases.add_timeline(
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="compensation_pending_approval",
                key=f"ledger:{req.idempotency_key}:pending",
                detail={"amount": str(req.amount), "currency": req.currency},
            ),
        )

    @activity.defn
    async def record_denial(self, req: DenialRequest) -> None:
        """A rep refused the compensation: the ledger keeps the amount and the reason; nothing is paid."""
        await asyncio.to_thread(self._deny, req)

    def _deny(self, req: DenialRequest) -> None:
        with self.store.session() as s:
            entry = _entry_for(s, req.idempotency_key)
            if entry is None:
                entry = _ledger_entry(req, "denied")
                s.add(entry)
            elif entry.status == "issued":
                return  # paid already: a denial cannot unpay it
            entry.status = "denied"
            entry.denied_reason = req.reason
        cases.add_timeline(
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="compensation_denied",
                key=f"ledger:{req.idempotency_key}:denied",
                detail={
                    "amount": str(req.amount),
                    "currency": req.currency,
                    "reason": req.reason,
                    "by": req.denied_by,
                },
            ),
        )


def _entry_for(s: Session, idempotency_key: str) -> LedgerEntry | None:
    return s.scalars(select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)).first()


def _ledger_entry(
    req: GiftCardRequest | DenialRequest, status: str, order_id: str | None = None
) -> LedgerEntry:
    return LedgerEntry(
        case_id=req.case_id,
        patient_id=req.patient_id,
        idempotency_key=req.idempotency_key,
        amount=req.amount,
        currency=req.currency,
        status=status,
        provider_order_id=order_id,
    )
