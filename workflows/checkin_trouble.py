"""CheckInTroubleRecovery: a patient at check-in reports trouble with their paperwork; a rep calls them
within minutes, sorts it out with the front desk and resolves the case.

Started by the CheckInWatch as a child workflow (see workflows/checkin.py for why), with the case row
already opened by the watch's activity.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import messages
    from domain.escalation import EscalationInput, EscalationState, EscalationStatus, Money
    from domain.feedback import FeedbackInput
    from domain.models import (
        CaseKind,
        CaseResult,
        CaseStatus,
        CaseUpdate,
        Channel,
        CheckInTroubleInput,
        Outcome,
        PatientReply,
        TicketRequest,
    )
    from domain.replies import Intent
    from workflows import steps
    from workflows.escalation import escalate

DEFAULT_CAUSE = "checkin_paperwork"


@workflow.defn
class CheckInTroubleRecovery:
    def __init__(self) -> None:
        self._status = CaseStatus.OPEN
        self._inbox = steps.ReplyInbox()
        self._sms_works = True

    @workflow.signal
    def patient_replied(self, reply: PatientReply) -> None:
        """Later replies, passed on by the watch: kept on the timeline; STOP is honoured at once."""
        if self._inbox.add(reply) and reply.intent is Intent.OPT_OUT:
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
        # what the rep granted: with the resolve, or approved before it (a grant with nothing pending)
        granted = state.compensation or state.approved
        amount, url = await self._compensate(granted)
        practice = self.case.data.practice.name
        if amount is not None and granted is not None:
            currency = granted.currency
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
        await steps.ask_for_feedback(
            FeedbackInput(
                case_id=self.case.case_id,
                kind=CaseKind.CHECKIN_TROUBLE,
                appointment_id=self.case.appointment_id,
                patient=self.patient,
                practice_name=practice,
                language=self.lang,
                policy=self.case.policy,
                public_base_url=self.case.public_base_url,
                sms_works=self._sms_works,
            )
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
        request = steps.gift_card_request(
            self.case.case_id, self.patient.id, granted.amount, granted.currency
        )
        card = await steps.issue_gift_card(request)
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
        return await steps.file_root_cause(request)

    # ------------------------------------------------------------------ small helpers

    async def _note_replies(self) -> None:
        """Replies that came while the rep worked the case, on the timeline (the intent, not the text)."""
        for n, reply in enumerate(self._inbox.replies, start=1):
            detail: dict[str, object] = {
                "channel": reply.channel.value,
                "intent": reply.understood().intent.value,
            }
            await steps.add_timeline(self.case.case_id, "reply_received", f"reply:{n}", detail)

    async def _sms(self, key: str, body: str) -> bool:
        if not self._sms_works or self.patient.phone is None:
            return False
        sent = await steps.send(self.case.case_id, Channel.SMS, key, self.patient.phone, body, self.lang)
        if sent.status == "rejected":
            self._sms_works = False
        return sent.reached_provider

    async def _email(self, key: str, subject: str, body: str) -> bool:
        assert self.patient.email is not None
        sent = await steps.send(
            self.case.case_id, Channel.EMAIL, key, self.patient.email, body, self.lang, subject
        )
        return sent.reached_provider

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
        await steps.update_case(update)
        self._status = status
