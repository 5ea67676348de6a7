"""CheckInTroubleRecovery: a patient at check-in reports trouble with their paperwork; a rep calls them
within minutes, sorts it out with the front desk and resolves the case.

Started by the CheckInWatch as a child workflow (see workflows/checkin.py for why), with the case row
already opened by the watch's activity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.gift_cards import GiftCardActivities
    from activities.sendgrid_email import SendGridActivities
    from activities.tickets import TicketActivities
    from activities.twilio_phone import TwilioActivities
    from domain import messages
    from domain.escalation import EscalationInput, EscalationState, EscalationStatus, Money
    from domain.ids import gift_card_key
    from domain.models import (
        CaseKind,
        CaseResult,
        CaseStatus,
        CaseUpdate,
        Channel,
        CheckInTroubleInput,
        GiftCardRequest,
        OutboundMessage,
        Outcome,
        PatientReply,
        SendResult,
        TicketRequest,
        TimelineEntry,
    )
    from domain.replies import Intent, classify
    from workflows.escalation import escalate
    from workflows.options import with_provider, with_store

DEFAULT_CAUSE = "checkin_paperwork"
SendActivity = Callable[[Any, OutboundMessage], Awaitable[SendResult]]


@workflow.defn
class CheckInTroubleRecovery:
    def __init__(self) -> None:
        self._status = CaseStatus.OPEN
        self._replies: list[PatientReply] = []
        self._seen_refs: set[str] = set()
        self._sms_works = True

    @workflow.signal
    def patient_replied(self, reply: PatientReply) -> None:
        """Later replies, passed on by the watch: kept on the timeline; STOP is honoured at once."""
        if reply.provider_ref is not None:
            if reply.provider_ref in self._seen_refs:
                return
            self._seen_refs.add(reply.provider_ref)
        self._replies.append(reply)
        if classify(reply.text).intent is Intent.OPT_OUT:
            self._sms_works = False

    @workflow.query
    def status(self) -> str:
        return self._status.value

    @workflow.run
    async def run(self, case: CheckInTroubleInput) -> CaseResult:
        self.case = case
        self.patient = case.data.patient
        self.lang = messages.language_for(
            self.patient.locale, case.policy.locales, case.policy.default_locale
        )
        self._sms_works = self._sms_works and self.patient.phone is not None
        await self._sms("rep-will-call", messages.checkin_will_call_sms(self.lang, case.data.practice.name))
        await self._set_status(
            CaseStatus.ESCALATED, "needs_rep", needs_rep=True, detail={"reason": "checkin_trouble"}
        )
        state = await escalate(
            EscalationInput(
                escalation_id=f"esc-{case.case_id}-1",
                case_id=case.case_id,
                appointment_id=case.appointment_id,
                kind=CaseKind.CHECKIN_TROUBLE,
                reason="checkin_trouble",
                policy=case.policy.urgent_escalation,
                patient_phone=self.patient.phone,
                language=self.lang,
                public_base_url=case.public_base_url,
            )
        )
        await self._note_replies()
        cause = state.root_cause or DEFAULT_CAUSE
        if state.status is EscalationStatus.RESOLVED:
            return await self._resolved(state, cause)
        return await self._expired(cause)

    # ------------------------------------------------------------------ endings

    async def _resolved(self, state: EscalationState, cause: str) -> CaseResult:
        amount, url = await self._compensate(state.compensation)
        practice = self.case.data.practice.name
        if amount is not None and state.compensation is not None:
            currency = state.compensation.currency
            await self._sms(
                "resolved", messages.checkin_resolved_sms(self.lang, practice, f"{amount:.2f}", currency, url)
            )
            if self.patient.email:
                subject, body = messages.checkin_compensation_email(
                    self.lang, practice, f"{amount:.2f}", currency, url
                )
                await self._email("compensation", subject, body)
        else:
            await self._sms("resolved", messages.checkin_resolved_sms(self.lang, practice))
        ticket_id = await self._file_root_cause(cause)
        await self._set_status(
            CaseStatus.RESOLVED,
            "case_closed",
            outcome=Outcome.RESOLVED_BY_REP,
            needs_rep=False,
            root_cause=cause,
            ticket_id=ticket_id,
            detail={"outcome": Outcome.RESOLVED_BY_REP.value, "by": state.resolved_by},
        )
        return CaseResult(
            case_id=self.case.case_id,
            status=CaseStatus.RESOLVED,
            outcome=Outcome.RESOLVED_BY_REP,
            ticket_id=ticket_id,
            compensation_amount=amount,
        )

    async def _expired(self, cause: str) -> CaseResult:
        """Nobody owned it in time at any level: the case fails loudly and still counts for its cause."""
        ticket_id = await self._file_root_cause(cause)
        await self._set_status(
            CaseStatus.FAILED,
            "escalation_expired",
            needs_rep=True,
            root_cause=cause,
            ticket_id=ticket_id,
            detail={"reason": "no rep called the patient in time"},
        )
        return CaseResult(
            case_id=self.case.case_id,
            status=CaseStatus.FAILED,
            outcome=None,
            needs_rep=True,
            ticket_id=ticket_id,
        )

    async def _compensate(self, granted: Money | None) -> tuple[Decimal | None, str]:
        """What the rep granted when resolving (the Escalation already held it to their limit)."""
        if granted is None:
            return None, ""
        request = GiftCardRequest(
            case_id=self.case.case_id,
            patient_id=self.patient.id,
            amount=granted.amount,
            currency=granted.currency,
            idempotency_key=gift_card_key(self.case.case_id),
        )
        card = await workflow.execute_activity_method(
            GiftCardActivities.issue_gift_card, request, **with_provider
        )
        return card.amount, card.redemption_url

    async def _file_root_cause(self, cause: str) -> str:
        data = self.case.data
        request = TicketRequest(
            case_id=self.case.case_id,
            cause=cause,
            practice_id=data.practice.id,
            practice_name=data.practice.name,
            summary=f"check-in trouble for appointment {data.appointment_id}",
        )
        ticket = await workflow.execute_activity_method(
            TicketActivities.link_root_cause, request, **with_store
        )
        return ticket.ticket_id

    # ------------------------------------------------------------------ small helpers

    async def _note_replies(self) -> None:
        """Replies that came while the rep worked the case, on the timeline (the intent, not the text)."""
        for n, reply in enumerate(self._replies, start=1):
            entry = TimelineEntry(
                case_id=self.case.case_id,
                what="reply_received",
                key=f"reply:{n}",
                detail={"channel": reply.channel.value, "intent": classify(reply.text).intent.value},
            )
            await workflow.execute_activity_method(CaseStoreActivities.add_timeline, entry, **with_store)

    async def _sms(self, key: str, body: str) -> bool:
        if not self._sms_works or self.patient.phone is None:
            return False
        sent = await self._send(TwilioActivities.send_sms, Channel.SMS, key, self.patient.phone, body)
        if sent.status == "rejected":
            self._sms_works = False
        return sent.status != "rejected"

    async def _email(self, key: str, subject: str, body: str) -> bool:
        assert self.patient.email is not None
        sent = await self._send(
            SendGridActivities.send_email, Channel.EMAIL, key, self.patient.email, body, subject
        )
        return sent.status != "rejected"

    async def _send(
        self,
        activity: SendActivity,
        channel: Channel,
        key: str,
        to: str,
        body: str,
        subject: str | None = None,
    ) -> SendResult:
        message = OutboundMessage(
            case_id=self.case.case_id,
            key=key,
            channel=channel,
            to=to,
            subject=subject,
            body=body,
            language=self.lang,
        )
        return await workflow.execute_activity_method(activity, message, **with_provider)

    async def _set_status(
        self,
        status: CaseStatus,
        what: str,
        outcome: Outcome | None = None,
        needs_rep: bool | None = None,
        root_cause: str | None = None,
        ticket_id: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        update = CaseUpdate(
            case_id=self.case.case_id,
            status=status,
            outcome=outcome,
            needs_rep=needs_rep,
            root_cause=root_cause,
            ticket_id=ticket_id,
            what=what,
            detail=detail or {},
        )
        await workflow.execute_activity_method(CaseStoreActivities.update_case, update, **with_store)
        self._status = status
