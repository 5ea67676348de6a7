"""FeedbackRequest: after a case closes `resolved`, ask the patient once to rate it, and listen for a day.

Started by the case as a child it does not wait for (parent-close policy ABANDON), so the case's result
is not held up by the day the patient has to answer. An hour after the close (`policy.feedback`) it asks
the store about the patient and `domain.feedback.decide` says whether it may go: not when a later case of
theirs has closed resolved (that one asks instead: one request for cases that close together, the answer
stored on the latest), not while another case of theirs is in progress (it asks again every
`recheck_seconds`), at most one a day per patient, and within the contact rules (quiet hours, the caps on
conversations started); what cannot go within the reply window after it was due is dropped quietly.
Then one "reply 1-5" goes by SMS (send-once key `feedback`), or an email with five signed links when
texts cannot reach them. Replies reach it on the patient's conversation (domain/conversation.py: a
score, while no offer is open; words without a score go to a person instead, so the re-ask below is for
histories from before). A reply that starts with 1-5 is the score,
the rest the comment; a reply that is not a score gets one polite re-ask, and is ignored after that; STOP
ends the request. No answer within the window: it ends quietly. A score of 1 or 2 opens a "patient
unhappy" escalation for a rep (the Escalation child), which this waits for."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from domain import contact_rules, messages
    from domain import feedback as feedback_rules
    from domain.escalation import PATIENT_UNHAPPY
    from domain.feedback import (
        FeedbackAnswer,
        FeedbackAsked,
        FeedbackClosed,
        FeedbackInput,
        FeedbackOutlookRequest,
        FeedbackReply,
        Verdict,
        low,
    )
    from domain.ids import feedback_workflow_id
    from domain.messaging import Channel
    from workflows.case import Case, ReplyInbox, store_step, wait_until
    from workflows.patches import FEEDBACK_RULES_PATCH


def feedback_escalation_id(case_id: str) -> str:
    return f"esc-{case_id}-feedback"


@workflow.defn
class FeedbackRequest:
    @workflow.init
    def __init__(self, inp: FeedbackInput) -> None:
        self.inp = inp
        self.case = Case(
            case_id=inp.case_id,
            kind=inp.kind,
            appointment_id=inp.appointment_id,
            patient=inp.patient,
            practice_name=inp.practice_name,
            policy=inp.policy,
            public_base_url=inp.public_base_url,
            language=inp.language,
            sms_works=inp.sms_works,
        )
        self._inbox = ReplyInbox[FeedbackReply]()
        self._asked = False

    @workflow.signal
    def feedback_replied(self, reply: FeedbackReply) -> None:
        self._inbox.add(reply)  # relayed twice (inline and by the relay): once

    @workflow.query
    def asked(self) -> bool:
        return self._asked

    @workflow.run
    async def run(self, inp: FeedbackInput) -> int | None:
        """The score the patient gave, or None."""
        rules = inp.policy.feedback
        if rules.delay_seconds:
            await workflow.sleep(timedelta(seconds=rules.delay_seconds))
        if workflow.patched(FEEDBACK_RULES_PATCH):
            if not await self._until_allowed():
                return None  # superseded by a later case's request, or it could not go in time
        else:
            # histories from before: only the quiet hours held the request back
            allowed = contact_rules.outside_quiet_hours(
                workflow.now(), inp.patient.timezone, inp.policy.contact
            )
            if allowed > workflow.now():
                await self.case.timeline(
                    "feedback_deferred", "feedback:deferred", {"until": allowed.isoformat()}
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
                    await self.case.sms(
                        "feedback-reask", messages.feedback_reask_sms(inp.language, inp.practice_name)
                    )
                continue
            return await self._scored(reply)

    async def _until_allowed(self) -> bool:
        """Until the request may go (True), asking the store each time; False when it is dropped
        (superseded by a later case's request, or it could not go within the reply window after it was
        due), with the reason on the case's timeline. Each new reason to wait goes on the timeline once."""
        inp, patient = self.inp, self.inp.patient
        give_up_at = workflow.now() + timedelta(seconds=inp.policy.feedback.reply_window_seconds)
        last_reason: str | None = None
        deferrals = 0
        while True:
            outlook = await store_step(
                CaseStoreActivities.feedback_outlook,
                FeedbackOutlookRequest(
                    case_id=inp.case_id,
                    patient_id=patient.id,
                    addresses=tuple(a for a in (patient.phone, patient.email) if a),
                    since=workflow.now() - contact_rules.WEEK,
                ),
            )
            decision = feedback_rules.decide(
                workflow.now(),
                patient.timezone,
                inp.case_id,
                outlook,
                give_up_at=give_up_at,
                rules=inp.policy.contact,
                recheck=timedelta(seconds=inp.policy.feedback.recheck_seconds),
            )
            if decision.verdict is Verdict.SEND:
                return True
            if decision.verdict is Verdict.DROP:
                detail: dict[str, object] = {"reason": decision.reason}
                if decision.superseded_by:
                    detail["superseded_by"] = decision.superseded_by
                await self.case.timeline("feedback_not_asked", "feedback:not_asked", detail)
                return False
            assert decision.until is not None
            if decision.reason != last_reason:
                deferrals += 1
                last_reason = decision.reason
                key = "feedback:deferred" if deferrals == 1 else f"feedback:deferred:{deferrals}"
                await self.case.timeline(
                    "feedback_deferred", key, {"until": decision.until.isoformat(), "reason": decision.reason}
                )
            await workflow.sleep(decision.until - workflow.now())

    async def _ask(self, deadline: datetime) -> Channel | None:
        inp = self.inp
        patient = inp.patient
        if inp.sms_works and patient.phone and patient.sms_capable:
            await self._asked_by(Channel.SMS, patient.phone, deadline)
            if await self.case.sms(
                "feedback", messages.feedback_request_sms(inp.language, inp.practice_name)
            ):
                return Channel.SMS
        if patient.email:
            token = await self._asked_by(Channel.EMAIL, patient.email, deadline)
            links = [
                f"{inp.public_base_url}/feedback/{inp.case_id}/{score}?t={token}" for score in range(1, 6)
            ]
            subject, body = messages.feedback_email(inp.language, inp.practice_name, links)
            if await self.case.email("feedback", subject, body):
                return Channel.EMAIL
        return None

    async def _asked_by(self, channel: Channel, address: str, deadline: datetime) -> str:
        return await store_step(
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

    async def _next_reply(self, deadline: datetime) -> FeedbackReply | None:
        """The next reply within the window, or None. One that came in while the last one was being
        answered still counts when the window has closed meanwhile."""
        if deadline <= workflow.now():
            return self._inbox.next() if self._inbox.waiting() else None
        if not await wait_until(self._inbox.waiting, deadline):
            return None
        return self._inbox.next()

    async def _scored(self, reply: FeedbackReply) -> int:
        inp = self.inp
        assert reply.score is not None
        await store_step(
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
            await self.case.escalate(
                PATIENT_UNHAPPY, escalation_id=feedback_escalation_id(inp.case_id), rep_may_call=inp.sms_works
            )
        return reply.score

    async def _closed(self, status: str) -> None:
        await store_step(
            CaseStoreActivities.feedback_closed,
            FeedbackClosed(case_id=self.inp.case_id, status=status),
        )
