"""The slots a case offers in a round are kept: a retried activity or a re-run case (cli.py retry) offers
exactly the slots the patient was texted, so their "1" books the first slot they saw."""

from __future__ import annotations

from datetime import timedelta

from activities.scheduling import SchedulingActivities
from config import CalendarHours
from domain.booking_conflict import AlternativesRequest
from domain.events import BookingEvent
from providers.calendar.local import LocalCalendar
from store.db import Store
from tests.support.settings import example_event


async def test_a_round_offers_the_same_slots_however_often_it_is_asked(any_db_url: str) -> None:
    store = Store(any_db_url)
    activities = SchedulingActivities(store, LocalCalendar(store, CalendarHours()))
    data = BookingEvent.model_validate(example_event()).data
    ask = AlternativesRequest(
        case_id="case-offers-1",
        practice=data.practice,
        provider=data.provider,
        original=data.slot,
        not_before=data.slot.start,
        count=3,
        search_days=14,
        offer_round=1,
    )
    first = await activities.find_alternatives(ask)
    assert len(first) == 3
    # the re-run asks a day later: the calendar would now say otherwise, the patient was sent `first`
    later = ask.model_copy(update={"not_before": data.slot.start + timedelta(days=1)})
    assert await activities.find_alternatives(later) == first
    # another round is a new offer, and another case has its own
    second_round = await activities.find_alternatives(later.model_copy(update={"offer_round": 2}))
    assert second_round != first
    other_case = await activities.find_alternatives(later.model_copy(update={"case_id": "case-offers-2"}))
    assert other_case == second_round
