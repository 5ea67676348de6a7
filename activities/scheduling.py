"""Scheduling: alternatives and rebooking. The local adapter keeps a practice calendar in the case store
and offers free slots from configured opening hours; a real booking system plugs in behind the same
activity names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from config.settings import CalendarHours
from domain.models import (
    AlternativesRequest,
    BookingEventData,
    BookRequest,
    ConflictNote,
    OfferedSlot,
    Practice,
    Provider,
    Slot,
    TimelineEntry,
)
from store import cases
from store import offers as offers_store
from store.db import Store
from store.models import CalendarEntry, KnownProvider


class LocalCalendar:
    def __init__(self, store: Store, hours: CalendarHours) -> None:
        self.store = store
        self.hours = hours

    def note_conflict(self, case_id: str, data: BookingEventData) -> None:
        """Remember the provider and block the slot the practice took back, so it is never offered again."""
        with self.store.session() as s:
            known = s.get(KnownProvider, data.provider.id)
            if known is None:
                s.add(
                    KnownProvider(
                        provider_id=data.provider.id,
                        name=data.provider.name,
                        specialty=data.provider.specialty,
                        practice=data.practice.model_dump(mode="json"),
                    )
                )
        try:
            with self.store.session() as s:
                s.add(
                    CalendarEntry(
                        practice_id=data.practice.id,
                        provider_id=data.provider.id,
                        start=data.slot.start,
                        end=data.slot.end,
                        appointment_id=None,
                        kind="blocked",
                    )
                )
        except IntegrityError:
            pass  # already blocked or booked: either way it is not free

    def _free_slots(
        self, provider_id: str, tz: str, not_before: datetime, days: int, limit: int
    ) -> list[Slot]:
        zone = ZoneInfo(tz)
        step = timedelta(minutes=self.hours.slot_minutes)
        opens = time.fromisoformat(self.hours.opens)
        closes = time.fromisoformat(self.hours.closes)
        first_day = not_before.astimezone(zone).date()
        horizon = not_before + timedelta(days=days + 1)
        with self.store.session() as s:
            taken = {
                start.astimezone(UTC)
                for start in s.scalars(
                    select(CalendarEntry.start).where(
                        CalendarEntry.provider_id == provider_id,
                        CalendarEntry.start >= not_before,
                        CalendarEntry.start < horizon,
                    )
                )
            }
        free: list[Slot] = []
        for offset in range(days + 1):
            day = first_day + timedelta(days=offset)
            if day.weekday() not in self.hours.open_days:
                continue
            start = datetime.combine(day, opens, zone)
            day_end = datetime.combine(day, closes, zone)
            while start + step <= day_end and len(free) < limit:
                if start >= not_before and start.astimezone(UTC) not in taken:
                    free.append(Slot(start=start, end=start + step))
                start += step
            if len(free) >= limit:
                break
        return free

    def alternatives(self, req: AlternativesRequest) -> list[OfferedSlot]:
        """Same provider first, then other providers of the same specialty the calendar knows."""
        offers = [
            OfferedSlot(slot=slot, provider=req.provider, practice=req.practice)
            for slot in self._free_slots(
                req.provider.id, req.practice.timezone, req.not_before, req.search_days, req.count
            )
        ]
        if len(offers) < req.count:
            with self.store.session() as s:
                others = s.scalars(
                    select(KnownProvider)
                    .where(
                        KnownProvider.specialty == req.provider.specialty,
                        KnownProvider.provider_id != req.provider.id,
                    )
                    .order_by(KnownProvider.provider_id)
                ).all()
            for other in others:
                practice = Practice.model_validate(other.practice)
                provider = Provider(id=other.provider_id, name=other.name, specialty=other.specialty)
                for slot in self._free_slots(
                    other.provider_id,
                    practice.timezone,
                    req.not_before,
                    req.search_days,
                    req.count - len(offers),
                ):
                    offers.append(OfferedSlot(slot=slot, provider=provider, practice=practice))
                if len(offers) >= req.count:
                    break
        return offers

    def book(self, req: BookRequest) -> bool:
        """Book the chosen slot; False when somebody else took it meanwhile."""
        try:
            with self.store.session() as s:
                existing = s.scalars(
                    select(CalendarEntry).where(
                        CalendarEntry.provider_id == req.offer.provider.id,
                        CalendarEntry.start == req.offer.slot.start,
                    )
                ).one_or_none()
                if existing is not None:
                    # a retried booking finds its own entry: that is success, not a clash
                    return existing.appointment_id == req.appointment_id and existing.kind == "booked"
                s.add(
                    CalendarEntry(
                        practice_id=req.offer.practice.id,
                        provider_id=req.offer.provider.id,
                        start=req.offer.slot.start,
                        end=req.offer.slot.end,
                        appointment_id=req.appointment_id,
                        kind="booked",
                    )
                )
        except IntegrityError:
            return False
        return True


class SchedulingActivities:
    def __init__(self, store: Store, calendar: LocalCalendar) -> None:
        self.store = store
        self.calendar = calendar

    @activity.defn
    async def note_conflict(self, req: ConflictNote) -> None:
        await asyncio.to_thread(self.calendar.note_conflict, req.case_id, req.data)

    @activity.defn
    async def find_alternatives(self, req: AlternativesRequest) -> list[OfferedSlot]:
        if req.offer_round is not None:
            made = await asyncio.to_thread(offers_store.made, self.store, req.case_id, req.offer_round)
            if made is not None:
                return made  # this round was offered before (a retry, a re-run): the same slots
        offers = await asyncio.to_thread(self.calendar.alternatives, req)
        if req.offer_round is not None:
            offers = await asyncio.to_thread(
                offers_store.keep, self.store, req.case_id, req.offer_round, offers
            )
        await asyncio.to_thread(
            cases.add_timeline,
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="alternatives_found",
                key=f"alternatives:{req.not_before.isoformat()}",
                detail={"count": len(offers), "slots": [o.slot.model_dump(mode="json") for o in offers]},
            ),
        )
        return offers

    @activity.defn
    async def book_slot(self, req: BookRequest) -> bool:
        booked = await asyncio.to_thread(self.calendar.book, req)
        await asyncio.to_thread(
            cases.add_timeline,
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="rebooked" if booked else "slot_taken_meanwhile",
                key=f"book:{req.offer.provider.id}:{req.offer.slot.start.isoformat()}",
                detail={"slot": req.offer.slot.model_dump(mode="json"), "provider": req.offer.provider.name},
            ),
        )
        return booked
