"""Gift cards: one order per case, idempotent on the case's key. `local` (the local book, served at
`/gift/{link token}`) behaves like Tango Card RaaS; `tango` orders from Tango Card RaaS v2 over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class GiftCardProvider(Protocol):
    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        """Place (or find) the order for `external_ref`; returns (order id, redemption URL). The URL is
        the patient's alone (it opens the card); the order id is for the ledger, never a way in."""
        ...
