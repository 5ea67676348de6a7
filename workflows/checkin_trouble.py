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
    from domain.base import CaseKind
    from domain.cases import CaseResult
    from domain.checkin import CheckInTroubleInput
    from domain.escalation import EscalationState, EscalationStatus, Money
    from domain.messaging import PatientReply
    from domain.replies import Intent
    from workflows.case import Case, ReplyInbox

DEFAULT_CAUSE = "checkin_paperwork"


@workflow.defn
class CheckInTroubleRecovery:
    @workflow.init
    def __init__(self, inp: CheckInTroubleInput) -> None:
        self.inp = inp
        self.case = Case(
            case_id=inp.case_id,
            kind=CaseKind.CHECKIN_TROUBLE,
            appointment_id=inp.appointment_id,
            patient=inp.data.patient,
            practice_name=inp.data.practice.name,
            practice_id=inp.data.practice.id,
            policy=inp.policy,
            public_base_url=inp.public_base_url,
        )
        self.lang = self.case.language
        self._inbox = ReplyInbox[PatientReply]()

    @workflow.signal
    def patient_replied(self, reply: PatientReply) -> None:
        """Later replies, passed on by the watch: kept on the timeline; STOP is honoured at once."""
        if self._inbox.add(reply) and reply.intent is Intent.OPT_OUT:
            self.case.sms_works = False

    @workflow.query
    def status(self) -> str:
        return self.case.status.value

    @workflow.run
    async def run(self, inp: CheckInTroubleInput) -> CaseResult:
        await self.case.sms(
            "rep-will-call", messages.checkin_will_call_sms(self.lang, self.case.practice_name)
        )
        # the rep's call is what the patient was just promised: their number goes with it, whatever
        # happens to texts meanwhile
        state = await self.case.hand_to_people(
            "checkin_trouble", policy=inp.policy.urgent_escalation, rep_may_call=True
        )
        await self._note_replies()
        self.case.root_cause = self.case.root_cause or DEFAULT_CAUSE
        summary = f"check-in trouble for appointment {self.inp.data.appointment_id}"
        if state.status is EscalationStatus.RESOLVED:
            return await self._resolved(state, summary)
        return await self.case.expired_unowned(summary, {"reason": "no rep called the patient in time"})

    # ------------------------------------------------------------------ endings

    async def _resolved(self, state: EscalationState, summary: str) -> CaseResult:
        # what the rep granted: with the resolve, or approved before it (a grant with nothing pending)
        granted = state.compensation or state.approved
        amount, url = await self._compensate(granted)
        practice = self.case.practice_name
        if amount is not None and granted is not None:
            currency = granted.currency
            await self.case.sms(
                "resolved", messages.checkin_resolved_sms(self.lang, practice, amount, currency, url)
            )
            if self.case.patient.email:
                subject, body = messages.checkin_compensation_email(
                    self.lang, practice, amount, currency, url
                )
                await self.case.email("compensation", subject, body)
        else:
            await self.case.sms("resolved", messages.checkin_resolved_sms(self.lang, practice))
        return await self.case.closed_by_rep(state, summary, amount)

    async def _compensate(self, granted: Money | None) -> tuple[Decimal | None, str]:
        """What the rep granted when resolving (the Escalation already held it to their limit)."""
        if granted is None:
            return None, ""
        card = await self.case.issue_gift_card(granted.amount, granted.currency)
        return card.amount, card.redemption_url

    async def _note_replies(self) -> None:
        """Replies that came while the rep worked the case, on the timeline (the intent, not the text)."""
        for n, reply in enumerate(self._inbox.replies, start=1):
            detail: dict[str, object] = {
                "channel": reply.channel.value,
                "intent": reply.understood().intent.value,
            }
            await self.case.timeline("reply_received", f"reply:{n}", detail)
