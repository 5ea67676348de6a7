"""Gift cards: compensation issued once per case through a provider (`providers.gift_cards`) with an
idempotency key, recorded in the ledger (`store.ledger`)."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.compensation import DenialRequest, GiftCardRequest, GiftCardResult, ReserveRequest
from domain.policy import BudgetVerdict
from providers.gift_cards import GiftCardProvider
from store import ledger
from store.db import Store


class GiftCardActivities:
    def __init__(self, store: Store, provider: GiftCardProvider) -> None:
        self.store = store
        self.provider = provider

    @activity.defn
    async def issue_gift_card(self, req: GiftCardRequest) -> GiftCardResult:
        return await asyncio.to_thread(self._issue, req)

    def _issue(self, req: GiftCardRequest) -> GiftCardResult:
        paid_before = ledger.issued(self.store, req.idempotency_key)
        # the provider is idempotent on our key: asking again after a crash returns the original order
        order_id, url = self.provider.order(req.idempotency_key, req.amount, req.currency)
        ledger.record_issued(self.store, req, order_id, paid_before=paid_before)
        return GiftCardResult(
            order_id=order_id,
            amount=req.amount,
            currency=req.currency,
            redemption_url=url,
            already_issued=paid_before,
        )

    @activity.defn
    async def reserve_compensation(self, req: ReserveRequest) -> BudgetVerdict:
        """Before the system pays on its own: the patient's yearly cap and today's budget, checked and the
        ledger row written in one locked transaction (see store.ledger.reserve). A payment that does not
        fit waits for approval, its reason on the timeline; a retry reads back the first verdict."""
        return await asyncio.to_thread(ledger.reserve_for_case, self.store, req)

    @activity.defn
    async def release_reservation(self, req: GiftCardRequest) -> None:
        """A reserved payment that will not be made (its escalation expired): the row goes, and with it
        the amount it held of the patient's cap and today's budget. An issued row is never touched."""
        await asyncio.to_thread(ledger.release, self.store, req.idempotency_key)

    @activity.defn
    async def record_pending_approval(self, req: GiftCardRequest) -> None:
        """Compensation above the auto-approved amount waits in the ledger for a human with the authority."""
        await asyncio.to_thread(ledger.record_pending, self.store, req)

    @activity.defn
    async def record_denial(self, req: DenialRequest) -> None:
        """A rep refused the compensation: the ledger keeps the amount and the reason; nothing is paid."""
        await asyncio.to_thread(ledger.record_denial, self.store, req)
