"""The local gift-card provider's book (GIFT_CARD_MODE=local): its orders, and its cards as the card page
shows them. A card is opened by its link token (random, made with the order, only in the patient's link),
never by its order id (staff and the ledger see that); its number is keyed with GIFT_CARD_SECRET."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.ids import gift_card_key
from store.db import Store
from store.models import Case, GiftCardOrder, LedgerEntry


@dataclass(frozen=True)
class LocalCard:
    order_id: str
    amount: Decimal
    currency: str
    number: str
    issued_at: datetime
    case_id: str | None = None  # the case it makes up for (its page speaks the patient's language)


def card_number(order_id: str, secret: str) -> str:
    """The card's number, derived from its order with the server's GIFT_CARD_SECRET (nothing more is
    stored; nobody who knows only the order id can work it out): HMAC-SHA256, 16 characters of base32
    (A-Z and 2-7: no 0 or 1 to read as O or I) in groups of 4."""
    digest = hmac.new(
        secret.encode(), f"makeright-local-gift-card:{order_id}".encode(), hashlib.sha256
    ).digest()
    text = base64.b32encode(digest).decode()[:16]
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def new_link_token() -> str:
    """The secret in a card's link: 16 random bytes (128 bits), 22 characters of URL-safe base64, short
    enough for the gift-card SMS to stay one segment."""
    return secrets.token_urlsafe(16)


def local_card(store: Store, link_token: str, secret: str) -> LocalCard | None:
    """The card whose link carries `link_token` (the order id opens nothing)."""
    if not link_token:
        return None
    with store.session() as s:
        order = s.scalars(select(GiftCardOrder).where(GiftCardOrder.link_token == link_token)).first()
        if order is None:
            return None
        return LocalCard(
            order_id=order.order_id,
            amount=order.amount,
            currency=order.currency,
            number=card_number(order.order_id, secret),
            issued_at=order.created_at,
            case_id=_case_of(s, order),
        )


def _case_of(s: Session, order: GiftCardOrder) -> str | None:
    """The case an order paid for: its ledger entry (same idempotency key), else the case whose key it is
    (`domain.ids.gift_card_key`, "mr-<case id>-comp" for every id short enough)."""
    found = s.scalars(
        select(LedgerEntry.case_id).where(
            (LedgerEntry.idempotency_key == order.external_ref)
            | (LedgerEntry.provider_order_id == order.order_id)
        )
    ).first()
    if found is not None:
        return found
    ref = order.external_ref
    if ref.startswith("mr-") and ref.endswith("-comp"):
        case_id = ref[3:-5]
        if gift_card_key(case_id) == ref and s.get(Case, case_id) is not None:
            return case_id
    return None


def place_local_order(store: Store, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
    """The order for `external_ref`, (order id, link token): the one placed before, else a new one (as
    Tango answers a repeated externalRefID with the original order)."""
    for _ in range(2):
        try:
            with store.session() as s:
                existing = s.scalars(
                    select(GiftCardOrder).where(GiftCardOrder.external_ref == external_ref)
                ).first()
                if existing is None:
                    existing = GiftCardOrder(
                        order_id="GC-" + uuid.uuid4().hex[:12].upper(),
                        external_ref=external_ref,
                        link_token=new_link_token(),
                        amount=amount,
                        currency=currency,
                    )
                    s.add(existing)
                return existing.order_id, existing.link_token
        except IntegrityError:
            continue
    raise RuntimeError("gift card order could not be placed")
