"""The one way a test gets a case it does not run a workflow for: the example event through the real intake
(store/inbox.accept_booking_event, as the web app accepts it), so the case, its event row and its first
timeline entry are what production writes, not a hand-built imitation."""

from __future__ import annotations

import json
from typing import Any

from domain.events import BookingEvent
from store import inbox
from store.db import Store
from store.models import Case
from tests.support.settings import example_event


def open_case(store: Store, **changes: Any) -> Case:
    """A booking-conflict case as intake opens it (`changes` as for example_event: a new appointment each
    time, so cases never collide). Returned detached, every column loaded."""
    event = example_event(**changes)
    accepted = inbox.accept_booking_event(store, json.dumps(event).encode(), BookingEvent.received(event))
    assert accepted.case_id and not accepted.duplicate
    with store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None
        return case


def waiting_for_a_choice(store: Store, case_id: str, choices: int = 3) -> None:
    """The case has offered `choices` slots and waits for the patient's answer, as the workflow leaves it
    (its round's offers kept, its status `waiting_patient`): an open offer on the patient's conversation."""
    from sqlalchemy import update

    from store.models import CaseOffer

    slot = {"start": "2030-01-07T10:00:00+00:00", "end": "2030-01-07T10:30:00+00:00"}
    with store.session() as s:
        s.add(CaseOffer(case_id=case_id, offer_round=1, offers=[{"slot": slot}] * choices))
        s.execute(update(Case).where(Case.case_id == case_id).values(status="waiting_patient"))
