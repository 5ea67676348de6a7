"""The router's activities (workflows/rep_router.py): ring a rep's phone with an offer, stop it ringing,
keep the floor in the store, and hand work to the router from an escalation.

Each is one provider call or one store function. Ringing goes through send-once like every call, keyed
by the offer, so a retried or replayed ring never rings a rep twice for the same offer."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.outbound import send_once
from domain.base import Model
from domain.messaging import Channel, OutboundMessage, SendResult
from domain.routing import (
    FloorSnapshot,
    Offer,
    RouterInput,
    WorkItem,
    WorkWithdrawal,
    offer_call_key,
    router_workflow_id,
    whisper,
)
from providers.phone import PhoneGateway
from store import outbox, reps
from store.db import Store

# the router's type and signal names (workflows/rep_router.py): activities do not import workflows
ROUTER_WORKFLOW = "RepRouter"
OFFER_WORK_SIGNAL = "offer_work"
WITHDRAW_WORK_SIGNAL = "withdraw_work"


class RingRequest(Model):
    offer: Offer
    item: WorkItem
    public_base_url: str
    ring_seconds: int


class StopRequest(Model):
    offer: Offer
    item: WorkItem


class SubmitRequest(Model):
    """An escalation's work for the router; `router` is what the router starts with if it is not running."""

    item: WorkItem
    router: RouterInput


# what an offer call whose earlier attempt's outcome was lost counts as (send-once asks `find_sent`)
LOST_RING = "unknown-offer-call"


def _rung_already(msg: OutboundMessage, since: object) -> str:
    """An offer call is never placed twice: when an attempt's outcome was lost it counts as placed. The
    provider cannot tell one offer's call to a rep from another's (same number, same whisper), and a rep
    rung twice for one offer is worse than an offer that times out and goes to the next rep."""
    del msg, since
    return LOST_RING


class RoutingActivities:
    def __init__(self, store: Store, gateway: PhoneGateway) -> None:
        self.store = store
        self.gateway = gateway

    @activity.defn
    async def ring_rep(self, req: RingRequest) -> SendResult:
        """Ring the rep's phone: a whisper (what, the patient's language, the practice), then press 1."""
        offer, item = req.offer, req.item
        msg = OutboundMessage(
            case_id=item.case_id or "",
            key=offer_call_key(offer.offer_id),
            channel=Channel.VOICE,
            to=offer.phone,
            body=whisper(item),
            gather_action_url=f"{req.public_base_url}/webhooks/twilio/voice/offer?offer={offer.offer_id}",
            offer_id=offer.offer_id,
            ring_seconds=req.ring_seconds,
            language="en",
        )
        return await send_once(self.store, msg, self.gateway.place_call, _rung_already, "rep_rung")

    @activity.defn
    async def stop_ringing(self, req: StopRequest) -> None:
        """Hang up the offer's call (timed out, withdrawn): the rep's phone stops ringing."""
        sid = await asyncio.to_thread(
            outbox.provider_id_of, self.store, req.item.case_id or "", offer_call_key(req.offer.offer_id)
        )
        if sid and sid != LOST_RING:
            await asyncio.to_thread(self.gateway.end_call, sid)

    @activity.defn
    async def save_floor(self, snapshot: FloorSnapshot) -> None:
        await asyncio.to_thread(reps.save_floor, self.store, snapshot)

    @activity.defn
    async def submit_work(self, req: SubmitRequest) -> None:
        """Hand work to the router, starting it if it is not running (signal-with-start). The router
        ignores work it already has, so a retried submit offers nothing twice."""
        await activity.client().start_workflow(
            ROUTER_WORKFLOW,
            req.router,
            id=router_workflow_id(activity.info().task_queue),
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=OFFER_WORK_SIGNAL,
            start_signal_args=[req.item],
        )

    @activity.defn
    async def withdraw_work(self, req: WorkWithdrawal) -> None:
        """The work no longer needs routing (claimed in the console, closed): the router stops offering
        it. No router running: nothing is offered, nothing to withdraw."""
        try:
            router = router_workflow_id(activity.info().task_queue)
            await activity.client().get_workflow_handle(router).signal(WITHDRAW_WORK_SIGNAL, req)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
