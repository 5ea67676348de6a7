"""The local gift-card provider (GIFT_CARD_MODE=local): like Tango Card RaaS, a repeated external reference
returns the original order; its cards are served at `/gift/{link token}` (a random token made with the
order; the order id, kept in the ledger, opens nothing)."""

from __future__ import annotations

from decimal import Decimal

from store import gift_cards
from store.db import Store


class LocalGiftCards:
    def __init__(self, store: Store, public_base_url: str) -> None:
        self.store = store
        self.public_base_url = public_base_url

    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        order_id, link_token = gift_cards.place_local_order(self.store, external_ref, amount, currency)
        return order_id, f"{self.public_base_url}/gift/{link_token}"
