"""The local calendar: free slots from configured opening hours, minus what `store.calendar` holds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from config.settings import CalendarHours
from domain.booking_conflict import AlternativesRequest, BookRequest, OfferedSlot
from domain.events import BookingEventData, Slot
from store import calendar
from store.db import Store


class LocalCalendar:
    def __init__(self, store: Store, hours: CalendarHours) -> None:
        self.store = store
        self.hours = hours

    def note_conflict(self, case_id: str, data: BookingEventData) -> None:
        """Remember the provider and block the slot the practice took back, so it is never offered again."""
        calendar.note_conflict(self.store, data)

    def _free_slots(
        self, provider_id: str, tz: str, not_before: datetime, days: int, limit: int
    ) -> list[Slot]:
        zone = ZoneInfo(tz)
        step = timedelta(minutes=self.hours.slot_minutes)
        opens = time.fromisoformat(self.hours.opens)
        closes = time.fromisoformat(self.hours.closes)
        first_day = not_before.astimezone(zone).date()
        horizon = not_before + timedelta(days=days + 1)
        taken = calendar.taken(self.store, provider_id, not_before, horizon)
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
            for provider, practice in calendar.same_specialty(
                self.store, req.provider.specialty, req.provider.id
            ):
                for slot in self._free_slots(
                    provider.id,
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
        return calendar.book(
            self.store, req.offer.practice.id, req.offer.provider.id, req.offer.slot, req.appointment_id
        )
