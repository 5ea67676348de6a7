"""BookingConflictRecovery on the time-skipping test server, with the local providers and a real store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.booking_conflict import BookingConflictInput
from domain.cases import CaseResult, CaseStatus, Outcome
from domain.escalation import Actor, ApproveRequest, ByActor, DenyRequest, Money, ResolveRequest
from domain.messaging import Channel, OutboundMessage, PatientReply
from domain.replies import Intent
from providers.gift_cards.local import LocalGiftCards
from providers.phone.local import LocalPhone
from runtime import worker
from store.db import Store
from store.models import (
    Case,
    EscalationRow,
    GiftCardOrder,
    LedgerEntry,
    OutboundMessageRow,
    Ticket,
    TicketLink,
    TimelineItem,
)
from tests.support.provider_stubs import InvalidNumberPhone
from tests.support.settings import TEST_CONVERTER, example_event, make_settings
from tests.support.workflow_harness import Harness, running
from workflows.booking_conflict import BookingConflictRecovery

PHONE = "+31612345678"
REP = Actor(user="ann", role="rep")


def fast_settings(sqlite_url: str, tmp_path: Path, **policy: Any) -> Settings:
    base = {"reply_deadline_seconds": 900, "call_answer_deadline_seconds": 600}
    base.update(policy)
    return make_settings(sqlite_url, tmp_path, policy=base)


def timeline(store: Store, case_id: str) -> list[str]:
    with store.session() as s:
        return list(
            s.scalars(
                select(TimelineItem.what).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id)
            )
        )


async def test_patient_picks_a_slot_and_is_rebooked_compensated_and_ticketed(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        offer = (await h.wait_for(lambda: h.deliveries("sms", PHONE)))[0]
        assert "Uptown Orthopedics" in offer.body and "1)" in offer.body and "3)" in offer.body
        assert "Ada" not in offer.body  # minimum necessary: no patient name in an SMS
        assert "Antwoord 1-3" in offer.body  # the patient's locale is nl

        await h.sms_reply(PHONE, "2")
        result = await h.result(handle)

    assert result.status is CaseStatus.RESOLVED
    assert result.outcome is Outcome.REBOOKED
    assert result.compensation_amount == Decimal("10.00")
    assert result.ticket_id and result.ticket_id.startswith("PRB-")
    with h.store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None
        assert (case.status, case.outcome, case.ticket_id) == ("resolved", "rebooked", result.ticket_id)
        assert case.new_slot is not None
        chosen = datetime.fromisoformat(case.new_slot["start"])
        assert result.new_slot is not None and chosen == result.new_slot.start
        ledger = list(s.scalars(select(LedgerEntry).where(LedgerEntry.case_id == accepted.case_id)))
        assert [(e.amount, e.status) for e in ledger] == [(Decimal("10.00"), "issued")]
    # the confirmation and the gift card went out by SMS and email
    sms = [d.body for d in h.deliveries("sms", PHONE)]
    assert len(sms) == 3 and "ingepland" in sms[1]
    assert "cadeaubon van US$ 10,00" in sms[2]
    emails = h.deliveries("email", "ada@example.com")
    assert [e.subject for e in emails] == [
        "Uptown Orthopedics: uw nieuwe afspraak",
        "Onze excuses: een cadeaubon voor u",
    ]
    assert "een cadeaubon van US$\xa010,00: " in emails[1].body  # a Dutch patient, money as Dutch writes it
    steps = timeline(h.store, accepted.case_id or "")
    for step in [
        "alternatives_found",
        "sms_sent",
        "waiting_patient",
        "reply_received",
        "rebooked",
        "email_sent",
        "compensation_issued",
        "ticket_linked",
        "case_closed",
    ]:
        assert step in steps, (step, steps)


async def test_no_reply_leads_to_a_call_then_an_escalation_that_expires_with_an_alert(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        result = await h.result(handle)  # time skips through both deadlines and every escalation level

    assert (result.status, result.outcome, result.needs_rep) == (CaseStatus.FAILED, Outcome.UNREACHABLE, True)
    calls = h.deliveries("voice", PHONE)
    assert len(calls) == 1
    assert "Toets 1" in calls[0].body and calls[0].gather_action_url
    assert f"case_id={accepted.case_id}" in calls[0].gather_action_url
    with h.store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None and (case.status, case.outcome, case.needs_rep) == (
            "failed",
            "unreachable",
            True,
        )
        assert case.ticket_id is not None
        # nobody was paid automatically: a rep decides for an unreachable patient
        assert s.scalars(select(LedgerEntry)).all() == []
        escalation = s.scalars(select(EscalationRow)).one()
        assert (escalation.status, escalation.alerted, escalation.reason) == ("expired", True, "unreachable")
    steps = timeline(h.store, accepted.case_id or "")
    assert steps.index("sms_sent") < steps.index("call_placed") < steps.index("unreachable")
    assert steps.index("unreachable") < steps.index("escalation_opened") < steps.index("escalation_expired")


async def test_unreachable_patient_is_escalated_and_resolved_by_a_rep(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await time_skipping_env.sleep(900 + 600 + 5)  # no SMS answer, no keypad answer
        escalation_id = await h.escalation(accepted.case_id)
        with h.store.session() as s:
            case = s.get(Case, accepted.case_id)
            assert case is not None and (case.status, case.outcome, case.needs_rep) == (
                "escalated",
                "unreachable",
                True,
            )
        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(
            escalation_id,
            "resolve",
            ResolveRequest(
                actor=REP, notes="Reached her at work; she keeps the new slot.", root_cause="no_sms"
            ),
        )
        result = await h.result(handle)

    assert (result.status, result.outcome, result.needs_rep) == (
        CaseStatus.RESOLVED,
        Outcome.RESOLVED_BY_REP,
        False,
    )
    assert result.compensation_amount == Decimal("10.00")  # the policy's amount, within auto-approval
    with h.store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None and (case.status, case.outcome, case.root_cause) == (
            "resolved",
            "resolved_by_rep",
            "no_sms",
        )
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.cause == "no_sms"


async def test_a_patient_asking_for_a_person_gets_one_who_may_grant_compensation(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "bel me aub")
        escalation_id = await h.escalation(accepted.case_id)
        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(
            escalation_id,
            "resolve",
            ResolveRequest(
                actor=REP, notes="Rebooked by phone.", compensation=Money(amount=Decimal("20.00"))
            ),
        )
        result = await h.result(handle)

    assert (result.status, result.outcome, result.compensation_amount) == (
        CaseStatus.RESOLVED,
        Outcome.RESOLVED_BY_REP,
        Decimal("20.00"),
    )
    sms = [d.body for d in h.deliveries("sms", PHONE)]
    assert any("medewerker belt u" in body for body in sms[1:])  # told a person will call
    # the gift card the rep granted reaches the patient by SMS (README, step 6) and by email, once each
    gift = [body for body in sms if "cadeaubon van US$ 20,00" in body]
    assert len(gift) == 1
    gift_emails = [e for e in h.deliveries("email", "ada@example.com") if "cadeaubon" in (e.subject or "")]
    assert len(gift_emails) == 1 and "US$\xa020,00" in gift_emails[0].body
    with h.store.session() as s:
        entry = s.scalars(select(LedgerEntry)).one()
        assert (entry.amount, entry.status) == (Decimal("20.00"), "issued")
    assert h.count(GiftCardOrder) == 1


async def test_a_patient_without_email_gets_the_gift_card_by_sms_once(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    event = example_event()
    event["data"]["patient"].pop("email")
    async with running(settings, time_skipping_env) as h:
        _, handle = await h.open_case(event)
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        result = await h.result(handle)

    assert (result.outcome, result.compensation_amount) == (Outcome.REBOOKED, Decimal("10.00"))
    gift = [d.body for d in h.deliveries("sms", PHONE) if "cadeaubon" in d.body]
    assert len(gift) == 1 and "US$ 10,00" in gift[0]
    assert h.deliveries("email") == []


async def test_keypad_answer_on_the_call_rebooks(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path, reply_deadline_seconds=2)
    async with running(settings, time_skipping_env) as h:
        _, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("voice", PHONE), timeout=30)
        await h.sms_reply(PHONE, "1")  # any channel's answer reaches the case
        result = await h.result(handle)
    assert result.outcome is Outcome.REBOOKED


async def test_invalid_number_falls_back_to_email_with_choice_links(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    async with running(settings, time_skipping_env, phone=InvalidNumberPhone(store, "+15005550006")) as h:
        accepted, handle = await h.open_case(example_event(data__patient__locale="en"))
        emails = await h.wait_for(lambda: h.deliveries("email", "ada@example.com"))
        assert emails[0].subject == "Uptown Orthopedics: choose a new time"
        assert f"/choose/{accepted.case_id}/1?t=" in emails[0].body
        # the patient clicks option 3 in the email (the link's route itself is tested in test_web_ingress)
        assert accepted.workflow_id is not None
        await h.until_waiting(accepted.workflow_id)
        row_id, _, _ = link_choice(h, accepted.case_id or "", "3")
        await h.dispatcher.dispatch(row_id)
        result = await h.result(handle)

    assert result.outcome is Outcome.REBOOKED
    assert h.deliveries("sms") == [] and h.deliveries("voice") == []
    with h.store.session() as s:
        statuses = {(r.channel, r.key): r.status for r in s.scalars(select(OutboundMessageRow))}
    assert statuses[("sms", "offer-1")] == "rejected"  # the SMS intent is on record, refused
    assert statuses[("email", "confirmation")] == "sent"  # confirmation went by email only
    assert ("sms", "confirmation") not in statuses
    assert "sms_failed" in timeline(h.store, accepted.case_id or "")


def link_choice(h: Any, case_id: str, text: str) -> tuple[int, str | None, bool]:
    """What `POST /choose/{case}/{n}` stores for a patient's click."""
    from store import inbox

    return inbox.accept_patient_answer(
        h.store,
        "patient_link",
        f"link-{text}",
        "ada@example.com",
        text,
        case_id,
        {"channel": "email", "text": text},
    )


async def test_duplicate_event_starts_nothing_new(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        event = example_event()
        first, handle = await h.open_case(event)
        again, _ = await h.open_case(event)  # the same event id
        other_id = dict(event, id="evt-other-id", type="booking.slot_double_booked")
        same_conflict, _ = await h.open_case(other_id)  # same appointment and slot, another event
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        await h.result(handle)

    assert not first.duplicate and again.duplicate and same_conflict.duplicate
    assert first.case_id == again.case_id == same_conflict.case_id
    assert h.count(Case) == 1
    assert len([d for d in h.deliveries("sms") if "1)" in d.body]) == 1  # one offer, not three


class AcceptedThenCrashedPhone(LocalPhone):
    """The provider accepts the SMS, then the activity dies before it can record the provider id."""

    crashes = 0

    def send_sms(self, msg: OutboundMessage) -> str:
        sid = super().send_sms(msg)
        if msg.key == "offer-1" and AcceptedThenCrashedPhone.crashes == 0:
            AcceptedThenCrashedPhone.crashes += 1
            raise ConnectionResetError("worker lost the response")
        return sid


async def test_activity_retried_after_provider_accepted_sends_no_second_message(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    async with running(
        settings, time_skipping_env, phone=AcceptedThenCrashedPhone(store, "+15005550006")
    ) as h:
        _, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        await h.result(handle)
    assert AcceptedThenCrashedPhone.crashes == 1
    offers = [d for d in h.deliveries("sms", PHONE) if "1)" in d.body]
    assert len(offers) == 1
    with h.store.session() as s:
        row = s.scalars(select(OutboundMessageRow).where(OutboundMessageRow.key == "offer-1")).one()
        assert row.status == "sent" and row.attempts == 2 and row.provider_id == offers[0].provider_id


async def test_replayed_or_rerun_case_pays_and_messages_once(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Replaying a finished case's history runs no activity; re-running the same case (an engineer's retry
    after a fix) finds every payment and message already done."""
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        first = await h.result(handle)
        sent_before = len(h.deliveries())
        history = await handle.fetch_history()

        # 1. replay against the current code: deterministic, and no side effects at all
        replay = await worker.replayer(TEST_CONVERTER).replay_workflow(history)
        assert replay.replay_failure is None

        # 2. re-run with the very same input under a new run
        start = history.events[0].workflow_execution_started_event_attributes
        # history holds ciphertext: the codec decrypts it before the pydantic converter reads it
        (case_input,) = await TEST_CONVERTER.decode([start.input.payloads[0]], [BookingConflictInput])
        rerun = await h.client.start_workflow(
            BookingConflictRecovery.run,
            case_input,
            id=f"{accepted.workflow_id}-rerun",
            task_queue=settings.task_queue,
        )
        reply = PatientReply(
            channel=Channel.SMS,
            intent=Intent.CHOICE,
            choice=1,
            received_at=datetime.now(UTC),
            provider_ref="SMrerun",
        )
        await h.until_waiting(rerun.id)
        await rerun.signal(BookingConflictRecovery.patient_replied, reply)
        second = await h.result(rerun)

    assert first.outcome is second.outcome is Outcome.REBOOKED
    assert first.compensation_amount == second.compensation_amount == Decimal("10.00")
    assert h.count(LedgerEntry) == 1 and h.count(GiftCardOrder) == 1
    assert len(h.deliveries()) == sent_before  # every message of the re-run had already been sent
    assert h.count(TicketLink) == 1
    with h.store.session() as s:
        assert s.scalars(select(Ticket.occurrences)).one() == 1


class OrderedThenCrashedGiftCards(LocalGiftCards):
    """The gift-card provider places the order, then the activity dies before the ledger is written."""

    orders = 0

    def order(self, external_ref: str, amount: Decimal, currency: str) -> tuple[str, str]:
        placed = super().order(external_ref, amount, currency)
        OrderedThenCrashedGiftCards.orders += 1
        if OrderedThenCrashedGiftCards.orders == 1:
            raise ConnectionResetError("lost the provider's answer")
        return placed


async def test_gift_card_activity_retried_after_the_order_pays_once(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    store = Store(settings.database_url)
    cards = OrderedThenCrashedGiftCards(store, settings.public_base_url)
    async with running(settings, time_skipping_env, gift_cards=cards) as h:
        _accepted, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        result = await h.result(handle)
    assert OrderedThenCrashedGiftCards.orders == 2  # asked twice, with the same idempotency key
    assert result.compensation_amount == Decimal("10.00")
    assert h.count(GiftCardOrder) == 1 and h.count(LedgerEntry) == 1
    gift_emails = [d for d in h.deliveries("email") if "cadeaubon" in (d.subject or "")]
    assert len(gift_emails) == 1


async def test_same_cause_and_practice_link_to_one_ticket_that_counts(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        results = []
        for _ in range(2):
            _, handle = await h.open_case(example_event())
            results.append(await h.result(handle))
        with h.store.session() as s:
            ticket = s.scalars(select(Ticket)).one()
            assert ticket.occurrences == 2
            ticket.status = "fixed"
        _, handle = await h.open_case(example_event())
        results.append(await h.result(handle))
    assert len({r.ticket_id for r in results}) == 1
    with h.store.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert (ticket.status, ticket.occurrences, ticket.reopened_count) == ("open", 3, 1)


APPROVAL_POLICY = {"auto_approve_up_to": "10.00", "rules": [{"kind": "booking_conflict", "amount": "25.00"}]}


async def rebooked_awaiting_approval(h: Harness) -> tuple[str, WorkflowHandle[Any, CaseResult], str]:
    """A case the patient answered (choice 1) whose 25.00 waits for a person's approval."""
    accepted, handle = await h.open_case(example_event())
    assert accepted.case_id
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "1")
    return accepted.case_id, handle, await h.escalation(accepted.case_id)


async def test_compensation_above_the_auto_approved_amount_waits_for_approval_then_is_paid(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path, compensation=APPROVAL_POLICY)
    async with running(settings, time_skipping_env) as h:
        case_id, handle, escalation_id = await rebooked_awaiting_approval(h)
        assert h.count(GiftCardOrder) == 0  # nothing paid without a human's approval
        with h.store.session() as s:
            entry = s.scalars(select(LedgerEntry)).one()
            assert (entry.amount, entry.status) == (Decimal("25.00"), "pending_approval")
            assert s.get(EscalationRow, escalation_id).pending_amount == Decimal("25.00")  # type: ignore[union-attr]
        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(
            escalation_id, "approve", ApproveRequest(actor=REP, amount=Money(amount=Decimal("25.00")))
        )
        await h.act(
            escalation_id, "resolve", ResolveRequest(actor=REP, notes="Approved: second time this month.")
        )
        result = await h.result(handle)

    assert result.outcome is Outcome.REBOOKED and result.compensation_amount == Decimal("25.00")
    assert h.count(GiftCardOrder) == 1
    with h.store.session() as s:
        entry = s.scalars(select(LedgerEntry)).one()
        assert (entry.amount, entry.status) == (Decimal("25.00"), "issued")
    steps = timeline(h.store, case_id)
    assert steps.index("compensation_pending_approval") < steps.index("compensation_approved")
    assert steps.index("compensation_approved") < steps.index("compensation_issued")


async def test_denied_compensation_is_recorded_with_its_reason_and_never_paid(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path, compensation=APPROVAL_POLICY)
    async with running(settings, time_skipping_env) as h:
        case_id, handle, escalation_id = await rebooked_awaiting_approval(h)
        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(
            escalation_id, "deny", DenyRequest(actor=REP, reason="Already compensated for this visit.")
        )
        await h.act(escalation_id, "resolve", ResolveRequest(actor=REP, notes="Denied, see reason."))
        result = await h.result(handle)

    assert (result.status, result.outcome, result.compensation_amount) == (
        CaseStatus.RESOLVED,
        Outcome.REBOOKED,
        None,
    )
    assert h.count(GiftCardOrder) == 0
    with h.store.session() as s:
        entry = s.scalars(select(LedgerEntry)).one()
        assert (entry.status, entry.denied_reason) == ("denied", "Already compensated for this visit.")
    assert "compensation_denied" in timeline(h.store, case_id)


async def test_stop_mid_case_is_honoured_at_once_and_a_person_takes_over(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "stop sturen aub")  # plain Dutch: "stop sending, please"
        escalation_id = await h.escalation(accepted.case_id)
        await time_skipping_env.sleep(3 * 3600)  # hours pass: no reminder, no call
        await h.until_idle(handle)  # whatever those hours brought has been acted on
        assert len(h.deliveries("sms", PHONE)) == 1 and h.deliveries("voice", PHONE) == []
        with h.store.session() as s:
            row = s.get(EscalationRow, escalation_id)
            assert row is not None and row.reason == "patient_opt_out"
        await h.end(handle)


async def test_a_second_conflict_waits_for_the_first_offers_answer_so_a_choice_means_one_thing(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """Ada has an offer open when the practice cancels another appointment of hers: the second offer waits
    until she has answered the first, so her "1" answers the offer she just read, then her "2" the next."""
    settings = fast_settings(sqlite_url, tmp_path, offer_wait_check_seconds=1)
    async with running(settings, time_skipping_env) as h:
        first, first_handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.until_waiting(first.workflow_id or "")
        second, second_handle = await h.open_case(example_event())
        try:
            await h.wait_for(lambda: "offer_waits" in timeline(h.store, second.case_id or ""))
            assert len(h.deliveries("sms", PHONE)) == 1  # one offer at a time

            answer = await h.patient_sms(PHONE, "1")
            assert answer.case_id == first.case_id  # the offer she has, not the newer case
            assert (await h.result(first_handle)).outcome is Outcome.REBOOKED

            # then the second offer goes out, and her next choice answers it
            await h.wait_for(lambda: len([d for d in h.deliveries("sms", PHONE) if "1)" in d.body]) == 2)
            await h.until_waiting(second.workflow_id or "")
            answer = await h.patient_sms(PHONE, "2")
            assert answer.case_id == second.case_id
            assert (await h.result(second_handle)).outcome is Outcome.REBOOKED
        finally:
            await h.end(first_handle)
            await h.end(second_handle)
