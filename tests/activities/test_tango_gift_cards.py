"""GIFT_CARD_MODE=tango against a Tango Card stand-in that keeps state (tests/support/tango_stub.py): an
answer lost after the order was placed is found, not ordered again; a repeat with the same externalRefID is
the same card; 402 is final and goes to people; 429 is retried later. The patient gets the reward's link; its
claim code is stored nowhere."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.gift_cards import GiftCardActivities
from domain.cases import CaseResult
from domain.compensation import GiftCardRequest
from domain.ids import gift_card_key
from providers.errors import ProviderAmbiguous, ProviderNotProcessed, ProviderRejected
from store.db import Store
from store.models import Base, LedgerEntry, TimelineItem
from tests.support.cli_process import cli_env_on, run_cli_async
from tests.support.prism import add_case
from tests.support.settings import example_event, make_settings
from tests.support.tango_stub import UTID, TangoStub
from tests.support.workflow_harness import Harness, fail_case, rerun_result, running

PHONE = "+31612345678"


def request(case_id: str) -> GiftCardRequest:
    return GiftCardRequest(
        case_id=case_id,
        patient_id="patient-1",
        amount=Decimal("10.00"),
        currency="USD",
        idempotency_key=gift_card_key(case_id),
    )


def everything_stored(store: Store) -> str:
    """Every row of every table, as text."""
    with store.session() as s:
        return "\n".join(repr(s.execute(select(table)).all()) for table in Base.metadata.sorted_tables)


# ---------------------------------------------------------------- the provider against the stub


def test_an_order_is_one_post_with_the_case_reference_and_no_email_from_tango(tango: TangoStub) -> None:
    order_id, link = tango.provider().order("mr-case-1-comp", Decimal("10.00"), "USD")
    (post,) = tango.posts()
    assert post.body == {
        "accountIdentifier": "makeright-account",
        "customerIdentifier": "makeright-customer",
        "utid": UTID,
        "amount": 10.0,
        "externalRefID": "mr-case-1-comp",
        "sendEmail": False,
    }
    assert order_id == tango.orders["mr-case-1-comp"]["referenceOrderID"]
    assert link.startswith("https://sandbox.rewardlink.io/r/1/")


@pytest.mark.parametrize("fault", ["created_then_500", "created_then_dropped"])
def test_a_lost_answer_after_the_order_was_placed_is_found_not_ordered_again(
    tango: TangoStub,
    fault: str,
) -> None:
    tango.faults = [fault]
    order_id, link = tango.provider(timeout=5).order("mr-case-2-comp", Decimal("10.00"), "USD")
    assert len(tango.orders) == 1 and len(tango.posts()) == 1  # looked up, not ordered again
    assert [c.query["externalRefID"] for c in tango.lookups()] == [["mr-case-2-comp"]]
    assert order_id == tango.orders["mr-case-2-comp"]["referenceOrderID"]
    assert link.startswith("https://sandbox.rewardlink.io/")


async def test_the_retry_after_an_unknown_outcome_looks_before_it_orders(
    tango: TangoStub,
    store: Store,
) -> None:
    case_id = add_case(store)
    cards = GiftCardActivities(store, tango.provider())
    # attempt 1: a 500 and nothing to be found (not placed): unknown, retried by the activity's policy
    tango.faults = ["500"]
    env = ActivityEnvironment()
    with pytest.raises(ProviderAmbiguous):
        await env.run(cards.issue_gift_card, request(case_id))
    assert len(tango.lookups()) == 1
    # attempt 2 looks first (still nothing), then orders
    env.info = dataclasses.replace(env.info, attempt=2)
    result = await env.run(cards.issue_gift_card, request(case_id))
    methods = [(c.method, c.path.rsplit("/", 1)[-1]) for c in tango.calls]
    assert methods == [("POST", "orders"), ("GET", "orders"), ("GET", "orders"), ("POST", "orders")]
    assert len(tango.orders) == 1
    assert result.order_id == tango.orders[gift_card_key(case_id)]["referenceOrderID"]
    # attempt 3 (say the worker died after Tango answered): found by the lookup, no POST at all
    env.info = dataclasses.replace(env.info, attempt=3)
    again = await env.run(cards.issue_gift_card, request(case_id))
    assert again.order_id == result.order_id and again.already_issued
    assert len(tango.posts()) == 2 and len(tango.orders) == 1
    with store.session() as s:
        assert len(s.scalars(select(LedgerEntry)).all()) == 1


async def test_a_repeat_with_the_same_external_ref_is_the_same_card_and_one_ledger_row(
    tango: TangoStub,
    store: Store,
) -> None:
    case_id = add_case(store)
    cards = GiftCardActivities(store, tango.provider())
    env = ActivityEnvironment()
    first = await env.run(cards.issue_gift_card, request(case_id))
    second = await env.run(cards.issue_gift_card, request(case_id))
    assert (second.order_id, second.redemption_url) == (first.order_id, first.redemption_url)
    assert second.already_issued and not first.already_issued
    assert len(tango.posts()) == 2 and len(tango.orders) == 1  # Tango answered the repeat with the original
    with store.session() as s:
        (entry,) = s.scalars(select(LedgerEntry)).all()
    assert entry.status == "issued" and entry.provider_order_id == first.order_id
    # the timeline (every API role reads it) has the amount, never Tango's order id nor the patient's link
    with store.session() as s:
        (paid,) = s.scalars(select(TimelineItem).where(TimelineItem.what == "compensation_issued")).all()
    assert paid.detail == {"amount": "10.00", "currency": "USD"}
    # the patient's link is the reward's; its claim code is kept nowhere
    stored = everything_stored(store)
    assert tango.claim_codes() and not any(code in stored for code in tango.claim_codes())


def test_a_reward_in_another_currency_is_reported(
    tango: TangoStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tango.provider().order("mr-case-6-comp", Decimal("10.00"), "EUR")
    assert "is in USD, the compensation in EUR: check TANGO_UTID" in caplog.text


def test_402_insufficient_funds_is_final(tango: TangoStub) -> None:
    tango.refuse_with = 402
    with pytest.raises(ProviderRejected) as caught:
        tango.provider().order("mr-case-3-comp", Decimal("10.00"), "USD")
    assert caught.value.status == 402 and "Insufficient funds" in caught.value.reason
    assert len(tango.posts()) == 1 and tango.lookups() == []


def test_429_was_not_processed(tango: TangoStub) -> None:
    tango.faults = ["429"]
    with pytest.raises(ProviderNotProcessed):
        tango.provider().order("mr-case-4-comp", Decimal("10.00"), "USD")
    assert tango.orders == {}


def test_wrong_credentials_are_refused_not_retried(tango: TangoStub) -> None:
    from providers.gift_cards.tango import TangoGiftCards

    cards = TangoGiftCards(tango.url, "makeright-test", "wrong-key", "a", "c", UTID)
    with pytest.raises(ProviderRejected) as caught:
        cards.order("mr-case-5-comp", Decimal("10.00"), "USD")
    assert caught.value.status == 401


# ---------------------------------------------------------------- the case story with Tango


async def accept_offer(h: Harness) -> tuple[str, WorkflowHandle[Any, CaseResult]]:
    accepted, handle = await h.open_case(example_event())
    assert accepted.case_id
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "1")
    return accepted.case_id, handle


def steps_of(h: Harness, case_id: str) -> list[TimelineItem]:
    with h.store.session() as s:
        return list(
            s.scalars(select(TimelineItem).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id))
        )


async def test_429_is_retried_later_and_the_patient_gets_the_rewards_link(
    time_skipping_env: WorkflowEnvironment,
    sqlite_url: str,
    tmp_path: Path,
    tango: TangoStub,
) -> None:
    tango.faults = ["429", "429"]
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env, gift_cards=tango.provider()) as h:
        case_id, handle = await accept_offer(h)
        result = await h.result(handle)
        assert result.compensation_amount == Decimal("10.00")
        assert len(tango.posts()) == 3 and len(tango.orders) == 1
        (order,) = tango.orders.values()
        link = order["reward"]["credentialList"][0]["value"]
        assert any(link in (d.body or "") for d in h.deliveries(to=None)), "the patient never got the link"
        assert h.count(LedgerEntry) == 1
        assert "compensation_failed" not in [i.what for i in steps_of(h, case_id)]
        stored = everything_stored(h.store)
    assert not any(code in stored for code in tango.claim_codes())


async def test_402_insufficient_funds_goes_to_people_with_the_reason(
    time_skipping_env: WorkflowEnvironment,
    sqlite_url: str,
    tmp_path: Path,
    tango: TangoStub,
) -> None:
    tango.refuse_with = 402
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, time_skipping_env, gift_cards=tango.provider()) as h:
        case_id, handle = await accept_offer(h)
        with pytest.raises(WorkflowFailureError) as caught:
            await h.result(handle)
        alerts = [i for i in steps_of(h, case_id) if i.what == "compensation_failed"]
        assert h.count(LedgerEntry, LedgerEntry.status == "issued") == 0
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CompensationFailed"
    assert "refused" in cause.message and "Insufficient funds" in cause.message
    (alert,) = alerts
    assert alert.detail["alert"] is True and "Insufficient funds" in str(alert.detail["refused"])
    assert len(tango.posts()) == 1  # final: not retried


@pytest.mark.e2e
async def test_after_402_the_account_is_funded_and_a_retry_pays_once(
    dev_server_env: WorkflowEnvironment,
    sqlite_url: str,
    tmp_path: Path,
    tango: TangoStub,
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    env = cli_env_on(settings, dev_server_env)
    tango.refuse_with = 402
    async with running(settings, dev_server_env, gift_cards=tango.provider()) as h:
        case_id, handle = await accept_offer(h)
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
    assert await fail_case(h, handle.id) == case_id  # as the reconciler marks it

    tango.refuse_with = None  # somebody funded the account
    async with running(settings, dev_server_env, gift_cards=tango.provider()) as h:
        retried = await run_cli_async(env, "retry", case_id)
        assert retried.code == 0, retried.err
        result = await rerun_result(h, handle.id)
    assert result.compensation_amount == Decimal("10.00")
    assert len(tango.orders) == 1 and h.count(LedgerEntry, LedgerEntry.case_id == case_id) == 1
    (order,) = tango.orders.values()
    link = order["reward"]["credentialList"][0]["value"]
    # the gift card by SMS and by email, each once
    assert sorted(d.channel for d in h.deliveries() if link in (d.body or "")) == ["email", "sms"]
