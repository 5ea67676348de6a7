"""Inquiry: a patient with no case open wrote in about something new. They hear at once that a person will
answer; a rep answers their email (in the console, or `POST /api/emails/{id}/reply`) and resolves the
case with its root cause; the patient is asked to rate the help. Nobody owning it in time: it fails.

Started by the dispatcher from the inbox row that store/inbound_email.py wrote with the email and the
case. The whole story is the case toolkit's (workflows/case.py): what a new case kind takes.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import messages
    from domain.base import CaseKind
    from domain.cases import CaseResult
    from domain.escalation import PATIENT_INQUIRY, EscalationStatus
    from domain.inquiry import DEFAULT_CAUSE, SUPPORT_DESK, InquiryInput
    from workflows.case import Case


@workflow.defn
class Inquiry:
    @workflow.init
    def __init__(self, inp: InquiryInput) -> None:
        policy = inp.policy
        lang = messages.language_for(inp.patient.locale, policy.locales, policy.default_locale)
        self.case = Case(
            case_id=inp.case_id,
            kind=CaseKind.INQUIRY,
            appointment_id="",  # about no appointment
            patient=inp.patient,
            practice_name=messages.support_desk(lang),
            practice_id=SUPPORT_DESK,
            policy=policy,
            public_base_url=inp.public_base_url,
            language=lang,
        )

    @workflow.query
    def status(self) -> str:
        return self.case.status.value

    @workflow.run
    async def run(self, inp: InquiryInput) -> CaseResult:
        # they wrote to us: the answer to it is no conversation we start (no quiet hours, no caps)
        subject, body = messages.inquiry_ack_email(self.case.language)
        await self.case.email("acknowledged", subject, body)
        state = await self.case.hand_to_people(PATIENT_INQUIRY)
        self.case.root_cause = self.case.root_cause or DEFAULT_CAUSE
        summary = f"patient inquiry {inp.case_id}"
        if state.status is EscalationStatus.RESOLVED:
            return await self.case.closed_by_rep(state, summary)
        return await self.case.expired_unowned(summary, {"reason": "no rep answered the inquiry in time"})
