"""GIFT_CARD_MODE=local: the link the patient gets opens their card (value, currency, card number) over
real HTTP and in a real browser, with nothing about the patient or the case on it; with Tango the page does
not exist (the patient's link is Tango's). The link's token is the only way in: the order id opens nothing
and no API role sees the order id or the link; the card's number is keyed with GIFT_CARD_SECRET."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from babel.dates import format_date
from playwright.sync_api import sync_playwright

from activities.gift_cards import GiftCardActivities
from config import Settings
from domain.compensation import GiftCardRequest
from domain.ids import gift_card_key
from providers.gift_cards.local import LocalGiftCards
from store.db import Store
from store.gift_cards import card_number
from tests.support.browser import launch_chromium
from tests.support.cases import open_case
from tests.support.http import LiveServer, offline_web
from tests.support.prism import add_case
from tests.support.settings import ROOT

ARTIFACTS = ROOT / "test-artifacts"


def serve(settings: Settings) -> LiveServer:
    from web.app import create_app

    return LiveServer(create_app(settings, relay=False), settings.web_port)


@pytest.fixture
def app_settings(any_db_url: str, tmp_path: Path) -> Settings:
    return offline_web(
        any_db_url,
        tmp_path,
    )[0]


class Issued(NamedTuple):
    case_id: str
    order_id: str
    link: str


@pytest.fixture
def issued(app_settings: Settings) -> Iterator[Issued]:
    """A card the local provider issued for a case, as the workflow asks for it."""
    store = Store(app_settings.database_url)
    case_id = add_case(store)
    order_id, link = LocalGiftCards(store, app_settings.public_base_url).order(
        gift_card_key(case_id), Decimal("10.00"), "USD"
    )
    yield Issued(case_id, order_id, link)


def number_on(page: str) -> str:
    return page.split('data-testid="number">', 1)[1].split("<", 1)[0]


def test_the_patients_link_opens_their_card(app_settings: Settings, issued: Issued) -> None:
    case_id, order_id, link = issued
    assert link == f"{app_settings.public_base_url}/gift/{link.rsplit('/', 1)[-1]}"
    assert order_id not in link
    with serve(app_settings):
        answer = httpx.get(link)
        unknown = httpx.get(f"{app_settings.public_base_url}/gift/GC-000000000000")
        unknown_nl = httpx.get(
            f"{app_settings.public_base_url}/gift/GC-000000000000", headers={"Accept-Language": "nl-NL"}
        )
    assert answer.status_code == 200
    page = answer.text
    assert number_on(page) == card_number(order_id, app_settings.gift_card_key())
    assert answer.headers["cache-control"] == "no-store" and "noindex" in answer.headers["x-robots-tag"]
    # the link is the card: never cached, never sent on as a Referer, the error page as much as the card
    for response in (answer, unknown, unknown_nl):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
    # nothing about the patient or the case: no phone, email, patient id or case id
    for private in ("+31612345678", "patient@example.com", "patient-1", case_id):
        assert private not in page
    assert unknown.status_code == 404 and "not found" in unknown.text
    assert (
        unknown_nl.status_code == 404
        and "niet gevonden" in unknown_nl.text
        and 'lang="nl"' in unknown_nl.text
    )


def test_the_order_id_opens_no_card(app_settings: Settings, issued: Issued) -> None:
    """The order id is what the ledger keeps (and used to be on the timeline): it is not the link."""
    with serve(app_settings):
        by_order = httpx.get(f"{app_settings.public_base_url}/gift/{issued.order_id}")
        by_link = httpx.get(issued.link)
    assert by_order.status_code == 404 and number_on(by_link.text) not in by_order.text
    assert by_link.status_code == 200


def test_the_card_number_is_keyed_with_the_servers_secret(app_settings: Settings, issued: Issued) -> None:
    """Nobody who knows the order id can work the number out: it changes with GIFT_CARD_SECRET."""
    other = app_settings.model_copy(update={"gift_card_secret": "another-gift-card-secret"})
    with serve(app_settings):
        first = number_on(httpx.get(issued.link).text)
    with serve(other):
        second = number_on(httpx.get(issued.link).text)
    assert first == card_number(issued.order_id, app_settings.gift_card_key())
    assert second == card_number(issued.order_id, "another-gift-card-secret")
    assert first != second


def test_an_auditor_sees_the_payment_but_neither_the_order_id_nor_the_link(app_settings: Settings) -> None:
    """A paid case as every API role reads it: amount, currency and status, no order id (it was the
    card's link) and no link token anywhere in the JSON."""
    store = Store(app_settings.database_url)
    case_id = add_case(store)
    cards = GiftCardActivities(store, LocalGiftCards(store, app_settings.public_base_url))
    request = GiftCardRequest(
        case_id=case_id,
        patient_id="patient-1",
        amount=Decimal("10.00"),
        currency="USD",
        idempotency_key=gift_card_key(case_id),
    )
    paid = cards._issue(request)
    token = paid.redemption_url.rsplit("/", 1)[-1]
    with serve(app_settings):
        answer = httpx.get(
            f"{app_settings.public_base_url}/api/cases/{case_id}",
            headers={"Authorization": "Bearer dev-auditor-token"},
        )
    assert answer.status_code == 200
    view = answer.json()
    assert view["compensation"] == {"amount": "10.00", "currency": "USD", "status": "issued"}
    issued = [t for t in view["timeline"] if t["what"] == "compensation_issued"]
    assert len(issued) == 1 and issued[0]["detail"] == {"amount": "10.00", "currency": "USD"}
    for secret in (paid.order_id, "GC-", token, "/gift/"):
        assert secret not in answer.text


def test_a_dutch_patients_card_is_in_dutch_with_dutch_money(app_settings: Settings, issued: Issued) -> None:
    """The example's patient is Dutch (locale "nl"): their page is Dutch whatever the browser says, the
    value and the date as Babel writes them for Dutch."""
    store = Store(app_settings.database_url)
    euro_case = open_case(store, data__patient__id="patient-3")
    _, euro_link = LocalGiftCards(store, app_settings.public_base_url).order(
        gift_card_key(euro_case.case_id), Decimal("10.00"), "EUR"
    )
    link = issued.link
    with serve(app_settings):
        dollars = httpx.get(link, headers={"Accept-Language": "en-US,en;q=0.9"})
        euros = httpx.get(euro_link)
    assert dollars.status_code == 200 and euros.status_code == 200
    page = dollars.text
    assert '<html lang="nl">' in page and "Uw cadeaubon" in page and "Kaartnummer" in page
    assert "Your gift card" not in page and "Card number" not in page
    assert "US$\xa010,00" in page and "$10.00" not in page
    assert format_date(datetime.now(UTC).date(), "long", locale="nl") in page  # "24 november 2026"
    assert "€\xa010,00" in euros.text and "Uw cadeaubon" in euros.text


def test_an_english_patients_card_is_in_english(app_settings: Settings) -> None:
    store = Store(app_settings.database_url)
    case = open_case(store, data__patient__id="patient-2", data__patient__locale="en-US")
    _, link = LocalGiftCards(store, app_settings.public_base_url).order(
        gift_card_key(case.case_id), Decimal("10.00"), "USD"
    )
    with serve(app_settings):
        answer = httpx.get(link, headers={"Accept-Language": "nl-NL"})
    assert answer.status_code == 200
    assert '<html lang="en">' in answer.text and "Your gift card" in answer.text
    assert "$10.00" in answer.text and "10,00" not in answer.text
    assert format_date(datetime.now(UTC).date(), "long", locale="en") in answer.text  # "November 24, 2026"


def test_with_tango_there_is_no_local_card_page(app_settings: Settings, issued: Issued) -> None:
    tango = app_settings.model_copy(update={"gift_card_mode": "tango"})
    with serve(tango):
        assert httpx.get(issued.link).status_code == 404


@pytest.mark.e2e
def test_the_card_in_a_browser(app_settings: Settings, issued: Issued) -> None:
    link = issued.link
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(app_settings), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(viewport={"width": 520, "height": 760}).new_page()
            page.goto(link)
            # the example's patient is Dutch
            assert page.get_by_test_id("value").inner_text().replace("\xa0", " ").startswith("US$ 10,00")
            number = card_number(issued.order_id, app_settings.gift_card_key())
            assert page.get_by_test_id("number").inner_text() == number
            page.screenshot(path=str(ARTIFACTS / "gift-card.png"), full_page=True)
        finally:
            browser.close()
