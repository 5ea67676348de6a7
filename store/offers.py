"""The slots a case offered in each round, kept so a retried activity or a re-run case offers the same,
and what became of the slot the patient chose; each with its step on the case's timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.booking_conflict import BookRequest, OfferedSlot
from domain.cases import TimelineEntry
from store import cases
from store.db import Store, insert_once
from store.models import CaseOffer


def made(store: Store, case_id: str, offer_round: int) -> list[OfferedSlot] | None:
    with store.session() as s:
        return _made_in(s, case_id, offer_round)


def _made_in(s: Session, case_id: str, offer_round: int) -> list[OfferedSlot] | None:
    kept = s.scalar(
        select(CaseOffer.offers).where(CaseOffer.case_id == case_id, CaseOffer.offer_round == offer_round)
    )
    return [OfferedSlot.model_validate(o) for o in kept] if kept is not None else None


def _keep(s: Session, case_id: str, offer_round: int, offers: list[OfferedSlot]) -> list[OfferedSlot]:
    """Record this round's offers; if another attempt recorded them first, theirs stand."""
    kept = s.connection().execute(
        insert_once(s, CaseOffer, ("case_id", "offer_round")),
        dict(case_id=case_id, offer_round=offer_round, offers=[o.model_dump(mode="json") for o in offers]),
    )
    if kept.rowcount:
        return offers
    theirs = _made_in(s, case_id, offer_round)
    assert theirs is not None
    return theirs


def found(
    store: Store, case_id: str, offer_round: int | None, not_before: datetime, offers: list[OfferedSlot]
) -> list[OfferedSlot]:
    """The alternatives found for a case: kept as the round's offers (when it has a round; another
    attempt's stand) and on its timeline, in one transaction. Returns what is offered."""
    with store.session() as s:
        if offer_round is not None:
            offers = _keep(s, case_id, offer_round, offers)
        cases.timeline_in(
            s,
            TimelineEntry(
                case_id=case_id,
                what="alternatives_found",
                key=f"alternatives:{not_before.isoformat()}",
                detail={"count": len(offers), "slots": [o.slot.model_dump(mode="json") for o in offers]},
            ),
        )
    return offers


def booked(store: Store, req: BookRequest, done: bool) -> None:
    """The chosen slot was booked (`done`), or somebody else took it meanwhile: on the case's timeline."""
    cases.add_timeline(
        store,
        TimelineEntry(
            case_id=req.case_id,
            what="rebooked" if done else "slot_taken_meanwhile",
            key=f"book:{req.offer.provider.id}:{req.offer.slot.start.isoformat()}",
            detail={"slot": req.offer.slot.model_dump(mode="json"), "provider": req.offer.provider.name},
        ),
    )
