"""A rep's key on an offer call (or their Accept or Pass in the console, for an email), to the router
(workflows/rep_router.py), by its Update's and Query's names: the answer decides at once whether the rep
takes the work."""

from __future__ import annotations

from temporalio.client import Client

from config import Settings
from domain.routing import Floor, OfferAnswer, OfferDecision, router_workflow_id

ANSWER_OFFER_UPDATE = "answer_offer"
FLOOR_QUERY = "floor"


async def answer_offer(client: Client, settings: Settings, answer: OfferAnswer) -> OfferDecision:
    handle = client.get_workflow_handle(router_workflow_id(settings.task_queue))
    decision: OfferDecision = await handle.execute_update(
        ANSWER_OFFER_UPDATE, answer, result_type=OfferDecision
    )
    return decision


async def offer_held_by(client: Client, settings: Settings, user: str) -> tuple[str, str] | None:
    """(offer id, work id) of the offer out to `user` now, as the router has it; None when none is."""
    handle = client.get_workflow_handle(router_workflow_id(settings.task_queue))
    floor: Floor = await handle.query(FLOOR_QUERY, result_type=Floor)
    rep = floor.reps.get(user)
    if rep is None or rep.offer_id is None or rep.offer_id not in floor.offers:
        return None
    return rep.offer_id, floor.offers[rep.offer_id].work_id
