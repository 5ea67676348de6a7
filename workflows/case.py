"""The case toolkit: what every case story does the same way, written once.

A story (`booking_conflict.py`, `checkin_trouble.py`, `feedback.py`, ...) holds a `Case`, the case's
identity (case id, kind, appointment, patient, practice, policy) with what the story does to it: text,
email or call the patient within the contact rules, set the status, add to the timeline, pay a gift
card, hand it to people (`escalate`), file the root cause, ask for feedback. Around it, the mechanics
every workflow shares: `wait_until` (until something changes, or a deadline), `ReplyInbox` (a patient's
answers, each counted once), `store_step` (one read or write of the case store) and `send` (a message,
once). Workflow code: each step is one activity call with the timeouts from `options.py`; a change to
the commands a step issues is a workflow change for every story (README, "Changing a workflow").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.gift_cards import GiftCardActivities
    from activities.sendgrid_email import SendGridActivities
    from activities.tickets import TicketActivities
    from activities.twilio_phone import TwilioActivities
    from domain import contact_rules, messages
    from domain.base import PROVIDER_REJECTED, CaseKind
    from domain.cases import CaseResult, CaseStatus, CaseUpdate, Outcome, TimelineEntry
    from domain.compensation import DenialRequest, GiftCardRequest, GiftCardResult, ReserveRequest
    from domain.escalation import EscalationInput, EscalationPolicy, EscalationState, Money
    from domain.events import Patient, Slot
    from domain.feedback import FeedbackInput
    from domain.ids import feedback_workflow_id, gift_card_key
    from domain.messaging import Channel, ContactHistoryRequest, OutboundMessage, SendResult
    from domain.policy import RecoveryPolicy
    from domain.routing import RoutingPolicy
    from domain.tickets import TicketRequest, TicketSyncRequest
    from workflows.options import with_provider, with_store, with_store_local
    from workflows.patches import (
        COMPENSATION_BUDGET_PATCH,
        FEEDBACK_PATCH,
        LOCAL_STORE_PATCH,
        NEWS_PATCH,
        PROVIDER_OUTAGE_PATCH,
        RECHECK_AFTER_DEFERRAL_PATCH,
        SUB_MILLISECOND_TIMER_PATCH,
        TRACKER_SYNC_PATCH,
    )
    from workflows.ticket_sync import TicketSync, ticket_sync_id

# Children started by their type name: their modules use this toolkit themselves.
ESCALATION_WORKFLOW = "Escalation"
FEEDBACK_WORKFLOW = "FeedbackRequest"

A = TypeVar("A")
R = TypeVar("R")


class Case:
    """One case as its story sees it. Built once per run (in the workflow's `__init__`, so a query or a
    signal before the first step finds it). What reaches the patient is tracked here, so every message
    of the case obeys it: `sms_works` (they have a phone, did not opt out, and the number was not
    refused), `texts_arrive` (no text was reported undelivered), `outage` (a provider stayed down past
    its budget in this case). Amounts are in the policy's compensation currency unless one is given."""

    def __init__(
        self,
        *,
        case_id: str,
        kind: CaseKind,
        appointment_id: str,
        patient: Patient,
        practice_name: str,
        policy: RecoveryPolicy,
        public_base_url: str,
        practice_id: str | None = None,
        language: str | None = None,
        sms_works: bool = True,
        root_cause: str | None = None,
    ) -> None:
        self.case_id = case_id
        self.kind = kind
        self.appointment_id = appointment_id
        self.patient = patient
        self.practice_name = practice_name
        self.practice_id = practice_id
        self.policy = policy
        self.public_base_url = public_base_url
        if language is None:
            language = messages.language_for(patient.locale, policy.locales, policy.default_locale)
        self.language = language
        self.sms_works = sms_works and patient.phone is not None
        self.texts_arrive = True
        self.outage = False
        self.status = CaseStatus.OPEN
        self.root_cause = root_cause  # written with every status change
        self.reserved = False  # a payment reserved in the ledger within the caps, not yet issued
        self._escalations = 0
        self._deferrals = 0

    # ------------------------------------------------------------------ the patient

    async def sms(self, key: str, body: str) -> bool:
        """A text, unless texts cannot reach the patient (see the class). An invalid number stops texts
        for the rest of the case. True when it reached the provider."""
        if not (self.sms_works and self.texts_arrive) or self.patient.phone is None:
            return False
        sent = await send(self.case_id, Channel.SMS, key, self.patient.phone, body, self.language)
        if sent.status == "rejected":
            self.sms_works = False  # an invalid number: fall back to email from now on
        self.outage |= sent.status == "unavailable"  # alerted on the timeline by `send`
        return sent.reached_provider

    async def email(self, key: str, subject: str, body: str) -> bool:
        """An email, when the patient has an address. True when it reached the provider."""
        if self.patient.email is None:
            return False
        sent = await send(self.case_id, Channel.EMAIL, key, self.patient.email, body, self.language, subject)
        self.outage |= sent.status == "unavailable"
        return sent.reached_provider

    async def call(self, key: str, body: str, gather_action_url: str) -> bool:
        """A call that reads `body` and takes keypad choices (the answer comes back as a reply). False
        when the phone is out (no number, a STOP, a refused number: `sms_works`), the call was refused,
        or the provider stayed down past its budget (an alert on the timeline)."""
        if not self.sms_works or self.patient.phone is None:
            return False
        call = OutboundMessage(
            case_id=self.case_id,
            key=key,
            channel=Channel.VOICE,
            to=self.patient.phone,
            body=body,
            gather_action_url=gather_action_url,
            language=self.language,
        )
        try:
            placed = await workflow.execute_activity_method(
                TwilioActivities.place_call, call, **with_provider
            )
        except ActivityError:
            if not provider_outage_is_a_branch():
                raise
            self.outage = True
            await self.alert("provider_unavailable", f"voice:{key}", {"channel": "voice"})
            return False
        return placed.status != "rejected"

    # ------------------------------------------------------------------ the contact rules

    async def until_contact_allowed(self, news_before: datetime | None = None) -> None:
        """Before the first message of a case: it starts a conversation the patient did not ask for, so
        quiet hours in their time zone and the frequency caps (conversations started, over every case)
        apply, unless an exchange with them is under way (they wrote to us in the last day, or another of
        their cases in progress has exchanged messages with them). `news_before`: the message is news
        about the patient's own appointment starting then, which the caps never hold past the last waking
        moment a margin before it (`contact_rules.next_allowed_for_news`). A durable timer defers it;
        nothing is dropped. On waking it asks again: what happened meanwhile (another case texted them,
        the day's cap was reached) may defer it again."""
        while True:
            allowed = await self._next_allowed(news_before)
            if allowed <= workflow.now():
                return
            await self.defer_until(allowed)
            if not workflow.patched(RECHECK_AFTER_DEFERRAL_PATCH):
                return  # histories from before the re-check went straight on after one sleep

    async def until_outside_quiet_hours(self) -> None:
        """A follow-up within the case (the call after an unanswered text) still keeps quiet hours."""
        rules = self.policy.contact
        await self.defer_until(
            contact_rules.outside_quiet_hours(workflow.now(), self.patient.timezone, rules)
        )

    async def defer_until(self, allowed: datetime) -> None:
        """Sleep (a durable timer) until `allowed`, with the deferral on the timeline; at once if it is."""
        if allowed <= workflow.now():
            return
        self._deferrals += 1
        await self.timeline(
            "outreach_deferred",
            f"deferred:{self._deferrals}",
            {"until": allowed.isoformat(), "patient_timezone": self.patient.timezone},
        )
        await workflow.sleep(allowed - workflow.now())

    async def _next_allowed(self, news_before: datetime | None = None) -> datetime:
        patient = self.patient
        history = await store_step(
            CaseStoreActivities.contact_history,
            ContactHistoryRequest(
                addresses=tuple(a for a in (patient.phone, patient.email) if a),
                since=workflow.now() - timedelta(days=7),
                exclude_case_id=self.case_id,
                patient_id=patient.id,
            ),
        )
        in_conversation = history.in_conversation(workflow.now())
        if news_before is not None and workflow.patched(NEWS_PATCH):
            return contact_rules.next_allowed_for_news(
                workflow.now(),
                patient.timezone,
                news_before,
                history.sent,
                in_conversation=in_conversation,
                rules=self.policy.contact,
            )
        return contact_rules.next_allowed(
            workflow.now(),
            patient.timezone,
            history.sent,
            in_conversation=in_conversation,
            rules=self.policy.contact,
        )

    # ------------------------------------------------------------------ the record

    async def set_status(
        self,
        status: CaseStatus,
        what: str,
        *,
        key: str | None = None,
        outcome: Outcome | None = None,
        needs_rep: bool | None = None,
        new_slot: Slot | None = None,
        ticket_id: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        """The case's status (with its root cause as known now), and the step on its timeline."""
        update = CaseUpdate(
            case_id=self.case_id,
            status=status,
            outcome=outcome,
            needs_rep=needs_rep,
            new_slot=new_slot,
            root_cause=self.root_cause,
            ticket_id=ticket_id,
            what=what,
            key=key,
            detail=detail or {},
        )
        await store_step(CaseStoreActivities.update_case, update)
        self.status = status

    async def timeline(self, what: str, key: str, detail: dict[str, object]) -> None:
        await _timeline(self.case_id, what, key, detail)

    async def alert(self, what: str, key: str, detail: dict[str, object]) -> None:
        """Something the system could not do and people should know, on the case's timeline."""
        await _alert(self.case_id, what, key, detail)

    def result(
        self,
        status: CaseStatus,
        outcome: Outcome | None,
        *,
        needs_rep: bool = False,
        new_slot: Slot | None = None,
        ticket_id: str | None = None,
        amount: Decimal | None = None,
    ) -> CaseResult:
        return CaseResult(
            case_id=self.case_id,
            status=status,
            outcome=outcome,
            needs_rep=needs_rep,
            new_slot=new_slot,
            ticket_id=ticket_id,
            compensation_amount=amount,
        )

    # ------------------------------------------------------------------ money

    def gift_card_request(self, amount: Decimal, currency: str | None = None) -> GiftCardRequest:
        return GiftCardRequest(
            case_id=self.case_id,
            patient_id=self.patient.id,
            amount=amount,
            currency=self.policy.compensation.currency if currency is None else currency,
            idempotency_key=gift_card_key(self.case_id),
        )

    async def issue_gift_card(self, amount: Decimal, currency: str | None = None) -> GiftCardResult:
        """Paid once per case: the provider and the ledger are both keyed on the case. A provider down
        past its budget, or one that refused the order (a 4xx, e.g. Tango's 402 for an account without
        funds): nobody can issue the card by hand here, so the case fails on record (an alert on its
        timeline with the refusal, the reconciler marks it `failed`) and an engineer re-runs it once the
        provider is back or the account is fixed (`cli.py retry`: still paid once)."""
        request = self.gift_card_request(amount, currency)
        try:
            return await workflow.execute_activity_method(
                GiftCardActivities.issue_gift_card, request, **with_provider
            )
        except ActivityError as err:
            if not provider_outage_is_a_branch():
                raise
            refused = _refusal(err)
            detail: dict[str, object] = {"amount": f"{request.amount:.2f}", "currency": request.currency}
            if refused:
                detail["refused"] = refused
            await self.alert("compensation_failed", "gift_card", detail)
            why = (
                f"the provider refused it: {refused}"
                if refused
                else "the provider did not answer within its retry budget"
            )
            raise ApplicationError(
                f"the gift card could not be issued: {why}",
                type="CompensationFailed",
                non_retryable=True,
            ) from None

    async def reserve_compensation(self, amount: Decimal) -> str | None:
        """Before paying on its own: the patient's yearly cap and today's budget, checked and reserved in
        the ledger at once. The reason it must wait for a person, or None when it fits (and is reserved)."""
        if not workflow.patched(COMPENSATION_BUDGET_PATCH):
            return None
        verdict = await store_step(
            GiftCardActivities.reserve_compensation,
            ReserveRequest(payment=self.gift_card_request(amount), rules=self.policy.compensation),
        )
        self.reserved = verdict.fits
        return None if verdict.fits else (verdict.reason or "over the compensation limits")

    async def release_reservation(self, amount: Decimal) -> None:
        """Nothing is paid after all: what was reserved goes back to today's budget."""
        await store_step(GiftCardActivities.release_reservation, self.gift_card_request(amount))

    async def record_pending_approval(self, amount: Decimal) -> None:
        await store_step(GiftCardActivities.record_pending_approval, self.gift_card_request(amount))

    async def record_denial(self, amount: Decimal, reason: str, denied_by: str) -> None:
        await store_step(
            GiftCardActivities.record_denial,
            DenialRequest(
                case_id=self.case_id,
                patient_id=self.patient.id,
                amount=amount,
                currency=self.policy.compensation.currency,
                idempotency_key=gift_card_key(self.case_id),
                reason=reason,
                denied_by=denied_by,
            ),
        )

    # ------------------------------------------------------------------ people, causes, feedback

    async def escalate(
        self,
        reason: str,
        *,
        policy: EscalationPolicy | None = None,
        pending: Decimal | None = None,
        escalation_id: str | None = None,
        rep_may_call: bool | None = None,
    ) -> EscalationState:
        """Hand the case to people (the Escalation child, `policy.escalation` unless another is given)
        and wait until they resolve it or it expires. `pending`: compensation awaiting approval.
        `rep_may_call`: whether the rep gets the patient's number for the bridge call; by default while
        texts may reach them (a STOP or a refused number ends calls too)."""
        self._escalations += 1
        may_call = self.sms_works if rep_may_call is None else rep_may_call
        currency = self.policy.compensation.currency
        inp = EscalationInput(
            escalation_id=escalation_id or f"esc-{self.case_id}-{self._escalations}",
            case_id=self.case_id,
            appointment_id=self.appointment_id,
            kind=self.kind,
            reason=reason,
            policy=policy or self.policy.escalation,
            pending_approval=Money(amount=pending, currency=currency) if pending else None,
            patient_phone=self.patient.phone if may_call else None,
            language=self.language,
            public_base_url=self.public_base_url,
            routing=self._rings_a_rep(reason, may_call),
            practice=self.practice_name or "",
        )
        # the child's id is the escalation id the console and API use
        return await workflow.execute_child_workflow(
            ESCALATION_WORKFLOW, inp, id=inp.escalation_id, result_type=EscalationState
        )

    async def hand_to_people(self, reason: str, **escalation: Any) -> EscalationState:
        """The case is `escalated` (a rep must act: `needs_rep`, with the reason on its timeline), handed to
        people (`escalate`, with its keyword arguments) and back when they resolved it or it expired; the
        root cause a resolving rep named is the case's from then on."""
        await self.set_status(CaseStatus.ESCALATED, "needs_rep", needs_rep=True, detail={"reason": reason})
        state = await self.escalate(reason, **escalation)
        if state.root_cause:
            self.root_cause = state.root_cause
        return state

    async def closed_by_rep(
        self, state: EscalationState, summary: str, amount: Decimal | None = None
    ) -> CaseResult:
        """A rep resolved the case (what the story does with what they granted done first): its root cause
        on the problem ticket, the case closed `resolved` by the rep, and the patient asked to rate it."""
        ticket_id = await self.file_root_cause(summary)
        await self.set_status(
            CaseStatus.RESOLVED,
            "case_closed",
            outcome=Outcome.RESOLVED_BY_REP,
            needs_rep=False,
            ticket_id=ticket_id,
            detail={"outcome": Outcome.RESOLVED_BY_REP.value, "by": state.resolved_by},
        )
        await self.ask_for_feedback()
        return self.result(CaseStatus.RESOLVED, Outcome.RESOLVED_BY_REP, ticket_id=ticket_id, amount=amount)

    async def expired_unowned(
        self, summary: str, detail: dict[str, object], outcome: Outcome | None = None
    ) -> CaseResult:
        """Nobody owned the case in time at any level: it fails loudly (`escalation_expired`, people must
        still act) and still counts for its cause."""
        ticket_id = await self.file_root_cause(summary)
        await self.set_status(
            CaseStatus.FAILED, "escalation_expired", needs_rep=True, ticket_id=ticket_id, detail=detail
        )
        return self.result(CaseStatus.FAILED, outcome, needs_rep=True, ticket_id=ticket_id)

    def _rings_a_rep(self, reason: str, may_call: bool) -> RoutingPolicy | None:
        """The floor's rules when this reason rings the next free rep (and the rep may call the patient)."""
        rules = self.policy.routing
        if rules is None or not may_call or reason not in rules.auto_call_reasons:
            return None
        return rules

    async def file_root_cause(self, summary: str) -> str:
        """The case's root cause (as set now) on its practice's problem ticket; the ticket's id. The local
        ticket now; the external tracker's issue (when one is configured) by a TicketSync child that the
        case does not wait for, so a tracker outage never holds the case open."""
        assert self.root_cause is not None and self.practice_id is not None
        request = TicketRequest(
            case_id=self.case_id,
            cause=self.root_cause,
            practice_id=self.practice_id,
            practice_name=self.practice_name,
            summary=summary,
        )
        ticket = await store_step(TicketActivities.link_root_cause, request)
        if ticket.sync and workflow.patched(TRACKER_SYNC_PATCH):
            try:
                await workflow.start_child_workflow(
                    TicketSync.run,
                    TicketSyncRequest(case_id=self.case_id, ticket_id=ticket.ticket_id),
                    id=ticket_sync_id(self.case_id),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                pass  # a re-run of the case: the first run's sync has it (and comments once either way)
        return ticket.ticket_id

    async def ask_for_feedback(self) -> None:
        """After the case closed `resolved`: its FeedbackRequest child, which the case does not wait for
        (the patient has a day to answer). Started once per case, whatever re-runs the case."""
        if not workflow.patched(FEEDBACK_PATCH) or not self.policy.feedback.enabled:
            return
        inp = FeedbackInput(
            case_id=self.case_id,
            kind=self.kind,
            appointment_id=self.appointment_id,
            patient=self.patient,
            practice_name=self.practice_name,
            language=self.language,
            policy=self.policy,
            public_base_url=self.public_base_url,
            sms_works=self.sms_works and self.texts_arrive,
        )
        try:
            await workflow.start_child_workflow(
                FEEDBACK_WORKFLOW,
                inp,
                id=feedback_workflow_id(self.case_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            pass  # a re-run of the case: the first run's request stands


# ---------------------------------------------------------------------- waiting


async def wait_until(predicate: Callable[[], bool], deadline: datetime) -> bool:
    """Wait until `predicate` holds (True) or `deadline` passes (False; at once, with no timer, when it
    already has). One `wait_condition` with the time left as its timeout: a durable timer that a
    predicate already true cancels before it is ever sent. Call it again after acting on a change."""
    remaining = (deadline - workflow.now()).total_seconds()
    if remaining <= 0 or (remaining < 0.001 and workflow.patched(SUB_MILLISECOND_TIMER_PATCH)):
        return False
    try:
        await workflow.wait_condition(predicate, timeout=timedelta(seconds=remaining))
    except TimeoutError:
        return False
    return True


class _Reply(Protocol):
    @property
    def provider_ref(self) -> str | None: ...


T = TypeVar("T", bound=_Reply)


class ReplyInbox(Generic[T]):
    """A patient's answers as signals deliver them. One relayed twice (inline and by the relay) counts
    once; `next()` hands them out in order."""

    def __init__(self) -> None:
        self.replies: list[T] = []
        self._seen_refs: set[str] = set()
        self._read = 0

    def add(self, reply: T) -> bool:
        if reply.provider_ref is not None:
            if reply.provider_ref in self._seen_refs:
                return False
            self._seen_refs.add(reply.provider_ref)
        self.replies.append(reply)
        return True

    def waiting(self) -> bool:
        return self._read < len(self.replies)

    def next(self) -> T:
        reply = self.replies[self._read]
        self._read += 1
        return reply

    @property
    def read(self) -> int:
        return self._read


# ---------------------------------------------------------------------- steps


async def store_step(step: Callable[[Any, A], Awaitable[R]], arg: A) -> R:
    """One short read or write of the case store (an idempotent activity method): a local activity in
    the worker running the case, or, in histories recorded before that, an activity task."""
    if workflow.patched(LOCAL_STORE_PATCH):
        return await workflow.execute_local_activity_method(step, arg, **with_store_local)
    return await workflow.execute_activity_method(step, arg, **with_store)


async def send(
    case_id: str,
    channel: Channel,
    key: str,
    to: str,
    body: str,
    language: str,
    subject: str | None = None,
    alert_case: bool = True,
) -> SendResult:
    """One message, sent at most once per (case, channel, key) however often the step is retried. A
    provider down past the retry budget gives `unavailable`, with a `provider_unavailable` alert on the
    case's timeline (`alert_case=False` for an owner that is not a case): the story goes on without it."""
    message = OutboundMessage(
        case_id=case_id, key=key, channel=channel, to=to, subject=subject, body=body, language=language
    )
    try:
        if channel is Channel.EMAIL:
            return await workflow.execute_activity_method(
                SendGridActivities.send_email, message, **with_provider
            )
        return await workflow.execute_activity_method(TwilioActivities.send_sms, message, **with_provider)
    except ActivityError:
        if not provider_outage_is_a_branch():
            raise
        workflow.logger.warning("%s %s not sent: provider unavailable", channel.value, key)
        if alert_case:
            await _alert(
                case_id, "provider_unavailable", f"{channel.value}:{key}", {"channel": channel.value}
            )
        return SendResult(
            message_id=f"{case_id}:{channel.value}:{key}",
            provider_id=None,
            status="unavailable",
            reason="the provider did not answer within its retry budget",
        )


def provider_outage_is_a_branch() -> bool:
    """Histories from before this branch existed failed the workflow here; they replay that way."""
    return workflow.patched(PROVIDER_OUTAGE_PATCH)


async def _alert(case_id: str, what: str, key: str, detail: dict[str, object]) -> None:
    """An alert on the case's timeline: something the system could not do and people should know."""
    await _timeline(case_id, what, f"alert:{key}", {**detail, "alert": True})


async def _timeline(case_id: str, what: str, key: str, detail: dict[str, object]) -> None:
    entry = TimelineEntry(case_id=case_id, what=what, key=key, detail=detail)
    await store_step(CaseStoreActivities.add_timeline, entry)


def _refusal(err: ActivityError) -> str | None:
    """The provider's own words when it refused the request (never retried), else None."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == PROVIDER_REJECTED:
        return cause.message[:300]
    return None
