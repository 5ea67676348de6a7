"""A rep's key on an offer call, to the router (workflows/rep_router.py), by its Update's name: the
answer decides at once whether the rep is connected to the patient."""

from __future__ import annotations

from temporalio.client import Client

from config import Settings
from domain.routing import OfferAnswer, OfferDecision, router_workflow_id

ANSWER_OFFER_UPDATE = "answer_offer"


async def answer_offer(client: Client, settings: Settings, answer: OfferAnswer) -> OfferDecision:
    handle = client.get_workflow_handle(router_workflow_id(settings.task_queue))
    decision: OfferDecision = await handle.execute_update(
        ANSWER_OFFER_UPDATE, answer, result_type=OfferDecision
    )
    return decision
