"""CheckInWatch: from booking to shortly after the appointment, one durable workflow per appointment.

It sleeps (a durable timer) until check-in time, texts the check-in prompt, and listens for replies until
`listen_minutes` after the appointment's start. A reschedule moves it to the new time (the timer starts
again; a prompt already sent is sent again for the new time); a cancellation ends it.

A reply that reports trouble opens a check-in-trouble case and runs CheckInTroubleRecovery as a **child
workflow** with `ParentClosePolicy.ABANDON`. A child rather than a start through an activity: the watch
needs no Temporal client in its activities, the start is recorded in the watch's own history (a replay or
a re-run cannot start a second case: the child id is the case's, and a second start is refused), and the
console sees the parent/child link. ABANDON, because the case belongs to the patient, not to the
appointment's watch: it must outlive the watch when the appointment is cancelled or the listening window
ends while a rep is still working it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.checkin import CheckInActivities
    from domain import ids, messages
    from domain.cases import CaseStatus
    from domain.checkin import (
        CheckInTroubleInput,
        CheckInWatchInput,
        TroubleCase,
        TroubleCaseRequest,
        WatchCancel,
        WatchMove,
        WatchRecord,
        WatchResult,
        WatchStatus,
    )
    from domain.events import BookingEventData
    from domain.messaging import Channel, PatientReply
    from domain.replies import Intent
    from workflows.case import ReplyInbox, send, store_step, wait_until
    from workflows.checkin_trouble import CheckInTroubleRecovery
    from workflows.patches import LANDLINE_PATCH

EndReason = Literal["listen_window_over", "cancelled", "opted_out", "unreachable", "no_phone", "landline"]


@workflow.defn
class CheckInWatch:
    @workflow.init
    def __init__(self, inp: CheckInWatchInput) -> None:
        self.inp = inp
        self.data: BookingEventData = inp.data
        self._moves = 0  # bumped by every reschedule to another time: a waiting or listening step looks again
        self._cancelled = False
        self._inbox = ReplyInbox[PatientReply]()
        self._answered = 0
        self._status = WatchStatus.WAITING
        self._opted_out = False
        self._prompts = 0
        self._case: TroubleCase | None = None
        self._case_slot: datetime | None = None  # the time the open case is about

    # ------------------------------------------------------------------ what comes in

    @workflow.signal
    def move(self, change: WatchMove) -> None:
        if change.data.slot != self.data.slot:
            self._moves += 1
        self.data = change.data

    @workflow.signal
    def cancel(self, _: WatchCancel) -> None:
        self._cancelled = True

    @workflow.signal
    def patient_replied(self, reply: PatientReply) -> None:
        self._inbox.add(reply)  # an answer relayed twice (inline and by the relay) counts once

    @workflow.query
    def status(self) -> str:
        return self._status.value

    @workflow.query
    def replies_answered(self) -> int:
        """How many replies the watch has acted on (a reply being answered counts once it is done)."""
        return self._answered

    # ------------------------------------------------------------------ the story

    @workflow.run
    async def run(self, inp: CheckInWatchInput) -> WatchResult:
        if self.data.patient.phone is None:
            return await self._end("no_phone")
        if not self.data.patient.sms_capable and workflow.patched(LANDLINE_PATCH):
            return await self._end("landline")  # the prompt is a text, and no text reaches a landline
        while True:
            moves = self._moves
            await self._record(WatchStatus.WAITING)
            if not await self._until(self._prompt_at(), moves):
                if self._cancelled:
                    return await self._end("cancelled")
                continue  # moved before the prompt: the timer starts again for the new time
            if workflow.now() >= self._listen_until():
                return await self._end("listen_window_over")  # booked too late to prompt in time
            if not await self._prompt(moves):
                return await self._end("unreachable")
            await self._record(WatchStatus.TROUBLE if self._case_open() else WatchStatus.LISTENING)
            await self._listen(moves)
            if self._cancelled:
                return await self._end("cancelled")
            if self._opted_out:
                return await self._end("opted_out")
            if self._moves != moves:
                continue  # moved while listening: prompt again for the new time
            return await self._end("listen_window_over")

    async def _until(self, moment: datetime, moves: int) -> bool:
        """Sleep until `moment`; False when the appointment moved or was cancelled first."""

        def changed() -> bool:
            return self._cancelled or self._moves != moves

        if await wait_until(changed, moment):
            return False
        return not changed()

    async def _prompt(self, moves: int) -> bool:
        data = self.data
        start = data.slot.start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
        body = messages.checkin_prompt_sms(self._lang, data.practice.name, data.slot, data.practice.timezone)
        # a new key per time (and per move): the prompt for the new time is a new message, sent once
        sent = await self._sms(f"checkin-prompt-{moves}-{start}", body)
        if sent:
            self._prompts += 1
        return sent

    async def _listen(self, moves: int) -> None:
        """Answer replies until the window closes, the appointment moves or is cancelled, or STOP."""
        while not self._opted_out:
            if not await wait_until(
                lambda: self._inbox.waiting() or self._cancelled or self._moves != moves, self._listen_until()
            ):
                return
            if self._cancelled or self._moves != moves:
                return
            reply = self._inbox.next()
            await self._answer(reply, moves)
            self._answered += 1

    async def _answer(self, reply: PatientReply, moves: int) -> None:
        intent = reply.understood().intent  # no numbered options here: a number is trouble too
        workflow.logger.info("check-in reply for %s: %s", self.inp.appointment_id, intent.value)
        if intent is Intent.OPT_IN:
            return  # not an answer to the prompt
        if intent is Intent.OPT_OUT:
            self._opted_out = True  # honoured at once: nothing more is sent from this watch
            return
        if self._case_open():
            await self._pass_on(reply)  # the case is in motion: its rep sees what the patient adds
            return
        if intent is Intent.ALL_GOOD:
            await self._sms(
                f"checkin-thanks-{moves}", messages.checkin_thanks_sms(self._lang, self.data.practice.name)
            )
            return
        await self._open_case(reply)

    async def _open_case(self, reply: PatientReply) -> None:
        """Any other reply is trouble: open the case (once per appointment and time) and start its
        recovery."""
        case = await store_step(
            CheckInActivities.open_trouble_case,
            TroubleCaseRequest(
                appointment_id=self.inp.appointment_id, data=self.data, reply_ref=reply.provider_ref
            ),
        )
        self._case, self._case_slot = case, self.data.slot.start
        await self._record(WatchStatus.TROUBLE)
        if case.status is not CaseStatus.OPEN:
            return  # opened and worked before (a re-run watch): nothing new to start
        try:
            await workflow.start_child_workflow(
                CheckInTroubleRecovery.run,
                CheckInTroubleInput(
                    case_id=case.case_id,
                    appointment_id=self.inp.appointment_id,
                    data=self.data,
                    policy=self.inp.policy,
                    public_base_url=self.inp.public_base_url,
                    reply_token=case.reply_token,
                    watch_workflow_id=workflow.info().workflow_id,
                ),
                id=case.workflow_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier run of this watch: one case, one recovery

    async def _pass_on(self, reply: PatientReply) -> None:
        assert self._case is not None
        handle = workflow.get_external_workflow_handle(self._case.workflow_id)
        try:
            await handle.signal(CheckInTroubleRecovery.patient_replied, reply)
        except Exception:  # the case already ended: the reply stays on record in the inbox
            workflow.logger.info("check-in case %s no longer takes replies", self._case.case_id)

    # ------------------------------------------------------------------ small helpers

    @property
    def _lang(self) -> str:
        policy = self.inp.policy
        return messages.language_for(self.data.patient.locale, policy.locales, policy.default_locale)

    def _prompt_at(self) -> datetime:
        return self.data.slot.start - timedelta(minutes=self.inp.prompt_lead_minutes)

    def _listen_until(self) -> datetime:
        return self.data.slot.start + timedelta(minutes=self.inp.listen_minutes)

    def _case_open(self) -> bool:
        return self._case is not None and self._case_slot == self.data.slot.start

    async def _sms(self, key: str, body: str) -> bool:
        if self._opted_out or self.data.patient.phone is None:
            return False
        watch = ids.watch_ref(self.inp.appointment_id)
        sent = await send(
            watch, Channel.SMS, key, self.data.patient.phone, body, self._lang, alert_case=False
        )
        return sent.reached_provider  # unavailable: the watch keeps listening; a reply still counts

    async def _record(self, status: WatchStatus) -> None:
        rec = WatchRecord(
            appointment_id=self.inp.appointment_id,
            workflow_id=workflow.info().workflow_id,
            patient_id=self.data.patient.id,
            patient_phone=self.data.patient.phone,
            status=status,
            slot_start=self.data.slot.start,
            prompt_at=self._prompt_at(),
            listen_until=self._listen_until(),
            case_id=self._case.case_id if self._case_open() and self._case else None,
        )
        await store_step(CheckInActivities.record_watch, rec)
        self._status = status

    async def _end(self, why: EndReason) -> WatchResult:
        await self._record(WatchStatus.ENDED)
        return WatchResult(
            appointment_id=self.inp.appointment_id,
            status=WatchStatus.ENDED,
            prompts_sent=self._prompts,
            ended_because=why,
            case_id=self._case.case_id if self._case else None,
        )
