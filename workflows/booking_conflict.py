"""BookingConflictRecovery: a booked slot was taken back by the practice; make it right."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import CaseStoreActivities
    from activities.scheduling import SchedulingActivities
    from domain import messages, policy
    from domain.base import CaseKind
    from domain.booking_conflict import (
        AlternativesRequest,
        BookingConflictInput,
        BookRequest,
        ConflictNote,
        EarlierOfferRequest,
        OfferedSlot,
    )
    from domain.cases import CaseResult, CaseStatus, Outcome
    from domain.escalation import EscalationState, EscalationStatus
    from domain.events import Slot
    from domain.messaging import Channel, DeliveryProblem, PatientReply
    from domain.replies import Intent, Understood
    from workflows.case import Case, ReplyInbox, store_step, wait_until
    from workflows.patches import GIFT_CARD_BY_SMS_TOO_PATCH, LANDLINE_PATCH, ONE_OFFER_AT_A_TIME_PATCH


UNDELIVERED = "undelivered"


@workflow.defn
class BookingConflictRecovery:
    @workflow.init
    def __init__(self, inp: BookingConflictInput) -> None:
        self.inp = inp
        data = inp.data
        self.patient = data.patient
        self.case = Case(
            case_id=inp.case_id,
            kind=CaseKind.BOOKING_CONFLICT,
            appointment_id=data.appointment_id,
            patient=data.patient,
            practice_name=data.practice.name,
            practice_id=data.practice.id,
            policy=inp.policy,
            public_base_url=inp.public_base_url,
            root_cause=policy.root_cause(inp.event_type, data.cause),
        )
        self.lang = self.case.language
        self._inbox = ReplyInbox[PatientReply]()
        self._problems: dict[tuple[str, str], DeliveryProblem] = {}
        self._calls_work = True
        self._landline = False  # the patient's number cannot receive texts (judged at ingress)

    @workflow.signal
    def patient_replied(self, reply: PatientReply) -> None:
        self._inbox.add(reply)  # an answer relayed twice (inline and by the relay) counts once

    @workflow.signal
    def delivery_failed(self, problem: DeliveryProblem) -> None:
        """A provider reported a message undelivered (bounce, dropped, failed, no answer, busy, machine)."""
        self._problems.setdefault((problem.channel.value, problem.key), problem)

    @workflow.query
    def status(self) -> str:
        return self.case.status.value

    @workflow.run
    async def run(self, inp: BookingConflictInput) -> CaseResult:
        await self._note_conflict()
        if self.case.sms_works and not self.patient.sms_capable and workflow.patched(LANDLINE_PATCH):
            await self._no_texts_to_a_landline()
        await self.case.until_contact_allowed(news_before=inp.data.slot.start)  # news: their own slot
        for offer_round in range(1, inp.policy.max_offer_rounds + 1):
            if offer_round == 1 and workflow.patched(ONE_OFFER_AT_A_TIME_PATCH):
                await self._after_an_earlier_offer()
            offers = await self._find_alternatives(offer_round)
            if not offers:
                return await self._hand_to_rep("no_alternatives")
            answer = await self._ask_patient(offers, offer_round)
            if answer is None:
                # nobody heard us: the patient did not answer, or the providers were down
                return await self._hand_to_rep("provider_outage" if self.case.outage else "unreachable")
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
        await store_step(
            SchedulingActivities.note_conflict,
            ConflictNote(case_id=self.case.case_id, data=self.inp.data),
        )

    async def _no_texts_to_a_landline(self) -> None:
        """The number was judged a landline where it entered: no text would arrive, so none is sent. The
        offer goes by email, or straight to a call, and a rep can still call the number."""
        self._landline = True
        self.case.texts_arrive = False
        await self.case.timeline("sms_skipped", "sms_skipped", {"reason": "landline"})

    async def _after_an_earlier_offer(self) -> None:
        """One offer open per patient: while an earlier case of theirs is still to be answered, a "1" could
        mean either appointment, so this offer waits (looking again every `offer_wait_check_seconds`) until
        that one is answered, handed to a person or closed; never longer than an offer stays open."""
        phone = self.patient.phone
        if not phone:
            return  # email offers carry links that name their case: nothing to confuse
        policy = self.case.policy
        longest = policy.reply_deadline_seconds * 2 + policy.call_answer_deadline_seconds
        until = workflow.now() + timedelta(seconds=longest)
        noted = False
        while workflow.now() < until:
            earlier = await store_step(
                CaseStoreActivities.earlier_offer_open,
                EarlierOfferRequest(case_id=self.case.case_id, patient_phone=phone),
            )
            if earlier is None:
                return
            if not noted:
                noted = True
                await self.case.timeline("offer_waits", "offer-waits", {"for_case": earlier})
            pause = min(policy.offer_wait_check_seconds, (until - workflow.now()).total_seconds())
            await workflow.sleep(timedelta(seconds=max(pause, 1)))

    async def _find_alternatives(self, offer_round: int) -> list[OfferedSlot]:
        data = self.inp.data
        request = AlternativesRequest(
            case_id=self.case.case_id,
            practice=data.practice,
            provider=data.provider,
            original=data.slot,
            not_before=workflow.now() + timedelta(hours=1),
            count=self.case.policy.max_alternatives,
            search_days=self.case.policy.search_days,
            offer_round=offer_round,
        )
        return await store_step(SchedulingActivities.find_alternatives, request)

    async def _ask_patient(self, offers: list[OfferedSlot], offer_round: int) -> Understood | None:
        """Offer in writing (SMS, or email when texts cannot reach them) and wait for the answer. A message
        reported undelivered moves on to the next channel at once. Then a call with keypad choices."""
        key = f"offer-{offer_round}"
        sent_by = await self._offer_in_writing(offers, key, already_tried=())
        if sent_by is None and self._landline:
            # no text to a landline and no email: the call with keypad choices is the offer, at once
            await self.case.set_status(
                CaseStatus.WAITING_PATIENT, "waiting_patient", key=f"waiting:{offer_round}"
            )
            answer = await self._call_with_choices(offers, offer_round)
            return answer if isinstance(answer, Understood) else None
        if sent_by is None:
            return None
        await self.case.set_status(
            CaseStatus.WAITING_PATIENT, "waiting_patient", key=f"waiting:{offer_round}"
        )
        deadline = self.case.policy.reply_deadline_seconds
        answer = await self._await_answer(deadline, len(offers), watching=(sent_by, key))
        if answer == UNDELIVERED:
            retry_by = await self._offer_in_writing(offers, key, already_tried=(sent_by,))
            answer = None
            if retry_by is not None:
                answer = await self._await_answer(deadline, len(offers), watching=(retry_by, key))
        if answer is None or answer == UNDELIVERED:
            answer = await self._call_with_choices(offers, offer_round)
        return answer if isinstance(answer, Understood) else None

    async def _offer_in_writing(
        self, offers: list[OfferedSlot], key: str, already_tried: tuple[Channel, ...]
    ) -> Channel | None:
        data, tz = self.inp.data, self.inp.data.practice.timezone
        if Channel.SMS not in already_tried and self.case.sms_works:
            body = messages.offer_sms(self.lang, data.practice.name, data.slot, offers, tz)
            if await self.case.sms(key, body):
                return Channel.SMS
        if Channel.EMAIL not in already_tried and self.patient.email:
            links = [self._choice_link(n) for n in range(1, len(offers) + 1)]
            subject, body = messages.offer_email(self.lang, data.practice.name, data.slot, offers, tz, links)
            if await self.case.email(key, subject, body):
                return Channel.EMAIL
        return None

    async def _call_with_choices(
        self, offers: list[OfferedSlot], offer_round: int
    ) -> Understood | str | None:
        if not (self.case.sms_works and self._calls_work and self.patient.phone):
            return None
        await self.case.until_outside_quiet_hours()
        data, tz = self.inp.data, self.inp.data.practice.timezone
        key = f"offer-{offer_round}-call"
        body = messages.offer_voice(self.lang, data.practice.name, offers, tz)
        gather = (
            f"{self.inp.public_base_url}/webhooks/twilio/voice/gather"
            f"?case_id={self.case.case_id}&round={offer_round}&lang={self.lang}"
        )
        if not await self.case.call(key, body, gather):
            return None
        # no answer, busy or an answering machine ends the wait early: nobody heard the choices
        return await self._await_answer(
            self.case.policy.call_answer_deadline_seconds, len(offers), watching=(Channel.VOICE, key)
        )

    async def _await_answer(
        self, seconds: int, choices: int, watching: tuple[Channel, str] | None = None
    ) -> Understood | str | None:
        """The next reply that answers the offer; UNDELIVERED when the provider reports the message we wait
        on as not delivered; None when the deadline passes."""
        deadline = workflow.now() + timedelta(seconds=seconds)
        watched = (watching[0].value, watching[1]) if watching else None
        while True:
            if not await wait_until(lambda: self._inbox.waiting() or watched in self._problems, deadline):
                return None
            if not self._inbox.waiting():
                assert watched is not None
                problem = self._problems[watched]
                if watched[0] == Channel.SMS.value:
                    self.case.texts_arrive = False  # undelivered: later texts would not arrive either
                if watched[0] == Channel.VOICE.value and problem.status in ("failed",):
                    self._calls_work = False
                await self.case.timeline(
                    "delivery_failed",
                    f"undelivered:{watched[0]}:{watched[1]}",
                    {"channel": watched[0], "message": watched[1], "status": problem.status},
                )
                return UNDELIVERED
            reply = self._inbox.next()
            understood = reply.understood(choices)
            await self.case.timeline(
                "reply_received",
                f"reply:{self._inbox.read}",
                {
                    "channel": reply.channel.value,
                    "intent": understood.intent.value,
                    "choice": understood.choice,
                },
            )
            if understood.intent is Intent.OPT_IN:
                continue  # not an answer to the offer
            if understood.intent is Intent.OPT_OUT:
                self.case.sms_works = False  # honoured at once: no more texts or calls in this case
            return understood

    async def _rebook(self, chosen: OfferedSlot) -> bool:
        request = BookRequest(
            case_id=self.case.case_id,
            appointment_id=self.inp.data.appointment_id,
            patient_id=self.patient.id,
            offer=chosen,
        )
        return await store_step(SchedulingActivities.book_slot, request)

    async def _confirm(self, chosen: OfferedSlot) -> None:
        tz = chosen.practice.timezone
        if self.case.sms_works:
            await self.case.sms(
                "confirmation", messages.confirm_sms(self.lang, chosen.practice.name, chosen.slot, tz)
            )
        if self.patient.email:
            subject, body = messages.confirm_email(
                self.lang, chosen.practice.name, chosen.provider.name, chosen.slot, tz
            )
            await self.case.email("confirmation", subject, body)

    async def _close(self, outcome: Outcome, new_slot: Slot | None = None) -> CaseResult:
        owed = self._owed()
        decision = None
        auto = owed > 0 and policy.auto_approved(self.case.policy.compensation, owed)
        held = await self.case.reserve_compensation(owed) if auto else None
        if owed > 0 and (not auto or held is not None):
            # above what the system may pay on its own, or past the patient's cap or today's budget: a
            # person with the authority decides
            detail: dict[str, object] = {"amount": str(owed)}
            if held is not None:
                detail["reason"] = held
            else:
                await self.case.record_pending_approval(owed)
            await self.case.set_status(
                CaseStatus.ESCALATED, "awaiting_approval", needs_rep=True, detail=detail
            )
            decision = await self.case.escalate("compensation_approval", pending=owed)
        amount = await self._settle(owed, decision, held=held is not None)
        ticket_id = await self._file_root_cause()
        await self.case.set_status(
            CaseStatus.RESOLVED,
            "case_closed",
            outcome=outcome,
            new_slot=new_slot,
            ticket_id=ticket_id,
            needs_rep=False,
            detail={"outcome": outcome.value},
        )
        await self.case.ask_for_feedback()
        return self.case.result(
            CaseStatus.RESOLVED, outcome, new_slot=new_slot, ticket_id=ticket_id, amount=amount
        )

    async def _hand_to_rep(self, reason: str) -> CaseResult:
        """A person takes over: the patient could not be reached, asked for one, or the system could not
        find a way. The escalation climbs its levels until someone resolves it, or expires."""
        if reason == "patient_person" and self.case.sms_works:
            await self.case.sms(
                "rep-will-call", messages.rep_will_call_sms(self.lang, self.case.practice_name)
            )
        unreachable = reason == "unreachable"
        await self.case.set_status(
            CaseStatus.ESCALATED,
            "unreachable" if unreachable else "needs_rep",
            outcome=Outcome.UNREACHABLE if unreachable else None,
            needs_rep=True,
            detail={"reason": reason},
        )
        owed = self._owed()
        needs_approval = owed > 0 and not policy.auto_approved(self.case.policy.compensation, owed)
        if needs_approval:
            await self.case.record_pending_approval(owed)
        held = None if needs_approval or owed <= 0 else await self.case.reserve_compensation(owed)
        needs_approval |= held is not None
        decision = await self.case.escalate(reason, pending=owed if needs_approval else None)
        if decision.status is not EscalationStatus.RESOLVED:
            # expired unowned: the alert is on record; the case stays with people (engineers replay it)
            if self.case.reserved:
                await self.case.release_reservation(owed)  # nothing is paid: back to today's budget
            return await self.case.expired_unowned(
                self._summary(),
                {"escalation_id": decision.escalation_id},
                Outcome.UNREACHABLE if unreachable else None,
            )
        if decision.root_cause:
            self.case.root_cause = decision.root_cause
        amount = await self._settle(owed, decision, held=held is not None)
        return await self.case.closed_by_rep(decision, self._summary(), amount)

    # ------------------------------------------------------------------ compensation

    def _owed(self) -> Decimal:
        cause = self.case.root_cause
        assert cause is not None  # from the event, or as the rep filed it
        return policy.compensation_amount(self.case.policy.compensation, CaseKind.BOOKING_CONFLICT, cause)

    async def _settle(
        self, owed: Decimal, decision: EscalationState | None, held: bool = False
    ) -> Decimal | None:
        """Pay what is due: what a rep granted or approved, else what policy pays on its own (unless it
        was held for approval: past a cap or the budget); a denial is recorded with its reason and pays
        nothing."""
        comp = self.case.policy.compensation
        if decision is not None and decision.compensation is not None:
            return await self._pay(decision.compensation.amount)
        if decision is not None and decision.approved is not None:
            return await self._pay(decision.approved.amount)
        if decision is not None and decision.denied_reason is not None:
            await self.case.record_denial(owed, decision.denied_reason, decision.approved_by or "")
            return None
        if owed > 0 and policy.auto_approved(comp, owed) and not held:
            return await self._pay(owed)
        return None

    async def _pay(self, amount: Decimal) -> Decimal:
        practice, currency = self.case.practice_name, self.case.policy.compensation.currency
        card = await self.case.issue_gift_card(amount)
        if workflow.patched(GIFT_CARD_BY_SMS_TOO_PATCH):
            # by text whenever texts reach the patient (README, step 6), and by email too when they have
            # an address; send-once keys are per channel, so "compensation" names each once
            await self.case.sms(
                "compensation",
                messages.compensation_sms(self.lang, practice, amount, currency, card.redemption_url),
            )
            if self.patient.email:
                subject, body = messages.compensation_email(
                    self.lang, practice, amount, currency, card.redemption_url
                )
                await self.case.email("compensation", subject, body)
            return amount
        if self.patient.email:
            subject, body = messages.compensation_email(
                self.lang, practice, amount, currency, card.redemption_url
            )
            await self.case.email("compensation", subject, body)
        elif self.case.sms_works:
            await self.case.sms(
                "compensation",
                messages.compensation_sms(self.lang, practice, amount, currency, card.redemption_url),
            )
        return amount

    def _summary(self) -> str:
        return f"{self.inp.event_type.value} for appointment {self.inp.data.appointment_id}"

    async def _file_root_cause(self) -> str:
        return await self.case.file_root_cause(self._summary())

    def _choice_link(self, choice: int) -> str:
        return f"{self.inp.public_base_url}/choose/{self.case.case_id}/{choice}?t={self.inp.reply_token}"
