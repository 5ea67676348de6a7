"""Patient-facing texts, one table per language: `domain/messages/<code>.py` (`en.py`, `nl.py`) holds every
text a patient reads or hears as `str.format` templates, and a new language is a new file (found by
itself; `register` adds one from elsewhere). The functions here are the same in every language: they fill
a template with what varies, formatted for the language by Babel (`domain.locale_format`: money, dates and
times). Pure; bodies carry the minimum health information (practice, time, a choice or a link) and never
the reason for the visit."""

from __future__ import annotations

import importlib
import pkgutil
import string
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from domain import locale_format
from domain.booking_conflict import OfferedSlot
from domain.events import Slot
from domain.sms import SINGLE, gsm7, septets

Texts = Mapping[str, str]

BASE = "en"  # the language every other table is checked against, and the one used when a key is missing
TABLES: dict[str, Texts] = {}


def placeholders(template: str) -> frozenset[str]:
    """The {names} a template fills."""
    return frozenset(field for _, field, _, _ in string.Formatter().parse(template) if field)


def missing(texts: Texts) -> list[str]:
    """What a table lacks against the base table: keys, or placeholders a template does not fill (a
    placeholder the base does not know would fail when filled)."""
    base = TABLES[BASE]
    found = [f"{key}: missing" for key in base if key not in texts]
    for key, template in texts.items():
        if key not in base:
            found.append(f"{key}: not a key of {BASE}")
        elif placeholders(template) != placeholders(base[key]):
            found.append(
                f"{key}: fills {sorted(placeholders(template))}, not {sorted(placeholders(base[key]))}"
            )
    return found


def register(lang: str, texts: Texts) -> None:
    """Add (or replace) a language's table; refused when it lacks a key or a placeholder of the base."""
    if lang != BASE and (problems := missing(texts)):
        raise ValueError(f"texts for {lang!r}: " + "; ".join(problems))
    TABLES[lang] = dict(texts)
    locale_format.preload([lang])


def _load_tables() -> None:
    """Every language file of this package, the base first: a module named by its language code, with
    `TEXTS`."""
    register(BASE, importlib.import_module(f"{__name__}.{BASE}").TEXTS)
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if module != BASE and not module.startswith("_"):
            register(module, importlib.import_module(f"{__name__}.{module}").TEXTS)


_load_tables()
SUPPORTED = tuple(TABLES)


def _t(lang: str, key: str, **values: object) -> str:
    return TABLES.get(lang, TABLES[BASE])[key].format(**values)


def language_for(locale: str, supported: Sequence[str] = SUPPORTED, default: str = BASE) -> str:
    """The language to speak to a patient with `locale` in: theirs when it is configured (`supported`)
    and has a table, else `default`."""
    lang = locale.split("-")[0].split("_")[0].lower()
    return lang if lang in supported and lang in TABLES else default


def when(moment: datetime, timezone: str, lang: str) -> str:
    """`di 24 nov 10:00` / `Tue, Nov 24 10:00` in the practice's own time zone (where the patient must
    be), as Babel writes it for the language."""
    return locale_format.moment(moment, timezone, lang)


def money(amount: Decimal, currency: str, lang: str) -> str:
    """`€ 10,00` / `US$ 10,00` (nl), `$10.00` (en): as Babel writes it for the language."""
    return locale_format.money(amount, currency, lang)


def text(lang: str, key: str, **values: object) -> str:
    """One template of the language's table, filled (pages use this for their words)."""
    return _t(lang, key, **values)


# One GSM-7 segment (160 septets) per text. The templates' own words are GSM-7 (no curly quotes, no "…":
# one character outside GSM-7 makes the whole text UCS-2, 70 a segment); what varies (the practice's
# name, and money and dates, where Babel writes no-break spaces) is made GSM-7, and the name shortened to
# fit, counted in septets (`domain.sms`), not in characters.
SMS_LIMIT = SINGLE["GSM-7"]
_MIN_NAME = 8


def _short(name: str, limit: int) -> str:
    """`name` in at most `limit` septets, cut at a word when that keeps most of it, ending in "."."""
    if septets(name) <= limit:
        return name
    cut = name[:limit]
    while septets(cut) > max(limit - 1, 1):
        cut = cut[:-1]
    if " " in cut[limit // 2 :]:  # end on a whole word when that keeps most of the room
        cut = cut.rsplit(" ", 1)[0]
    return (cut.rstrip(" ,.-&") or cut) + "."


def _fit(lang: str, practice: str, build: Callable[[str], str]) -> str:
    """`build(name)` in GSM-7, with the practice's name transliterated (`Ëindhoven` -> `Eindhoven`) and
    shortened so the whole text is one GSM-7 segment."""
    name = " ".join(gsm7(practice).split()) or _t(lang, "no_name")
    budget = SMS_LIMIT - septets(gsm7(build("")))
    return gsm7(build(_short(name, max(min(30, budget), _MIN_NAME))))


def _sms_text(lang: str, key: str, practice: str, **values: object) -> str:
    """The SMS template `key`, with the practice's name fitted to one segment."""
    return _fit(lang, practice, lambda name: _t(lang, key, name=name, **values))


def offer_sms(lang: str, practice: str, original: Slot, offers: Sequence[OfferedSlot], tz: str) -> str:
    choices = " ".join(
        _t(lang, "offer_sms_choice", n=i, at=when(o.slot.start, tz, lang)) for i, o in enumerate(offers, 1)
    )
    before = when(original.start, tz, lang)
    return _sms_text(lang, "offer_sms", practice, before=before, choices=choices, last=len(offers))


def offer_voice(lang: str, practice: str, offers: Sequence[OfferedSlot], tz: str) -> str:
    options = ". ".join(
        _t(lang, "offer_voice_option", n=i, at=when(o.slot.start, tz, lang)) for i, o in enumerate(offers, 1)
    )
    return _t(lang, "offer_voice", practice=practice, options=options)


def voice_thanks(lang: str) -> str:
    return _t(lang, "voice_thanks")


def voice_goodbye(lang: str) -> str:
    return _t(lang, "voice_goodbye")


def offer_email(
    lang: str, practice: str, original: Slot, offers: Sequence[OfferedSlot], tz: str, links: Sequence[str]
) -> tuple[str, str]:
    choices = "\n".join(
        _t(lang, "offer_email_choice", n=i, at=when(o.slot.start, tz, lang), link=link)
        for i, (o, link) in enumerate(zip(offers, links, strict=True), 1)
    )
    before = when(original.start, tz, lang)
    return (
        _t(lang, "offer_email_subject", practice=practice),
        _t(lang, "offer_email_body", practice=practice, before=before, choices=choices),
    )


def confirm_sms(lang: str, practice: str, slot: Slot, tz: str) -> str:
    return _sms_text(lang, "confirm_sms", practice, at=when(slot.start, tz, lang))


def confirm_email(lang: str, practice: str, provider: str, slot: Slot, tz: str) -> tuple[str, str]:
    at = when(slot.start, tz, lang)
    return (
        _t(lang, "confirm_email_subject", practice=practice),
        _t(lang, "confirm_email_body", practice=practice, provider=provider, at=at),
    )


def rep_will_call_sms(lang: str, practice: str) -> str:
    return _sms_text(lang, "rep_will_call_sms", practice)


def compensation_email(lang: str, practice: str, amount: Decimal, currency: str, url: str) -> tuple[str, str]:
    worth = money(amount, currency, lang)
    return (
        _t(lang, "compensation_email_subject"),
        _t(lang, "compensation_email_body", practice=practice, money=worth, url=url),
    )


def compensation_sms(lang: str, practice: str, amount: Decimal, currency: str, url: str) -> str:
    return _sms_text(lang, "compensation_sms", practice, money=money(amount, currency, lang), url=url)


def bridge_intro(lang: str) -> str:
    """What the rep hears before the patient is dialled in (staff-facing, so English is fine)."""
    return "Makeright: connecting you to the patient now. Their phone will show our number, not yours."


# ---------------------------------------------------------------- check-in


def checkin_prompt_sms(lang: str, practice: str, slot: Slot, tz: str) -> str:
    """At check-in time: practice and time only (no patient name, no reason for the visit)."""
    return _sms_text(lang, "checkin_prompt_sms", practice, at=when(slot.start, tz, lang))


def checkin_thanks_sms(lang: str, practice: str) -> str:
    return _sms_text(lang, "checkin_thanks_sms", practice)


def missed_call_sms(lang: str, practice: str) -> str:
    """A rep rang the patient (the automatic call) and nobody answered."""
    return _sms_text(lang, "missed_call_sms", practice)


def checkin_will_call_sms(lang: str, practice: str) -> str:
    return _sms_text(lang, "checkin_will_call_sms", practice)


def checkin_resolved_sms(
    lang: str, practice: str, amount: Decimal | None = None, currency: str = "", url: str = ""
) -> str:
    """After the rep resolved it: thanks, and the gift card's link when there is one."""
    gift = ""
    if amount is not None:
        gift = _t(lang, "checkin_resolved_gift", money=money(amount, currency, lang), url=url)
    return _sms_text(lang, "checkin_resolved_sms", practice, gift=gift)


def checkin_compensation_email(
    lang: str, practice: str, amount: Decimal, currency: str, url: str
) -> tuple[str, str]:
    worth = money(amount, currency, lang)
    return (
        _t(lang, "checkin_compensation_email_subject"),
        _t(lang, "checkin_compensation_email_body", practice=practice, money=worth, url=url),
    )


# ---------------------------------------------------------------- feedback


def feedback_request_sms(lang: str, practice: str) -> str:
    """After a resolved case: one request to rate the help (a digit, then any words)."""
    return _sms_text(lang, "feedback_request_sms", practice)


def feedback_reask_sms(lang: str, practice: str) -> str:
    """The one polite re-ask, when a reply to the request was not a score."""
    return _sms_text(lang, "feedback_reask_sms", practice)


def inquiry_ack_email(lang: str) -> tuple[str, str]:
    """To a patient who wrote in about something new: we have it, and a person will answer."""
    return _t(lang, "inquiry_ack_email_subject"), _t(lang, "inquiry_ack_email_body")


def support_desk(lang: str) -> str:
    """Who answers an inquiry (it is about no practice), as the patient's messages name it."""
    return _t(lang, "support_desk")


def feedback_email(lang: str, practice: str, links: Sequence[str]) -> tuple[str, str]:
    """The request by email (texts cannot reach the patient): one link per score, 1 to 5."""
    scores = "\n".join(_t(lang, "feedback_email_score", n=n, link=link) for n, link in enumerate(links, 1))
    return (
        _t(lang, "feedback_email_subject"),
        _t(lang, "feedback_email_body", practice=practice, scores=scores),
    )
