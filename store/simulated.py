"""What a simulated day (simulation/) reads back from the store, as the world outside would see it: the rep
phones the local phone was asked to ring (an offer call each), and the support line's calls with their
times (for the figures per hour). Reading only: the simulation acts through the webhooks' own functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from store.db import Store
from store.local_calls import ENDED
from store.models import LocalDelivery, SupportCall


@dataclass(frozen=True)
class OfferRing:
    """One offer call to a rep's phone, as the local phone recorded it."""

    delivery_id: int
    offer_id: str
    to: str
    call_sid: str
    ended: bool  # makeright hung it up already (withdrawn, timed out) before the rep could answer


def _offer_of(url: str | None) -> str | None:
    if not url or "/webhooks/twilio/voice/offer" not in url:
        return None
    return parse_qs(urlsplit(url).query).get("offer", [None])[0]


def offer_rings(store: Store, after_id: int) -> list[OfferRing]:
    """The offer calls placed since delivery `after_id`, oldest first."""
    with store.session() as s:
        rows = s.scalars(
            select(LocalDelivery)
            .where(
                LocalDelivery.channel == "voice",
                LocalDelivery.gather_action_url.is_not(None),
                LocalDelivery.id > after_id,
            )
            .order_by(LocalDelivery.id)
        ).all()
        found = []
        for row in rows:
            offer_id = _offer_of(row.gather_action_url)
            if offer_id is not None:
                found.append(
                    OfferRing(row.id, offer_id, row.to_address, row.provider_id, row.call_status in ENDED)
                )
        return found


def ring_ended(store: Store, call_sid: str) -> bool:
    """Whether makeright has hung up this offer call (the rep's phone stopped ringing)."""
    with store.session() as s:
        status = s.scalar(select(LocalDelivery.call_status).where(LocalDelivery.provider_id == call_sid))
        return status in ENDED


@dataclass(frozen=True)
class CallRow:
    call_sid: str
    status: str
    first_ring: bool
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


def calls(store: Store, since: datetime) -> list[CallRow]:
    """The support line's calls that arrived since `since`, oldest first."""
    with store.session() as s:
        rows = s.execute(
            select(
                SupportCall.call_sid,
                SupportCall.status,
                SupportCall.first_ring,
                SupportCall.arrived_at,
                SupportCall.answered_at,
                SupportCall.ended_at,
            )
            .where(SupportCall.arrived_at >= since)
            .order_by(SupportCall.arrived_at)
        ).all()
    return [CallRow(*row) for row in rows]
