"""RepRouter: the floor of reps on duty, and the work offered to them one rep at a time.

One long-lived workflow (id `rep-router`) holds the truth: who is available, what is offered to whom,
what waits. Everything that changes the floor arrives here (presence and a rep's key as Updates, work,
withdrawals and call progress as Signals), is decided by the pure rules in domain/routing.py, and is
carried out by activities (ring a rep, stop the ringing, keep the floor in the store). Because one
workflow applies every change in turn, a rep is never offered two things and work never goes to two
reps, however many web replicas and workers there are; a killed worker's router resumes on another
from its history, with its offers' timers still running.

Handlers never await: they change the floor and wake the loop, which carries out the effects. The
history is kept short by continue-as-new when Temporal suggests it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.routing import RingRequest, RoutingActivities, StopRequest
    from domain import routing
    from domain.cases import TimelineEntry
    from domain.routing import (
        Accepted,
        Effect,
        FloorSnapshot,
        Missed,
        OfferAnswer,
        OfferCallStatus,
        OfferDecision,
        PresenceChange,
        RepView,
        Ring,
        RoutedClaim,
        RouterInput,
        Step,
        StopRinging,
        WorkDone,
        WorkItem,
        WorkKind,
        WorkWithdrawal,
    )
    from workflows.case import store_step, wait_until
    from workflows.options import with_call
    from workflows.patches import EMAIL_WORK_PATCH

# a ring that cannot be placed within this (the provider down) is a miss: the next rep is tried
with_ring = with_call
# hanging up a phone that rings for nothing: tried for a minute, then left to Twilio's own ring timeout
with_stop: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5)),
}
# Twilio statuses of a rep's call that mean it never got through
RANG_OUT = ("no-answer", "busy", "failed")


@workflow.defn(name="RepRouter")
class RepRouter:
    @workflow.init
    def __init__(self, inp: RouterInput) -> None:
        self.policy = inp.policy
        self.floor = inp.floor
        self.base_url = inp.public_base_url
        self._effects: list[Effect] = []
        self._changed = True  # save the floor once at the start (a new run, or after continue-as-new)
        self._in_flight = 0  # effects being carried out (rings, hang-ups, claims)

    # ------------------------------------------------------------------ the loop

    @workflow.run
    async def run(self, inp: RouterInput) -> None:
        while True:
            deadline = routing.next_deadline(self.floor)
            woken = lambda: self._changed or bool(self._effects)  # noqa: E731
            if deadline is None:  # nothing timed: no timer at all until something happens
                await workflow.wait_condition(woken)
            else:
                await wait_until(woken, deadline)
            self._apply(routing.tick(self.floor, workflow.now(), self.policy))
            effects, self._effects = self._effects, []
            self._changed = False
            for effect in effects:
                self._carry_out(effect)
            await self._save()
            if (
                workflow.info().is_continue_as_new_suggested()
                # (a history shorter than the limit replays unchanged: the condition is false all through it)
                or workflow.info().get_current_history_length() > self.policy.history_limit
            ):
                await workflow.wait_condition(
                    lambda: self._in_flight == 0 and workflow.all_handlers_finished()
                )
                if not self._effects:
                    workflow.continue_as_new(
                        RouterInput(policy=self.policy, floor=self.floor, public_base_url=self.base_url)
                    )

    def _apply(self, step: Step) -> None:
        if step.floor != self.floor or step.effects:
            self._changed = True
        self.floor = step.floor
        self._effects.extend(step.effects)

    async def _save(self) -> None:
        floor = self.floor
        snapshot = FloorSnapshot(
            reps=tuple(RepView.of(rep, floor) for rep in floor.reps.values()),
            waiting=len(routing.waiting(floor)),
            at=workflow.now(),
        )
        await store_step(RoutingActivities.save_floor, snapshot)

    # ------------------------------------------------------------------ carrying out what was decided

    def _carry_out(self, effect: Effect) -> None:
        """Each effect runs on its own (a slow ring holds up nothing else); its outcome comes back to the
        floor as any other event would."""
        self._in_flight += 1
        task = asyncio.ensure_future(self._effect(effect))
        task.add_done_callback(lambda _: self._done())

    def _done(self) -> None:
        self._in_flight -= 1

    async def _effect(self, effect: Effect) -> None:
        if isinstance(effect, Ring):
            await self._ring(effect)
        elif isinstance(effect, StopRinging):
            await self._stop(effect)
        elif isinstance(effect, Accepted):
            await self._tell_accepted(effect)
        elif isinstance(effect, Missed):
            await self._note_missed(effect)

    @staticmethod
    def _in_console(item: WorkItem) -> bool:
        """Work offered on the rep's console page, not on their phone (an email): nothing rings."""
        return item.kind is WorkKind.EMAIL and workflow.patched(EMAIL_WORK_PATCH)

    async def _ring(self, ring: Ring) -> None:
        if self._in_console(ring.item):
            return  # the floor's snapshot (saved after this step) shows the offer on the rep's console
        req = RingRequest(
            offer=ring.offer,
            item=ring.item,
            public_base_url=self.base_url,
            ring_seconds=self.policy.offer_seconds,
        )
        try:
            placed = await workflow.execute_activity_method(RoutingActivities.ring_rep, req, **with_ring)
            rang = placed.reached_provider
        except Exception:  # the phone provider is down: this rep cannot be reached now
            rang = False
        if not rang:
            self._apply(routing.rang_out(self.floor, ring.offer.offer_id, workflow.now(), self.policy))

    async def _stop(self, stop: StopRinging) -> None:
        if self._in_console(stop.item):
            return  # no phone rings for it
        try:
            await workflow.execute_activity_method(
                RoutingActivities.stop_ringing, StopRequest(offer=stop.offer, item=stop.item), **with_stop
            )
        except Exception:
            workflow.logger.warning("could not hang up offer %s: it rings out", stop.offer.offer_id)

    async def _tell_accepted(self, accepted: Accepted) -> None:
        """The escalation is the rep's: it claims itself for them (it may have ended meanwhile)."""
        detail: dict[str, object] = {"by": accepted.offer.user}
        if self._in_console(accepted.item):
            detail["work"] = accepted.item.kind.value  # taken in the console: no call
        await self._timeline(accepted.item, "offer_accepted", accepted.offer.offer_id, detail)
        if accepted.item.escalation_id is None:
            return
        handle = workflow.get_external_workflow_handle(accepted.item.escalation_id)
        try:
            await handle.signal(
                "offer_accepted", RoutedClaim(user=accepted.offer.user, offer_id=accepted.offer.offer_id)
            )
        except Exception:
            workflow.logger.info("escalation %s ended before its offer was accepted", accepted.item.work_id)

    async def _note_missed(self, missed: Missed) -> None:
        detail: dict[str, object] = {"rep": missed.offer.user, "why": missed.why}
        if missed.rep_set_away:
            detail["rep_set_away"] = True
        if self._in_console(missed.item):
            detail["work"] = missed.item.kind.value
        await self._timeline(missed.item, "offer_missed", missed.offer.offer_id, detail)

    async def _timeline(self, item: WorkItem, what: str, offer_id: str, detail: dict[str, object]) -> None:
        if item.case_id is None:
            return
        entry = TimelineEntry(case_id=item.case_id, what=what, key=f"{what}:{offer_id}", detail=detail)
        await store_step(CaseStoreActivities.add_timeline, entry)

    # ------------------------------------------------------------------ what comes in

    @workflow.update
    def set_presence(self, change: PresenceChange) -> RepView:
        self._apply(
            routing.set_presence(
                self.floor,
                change.user,
                change.status,
                workflow.now(),
                self.policy,
                phone=change.phone,
                languages=change.languages,
            )
        )
        return RepView.of(self.floor.reps[change.user], self.floor)

    @set_presence.validator
    def _validate_presence(self, change: PresenceChange) -> None:
        """Refused before anything reaches history: available with nowhere to ring."""
        if change.status == "available" and not change.phone and not self._phone_of(change.user):
            raise ApplicationError("a phone is needed to take work: give one", type="phone")

    @workflow.update
    def answer_offer(self, answer: OfferAnswer) -> OfferDecision:
        """The rep's key on the offer call: 1 takes the work, anything else passes it on."""
        offer = self.floor.offers.get(answer.offer_id)
        item = next((w for w in self.floor.queue if offer and w.work_id == offer.work_id), None)
        if offer is None or item is None:
            why = routing.can_accept(self.floor, answer.offer_id)
            return OfferDecision(accepted=False, reason=why)
        now = workflow.now()
        if answer.digits.strip() != "1":
            self._apply(routing.decline(self.floor, answer.offer_id, now, self.policy))
            return OfferDecision(accepted=False, reason="declined", work_id=item.work_id, kind=item.kind)
        self._apply(routing.accept(self.floor, answer.offer_id, now, self.policy))
        return OfferDecision(
            accepted=True,
            user=offer.user,
            escalation_id=item.escalation_id,
            case_id=item.case_id,
            work_id=item.work_id,
            kind=item.kind,
        )

    @answer_offer.validator
    def _validate_answer(self, answer: OfferAnswer) -> None:
        """Any key for any offer id is taken in: one no longer out is answered "not yours" (no change)."""

    @workflow.signal
    def offer_work(self, item: WorkItem) -> None:
        self._apply(routing.add_work(self.floor, item, workflow.now(), self.policy))

    @workflow.signal
    def withdraw_work(self, withdrawal: WorkWithdrawal) -> None:
        self._apply(routing.withdraw(self.floor, withdrawal.work_id, workflow.now(), self.policy))

    @workflow.signal
    def work_done(self, done: WorkDone) -> None:
        """Work finished outside a call (an email's answer went out, by whoever): the rep who took it wraps
        up as after a call, and an offer still out for it is withdrawn."""
        self._apply(routing.work_done(self.floor, done.work_id, workflow.now(), self.policy))

    @workflow.signal
    def offer_call_status(self, report: OfferCallStatus) -> None:
        """Twilio's word on the rep's phone: it rang out, or the call is over."""
        now = workflow.now()
        if report.status in RANG_OUT:
            self._apply(routing.rang_out(self.floor, report.offer_id, now, self.policy))
        elif report.status == "completed":
            self._apply(routing.call_ended(self.floor, report.offer_id, now, self.policy))

    @workflow.query(name="floor")
    def floor_now(self) -> routing.Floor:
        return self.floor

    def _phone_of(self, user: str) -> str | None:
        rep = self.floor.reps.get(user)
        return rep.phone if rep else None
