"""Money, dates and times as a language writes them, from Babel's (CLDR's) locale data: never by hand.

`money(Decimal("10"), "EUR", "nl")` is "€ 10,00", `money(Decimal("10"), "USD", "nl")` "US$ 10,00",
`money(Decimal("10"), "USD", "en")` "$10.00"; `moment(...)` "di 24 nov 10:00" or "Tue, Nov 24 10:00".
What Babel writes may hold no-break spaces (U+00A0, U+202F): right on a page or in an email; an SMS makes
its text GSM-7 first (`domain.sms.gsm7`).

Babel reads its locale data from files, lazily, and keeps what it read for the process. Patient texts are
made inside Temporal workflows (`domain.messages`, passed through the sandbox), where reading a file is
I/O: `preload` reads every language's data up front, at import time, outside any workflow, so a workflow
only ever formats from memory, and always from the same data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency

# the date of an appointment with its weekday, abbreviated ("di 24 nov", "Tue, Nov 24"), and its time on
# the 24-hour clock as the language writes it ("10:00"): CLDR skeletons, which each locale spells its way.
# 24 hours because a text offering three times must stay one SMS: "AM"/"PM" on each would not fit.
DATE_SKELETON = "MMMEd"
TIME_SKELETON = "Hm"

_LOCALES: dict[str, Locale] = {}


def _locale(lang: str) -> Locale:
    found = _LOCALES.get(lang)
    if found is None:
        found = _LOCALES[lang] = Locale.parse(lang.replace("-", "_"))
    return found


def money(amount: Decimal, currency: str, lang: str) -> str:
    """`amount` of `currency` as `lang` writes it: symbol, its place, separators and decimals."""
    return format_currency(amount, currency, locale=_locale(lang))


def moment(at: datetime, timezone: str, lang: str) -> str:
    """A moment's weekday, date and time in `timezone` (where the patient must be): "di 24 nov 10:00",
    "Tue, Nov 24 10:00". The date and the time are each as Babel writes them; a space joins them, not
    the locale's own join ("{1}, {0}"), whose comma costs an offer of three times four septets of the
    practice's name."""
    local = at.astimezone(ZoneInfo(timezone))
    locale = _locale(lang)
    day = format_skeleton(DATE_SKELETON, local, locale=locale)
    return f"{day} {format_skeleton(TIME_SKELETON, local, locale=locale)}"


def day(at: date | datetime, lang: str, width: str = "long") -> str:
    """A date ("24 november 2026", "November 24, 2026") as `lang` writes it."""
    return format_date(at, width, locale=_locale(lang))


def preload(languages: Iterable[str]) -> None:
    """Read each language's locale data (and Babel's global data) now, and format once with each, so
    nothing is read from a file later (inside a workflow)."""
    sample = datetime(2026, 1, 5, 9, 30, tzinfo=ZoneInfo("UTC"))
    for lang in languages:
        money(Decimal("1.00"), "EUR", lang)
        money(Decimal("1.00"), "USD", lang)
        moment(sample, "UTC", lang)
        day(sample, lang)
