"""Ringing a rep with an offer (activities/routing.py): once per offer, whatever happens to an attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.routing import LOST_RING, RingRequest, RoutingActivities, StopRequest
from domain.messaging import OutboundMessage
from domain.routing import Offer, WorkItem, WorkKind
from providers.errors import ProviderAmbiguous
from store.db import Store
from store.models import OutboundMessageRow
from tests.support.prism import add_case

REP = "+31201110001"


class FlakyPhone:
    """Places calls; the first answer is lost (the call may or may not have been placed)."""

    def __init__(self) -> None:
        self.placed: list[OutboundMessage] = []
        self.ended: list[str] = []
        self.lose_next = True

    def place_call(self, msg: OutboundMessage) -> str:
        self.placed.append(msg)
        if self.lose_next:
            self.lose_next = False
            raise ProviderAmbiguous("connection lost after the request")
        return f"CA{len(self.placed):032d}"

    def send_sms(self, msg: OutboundMessage) -> str:
        raise AssertionError("no texts here")

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        # the provider can only say "a call to this number": another offer's call would match too
        return "CA-some-other-offers-call"

    def end_call(self, provider_id: str) -> None:
        self.ended.append(provider_id)


def ring(case_id: str, n: int) -> RingRequest:
    now = datetime.now(UTC)
    item = WorkItem(
        work_id=f"esc-{case_id}-1",
        kind=WorkKind.ESCALATION,
        arrived_at=now,
        language="nl",
        case_id=case_id,
        escalation_id=f"esc-{case_id}-1",
        case_kind="checkin_trouble",
        practice="Uptown Orthopedics",
    )
    offer = Offer(
        offer_id=f"{item.work_id}.o{n}",
        work_id=item.work_id,
        user="anna",
        phone=REP,
        at=now,
        expires_at=now + timedelta(seconds=20),
    )
    return RingRequest(offer=offer, item=item, public_base_url="https://makeright.example", ring_seconds=20)


async def test_an_offer_whose_ring_outcome_was_lost_is_never_rung_again(store: Store) -> None:
    case_id = add_case(store)
    phone = FlakyPhone()
    floor = RoutingActivities(store, phone)
    env = ActivityEnvironment()
    req = ring(case_id, 1)
    with pytest.raises(ApplicationError, match="outcome unknown"):  # retried by the activity's policy
        await env.run(floor.ring_rep, req)
    again = await env.run(floor.ring_rep, req)
    # counted as rung (a second ring of one offer is worse than an offer that times out to the next rep)
    assert (again.status, again.provider_id) == ("already_sent", LOST_RING)
    assert len(phone.placed) == 1
    # and hanging it up does not hang up some other call of the rep's
    await env.run(floor.stop_ringing, StopRequest(offer=req.offer, item=req.item))
    assert phone.ended == []
    # the next offer rings normally, with the whisper and the key's URL
    placed = await env.run(floor.ring_rep, ring(case_id, 2))
    assert placed.status == "sent" and len(phone.placed) == 2
    call = phone.placed[-1]
    assert call.offer_id == f"esc-{case_id}-1.o2" and call.ring_seconds == 20
    assert (
        call.gather_action_url
        == f"https://makeright.example/webhooks/twilio/voice/offer?offer={call.offer_id}"
    )
    assert "Dutch" in call.body and "Uptown Orthopedics" in call.body
    await env.run(floor.stop_ringing, StopRequest(offer=ring(case_id, 2).offer, item=req.item))
    assert phone.ended == [placed.provider_id]
    with store.session() as s:
        keys = list(s.scalars(select(OutboundMessageRow.key).where(OutboundMessageRow.case_id == case_id)))
    assert sorted(keys) == [f"offer-esc-{case_id}-1.o1", f"offer-esc-{case_id}-1.o2"]
