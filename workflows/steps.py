"""Steps every case story takes the same way: send a message once, write the case's status and timeline,
pay a gift card, file the root cause, and keep the patient's replies (each counted once). Workflow code:
each step is one activity call with the timeouts from `options.py`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.errors import REJECTED_TYPE
    from activities.gift_cards import GiftCardActivities
    from activities.sendgrid_email import SendGridActivities
    from activities.tickets import TicketActivities
    from activities.twilio_phone import TwilioActivities
    from domain.feedback import FeedbackInput
    from domain.ids import feedback_workflow_id, gift_card_key
    from domain.models import (
        CaseUpdate,
        Channel,
        GiftCardRequest,
        GiftCardResult,
        OutboundMessage,
        PatientReply,
        SendResult,
        TicketRequest,
        TicketSyncRequest,
        TimelineEntry,
    )
    from workflows.options import with_provider, with_store, with_store_local
    from workflows.patches import (
        FEEDBACK_PATCH,
        LOCAL_STORE_PATCH,
        PROVIDER_OUTAGE_PATCH,
        TRACKER_SYNC_PATCH,
    )
    from workflows.ticket_sync import TicketSync, ticket_sync_id


A = TypeVar("A")
R = TypeVar("R")


async def store_step(step: Callable[[Any, A], Awaitable[R]], arg: A) -> R:
    """One short read or write of the case store (an idempotent activity method): a local activity in
    the worker running the case, or, in histories recorded before that, an activity task."""
    if workflow.patched(LOCAL_STORE_PATCH):
        return await workflow.execute_local_activity_method(step, arg, **with_store_local)
    return await workflow.execute_activity_method(step, arg, **with_store)


class ReplyInbox:
    """A patient's answers as signals deliver them. One relayed twice (inline and by the relay) counts
    once; `next()` hands them out in order."""

    def __init__(self) -> None:
        self.replies: list[PatientReply] = []
        self._seen_refs: set[str] = set()
        self._read = 0

    def add(self, reply: PatientReply) -> bool:
        if reply.provider_ref is not None:
            if reply.provider_ref in self._seen_refs:
                return False
            self._seen_refs.add(reply.provider_ref)
        self.replies.append(reply)
        return True

    def waiting(self) -> bool:
        return self._read < len(self.replies)

    def next(self) -> PatientReply:
        reply = self.replies[self._read]
        self._read += 1
        return reply

    @property
    def read(self) -> int:
        return self._read


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
            await provider_alert(
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


async def provider_alert(case_id: str, what: str, key: str, detail: dict[str, object]) -> None:
    """An alert on the case's timeline: something the system could not do and people should know."""
    await add_timeline(case_id, what, f"alert:{key}", {**detail, "alert": True})


async def update_case(update: CaseUpdate) -> None:
    await store_step(CaseStoreActivities.update_case, update)


async def add_timeline(case_id: str, what: str, key: str, detail: dict[str, object]) -> None:
    entry = TimelineEntry(case_id=case_id, what=what, key=key, detail=detail)
    await store_step(CaseStoreActivities.add_timeline, entry)


def gift_card_request(case_id: str, patient_id: str, amount: Decimal, currency: str) -> GiftCardRequest:
    return GiftCardRequest(
        case_id=case_id,
        patient_id=patient_id,
        amount=amount,
        currency=currency,
        idempotency_key=gift_card_key(case_id),
    )


async def issue_gift_card(request: GiftCardRequest) -> GiftCardResult:
    """Paid once per case: the provider and the ledger are both keyed on the case. A provider down past
    its budget, or one that refused the order (a 4xx, e.g. Tango's 402 for an account without funds):
    nobody can issue the card by hand here, so the case fails on record (an alert on its timeline with
    the refusal, the reconciler marks it `failed`) and an engineer re-runs it once the provider is back
    or the account is fixed (`cli.py retry`: still paid once)."""
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
        await provider_alert(request.case_id, "compensation_failed", "gift_card", detail)
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


def _refusal(err: ActivityError) -> str | None:
    """The provider's own words when it refused the request (never retried), else None."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == REJECTED_TYPE:
        return cause.message[:300]
    return None


async def file_root_cause(request: TicketRequest) -> str:
    """The local ticket now; the external tracker's issue (when one is configured) by a TicketSync child
    that the case does not wait for, so a tracker outage never holds the case open."""
    ticket = await store_step(TicketActivities.link_root_cause, request)
    if ticket.sync and workflow.patched(TRACKER_SYNC_PATCH):
        try:
            await workflow.start_child_workflow(
                TicketSync.run,
                TicketSyncRequest(case_id=request.case_id, ticket_id=ticket.ticket_id),
                id=ticket_sync_id(request.case_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            pass  # a re-run of the case: the first run's sync has it (and comments once either way)
    return ticket.ticket_id


async def ask_for_feedback(inp: FeedbackInput) -> None:
    """After a case closed `resolved`: its FeedbackRequest child, which the case does not wait for (the
    patient has a day to answer). Started once per case, whatever re-runs the case."""
    if not workflow.patched(FEEDBACK_PATCH) or not inp.policy.feedback.enabled:
        return
    try:
        await workflow.start_child_workflow(
            "FeedbackRequest",  # by name: workflows/feedback.py uses these steps itself
            inp,
            id=feedback_workflow_id(inp.case_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
    except WorkflowAlreadyStartedError:
        pass  # a re-run of the case: the first run's request stands
