"""BookingConflictRecovery: a booked slot was taken back by the practice; make it right."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.gift_cards import GiftCardActivities
    from activities.scheduling import SchedulingActivities
    from activities.sendgrid_email import SendGridActivities
    from activities.tickets import TicketActivities
    from activities.twilio_phone import TwilioActivities
    from domain import messages, policy
    from domain.ids import gift_card_key
    from domain.models import (
        AlternativesRequest,
        BookingConflictInput,
        BookRequest,
        CaseKind,
        CaseResult,
        CaseStatus,
        CaseUpdate,
        Channel,
        ConflictNote,
        GiftCardRequest,
        OfferedSlot,
        OutboundMessage,
        Outcome,
        PatientReply,
        SendResult,
        Slot,
        TicketRequest,
        TimelineEntry,
    )
    from domain.replies import Intent, Understood, classify
    from workflows.options import with_provider, with_store


@workflow.defn
class BookingConflictRecovery:
    def __init__(self) -> None:
        self._replies: list[PatientReply] = []
        self._seen_refs: set[str] = set()
        self._read = 0
        self._status = CaseStatus.OPEN
        self._sms_works = True

    @workflow.signal
    def patient_replied(self, reply: PatientReply) -> None:
        # an answer relayed twice (inline and by the relay) counts once
        if reply.provider_ref is not None:
            if reply.provider_ref in self._seen_refs:
                return
            self._seen_refs.add(reply.provider_ref)
        self._replies.append(reply)

    @workflow.query
    def status(self) -> str:
        return self._status.value

    @workflow.run
    async def run(self, case: BookingConflictInput) -> CaseResult:
        self.case = case
        self.patient = case.data.patient
        self.lang = messages.language_for(
            self.patient.locale, case.policy.locales, case.policy.default_locale
        )
        self.cause = policy.root_cause(case.event_type, case.data.cause)
        self._sms_works = self.patient.phone is not None

        await self._note_conflict()
        for offer_round in range(1, case.policy.max_offer_rounds + 1):
            offers = await self._find_alternatives()
            if not offers:
                return await self._hand_to_rep("no_alternatives")
            answer = await self._ask_patient(offers, offer_round)
            if answer is None:
                return await self._close_unreachable()
            if answer.intent is Intent.CHOICE and answer.choice is not None:
                chosen = offers[answer.choice - 1]
                if await self._rebook(chosen):
                    await self._confirm(chosen)
                    return await self._close(Outcome.REBOOKED, new_slot=chosen.slot)
                continue  # somebody took it meanwhile: offer again
            if answer.intent is Intent.DECLINE:
                return await self._close(Outcome.PATIENT_DECLINED)
            return await self._hand_to_rep(f"patient_{answer.intent.value}")
        return await self._hand_to_rep("no_slot_booked")

    # ------------------------------------------------------------------ steps of the story

    async def _note_conflict(self) -> None:
        await workflow.execute_activity_method(
            SchedulingActivities.note_conflict,
            ConflictNote(case_id=self.case.case_id, data=self.case.data),
            **with_store,
        )

    async def _find_alternatives(self) -> list[OfferedSlot]:
        data = self.case.data
        request = AlternativesRequest(
            case_id=self.case.case_id,
            practice=data.practice,
            provider=data.provider,
            original=data.slot,
            not_before=workflow.now() + timedelta(hours=1),
            count=self.case.policy.max_alternatives,
            search_days=self.case.policy.search_days,
        )
        return await workflow.execute_activity_method(
            SchedulingActivities.find_alternatives, request, **with_store
        )

    async def _ask_patient(self, offers: list[OfferedSlot], offer_round: int) -> Understood | None:
        """SMS with numbered choices (email if SMS cannot reach them), wait; then a call, wait."""
        data, tz = self.case.data, self.case.data.practice.timezone
        reached = False
        if self._sms_works:
            body = messages.offer_sms(self.lang, data.practice.name, data.slot, offers, tz)
            reached = await self._sms(f"offer-{offer_round}", body)
        if not reached and self.patient.email:
            links = [self._choice_link(n) for n in range(1, len(offers) + 1)]
            subject, body = messages.offer_email(self.lang, data.practice.name, data.slot, offers, tz, links)
            reached = await self._email(f"offer-{offer_round}", subject, body)
        if not reached:
            return None
        await self._set_status(CaseStatus.WAITING_PATIENT, "waiting_patient", key=f"waiting:{offer_round}")
        answer = await self._await_answer(self.case.policy.reply_deadline_seconds, len(offers))
        if answer is None and self._sms_works and self.patient.phone:
            call = OutboundMessage(
                case_id=self.case.case_id,
                key=f"offer-{offer_round}-call",
                channel=Channel.VOICE,
                to=self.patient.phone,
                body=messages.offer_voice(self.lang, data.practice.name, offers, tz),
                gather_action_url=(
                    f"{self.case.public_base_url}/webhooks/twilio/voice/gather"
                    f"?case_id={self.case.case_id}&round={offer_round}&lang={self.lang}"
                ),
                language=self.lang,
            )
            placed = await workflow.execute_activity_method(
                TwilioActivities.place_call, call, **with_provider
            )
            if placed.status != "rejected":
                answer = await self._await_answer(self.case.policy.call_answer_deadline_seconds, len(offers))
        return answer

    async def _await_answer(self, seconds: int, choices: int) -> Understood | None:
        """The next reply that answers the offer, or None when the deadline passes."""
        deadline = workflow.now() + timedelta(seconds=seconds)
        while True:
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                return None
            try:
                await workflow.wait_condition(
                    lambda: self._read < len(self._replies), timeout=timedelta(seconds=remaining)
                )
            except TimeoutError:
                return None
            reply = self._replies[self._read]
            self._read += 1
            understood = classify(reply.text, choices)
            await self._timeline(
                "reply_received",
                key=f"reply:{self._read}",
                detail={
                    "channel": reply.channel.value,
                    "intent": understood.intent.value,
                    "choice": understood.choice,
                },
            )
            if understood.intent is Intent.OPT_IN:
                continue  # not an answer to the offer
            if understood.intent is Intent.OPT_OUT:
                self._sms_works = False  # honoured at once: no more texts or calls in this case
            return understood

    async def _rebook(self, chosen: OfferedSlot) -> bool:
        request = BookRequest(
            case_id=self.case.case_id,
            appointment_id=self.case.data.appointment_id,
            patient_id=self.patient.id,
            offer=chosen,
        )
        return await workflow.execute_activity_method(SchedulingActivities.book_slot, request, **with_store)

    async def _confirm(self, chosen: OfferedSlot) -> None:
        tz = chosen.practice.timezone
        if self._sms_works:
            await self._sms(
                "confirmation", messages.confirm_sms(self.lang, chosen.practice.name, chosen.slot, tz)
            )
        if self.patient.email:
            subject, body = messages.confirm_email(
                self.lang, chosen.practice.name, chosen.provider.name, chosen.slot, tz
            )
            await self._email("confirmation", subject, body)

    async def _close(self, outcome: Outcome, new_slot: Slot | None = None) -> CaseResult:
        amount = await self._compensate()
        ticket_id = await self._file_root_cause()
        await self._set_status(
            CaseStatus.RESOLVED,
            "case_closed",
            outcome=outcome,
            new_slot=new_slot,
            ticket_id=ticket_id,
            detail={"outcome": outcome.value},
        )
        return self._result(
            CaseStatus.RESOLVED, outcome, new_slot=new_slot, ticket_id=ticket_id, amount=amount
        )

    async def _close_unreachable(self) -> CaseResult:
        # The human escalation takes over from here (a later workflow); the case waits for a rep.
        ticket_id = await self._file_root_cause()
        await self._set_status(
            CaseStatus.ESCALATED,
            "unreachable",
            outcome=Outcome.UNREACHABLE,
            needs_rep=True,
            ticket_id=ticket_id,
        )
        return self._result(CaseStatus.ESCALATED, Outcome.UNREACHABLE, needs_rep=True, ticket_id=ticket_id)

    async def _hand_to_rep(self, reason: str) -> CaseResult:
        if reason == "patient_person" and self._sms_works:
            await self._sms(
                "rep-will-call", messages.rep_will_call_sms(self.lang, self.case.data.practice.name)
            )
        ticket_id = await self._file_root_cause()
        await self._set_status(
            CaseStatus.ESCALATED, "needs_rep", needs_rep=True, ticket_id=ticket_id, detail={"reason": reason}
        )
        return self._result(CaseStatus.ESCALATED, None, needs_rep=True, ticket_id=ticket_id)

    async def _compensate(self) -> Decimal | None:
        comp = self.case.policy.compensation
        amount = policy.compensation_amount(comp, CaseKind.BOOKING_CONFLICT, self.cause)
        if amount <= 0:
            return None
        request = GiftCardRequest(
            case_id=self.case.case_id,
            patient_id=self.patient.id,
            amount=amount,
            currency=comp.currency,
            idempotency_key=gift_card_key(self.case.case_id),
        )
        if not policy.auto_approved(comp, amount):
            await workflow.execute_activity_method(
                GiftCardActivities.record_pending_approval, request, **with_store
            )
            return amount
        card = await workflow.execute_activity_method(
            GiftCardActivities.issue_gift_card, request, **with_provider
        )
        practice = self.case.data.practice.name
        if self.patient.email:
            subject, body = messages.compensation_email(
                self.lang, practice, f"{amount:.2f}", comp.currency, card.redemption_url
            )
            await self._email("compensation", subject, body)
        elif self._sms_works:
            await self._sms(
                "compensation",
                messages.compensation_sms(
                    self.lang, practice, f"{amount:.2f}", comp.currency, card.redemption_url
                ),
            )
        return amount

    async def _file_root_cause(self) -> str:
        data = self.case.data
        request = TicketRequest(
            case_id=self.case.case_id,
            cause=self.cause,
            practice_id=data.practice.id,
            practice_name=data.practice.name,
            summary=f"{self.case.event_type.value} for appointment {data.appointment_id}",
        )
        ticket = await workflow.execute_activity_method(
            TicketActivities.link_root_cause, request, **with_store
        )
        return ticket.ticket_id

    # ------------------------------------------------------------------ small helpers

    def _choice_link(self, choice: int) -> str:
        return f"{self.case.public_base_url}/choose/{self.case.case_id}/{choice}?t={self.case.reply_token}"

    async def _sms(self, key: str, body: str) -> bool:
        assert self.patient.phone is not None
        sent = await self._send(TwilioActivities.send_sms, Channel.SMS, key, self.patient.phone, body)
        if sent.status == "rejected":
            self._sms_works = False  # an invalid number: fall back to email from now on
        return sent.status != "rejected"

    async def _email(self, key: str, subject: str, body: str) -> bool:
        assert self.patient.email is not None
        sent = await self._send(
            SendGridActivities.send_email, Channel.EMAIL, key, self.patient.email, body, subject
        )
        return sent.status != "rejected"

    async def _send(
        self, activity: object, channel: Channel, key: str, to: str, body: str, subject: str | None = None
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
        return await workflow.execute_activity_method(activity, message, **with_provider)  # type: ignore[call-overload]

    async def _timeline(self, what: str, key: str, detail: dict[str, object]) -> None:
        entry = TimelineEntry(case_id=self.case.case_id, what=what, key=key, detail=detail)
        await workflow.execute_activity_method(CaseStoreActivities.add_timeline, entry, **with_store)

    async def _set_status(
        self,
        status: CaseStatus,
        what: str,
        key: str | None = None,
        outcome: Outcome | None = None,
        needs_rep: bool | None = None,
        new_slot: Slot | None = None,
        ticket_id: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        update = CaseUpdate(
            case_id=self.case.case_id,
            status=status,
            outcome=outcome,
            needs_rep=needs_rep,
            new_slot=new_slot,
            root_cause=self.cause,
            ticket_id=ticket_id,
            what=what,
            key=key,
            detail=detail or {},
        )
        await workflow.execute_activity_method(CaseStoreActivities.update_case, update, **with_store)
        self._status = status

    def _result(
        self,
        status: CaseStatus,
        outcome: Outcome | None,
        needs_rep: bool = False,
        new_slot: Slot | None = None,
        ticket_id: str | None = None,
        amount: Decimal | None = None,
    ) -> CaseResult:
        return CaseResult(
            case_id=self.case.case_id,
            status=status,
            outcome=outcome,
            needs_rep=needs_rep,
            new_slot=new_slot,
            ticket_id=ticket_id,
            compensation_amount=amount,
        )
