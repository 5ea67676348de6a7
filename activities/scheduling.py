"""Scheduling: alternatives and rebooking through the practice's calendar (`providers.calendar`), each
round's offers and the booking's outcome kept in the case store (`store.offers`)."""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain.booking_conflict import AlternativesRequest, BookRequest, ConflictNote, OfferedSlot
from providers.calendar import Calendar
from store import offers as offers_store
from store.db import Store


class SchedulingActivities:
    def __init__(self, store: Store, calendar: Calendar) -> None:
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
        return await asyncio.to_thread(
            offers_store.found, self.store, req.case_id, req.offer_round, req.not_before, offers
        )

    @activity.defn
    async def book_slot(self, req: BookRequest) -> bool:
        booked = await asyncio.to_thread(self.calendar.book, req)
        await asyncio.to_thread(offers_store.booked, self.store, req, booked)
        return booked
