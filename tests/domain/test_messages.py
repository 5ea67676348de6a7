"""domain.messages: patient texts in English and Dutch, in the practice's time zone, one SMS long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from domain import messages
from domain.booking_conflict import OfferedSlot
from domain.events import Practice, Provider, Slot

PATIENT_NAME = "Ada Jansen"
LONG_NAME = "Uptown Orthopedics and Sports Medicine " + "X" * 161
assert len(LONG_NAME) == 200
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def slot_at(hour: int, day: int = 24) -> Slot:
    start = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
    return Slot(start=start, end=start + timedelta(minutes=30))


def practice(name: str = "Uptown Orthopedics", tz: str = "America/New_York") -> Practice:
    return Practice(id="prac-9", name=name, phone="+12125550100", timezone=tz)


PROVIDER = Provider(id="prov-7", name="Dr. Kim", specialty="orthopedics")


def offers(where: Practice, hours: tuple[int, ...] = (15, 16, 17)) -> list[OfferedSlot]:
    return [OfferedSlot(slot=slot_at(h), provider=PROVIDER, practice=where) for h in hours]


def test_offer_sms_en_shows_times_in_the_practice_zone() -> None:
    where = practice()
    body = messages.offer_sms("en", where.name, slot_at(14), offers(where), where.timezone)
    assert body.startswith("Uptown Orthopedics: ")
    assert "Tue, Nov 24 09:00" in body  # the original, 14:00Z, as Babel writes it in English
    assert "1) Tue, Nov 24 10:00" in body  # 15:00Z in New York
    assert "2) Tue, Nov 24 11:00" in body
    assert "3) Tue, Nov 24 12:00" in body
    assert "15:00" not in body
    assert "1-3" in body
    assert "STOP" in body
    assert len(body) <= 160


def test_offer_sms_nl_shows_times_in_the_practice_zone() -> None:
    where = practice(name="Tandartspraktijk Centrum", tz="Europe/Amsterdam")
    body = messages.offer_sms("nl", where.name, slot_at(14), offers(where), where.timezone)
    assert "di 24 nov 15:00" in body  # the original, 14:00Z in Amsterdam, as Babel writes it in Dutch
    assert "1) di 24 nov 16:00" in body
    assert "3) di 24 nov 18:00" in body
    assert "Antwoord 1-3" in body
    assert "STOP" in body
    assert len(body) <= 160


def test_offer_sms_date_follows_the_zone_across_midnight() -> None:
    where = practice(tz="America/Los_Angeles")
    early = [OfferedSlot(slot=slot_at(3, day=25), provider=PROVIDER, practice=where)]
    body = messages.offer_sms("en", where.name, slot_at(14), early, where.timezone)
    assert "1) Tue, Nov 24 19:00" in body  # 03:00Z on the 25th is the evening before in LA
    assert "Reply 1-1" in body


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_offer_sms_with_a_200_character_practice_name_fits_one_sms(lang: str) -> None:
    where = practice(name=LONG_NAME)
    body = messages.offer_sms(lang, where.name, slot_at(14), offers(where), where.timezone)
    assert len(body) <= 160, (len(body), body)
    assert body.startswith("Uptown Orthoped")  # shortened, not dropped
    assert LONG_NAME not in body
    assert "X" * 30 not in body
    assert "3) " in body  # every choice is still there
    assert set(body) <= GSM_BASIC, set(body) - GSM_BASIC  # stays a single GSM-7 segment


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_confirm_sms_fits_one_sms(lang: str) -> None:
    where = practice(name=LONG_NAME)
    body = messages.confirm_sms(lang, where.name, slot_at(15), where.timezone)
    assert len(body) <= 160
    assert set(body) <= GSM_BASIC
    assert "24 " in body
    assert "10:00" in body
    assert "STOP" in body


def test_confirm_sms_en_and_nl_wording() -> None:
    where = practice()
    en = messages.confirm_sms("en", where.name, slot_at(15), where.timezone)
    nl = messages.confirm_sms("nl", where.name, slot_at(15), where.timezone)
    assert en == "Uptown Orthopedics: you're booked for Tue, Nov 24 10:00. STOP to opt out"
    assert nl == "Uptown Orthopedics: u staat ingepland op di 24 nov 10:00. STOP = afmelden"


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_no_patient_name_or_visit_reason_in_patient_texts(lang: str) -> None:
    where = practice()
    texts = [
        messages.offer_sms(lang, where.name, slot_at(14), offers(where), where.timezone),
        messages.confirm_sms(lang, where.name, slot_at(15), where.timezone),
        messages.rep_will_call_sms(lang, where.name),
        messages.offer_voice(lang, where.name, offers(where), where.timezone),
        *messages.offer_email(
            lang,
            where.name,
            slot_at(14),
            offers(where),
            where.timezone,
            ["https://a/1", "https://a/2", "https://a/3"],
        ),
    ]
    for text in texts:
        assert "Ada" not in text
        assert "Jansen" not in text
        assert "orthopedics" not in text  # the provider's specialty hints at the reason for the visit


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_other_sms_fit_one_sms(lang: str) -> None:
    assert len(messages.rep_will_call_sms(lang, LONG_NAME)) <= 160
    body = messages.compensation_sms(
        lang, LONG_NAME, Decimal("10.00"), "USD", "https://gift.example/r/abc123"
    )
    assert len(body) <= 160
    assert "https://gift.example/r/abc123" in body
    assert {"en": "A $10.00 gift card", "nl": "cadeaubon van US$ 10,00"}[lang] in body


def test_short_practice_names_are_kept_whole() -> None:
    body = messages.confirm_sms("en", "Kim", slot_at(15), "America/New_York")
    assert body.startswith("Kim: ")


def test_offer_email_has_one_link_per_offer() -> None:
    where = practice()
    links = ["https://x/c/1", "https://x/c/2", "https://x/c/3"]
    subject, body = messages.offer_email("en", where.name, slot_at(14), offers(where), where.timezone, links)
    assert subject == "Uptown Orthopedics: choose a new time"
    assert "1. Tue, Nov 24 10:00: https://x/c/1" in body
    assert "3. Tue, Nov 24 12:00: https://x/c/3" in body


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("nl-NL", "nl"),
        ("nl", "nl"),
        ("NL-be", "nl"),
        ("en-US", "en"),
        ("en", "en"),
        ("de-DE", "en"),
        ("fr", "en"),
    ],
)
def test_language_for(locale: str, expected: str) -> None:
    assert messages.language_for(locale) == expected


def test_language_for_honours_the_configured_locales_and_default() -> None:
    assert messages.language_for("nl-NL", supported=("en",)) == "en"
    assert messages.language_for("de", default="nl") == "nl"
    # a configured locale without texts falls back to the default
    assert messages.language_for("de", supported=("en", "nl", "de")) == "en"


def test_when_formats_in_the_given_zone() -> None:
    moment = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert messages.when(moment, "America/New_York", "en") == "Tue, Nov 24 10:00"
    assert messages.when(moment, "Europe/Amsterdam", "nl") == "di 24 nov 16:00"


# ---------------------------------------------------------------------------- money as the patient writes it

GIFT = "https://care.example/gift/GC-1"


def test_a_dutch_gift_card_text_says_the_amount_the_dutch_way() -> None:
    sms = messages.compensation_sms("nl", "Tandarts Oost", Decimal("10"), "EUR", GIFT)
    assert sms == f"Tandarts Oost: excuses! Een cadeaubon van € 10,00: {GIFT}"
    subject, body = messages.compensation_email("nl", "Tandarts Oost", Decimal("20"), "USD", GIFT)
    assert subject == "Onze excuses: een cadeaubon voor u"
    assert "een cadeaubon van US$\xa020,00: " in body  # Babel's no-break space: fine in an email
    resolved = messages.checkin_resolved_sms("nl", "Tandarts Oost", Decimal("12.5"), "EUR", GIFT)
    assert "Als excuus een cadeaubon van € 12,50: " in resolved
    _, checkin_body = messages.checkin_compensation_email("nl", "Tandarts Oost", Decimal("20"), "EUR", GIFT)
    assert "cadeaubon van €\xa020,00" in checkin_body
    for text in (sms, resolved):  # an SMS stays GSM-7: no no-break space
        assert set(text) <= GSM_BASIC | {"€"}, set(text) - GSM_BASIC


def test_an_english_gift_card_text_says_ten_dollars_the_english_way() -> None:
    sms = messages.compensation_sms("en", "Uptown Orthopedics", Decimal("10"), "USD", GIFT)
    assert sms == f"Uptown Orthopedics: we're sorry! A $10.00 gift card for you: {GIFT}"
    _, body = messages.compensation_email("en", "Uptown Orthopedics", Decimal("1234.5"), "USD", GIFT)
    assert "here is a $1,234.50 gift card" in body
    assert "USD" not in sms + body


def test_dutch_dates_are_as_babel_writes_them() -> None:
    from babel.dates import format_skeleton

    moment = datetime(2026, 3, 2, 8, 5, tzinfo=UTC)
    local = moment.astimezone(ZoneInfo("Europe/Amsterdam"))
    babel = f"{format_skeleton('MMMEd', local, locale='nl')} {format_skeleton('Hm', local, locale='nl')}"
    assert messages.when(moment, "Europe/Amsterdam", "nl") == babel == "ma 2 mrt 09:05"
    _, body = messages.confirm_email("nl", "Tandarts Oost", "Dr. Kim", slot_at(9), "Europe/Amsterdam")
    assert body == "U staat ingepland bij Dr. Kim, Tandarts Oost, op di 24 nov 10:00."
