"""The local practice calendar (the local scheduling provider's book): what is booked or blocked, and the
providers it has seen."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.events import BookingEventData, Practice, Provider, Slot
from store.db import Store, insert_once
from store.models import CalendarEntry, KnownProvider


def note_conflict(store: Store, data: BookingEventData) -> None:
    """Remember the provider and block the slot the practice took back, so it is never offered again; in
    one transaction, each row written once (a provider known already, a slot already blocked or booked:
    either way it is not free)."""
    with store.session() as s:
        conn = s.connection()
        conn.execute(
            insert_once(s, KnownProvider, ("provider_id",)),
            dict(
                provider_id=data.provider.id,
                name=data.provider.name,
                specialty=data.provider.specialty,
                practice=data.practice.model_dump(mode="json"),
            ),
        )
        conn.execute(
            insert_once(s, CalendarEntry, ("provider_id", "start")),
            dict(
                practice_id=data.practice.id,
                provider_id=data.provider.id,
                start=data.slot.start,
                end=data.slot.end,
                appointment_id=None,
                kind="blocked",
            ),
        )


def taken(store: Store, provider_id: str, not_before: datetime, horizon: datetime) -> set[datetime]:
    """The starts (UTC) of the provider's booked or blocked slots from `not_before` until `horizon`."""
    with store.session() as s:
        return {
            start.astimezone(UTC)
            for start in s.scalars(
                select(CalendarEntry.start).where(
                    CalendarEntry.provider_id == provider_id,
                    CalendarEntry.start >= not_before,
                    CalendarEntry.start < horizon,
                )
            )
        }


def same_specialty(store: Store, specialty: str, other_than: str) -> list[tuple[Provider, Practice]]:
    """The other known providers of this specialty, with their practices, in a stable order."""
    with store.session() as s:
        others = s.scalars(
            select(KnownProvider)
            .where(KnownProvider.specialty == specialty, KnownProvider.provider_id != other_than)
            .order_by(KnownProvider.provider_id)
        ).all()
        return [
            (
                Provider(id=o.provider_id, name=o.name, specialty=o.specialty),
                Practice.model_validate(o.practice),
            )
            for o in others
        ]


def book(store: Store, practice_id: str, provider_id: str, slot: Slot, appointment_id: str) -> bool:
    """Book the slot for the appointment; False when somebody else took it meanwhile."""
    try:
        with store.session() as s:
            existing = s.scalars(
                select(CalendarEntry).where(
                    CalendarEntry.provider_id == provider_id, CalendarEntry.start == slot.start
                )
            ).one_or_none()
            if existing is not None:
                # a retried booking finds its own entry: that is success, not a clash
                return existing.appointment_id == appointment_id and existing.kind == "booked"
            s.add(
                CalendarEntry(
                    practice_id=practice_id,
                    provider_id=provider_id,
                    start=slot.start,
                    end=slot.end,
                    appointment_id=appointment_id,
                    kind="booked",
                )
            )
    except IntegrityError:
        return False
    return True
