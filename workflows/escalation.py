"""Escalation: a case handed to a human, climbing levels until someone owns it, and always ending.

A child of the case workflow. Reps act through Updates (claim, release, approve, deny, resolve,
reassign, call); each validator refuses what is not allowed before anything reaches history. The
policy it started with is the one it follows to the end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.routing import RoutingActivities, SubmitRequest
    from activities.sendgrid_email import SendGridActivities
    from activities.twilio_phone import TwilioActivities
    from domain import escalation as rules
    from domain import messages
    from domain.escalation import (
        Action,
        ApproveRequest,
        ByActor,
        DenyRequest,
        EscalationInput,
        EscalationLevel,
        EscalationRecord,
        EscalationState,
        EscalationStatus,
        Money,
        ReassignRequest,
        Refusal,
        ResolveRequest,
    )
    from domain.messaging import BridgeCallRequest, Channel, OutboundMessage
    from domain.routing import PatientCallResult, RoutedClaim, RouterInput, WorkItem, WorkKind, WorkWithdrawal
    from workflows.case import provider_outage_is_a_branch, store_step, wait_until
    from workflows.options import with_call, with_provider, with_store
    from workflows.patches import DEADLINES_HOLD_PATCH, REPS_RUNG_PATCH

CLOSED = (EscalationStatus.RESOLVED, EscalationStatus.EXPIRED)


def deadlines_hold() -> bool:
    """The level's deadline holds on release and hand-over, and the final deadline ends the escalation
    (rules.final_deadline); escalations started before this change keep the fresh SLAs they had."""
    return workflow.patched(DEADLINES_HOLD_PATCH)


@workflow.defn
class Escalation:
    @workflow.init
    def __init__(self, inp: EscalationInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        first = self.policy.levels[0]
        now = workflow.now()
        state = EscalationState(
            escalation_id=inp.escalation_id,
            case_id=inp.case_id,
            appointment_id=inp.appointment_id,
            kind=inp.kind,
            reason=inp.reason,
            level_name=first.name,
            sla_deadline=now + timedelta(seconds=first.claim_sla_seconds),
            pending_approval=inp.pending_approval,
            opened_at=now,
        )
        self.state = rules.opened(state, self.policy, now)  # the same deadline, kept as the level's
        self._seq = 0
        self._changes = 0  # bumped by every accepted action: the SLA loop looks again
        # the floor (workflows/rep_router.py): offered to reps, withdrawn, the offer a rep took by pressing 1
        self._offered = False
        self._withdrawn = False
        self._taken_with: str | None = None

    # ------------------------------------------------------------------ the story

    @workflow.run
    async def run(self, inp: EscalationInput) -> EscalationState:
        deadlines_hold()  # decided (and marked in history) once, before the first command
        await self._record("escalation_opened", {"reason": inp.reason}, policy=True)
        await self._notify(self._level, "opened")
        if inp.routing is not None and workflow.patched(REPS_RUNG_PATCH):
            await self._offer_to_reps(inp)
        while self.state.status not in CLOSED:
            await self._withdraw_when_taken()
            if await self._something_happens_before_the_deadline():
                continue  # an action moved the deadline or closed it: look again
            await self._sla_ran_out()
        # let an action that closed it finish writing before the result goes back to the case
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._withdraw_when_taken()
        return self.state

    # ------------------------------------------------------------------ the floor: the next free rep

    async def _offer_to_reps(self, inp: EscalationInput) -> None:
        """Urgent work rings the next free rep's phone (the router picks who, one at a time); until
        someone takes it there or in the console, it waits on the floor as in the queue."""
        assert inp.routing is not None
        item = WorkItem(
            work_id=inp.escalation_id,
            kind=WorkKind.ESCALATION,
            arrived_at=workflow.now(),
            language=inp.language,
            case_id=inp.case_id,
            escalation_id=inp.escalation_id,
            case_kind=inp.kind.value,
            practice=inp.practice,
        )
        router = RouterInput(policy=inp.routing, public_base_url=inp.public_base_url)
        await workflow.execute_activity_method(
            RoutingActivities.submit_work, SubmitRequest(item=item, router=router), **with_store
        )
        self._offered = True

    async def _withdraw_when_taken(self) -> None:
        """Claimed in the console (or closed) while offered: the floor stops offering it, and a rep's
        phone ringing for it stops. Taken by pressing 1, the floor already knows."""
        if not self._offered or self._withdrawn or self.state.status is EscalationStatus.OPEN:
            return
        self._withdrawn = True
        if self._taken_with is None:
            await workflow.execute_activity_method(
                RoutingActivities.withdraw_work, WorkWithdrawal(work_id=self.inp.escalation_id), **with_store
            )

    @workflow.signal
    async def offer_accepted(self, claim: RoutedClaim) -> None:
        """The router: a rep pressed 1 on this escalation's offer. It is theirs, as if they had claimed it
        (unless someone claimed it in the console first, or it closed)."""
        if self.state.status is not EscalationStatus.OPEN or self._taken_with is not None:
            return
        self._taken_with = claim.offer_id
        self._claimed(claim.user)
        await self._record("escalation_claimed", {"by": claim.user, "via": "call", "offer": claim.offer_id})

    @workflow.signal
    async def patient_not_reached(self, result: PatientCallResult) -> None:
        """The rep took it, and the patient did not answer the call: the patient is texted in their
        language, and the escalation goes back to the queue for the next rep (or a console claim)."""
        if result.offer_id != self._taken_with or self.state.status is not EscalationStatus.CLAIMED:
            return
        rep = self.state.claimed_by
        self._taken_with = None
        self._replace(rules.released(self.state, workflow.now()))
        await self._record("patient_not_reached", {"by": rep, "status": result.status})
        if self.inp.patient_phone is None:
            return
        text = OutboundMessage(
            case_id=self.inp.case_id,
            key=f"missed-call-{result.offer_id}",
            channel=Channel.SMS,
            to=self.inp.patient_phone,
            body=messages.missed_call_sms(self.inp.language, self.inp.practice or "makeright"),
            language=self.inp.language,
        )
        try:
            await workflow.execute_activity_method(TwilioActivities.send_sms, text, **with_provider)
        except ActivityError:
            await self._record("patient_text_failed", {"why": "missed_call"})

    async def _something_happens_before_the_deadline(self) -> bool:
        seen = self._changes
        return await wait_until(lambda: self._changes != seen, self.state.sla_deadline)

    async def _sla_ran_out(self) -> None:
        lapsed = self.state.claimed_by if self.state.status is EscalationStatus.CLAIMED else None
        if deadlines_hold():
            self._replace(rules.ran_out(self.state, self.policy, workflow.now()))
            if self.state.status is EscalationStatus.OPEN:
                await self._record(
                    "escalation_breached", {"to_level": self.state.level_name, "claim_lapsed": lapsed}
                )
                await self._notify(self._level, "breached")
                return
            await self._record("escalation_expired", {"claim_lapsed": lapsed, "alert": True}, alert=True)
            # the alert goes to the last level's contacts even when the final deadline ends it lower down
            await self._notify(self.policy.levels[-1], "expired")
            return
        next_level = self.state.level + 1
        if next_level < len(self.policy.levels):
            level = self.policy.levels[next_level]
            self._set(
                level=next_level,
                level_name=level.name,
                status=EscalationStatus.OPEN,
                claimed_by=None,
                breached=True,
                sla_deadline=workflow.now() + timedelta(seconds=level.claim_sla_seconds),
            )
            await self._record("escalation_breached", {"to_level": level.name, "claim_lapsed": lapsed})
            await self._notify(level, "breached")
            return
        self._set(status=EscalationStatus.EXPIRED, claimed_by=None, breached=True, closed_at=workflow.now())
        await self._record("escalation_expired", {"claim_lapsed": lapsed, "alert": True}, alert=True)
        await self._notify(self._level, "expired")

    # ------------------------------------------------------------------ Updates: what reps do

    @workflow.update
    async def claim(self, req: ByActor) -> EscalationState:
        self._check("claim", req.actor)
        self._claimed(req.actor.user)
        await self._record("escalation_claimed", {"by": req.actor.user})
        return self.state

    @claim.validator
    def _validate_claim(self, req: ByActor) -> None:
        self._check("claim", req.actor)

    @workflow.update
    async def release(self, req: ByActor) -> EscalationState:
        self._check("release", req.actor)
        if deadlines_hold():
            # due at the level's own deadline: past it, the level has breached and the case moves up now
            self._replace(rules.released(self.state, workflow.now()))
        else:
            level = self._level
            self._set(
                status=EscalationStatus.OPEN,
                claimed_by=None,
                sla_deadline=workflow.now() + timedelta(seconds=level.claim_sla_seconds),
            )
        await self._record("escalation_released", {"by": req.actor.user})
        return self.state

    @release.validator
    def _validate_release(self, req: ByActor) -> None:
        self._check("release", req.actor)

    @workflow.update
    async def approve(self, req: ApproveRequest) -> EscalationState:
        self._check("approve", req.actor, amount=req.amount)
        self._set(pending_approval=None, approved=req.amount, approved_by=req.actor.user)
        await self._record(
            "compensation_approved",
            {"by": req.actor.user, "amount": f"{req.amount.amount:.2f}", "currency": req.amount.currency},
        )
        return self.state

    @approve.validator
    def _validate_approve(self, req: ApproveRequest) -> None:
        self._check("approve", req.actor, amount=req.amount)

    @workflow.update
    async def deny(self, req: DenyRequest) -> EscalationState:
        self._check("deny", req.actor)
        self._set(pending_approval=None, denied_reason=req.reason, approved_by=req.actor.user)
        await self._record("compensation_denial_decided", {"by": req.actor.user, "reason": req.reason})
        return self.state

    @deny.validator
    def _validate_deny(self, req: DenyRequest) -> None:
        self._check("deny", req.actor)

    @workflow.update
    async def resolve(self, req: ResolveRequest) -> EscalationState:
        self._check("resolve", req.actor, amount=req.compensation)
        self._set(
            status=EscalationStatus.RESOLVED,
            resolved_by=req.actor.user,
            notes=req.notes,
            root_cause=req.root_cause,
            compensation=req.compensation,
            closed_at=workflow.now(),
        )
        detail: dict[str, Any] = {"by": req.actor.user, "root_cause": req.root_cause}
        if req.compensation is not None:
            detail["compensation"] = f"{req.compensation.amount:.2f} {req.compensation.currency}"
        await self._record("escalation_resolved", detail)
        return self.state

    @resolve.validator
    def _validate_resolve(self, req: ResolveRequest) -> None:
        self._check("resolve", req.actor, amount=req.compensation)

    @workflow.update
    async def reassign(self, req: ReassignRequest) -> EscalationState:
        self._check("reassign", req.actor, to=req.to)
        if deadlines_hold():
            # a hand-over keeps the claim's work deadline: passing it around gives nobody more time
            self._replace(rules.reassigned(self.state, self.policy, req.to.user, workflow.now()))
        else:
            self._claimed(req.to.user)
        await self._record("escalation_reassigned", {"by": req.actor.user, "to": req.to.user})
        return self.state

    @reassign.validator
    def _validate_reassign(self, req: ReassignRequest) -> None:
        self._check("reassign", req.actor, to=req.to)

    @workflow.update
    async def call_patient(self, req: ByActor) -> EscalationState:
        """The system rings the rep's phone and dials the patient in; the rep's number stays private."""
        self._check("call", req.actor)
        assert self.inp.patient_phone is not None
        self._set(calls_placed=self.state.calls_placed + 1)
        call = BridgeCallRequest(
            case_id=self.inp.case_id,
            key=f"bridge-{self.inp.escalation_id}-{self.state.calls_placed}",
            rep_user=req.actor.user,
            patient_phone=self.inp.patient_phone,
            language=self.inp.language,
        )
        try:
            placed = await workflow.execute_activity_method(TwilioActivities.bridge_call, call, **with_call)
        except ActivityError:
            # the provider is down or slow: the rep hears so in seconds and may try again
            raise ApplicationError(
                "the phone provider did not answer; try again in a minute", type=Refusal.UNAVAILABLE
            ) from None
        if placed.status == "rejected":
            raise ApplicationError(f"the call could not be placed: {placed.reason}", type=Refusal.WRONG_STATE)
        # the call is placed, not yet answered: its status callbacks tell the timeline what happens next
        await self._record("call_requested", {"by": req.actor.user, "call": self.state.calls_placed})
        return self.state

    @call_patient.validator
    def _validate_call(self, req: ByActor) -> None:
        self._check("call", req.actor)

    @workflow.query
    def current(self) -> EscalationState:
        return self.state

    # ------------------------------------------------------------------ small helpers

    @property
    def _level(self) -> EscalationLevel:
        return self.policy.levels[self.state.level]

    def _check(self, action: Action, actor: Any, amount: Money | None = None, to: Any = None) -> None:
        try:
            rules.check(
                self.state,
                self.policy,
                action,
                actor,
                amount=amount,
                to=to,
                has_patient_phone=self.inp.patient_phone is not None,
            )
        except Refusal as refusal:
            # the type tells the API which answer to give: 409 (state) or 403 (role, limit)
            raise ApplicationError(refusal.message, type=refusal.kind, non_retryable=True) from None

    def _claimed(self, user: str) -> None:
        if deadlines_hold():
            self._replace(rules.claimed(self.state, self.policy, user, workflow.now()))
            return
        self._set(
            status=EscalationStatus.CLAIMED,
            claimed_by=user,
            sla_deadline=workflow.now() + timedelta(seconds=self.policy.work_sla_seconds),
        )

    def _set(self, **changes: Any) -> None:
        self._replace(self.state.model_copy(update=changes))

    def _replace(self, state: EscalationState) -> None:
        self.state = state
        self._changes += 1

    async def _record(
        self, what: str, detail: dict[str, Any], alert: bool = False, policy: bool = False
    ) -> None:
        self._seq += 1
        rec = EscalationRecord(
            state=self.state,
            what=what,
            seq=self._seq,
            detail=detail,
            alert=alert,
            policy=self.policy if policy else None,
        )
        await store_step(CaseStoreActivities.record_escalation, rec)

    async def _notify(self, level: EscalationLevel, why: str) -> None:
        """Tell the level's staff. A notification that cannot be sent (the provider down past its budget)
        is an alert on the timeline, never the end of the escalation or its case."""
        try:
            await self._send_notifications(level, why)
        except ActivityError:
            if not provider_outage_is_a_branch():
                raise
            await self._record("staff_notification_failed", {"level": level.name, "why": why})

    async def _send_notifications(self, level: EscalationLevel, why: str) -> None:
        """Tell the level's on-call contact (staff, by SMS and/or email). No patient data in the text."""
        link = f"{self.inp.public_base_url}/console/escalations/{self.inp.escalation_id}"
        text = {
            "opened": f"Makeright: escalation {self.inp.escalation_id} needs a {level.name} owner. {link}",
            "breached": (
                f"Makeright: escalation {self.inp.escalation_id} breached its SLA; "
                f"now with {level.name}. {link}"
            ),
            "expired": (
                f"Makeright ALERT: escalation {self.inp.escalation_id} expired unresolved "
                f"at {self.state.level_name}. {link}"
            ),
        }[why]
        key = f"{self.inp.escalation_id}-{why}-{self.state.level}"
        if level.notify_sms:
            sms = OutboundMessage(
                case_id=self.inp.case_id, key=key, channel=Channel.SMS, to=level.notify_sms, body=text
            )
            await workflow.execute_activity_method(TwilioActivities.send_sms, sms, **with_provider)
        if level.notify_email:
            mail = OutboundMessage(
                case_id=self.inp.case_id,
                key=key,
                channel=Channel.EMAIL,
                to=level.notify_email,
                subject=text.split(":", 1)[0] + f": {self.inp.escalation_id}",
                body=text,
            )
            await workflow.execute_activity_method(SendGridActivities.send_email, mail, **with_provider)
