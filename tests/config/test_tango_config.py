"""GIFT_CARD_MODE=tango needs its Tango Card credentials before anything starts; the worker orders from
Tango only in that mode."""

from __future__ import annotations

import pytest

from config import ConfigError, Settings, load_settings
from providers.gift_cards.local import LocalGiftCards
from providers.gift_cards.tango import TangoGiftCards
from runtime.providers import gift_card_provider
from store.db import Store
from tests.support.config_env import OWN_SECRETS

TANGO = {
    "TANGO_PLATFORM_NAME": "makeright",
    "TANGO_PLATFORM_KEY": "a-platform-key",
    "TANGO_ACCOUNT_IDENTIFIER": "makeright-account",
    "TANGO_CUSTOMER_IDENTIFIER": "makeright-customer",
    "TANGO_UTID": "U561593",
}


def test_tango_without_its_credentials_refuses_to_start_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFT_CARD_MODE", "tango")
    monkeypatch.setenv("TANGO_PLATFORM_NAME", "makeright")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and "GIFT_CARD_MODE=tango" in message
    for name in set(TANGO) - {"TANGO_PLATFORM_NAME"}:
        assert name in message
    assert "TANGO_PLATFORM_NAME" not in message


def test_tango_with_its_credentials_orders_from_the_sandbox_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIFT_CARD_MODE", "tango")
    for name, value in {**TANGO, **OWN_SECRETS}.items():  # real money: no dev default either
        monkeypatch.setenv(name, value)
    settings = load_settings()
    provider = gift_card_provider(settings, Store("sqlite://"))
    assert isinstance(provider, TangoGiftCards)
    assert str(provider.client.base_url).rstrip("/") == "https://integration-api.tangocard.com/raas/v2"
    assert provider.utid == "U561593"


def test_local_is_the_default_and_needs_no_tango_settings() -> None:
    settings = load_settings()
    assert settings.gift_card_mode == "local"
    assert isinstance(gift_card_provider(settings, Store("sqlite://")), LocalGiftCards)


def test_an_unknown_mode_is_one_line() -> None:
    with pytest.raises(Exception) as caught:
        Settings(gift_card_mode="amazon")
    assert "gift_card_mode" in str(caught.value)
