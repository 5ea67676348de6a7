"""Every SMS template, walked by introspection, goes out as ONE GSM-7 segment for any data it can get (names
outside GSM-7, with extension characters, emoji, very long), in English and Dutch, and carries no more
health information than the practice, a time and a link. Segments are counted as Twilio bills them
(domain/sms.py), not in characters."""

from __future__ import annotations

import inspect
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import messages
from domain.booking_conflict import OfferedSlot
from domain.events import Practice, Provider, Slot
from domain.policy import RecoveryPolicy
from domain.sms import Segments, gsm7, segments

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

# the names the issue found, and names made to hurt: GSM-7 extension characters (two septets each), letters
# outside GSM-7 (UCS-2 if they went out as they are), emoji (two UTF-16 units), scripts without Latin letters
HARD_NAMES = [
    "Praktijk Ëindhoven",
    "€uro-Gezondheidscentrum",
    "{[Kliniek]} ~ Zorg | Huisartsen \\ ^ €€€ " * 3,
    "Ëëç Ŀŀ Ǆ 😀😀 Tandartsen \u2019t Gooi “Oost”",
    "東京歯科クリニック",
    "😀" * 40,
    "Huisartsenpraktijk De Gezondheidsboog Noord-Oost Eindhoven-Centrum en Omstreken",
]
any_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=200)
awkward = st.text(alphabet="€{}[]~|\\^ËëÇçŒœ\u2019“😀東 aZ-", min_size=1, max_size=200)
names = st.one_of(any_text, awkward, st.sampled_from(HARD_NAMES)).filter(lambda s: s.strip() != "")


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
            values[name] = draw(
                st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)
            )
        elif name == "currency":
            values[name] = draw(st.sampled_from(["USD", "EUR", "GBP"]))
        elif name == "url":
            # our own gift-card links: PUBLIC_BASE_URL (a short host) + /gift/ + the card's link token
            # (store.gift_cards.new_link_token: 16 random bytes, 22 characters of URL-safe base64)
            values[name] = "https://care.makeright.example/gift/" + draw(
                st.text(string.ascii_letters + string.digits + "-_", min_size=22, max_size=22)
            )
        else:
            raise AssertionError(f"{fn.__name__} takes {name!r}: teach this walk what values it can get")
    return values


def test_the_walk_finds_every_template() -> None:
    assert {"offer_sms", "confirm_sms", "rep_will_call_sms", "compensation_sms", "checkin_prompt_sms"} <= set(
        SMS_TEMPLATES
    )


@pytest.mark.parametrize("name", sorted(SMS_TEMPLATES))
def test_every_sms_template_is_one_gsm7_segment_for_any_data(name: str) -> None:
    fn = SMS_TEMPLATES[name]

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(values=arguments(fn))
    def fits(values: dict[str, Any]) -> None:
        text = fn(**values)
        assert segments(text) == Segments("GSM-7", segments(text).units, 1), (segments(text), text)
        assert "orthopedics" not in text  # the specialty hints at the reason for the visit

    fits()


# ---------------------------------------------------------------------------- the two practices


def _slot(day: int, hour: int) -> Slot:
    start = datetime(2026, 12, day, hour, tzinfo=UTC)
    return Slot(start=start, end=start + timedelta(minutes=30))


def _offers(*days: int) -> list[OfferedSlot]:
    practice = Practice(id="p", name="x", timezone="UTC")
    provider = Provider(id="d", name="Dr. Ëlsa Čapek", specialty="orthopedics")
    return [OfferedSlot(slot=_slot(day, 10), provider=provider, practice=practice) for day in days]


# what the offer template sent before segments were counted (the practice's name as it came)
EINDHOVEN_BEFORE = (
    "Praktijk Ëindhoven: afspraak do 10 dec 09:00 vervalt. Nieuw: 1) ma 14 dec 10:00 2) di 15 dec 10:00 "
    "3) wo 16 dec 10:00. Antwoord 1-3, 0=bel mij. STOP=afmelden"
)
EURO_BEFORE = (
    "€uro-Gezondheidscentrum: your Thu 10 Dec 09:00 visit is off. New: 1) Mon 7 Dec 10:00 "
    "2) Tue 15 Dec 10:00 3) Wed 16 Dec 10:00. Reply 1-3, 0=call me. STOP=opt out"
)


def test_an_accented_letter_or_a_euro_sign_made_an_offer_cost_several_segments() -> None:
    # one Ë: the whole 157-character text is UCS-2, 3 paid segments of 67
    assert len(EINDHOVEN_BEFORE) == 157
    assert segments(EINDHOVEN_BEFORE) == Segments("UCS-2", 157, 3)
    # the euro sign is GSM-7's extension table: 160 characters are 161 septets, 2 segments
    assert len(EURO_BEFORE) == 160
    assert segments(EURO_BEFORE) == Segments("GSM-7", 161, 2)


def test_such_practice_names_now_get_one_gsm7_segment_and_a_readable_name() -> None:
    eindhoven = messages.offer_sms("nl", "Praktijk Ëindhoven", _slot(10, 9), _offers(14, 15, 16), "UTC")
    assert eindhoven.startswith("Praktijk Eindhoven: afspraak do 10 dec 09:00 vervalt.")
    assert segments(eindhoven) == Segments("GSM-7", 157, 1)

    euro = messages.offer_sms("en", "€uro-Gezondheidscentrum", _slot(10, 9), _offers(7, 15, 16), "UTC")
    assert euro.startswith("€uro-Gezondheids") and euro.endswith("Reply 1-3, 0=call me. STOP=opt out")
    assert segments(euro).encoding == "GSM-7" and segments(euro).count == 1
    assert segments(euro).units <= 160


# ---------------------------------------------------------------------------- the counter


# Twilio's segment calculator's own cases (github.com/TwilioDevEd/message-segment-calculator,
# tests/index.test.js): an extension character counts two septets; an emoji two UCS-2 units
DIGITS = "".join(str(i % 10) for i in range(2, 161))  # "2345678901…", 159 characters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{" + DIGITS[:158], Segments("GSM-7", 160, 1)),
        ("{" + DIGITS[:159], Segments("GSM-7", 161, 2)),
        ("😜" + DIGITS[:68], Segments("UCS-2", 70, 1)),
        ("😜" + DIGITS[:69], Segments("UCS-2", 71, 2)),
    ],
)
def test_counter_agrees_with_twilios_calculator(text: str, expected: Segments) -> None:
    assert segments(text) == expected


def test_gsm7_single_segment_is_160_septets_then_parts_of_153() -> None:
    assert segments("a" * 160) == Segments("GSM-7", 160, 1)
    assert segments("a" * 161) == Segments("GSM-7", 161, 2)
    assert segments("a" * 306) == Segments("GSM-7", 306, 2)
    assert segments("a" * 307) == Segments("GSM-7", 307, 3)
    assert segments("") == Segments("GSM-7", 0, 0)


def test_gsm7_extension_characters_count_two_septets_each() -> None:
    for c in "€^{}[]~\\|\f":
        assert segments(c) == Segments("GSM-7", 2, 1), repr(c)
    assert segments("€" * 80) == Segments("GSM-7", 160, 1)
    assert segments("€" * 80 + "a") == Segments("GSM-7", 161, 2)
    # GSM-7's own accented letters are one septet: no switch to UCS-2
    letters = "éèüöñÄÖÑÜàùìòÇØøÅåÆæßÉ¿¡§£¥ΔΦΓΛΩΠΨΣΘΞ"
    assert segments(letters) == Segments("GSM-7", len(letters), 1)


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 septets, then "€" (2) does not fit the first part's 153: it opens the second part
    text = "a" * 152 + "€" + "b" * 152
    assert segments(text) == Segments("GSM-7", 306, 3)
    assert segments("a" * 151 + "€" + "b" * 153) == Segments("GSM-7", 306, 2)


def test_one_character_outside_gsm7_makes_it_ucs2_70_then_parts_of_67() -> None:
    assert segments("Ë" + "a" * 69) == Segments("UCS-2", 70, 1)
    assert segments("Ë" + "a" * 70) == Segments("UCS-2", 71, 2)
    assert segments("Ë" + "a" * 133) == Segments("UCS-2", 134, 2)
    assert segments("Ë" + "a" * 134) == Segments("UCS-2", 135, 3)
    assert segments("\u2019").encoding == "UCS-2"  # a curly quote is enough
    # an emoji is two UTF-16 units, and is not split across parts
    assert segments("a" * 66 + "😀" + "a" * 3) == Segments("UCS-2", 71, 2)  # the emoji opens part 2
    assert segments("a" * 66 + "😀" + "a" * 66) == Segments("UCS-2", 134, 3)


def test_gsm7_transliterates_what_gsm7_lacks_and_keeps_what_it_has() -> None:
    assert gsm7("Praktijk Ëindhoven") == "Praktijk Eindhoven"
    assert gsm7("€uro-Gezondheidscentrum") == "€uro-Gezondheidscentrum"  # € is GSM-7 (two septets)
    assert gsm7("Tandarts \u2019t Gooi") == "Tandarts 't Gooi"
    assert gsm7("Clínica São João") == "Clinica Sao Joao"  # í and ã are not GSM-7 (é would be kept)
    assert gsm7("Café Zürich") == "Café Zürich"
    assert gsm7("Smile 😀 Dental") == "Smile  Dental"
    assert segments(gsm7("東京歯科クリニック")).encoding == "GSM-7"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=any_text)
def test_gsm7_always_gives_gsm7(text: str) -> None:
    assert segments(gsm7(text)).encoding == "GSM-7"
