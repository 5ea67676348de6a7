"""Scheduling: the practice's calendar, where alternatives are found and the chosen one is booked.
`local` keeps the calendar in the case store (`store.calendar`); a real booking system plugs in behind
the same interface."""

from __future__ import annotations

from typing import Protocol

from domain.booking_conflict import AlternativesRequest, BookRequest, OfferedSlot
from domain.events import BookingEventData


class Calendar(Protocol):
    def note_conflict(self, case_id: str, data: BookingEventData) -> None:
        """The slot the practice took back is not free any more."""
        ...

    def alternatives(self, req: AlternativesRequest) -> list[OfferedSlot]: ...

    def book(self, req: BookRequest) -> bool:
        """Book the chosen slot; False when somebody else took it meanwhile."""
        ...
