"""The local phone's "Call patient" bridge: the two legs of the call as the local Twilio plays them.

The rep's leg is recorded by the local provider (`outbox.record_local_delivery`, with `dial`); when the rep
answers it on /dev/phone, the patient's leg starts ringing, as Twilio's <Dial> would. Each change is then
reported to the web app as Twilio reports it (a signed status callback), so the case's timeline is written
the same way in local and live mode.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import Store
from store.models import LocalDelivery, utcnow

ENDED = ("completed", "no-answer", "busy", "canceled", "failed")


@dataclass(frozen=True)
class Leg:
    id: int
    provider_id: str
    to_address: str
    from_address: str
    language: str
    dial: str | None  # set on the rep's leg
    parent_id: str | None  # set on the patient's leg
    status: str
    answered_at: datetime | None
    ended_at: datetime | None

    @property
    def is_rep_leg(self) -> bool:
        return self.dial is not None

    def seconds(self) -> int:
        """How long it has been (or was) connected; 0 when never answered."""
        if self.answered_at is None:
            return 0
        return max(0, int(((self.ended_at or utcnow()) - self.answered_at).total_seconds()))


def _leg(row: LocalDelivery) -> Leg:
    return Leg(
        id=row.id,
        provider_id=row.provider_id,
        to_address=row.to_address,
        from_address=row.from_address,
        language=row.language,
        dial=row.dial,
        parent_id=row.parent_id,
        status=row.call_status or "ringing",
        answered_at=row.call_answered_at,
        ended_at=row.call_ended_at,
    )


def leg(store: Store, delivery_id: int) -> Leg | None:
    """A leg of a bridge call, or None (no such delivery, or not a bridge)."""
    with store.session() as s:
        return leg_in(s, delivery_id)


def leg_in(s: Session, delivery_id: int) -> Leg | None:
    """`leg`, in the caller's session."""
    row = s.get(LocalDelivery, delivery_id)
    if row is None or row.channel != "voice" or (row.dial is None and row.parent_id is None):
        return None
    return _leg(row)


def other_leg(store: Store, of: Leg) -> Leg | None:
    """The patient's leg of a rep's call, or the rep's call of a patient's leg."""
    with store.session() as s:
        return other_leg_in(s, of)


def other_leg_in(s: Session, of: Leg) -> Leg | None:
    """`other_leg`, in the caller's session."""
    if of.is_rep_leg:
        row = s.scalars(
            select(LocalDelivery)
            .where(LocalDelivery.parent_id == of.provider_id)
            .order_by(LocalDelivery.id.desc())
        ).first()
    else:
        row = s.scalars(select(LocalDelivery).where(LocalDelivery.provider_id == of.parent_id)).first()
    return _leg(row) if row is not None else None


def set_status(store: Store, delivery_id: int, status: str) -> Leg:
    """Move a leg on; answering stamps the moment, for the call's duration."""
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id, with_for_update=True)
        assert row is not None
        row.call_status = status
        if status == "in-progress" and row.call_answered_at is None:
            row.call_answered_at = utcnow()
        if status in ENDED and row.call_ended_at is None:
            row.call_ended_at = utcnow()
        return _leg(row)


def end_by_provider_id(store: Store, provider_id: str) -> None:
    """Hang up a local call placed by makeright: ringing → canceled, answered → completed (and the
    patient's leg it dialled with it)."""
    with store.session() as s:
        rows = s.scalars(
            select(LocalDelivery)
            .where((LocalDelivery.provider_id == provider_id) | (LocalDelivery.parent_id == provider_id))
            .with_for_update()
        ).all()
        for row in rows:
            if row.channel != "voice" or row.call_status in ENDED:
                continue
            row.call_status = "completed" if row.call_status == "in-progress" else "canceled"
            row.call_ended_at = utcnow()


def ring_patient(store: Store, rep_leg: Leg, caller_id: str, body: str) -> Leg:
    """The rep answered: the bridge dials the patient, showing our number (never the rep's)."""
    assert rep_leg.dial is not None
    with store.session() as s:
        row = LocalDelivery(
            provider_id="CAlocal" + uuid.uuid4().hex,
            channel="voice",
            to_address=rep_leg.dial,
            from_address=caller_id,
            body=body,
            language=rep_leg.language,
            parent_id=rep_leg.provider_id,
            call_status="ringing",
        )
        s.add(row)
        s.flush()
        return _leg(row)


def version_in(s: Session) -> str:
    """Changes whenever a bridge leg changes state (for the phone page's poll)."""
    counts = s.execute(
        select(LocalDelivery.call_status, func.count())
        .where(LocalDelivery.call_status.is_not(None))
        .group_by(LocalDelivery.call_status)
        .order_by(LocalDelivery.call_status)
    ).all()
    return ",".join(f"{status}:{n}" for status, n in counts)
