"""FeedbackRequest: after a case closes `resolved`, ask the patient once to rate it, and listen for a day.

Started by the case as a child it does not wait for (parent-close policy ABANDON), so the case's result
is not held up by the day the patient has to answer. An hour after the close (`policy.feedback`), outside
the patient's quiet hours, one "reply 1-5" goes by SMS (send-once key `feedback`), or an email with five
signed links when texts cannot reach them. Replies reach it by phone number like any other (the inbox
routes a patient with an open request and no open case here). A reply that starts with 1-5 is the score,
the rest the comment; a reply that is not a score gets one polite re-ask, and is ignored after that; STOP
ends the request. No answer within the window: it ends quietly. A score of 1 or 2 opens a "patient
unhappy" escalation for a rep (the Escalation child), which this waits for."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from domain import contact_rules, messages
    from domain.escalation import PATIENT_UNHAPPY, EscalationInput
    from domain.feedback import (
        FeedbackAnswer,
        FeedbackAsked,
        FeedbackClosed,
        FeedbackInput,
        FeedbackReply,
        low,
    )
    from domain.ids import feedback_workflow_id
    from domain.models import Channel
    from workflows import steps
    from workflows.escalation import escalate


def feedback_escalation_id(case_id: str) -> str:
    return f"esc-{case_id}-feedback"


@workflow.defn
class FeedbackRequest:
    def __init__(self) -> None:
        self._replies: list[FeedbackReply] = []
        self._seen: set[str] = set()
        self._read = 0
        self._asked = False

    @workflow.signal
    def feedback_replied(self, reply: FeedbackReply) -> None:
        if reply.provider_ref is not None:
            if reply.provider_ref in self._seen:
                return  # relayed twice (inline and by the relay): once
            self._seen.add(reply.provider_ref)
        self._replies.append(reply)

    @workflow.query
    def asked(self) -> bool:
        return self._asked

    @workflow.run
    async def run(self, inp: FeedbackInput) -> int | None:
        """The score the patient gave, or None."""
        self.inp = inp
        rules = inp.policy.feedback
        if rules.delay_seconds:
            await workflow.sleep(timedelta(seconds=rules.delay_seconds))
        # outreach the patient did not ask for: never in their quiet hours (the request waits for the
        # morning). The frequency caps are for new conversations; this one closes the case they just had.
        allowed = contact_rules.outside_quiet_hours(workflow.now(), inp.patient.timezone, inp.policy.contact)
        if allowed > workflow.now():
            await steps.add_timeline(
                inp.case_id, "feedback_deferred", "feedback:deferred", {"until": allowed.isoformat()}
            )
            await workflow.sleep(allowed - workflow.now())

        deadline = workflow.now() + timedelta(seconds=rules.reply_window_seconds)
        channel = await self._ask(deadline)
        if channel is None:
            await self._closed("not_sent")
            return None
        self._asked = True

        reasked = False
        while True:
            reply = await self._next_reply(deadline)
            if reply is None:
                await self._closed("expired")  # no answer within the window: ends quietly
                return None
            if reply.opt_out:
                await self._closed("opted_out")
                return None
            if reply.score is None:
                # not a score: one polite re-ask by text, then any further words are left alone
                if not reasked and channel is Channel.SMS:
                    reasked = True
                    await self._sms(
                        "feedback-reask", messages.feedback_reask_sms(inp.language, inp.practice_name)
                    )
                continue
            return await self._scored(reply)

    async def _ask(self, deadline: datetime) -> Channel | None:
        inp = self.inp
        patient = inp.patient
        if inp.sms_works and patient.phone and patient.sms_capable:
            await self._asked_by(Channel.SMS, patient.phone, deadline)
            if await self._sms("feedback", messages.feedback_request_sms(inp.language, inp.practice_name)):
                return Channel.SMS
        if patient.email:
            token = await self._asked_by(Channel.EMAIL, patient.email, deadline)
            links = [
                f"{inp.public_base_url}/feedback/{inp.case_id}/{score}?t={token}" for score in range(1, 6)
            ]
            subject, body = messages.feedback_email(inp.language, inp.practice_name, links)
            sent = await steps.send(
                inp.case_id, Channel.EMAIL, "feedback", patient.email, body, inp.language, subject
            )
            if sent.reached_provider:
                return Channel.EMAIL
        return None

    async def _asked_by(self, channel: Channel, address: str, deadline: datetime) -> str:
        return await steps.store_step(
            CaseStoreActivities.feedback_asked,
            FeedbackAsked(
                case_id=self.inp.case_id,
                workflow_id=feedback_workflow_id(self.inp.case_id),
                channel=channel,
                address=address,
                language=self.inp.language,
                asked_at=workflow.now(),
                expires_at=deadline,
            ),
        )

    async def _sms(self, key: str, body: str) -> bool:
        assert self.inp.patient.phone is not None
        sent = await steps.send(
            self.inp.case_id, Channel.SMS, key, self.inp.patient.phone, body, self.inp.language
        )
        return sent.reached_provider

    async def _next_reply(self, deadline: datetime) -> FeedbackReply | None:
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining <= 0 and self._read >= len(self._replies):
            return None
        try:
            await workflow.wait_condition(
                lambda: self._read < len(self._replies), timeout=timedelta(seconds=max(remaining, 0.001))
            )
        except TimeoutError:
            return None
        reply = self._replies[self._read]
        self._read += 1
        return reply

    async def _scored(self, reply: FeedbackReply) -> int:
        inp = self.inp
        assert reply.score is not None
        await steps.store_step(
            CaseStoreActivities.feedback_answered,
            FeedbackAnswer(
                case_id=inp.case_id,
                score=reply.score,
                comment=reply.comment,
                at=reply.received_at or workflow.now(),
                channel=reply.channel,
            ),
        )
        if low(reply.score):
            await escalate(
                EscalationInput(
                    escalation_id=feedback_escalation_id(inp.case_id),
                    case_id=inp.case_id,
                    appointment_id=inp.appointment_id,
                    kind=inp.kind,
                    reason=PATIENT_UNHAPPY,
                    policy=inp.policy.escalation,
                    patient_phone=inp.patient.phone if inp.sms_works else None,
                    language=inp.language,
                    public_base_url=inp.public_base_url,
                )
            )
        return reply.score

    async def _closed(self, status: str) -> None:
        await steps.store_step(
            CaseStoreActivities.feedback_closed,
            FeedbackClosed(case_id=self.inp.case_id, status=status),
        )
