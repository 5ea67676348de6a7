"""The slots a case offered in each round, kept so a retried activity or a re-run case offers the same."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.models import OfferedSlot
from store.db import Store
from store.models import CaseOffer


def made(store: Store, case_id: str, offer_round: int) -> list[OfferedSlot] | None:
    with store.session() as s:
        row = s.scalar(
            select(CaseOffer).where(CaseOffer.case_id == case_id, CaseOffer.offer_round == offer_round)
        )
        return [OfferedSlot.model_validate(o) for o in row.offers] if row else None


def keep(store: Store, case_id: str, offer_round: int, offers: list[OfferedSlot]) -> list[OfferedSlot]:
    """Record this round's offers; if another attempt recorded them first, theirs stand."""
    try:
        with store.session() as s:
            s.add(
                CaseOffer(
                    case_id=case_id,
                    offer_round=offer_round,
                    offers=[o.model_dump(mode="json") for o in offers],
                )
            )
    except IntegrityError:
        found = made(store, case_id, offer_round)
        assert found is not None
        return found
    return offers
