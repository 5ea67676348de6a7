"""Every SMS template, walked by introspection, fits one SMS (160 characters) for any data it can get, in
English and Dutch, and carries no more health information than the practice, a time and a link."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import messages
from domain.models import OfferedSlot, Practice, Provider, RecoveryPolicy, Slot

SMS_TEMPLATES: dict[str, Callable[..., str]] = {
    name: fn
    for name, fn in inspect.getmembers(messages, inspect.isfunction)
    if name.endswith("_sms") and fn.__module__ == messages.__name__
}
ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kolkata",
]

names = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=200).filter(
    lambda s: s.strip() != ""
)


@st.composite
def slots(draw: st.DrawFn) -> Slot:
    start = draw(
        st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
    )
    return Slot(start=start, end=start + timedelta(minutes=draw(st.integers(5, 240))))


@st.composite
def arguments(draw: st.DrawFn, fn: Callable[..., str]) -> dict[str, Any]:
    """A value for every parameter of the template, by its name; a new parameter fails the walk."""
    practice_name = draw(names)
    values: dict[str, Any] = {}
    for name in inspect.signature(fn).parameters:
        if name == "lang":
            values[name] = draw(st.sampled_from(["en", "nl"]))
        elif name == "practice":
            values[name] = practice_name
        elif name in ("slot", "original"):
            values[name] = draw(slots())
        elif name == "tz":
            values[name] = draw(st.sampled_from(ZONES))
        elif name == "offers":
            practice = Practice(id="p", name=practice_name, timezone=draw(st.sampled_from(ZONES)))
            provider = Provider(id="d", name=draw(names), specialty="orthopedics")
            most = next(
                m.le for m in RecoveryPolicy.model_fields["max_alternatives"].metadata if hasattr(m, "le")
            )
            count = draw(st.integers(1, most))
            values[name] = [
                OfferedSlot(slot=draw(slots()), provider=provider, practice=practice) for _ in range(count)
            ]
        elif name == "amount":
            values[name] = (
                f"{draw(st.decimals(min_value=Decimal('0.01'), max_value=Decimal('9999.99'), places=2)):.2f}"
            )
        elif name == "currency":
            values[name] = draw(st.sampled_from(["USD", "EUR"]))
        elif name == "url":
            # our own gift-card links: PUBLIC_BASE_URL (a short host) + /gift/ + the order id
            values[name] = "https://care.makeright.example/gift/GC-" + draw(
                st.text("0123456789ABCDEF", min_size=12, max_size=12)
            )
        else:
            raise AssertionError(f"{fn.__name__} takes {name!r}: teach this walk what values it can get")
    return values


def test_the_walk_finds_every_template() -> None:
    assert {"offer_sms", "confirm_sms", "rep_will_call_sms", "compensation_sms", "checkin_prompt_sms"} <= set(
        SMS_TEMPLATES
    )


@pytest.mark.parametrize("name", sorted(SMS_TEMPLATES))
def test_every_sms_template_fits_one_sms_for_any_data(name: str) -> None:
    fn = SMS_TEMPLATES[name]

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(values=arguments(fn))
    def fits(values: dict[str, Any]) -> None:
        text = fn(**values)
        assert 0 < len(text) <= 160, (len(text), text)
        assert "orthopedics" not in text  # the specialty hints at the reason for the visit

    fits()
