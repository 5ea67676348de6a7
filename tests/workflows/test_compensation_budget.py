"""Compensation caps and the daily budget (issue 10, part 2): what the system pays on its own stays within
the patient's yearly cap and today's budget; a payment that would break either waits for a person whose
limit covers it, with the reason on the case; two cases racing for the last of the budget never both get
it (SQLite and PostgreSQL); the ledger and the gift-card books balance; retries and replays add no row;
`cli.py ledger` shows the days."""

from __future__ import annotations

import html
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer

from activities.gift_cards import GiftCardActivities
from domain import policy
from domain.cases import CaseStatus, Outcome
from domain.compensation import GiftCardRequest, ReserveRequest
from domain.escalation import Actor, ApproveRequest, ByActor, Money, ResolveRequest
from domain.ids import gift_card_key
from domain.policy import BudgetVerdict, CompensationPolicy
from providers.gift_cards.local import LocalGiftCards
from store import ledger
from store.db import Store
from store.models import EscalationRow, GiftCardOrder, LedgerEntry, TimelineItem
from store.views import case_view, load_cases
from tests.support.cli_in_process import run_cli
from tests.support.cli_process import cli_env
from tests.support.http import free_port
from tests.support.prism import add_case
from tests.support.settings import TEST_CONVERTER, example_event, make_settings
from tests.support.tango_stub import TangoStub
from tests.support.workflow_harness import running
from workflows.booking_conflict import BookingConflictRecovery
from workflows.escalation import Escalation

# "today" (UTC) in the data and in the code under test must be one day
pytestmark = pytest.mark.usefixtures("within_one_utc_day")

PHONE = "+31612345678"
PATIENT = "pat-1"  # example_event()'s patient
REP = Actor(user="ann", role="rep")
TEN = Decimal("10.00")


def rules(**kw: Any) -> CompensationPolicy:
    return CompensationPolicy(**{"auto_approve_up_to": "10.00", "default_amount": "10.00", **kw})


def paid_before(store: Store, patient_id: str, amount: str, at: datetime, key: str | None = None) -> None:
    """A payment already in the ledger (an earlier case of this patient, or another patient's today)."""
    with store.session() as s:
        s.add(
            LedgerEntry(
                case_id="case-earlier",
                patient_id=patient_id,
                idempotency_key=key or f"mr-earlier-{patient_id}-{at.timestamp()}",
                amount=Decimal(amount),
                currency="USD",
                status="issued",
                provider_order_id="GC-EARLIER",
                issued_at=at,
                created_at=at,
            )
        )


def reserve(store: Store, case_id: str, patient_id: str, policy_: CompensationPolicy) -> BudgetVerdict:
    return ledger.reserve(
        store,
        case_id=case_id,
        patient_id=patient_id,
        idempotency_key=gift_card_key(case_id),
        amount=TEN,
        currency="USD",
        rules=policy_,
    )


def rows(store: Store) -> list[LedgerEntry]:
    with store.session() as s:
        return list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))


# ---------------------------------------------------------------- the decision (pure)


def test_the_decision_names_the_cap_or_the_budget_it_would_break() -> None:
    both = rules(patient_yearly_cap="40.00", daily_budget="100.00")
    assert policy.budget_check(both, TEN, Decimal("30.00"), Decimal("90.00")).fits  # exactly at both limits
    assert policy.budget_check(both, TEN, Decimal("30.01"), Decimal("0")) == BudgetVerdict(
        fits=False, reason="would exceed the patient's yearly cap: 30.01 of 40.00 used"
    )
    assert policy.budget_check(both, TEN, Decimal("0"), Decimal("95.00")) == BudgetVerdict(
        fits=False, reason="would exceed today's budget: 95.00 of 100.00 used"
    )
    assert policy.budget_check(rules(), Decimal("10"), Decimal("10000"), Decimal("10000")).fits  # no limits


# ---------------------------------------------------------------- the store: cap, budget, the race


def test_the_cap_counts_the_patients_rolling_year_and_the_budget_today_only(any_db_url: str) -> None:
    store = Store(any_db_url)
    now = datetime.now(UTC)
    capped = rules(patient_yearly_cap="40.00")
    paid_before(store, PATIENT, "30.00", now - timedelta(days=200))
    paid_before(store, PATIENT, "25.00", now - timedelta(days=366))  # more than a year ago: not counted
    paid_before(store, "someone-else", "50.00", now)  # another patient's money is not this patient's cap
    first, second = add_case(store), add_case(store)
    assert reserve(store, first, PATIENT, capped) == BudgetVerdict(fits=True)  # 30 + 10 = 40: at the cap
    held = reserve(store, second, PATIENT, capped)
    assert held == BudgetVerdict(
        fits=False, reason="would exceed the patient's yearly cap: 40.00 of 40.00 used"
    )
    by_key = {e.idempotency_key: e for e in rows(store)}
    assert by_key[gift_card_key(first)].status == "reserved"
    assert (by_key[gift_card_key(second)].status, by_key[gift_card_key(second)].hold_reason) == (
        "pending_approval",
        held.reason,
    )

    # the daily budget: yesterday's money is yesterday's
    budget = rules(daily_budget="80.00")
    paid_before(store, "p2", "70.00", now - timedelta(days=1))
    # today: 50 (someone-else) + 10 (first, reserved) = 60; 60 + 10 fits, then 70 + 10 fits, then no
    assert reserve(store, add_case(store), "p3", budget).fits
    assert reserve(store, add_case(store), "p4", budget).fits
    over = reserve(store, add_case(store), "p5", budget)
    assert over == BudgetVerdict(fits=False, reason="would exceed today's budget: 80.00 of 80.00 used")


def test_a_retry_of_the_check_reads_back_its_first_verdict_and_adds_no_row(any_db_url: str) -> None:
    store = Store(any_db_url)
    capped = rules(patient_yearly_cap="10.00")
    first, second = add_case(store), add_case(store)
    assert reserve(store, first, PATIENT, capped).fits
    held = reserve(store, second, PATIENT, capped)
    before = len(rows(store))
    assert reserve(store, first, PATIENT, capped).fits  # the first payment's retry still fits (its own row)
    assert reserve(store, second, PATIENT, capped) == held  # and the held one stays held, same reason
    assert len(rows(store)) == before == 2


def test_two_cases_racing_for_the_last_of_the_budget_do_not_both_get_it(any_db_url: str) -> None:
    """Eight cases check at the same instant for a budget with room for three payments: three are
    reserved, five wait for approval, and the day's spend is exactly the budget."""
    store = Store(any_db_url)
    budget = rules(daily_budget="30.00")
    cases = [add_case(store) for _ in range(8)]
    start = threading.Barrier(len(cases))
    verdicts: dict[str, BudgetVerdict] = {}
    errors: list[BaseException] = []

    def one(case_id: str) -> None:
        try:
            start.wait()
            verdicts[case_id] = reserve(store, case_id, f"patient-{case_id}", budget)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(c,)) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(v.fits for v in verdicts.values()) == [False] * 5 + [True] * 3
    with store.session() as s:
        assert ledger.day_spent(s, datetime.now(UTC).date()) == Decimal("30.00")


# ---------------------------------------------------------------- the ledger balances


async def test_every_order_is_one_ledger_row_on_the_tango_stub_and_the_local_provider(
    tango: TangoStub,
    store: Store,
) -> None:
    """Each case's payment is ordered several times over (a retry, a replayed reset, a lost answer): one
    ledger row per order and one order per ledger row, on both providers."""
    env = ActivityEnvironment()
    stub_orders = lambda: {o["referenceOrderID"]: ref for ref, o in tango.orders.items()}  # noqa: E731
    for provider, orders in (
        (tango.provider(), stub_orders),
        (LocalGiftCards(store, "http://testserver"), lambda: _local_orders(store)),
    ):
        cards = GiftCardActivities(store, provider)
        for _ in range(3):
            case_id = add_case(store)
            payment = _payment(case_id)
            assert (
                await env.run(cards.reserve_compensation, ReserveRequest(payment=payment, rules=rules()))
            ).fits
            tango.faults.append("created_then_500")  # on Tango: the answer is lost after the order
            first = await env.run(cards.issue_gift_card, payment)
            again = await env.run(cards.issue_gift_card, payment)  # a retry or a replayed reset
            assert again.order_id == first.order_id and again.already_issued
            tango.faults.clear()
        ordered = orders()
        paid = {e.provider_order_id: e.idempotency_key for e in rows(store) if e.provider_order_id}
        assert set(ordered) <= set(paid) and len(ordered) == 3
        assert all(paid[order_id] == ordered[order_id] for order_id in ordered)
    assert len(rows(store)) == 6 and all(e.status == "issued" for e in rows(store))
    assert len({e.provider_order_id for e in rows(store)}) == 6
    assert ledger.unbalanced(store) == []  # the local book and the ledger agree (the CLI's check)


def test_the_local_check_finds_an_order_without_its_ledger_row(store: Store) -> None:
    LocalGiftCards(store, "http://testserver").order("mr-lost-comp", TEN, "USD")
    (problem,) = ledger.unbalanced(store)
    assert "mr-lost-comp" in problem and "no ledger row" in problem


def _payment(case_id: str) -> GiftCardRequest:
    return GiftCardRequest(
        case_id=case_id,
        patient_id=PATIENT,
        amount=TEN,
        currency="USD",
        idempotency_key=gift_card_key(case_id),
    )


def _local_orders(store: Store) -> dict[str, str]:
    with store.session() as s:
        return {o.order_id: o.external_ref for o in s.scalars(select(GiftCardOrder))}


# ---------------------------------------------------------------- the case: held, approved, paid once


def capped_settings(sqlite_url: str, tmp_path: Path, **compensation: Any) -> Any:
    comp = {"auto_approve_up_to": "10.00", "rules": [{"kind": "booking_conflict", "amount": "10.00"}]}
    comp.update(compensation)
    return make_settings(sqlite_url, tmp_path, policy={"compensation": comp})


async def test_a_payment_past_the_patients_cap_waits_for_approval_with_the_reason_then_is_paid_once(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = capped_settings(sqlite_url, tmp_path, patient_yearly_cap="40.00")
    store = Store(sqlite_url)
    paid_before(store, PATIENT, "35.00", datetime.now(UTC) - timedelta(days=30))
    attempts: list[int] = []

    # the check's first attempt writes its row and then the worker "dies": the retry adds nothing
    cards = GiftCardActivities(store, LocalGiftCards(store, "http://testserver"))

    @activity.defn(name="reserve_compensation")
    async def flaky_reserve(req: ReserveRequest) -> BudgetVerdict:
        verdict = await cards.reserve_compensation(req)
        attempts.append(activity.info().attempt)
        if activity.info().attempt == 1:
            raise RuntimeError("worker lost after the ledger row was written")
        return verdict

    async with running(settings, time_skipping_env, overrides={"reserve_compensation": flaky_reserve}) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        escalation_id = await h.escalation(accepted.case_id)

        # not paid: it waits for a person, and says why (case API, console, timeline)
        assert h.count(GiftCardOrder) == 0
        reason = "would exceed the patient's yearly cap: 35.00 of 40.00 used"
        view = _case(store, accepted.case_id)
        assert view["status"] == "escalated"
        assert view["compensation"] == {
            "amount": "10.00",
            "currency": "USD",
            "status": "pending_approval",
            "reason": reason,
        }
        pending = [t for t in view["timeline"] if t["what"] == "compensation_pending_approval"]
        assert [t["detail"]["reason"] for t in pending] == [reason]
        with store.session() as s:
            esc = s.get(EscalationRow, escalation_id)
            assert esc is not None and (esc.reason, esc.pending_amount) == ("compensation_approval", TEN)

        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(escalation_id, "approve", ApproveRequest(actor=REP, amount=Money(amount=TEN)))
        await h.act(escalation_id, "resolve", ResolveRequest(actor=REP, notes="Over the cap, still owed."))
        result = await h.result(handle)
        history = await handle.fetch_history()
        child = await h.client.get_workflow_handle(escalation_id).fetch_history()

    assert (result.status, result.outcome, result.compensation_amount) == (
        CaseStatus.RESOLVED,
        Outcome.REBOOKED,
        TEN,
    )
    assert attempts == [1, 2]
    assert h.count(GiftCardOrder) == 1
    mine = [e for e in rows(store) if e.case_id == accepted.case_id]
    assert [(e.status, e.amount) for e in mine] == [("issued", TEN)]
    assert _case(store, accepted.case_id)["compensation"]["status"] == "issued"

    # a replay of the case runs no activity and adds no row
    before = (len(rows(store)), h.count(GiftCardOrder), h.count(TimelineItem))
    replayer = Replayer(workflows=[BookingConflictRecovery, Escalation], data_converter=TEST_CONVERTER)
    await replayer.replay_workflow(history)
    await replayer.replay_workflow(child)
    assert (len(rows(store)), h.count(GiftCardOrder), h.count(TimelineItem)) == before


async def test_within_the_cap_and_budget_the_case_pays_on_its_own(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = capped_settings(sqlite_url, tmp_path, patient_yearly_cap="40.00", daily_budget="20.00")
    store = Store(sqlite_url)
    paid_before(store, "someone-else", "10.00", datetime.now(UTC))
    async with running(settings, time_skipping_env) as h:
        _, handle = await h.open_case(example_event())
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        result = await h.result(handle)
    assert result.compensation_amount == TEN and h.count(EscalationRow) == 0
    with store.session() as s:
        assert ledger.day_spent(s, datetime.now(UTC).date()) == Decimal("20.00")  # the budget, exactly


async def test_a_payment_past_todays_budget_waits_with_the_reason(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = capped_settings(sqlite_url, tmp_path, daily_budget="25.00")
    store = Store(sqlite_url)
    paid_before(store, "someone-else", "20.00", datetime.now(UTC))
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await h.wait_for(lambda: h.deliveries("sms", PHONE))
        await h.sms_reply(PHONE, "1")
        await h.escalation(accepted.case_id)
        view = _case(store, accepted.case_id)
        await h.end(handle)
    assert h.count(GiftCardOrder) == 0
    assert view["compensation"]["reason"] == "would exceed today's budget: 20.00 of 25.00 used"


def _case(store: Store, case_id: str) -> dict[str, Any]:
    (found,) = load_cases(store, case_id=case_id)
    case, entry, items = found
    return case_view(case, entry, items, unmasked=False, currency="USD")


# ---------------------------------------------------------------- cli.py ledger


def test_cli_ledger_shows_issued_pending_denied_per_day_and_the_budget_left(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = Store(sqlite_url)
    today = datetime.now(UTC).replace(hour=12) if datetime.now(UTC).hour < 23 else datetime.now(UTC)
    yesterday = today - timedelta(days=1)
    paid_before(store, "p1", "10.00", today, key="mr-a-comp")
    paid_before(store, "p2", "15.00", today, key="mr-b-comp")
    paid_before(store, "p3", "10.00", yesterday, key="mr-c-comp")
    with store.session() as s:
        s.add_all(
            [
                LedgerEntry(
                    case_id="case-d",
                    patient_id="p4",
                    idempotency_key="mr-d-comp",
                    amount=Decimal("25.00"),
                    currency="USD",
                    status="pending_approval",
                    hold_reason="would exceed today's budget: 25.00 of 30.00 used",
                    created_at=today,
                ),
                LedgerEntry(
                    case_id="case-e",
                    patient_id="p5",
                    idempotency_key="mr-e-comp",
                    amount=Decimal("5.00"),
                    currency="USD",
                    status="denied",
                    denied_reason="already compensated",
                    created_at=yesterday,
                ),
            ]
        )
    env = cli_env(sqlite_url, tmp_path, f"127.0.0.1:{free_port()}")
    env.update({"POLICY__COMPENSATION__DAILY_BUDGET": "30.00", "GIFT_CARD_MODE": "tango"})
    env.update({"TANGO_PLATFORM_NAME": "p", "TANGO_PLATFORM_KEY": "k", "TANGO_ACCOUNT_IDENTIFIER": "a"})
    env.update({"TANGO_CUSTOMER_IDENTIFIER": "c", "TANGO_UTID": "U1"})

    shown = run_cli(env, "ledger", "--json")
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    assert data["daily_budget"] == "30.00" and data["currency"] == "USD"
    days = {d["day"]: d for d in data["days"]}
    t, y = days[today.date().isoformat()], days[yesterday.date().isoformat()]
    assert (t["issued"], t["issued_count"], t["pending_approval"], t["denied"], t["budget_left"]) == (
        "25.00",
        2,
        "25.00",
        "0.00",
        "5.00",
    )
    assert (y["issued"], y["denied"], y["denied_count"], y["budget_left"]) == ("10.00", "5.00", 1, "20.00")

    one = run_cli(env, "ledger", "--day", yesterday.date().isoformat())
    assert one.code == 0, one.err
    lines = [line for line in one.out.splitlines() if yesterday.date().isoformat() in line]
    assert len(lines) == 1 and "10.00" in lines[0] and "5.00" in lines[0] and "20.00" in lines[0]
    assert today.date().isoformat() not in one.out
    assert "budget left" in one.out and "pending approval" in one.out and "denied" in one.out

    bad = run_cli(env, "ledger", "--day", "yesterday")
    assert bad.code == 2 and "--day" in bad.err


def test_cli_ledger_exits_1_when_the_local_book_and_the_ledger_disagree(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = Store(sqlite_url)
    LocalGiftCards(store, "http://testserver").order("mr-lost-comp", TEN, "USD")
    env = cli_env(sqlite_url, tmp_path, f"127.0.0.1:{free_port()}")
    shown = run_cli(env, "ledger")
    assert shown.code == 1 and "ledger unbalanced" in shown.err and "mr-lost-comp" in shown.err
    assert "compensation ledger" in shown.out  # the table still prints


# ---------------------------------------------------------------- a case handed to a rep


async def test_an_unreachable_patient_past_the_cap_needs_the_reps_approval_not_just_a_resolve(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = capped_settings(sqlite_url, tmp_path, patient_yearly_cap="40.00")
    store = Store(sqlite_url)
    paid_before(store, PATIENT, "35.00", datetime.now(UTC))
    async with running(settings, time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await time_skipping_env.sleep(900 + 600 + 5)  # no SMS answer, no keypad answer
        escalation_id = await h.escalation(accepted.case_id)
        with store.session() as s:
            esc = s.get(EscalationRow, escalation_id)
            assert esc is not None and (esc.reason, esc.pending_amount) == ("unreachable", TEN)
        reason = "would exceed the patient's yearly cap: 35.00 of 40.00 used"
        assert _case(store, accepted.case_id)["compensation"]["reason"] == reason
        await h.act(escalation_id, "claim", ByActor(actor=REP))
        await h.act(escalation_id, "approve", ApproveRequest(actor=REP, amount=Money(amount=TEN)))
        await h.act(escalation_id, "resolve", ResolveRequest(actor=REP, notes="Reached her at work."))
        result = await h.result(handle)
    assert (result.outcome, result.compensation_amount) == (Outcome.RESOLVED_BY_REP, TEN)
    assert [e.status for e in rows(store) if e.case_id == accepted.case_id] == ["issued"]


async def test_a_reservation_whose_escalation_expires_goes_back_to_the_budget(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = capped_settings(sqlite_url, tmp_path, daily_budget="100.00")
    store = Store(sqlite_url)
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event())
        assert accepted.case_id
        await own_time_skipping_env.sleep(900 + 600 + 5)
        await h.escalation(accepted.case_id)
        # within the limits: reserved (counted today) while a rep may still resolve it
        assert [(e.status, e.amount) for e in rows(store)] == [("reserved", TEN)]
        result = await h.result(handle)  # nobody claims it: it expires
    assert result.status is CaseStatus.FAILED
    assert rows(store) == [] and h.count(GiftCardOrder) == 0
    with store.session() as s:
        assert ledger.day_spent(s, datetime.now(UTC).date()) == Decimal("0.00")


# ---------------------------------------------------------------- the reason, where people read it


def test_the_console_and_the_case_api_show_why_a_payment_waits(sqlite_url: str, tmp_path: Path) -> None:
    from tests.support.console_harness import claimed_escalation, client, http_login, start_console

    server, _, store = start_console(sqlite_url, tmp_path)
    escalation_id = claimed_escalation(store, "rita")
    with store.session() as s:
        esc = s.get(EscalationRow, escalation_id)
        assert esc is not None
        case_id = esc.case_id
    reason = "would exceed today's budget: 495.00 of 500.00 used"
    with store.session() as s:
        s.add(
            LedgerEntry(
                case_id=case_id,
                patient_id="p1",
                idempotency_key=gift_card_key(case_id),
                amount=Decimal("20.00"),
                currency="USD",
                status="pending_approval",
                hold_reason=reason,
            )
        )
    with server, client(server) as browser:
        assert http_login(browser, "rita").status_code == 303
        page = browser.get(f"/console/escalations/{escalation_id}")
        assert page.status_code == 200
        shown = html.unescape(page.text)
        assert f"Not paid automatically: {reason}." in shown and "Why it waits" in shown
        api = browser.get(f"/api/cases/{case_id}", headers={"Authorization": "Bearer dev-supervisor-token"})
        assert api.status_code == 200, api.text
        assert api.json()["compensation"] == {
            "amount": "20.00",
            "currency": "USD",
            "status": "pending_approval",
            "reason": reason,
        }
