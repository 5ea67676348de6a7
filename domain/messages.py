"""Patient-facing texts in English and Dutch. Pure functions; bodies carry the minimum health information
(practice, time, a choice or a link) and never the reason for the visit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.booking_conflict import OfferedSlot
from domain.events import Slot
from domain.sms import SINGLE, gsm7, septets

_DAYS = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "nl": ["ma", "di", "wo", "do", "vr", "za", "zo"],
}
_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
}
SUPPORTED = ("en", "nl")


def language_for(locale: str, supported: Sequence[str] = SUPPORTED, default: str = "en") -> str:
    lang = locale.split("-")[0].lower()
    return lang if lang in supported and lang in SUPPORTED else default


def when(moment: datetime, timezone: str, lang: str) -> str:
    """`Tue 24 Nov 10:00` in the practice's own time zone (where the patient must be)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{_DAYS[lang][local.weekday()]} {local.day} {_MONTHS[lang][local.month - 1]} {local:%H:%M}"


# One GSM-7 segment (160 septets) per text. The templates' own words are GSM-7 (no curly quotes, no "…":
# one character outside GSM-7 makes the whole text UCS-2, 70 a segment); what varies (the practice's
# name) is made GSM-7 and shortened to fit, counted in septets (`domain.sms`), not in characters.
SMS_LIMIT = SINGLE["GSM-7"]
_MIN_NAME = 8
_NO_NAME = {"en": "Your practice", "nl": "Uw praktijk"}


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
    """`build(name)` with the practice's name in GSM-7 (transliterated: `Ëindhoven` -> `Eindhoven`) and
    shortened so the whole text is one GSM-7 segment."""
    name = " ".join(gsm7(practice).split()) or _NO_NAME.get(lang, _NO_NAME["en"])
    budget = SMS_LIMIT - septets(build(""))
    return build(_short(name, max(min(30, budget), _MIN_NAME)))


def offer_sms(lang: str, practice: str, original: Slot, offers: Sequence[OfferedSlot], tz: str) -> str:
    choices = " ".join(f"{i}) {when(o.slot.start, tz, lang)}" for i, o in enumerate(offers, start=1))
    last = len(offers)
    before = when(original.start, tz, lang)
    if lang == "nl":
        return _fit(
            lang,
            practice,
            lambda name: (
                f"{name}: afspraak {before} vervalt. Nieuw: {choices}. "
                f"Antwoord 1-{last}, 0=bel mij. STOP=afmelden"
            ),
        )
    return _fit(
        lang,
        practice,
        lambda name: (
            f"{name}: your {before} visit is off. New: {choices}. Reply 1-{last}, 0=call me. STOP=opt out"
        ),
    )


def offer_voice(lang: str, practice: str, offers: Sequence[OfferedSlot], tz: str) -> str:
    if lang == "nl":
        options = ". ".join(f"Toets {i} voor {when(o.slot.start, tz, lang)}" for i, o in enumerate(offers, 1))
        return (
            f"Goedendag, u wordt gebeld namens {practice}. Uw afspraak kan helaas niet doorgaan. "
            f"{options}. Toets 0 om een medewerker te spreken."
        )
    options = ". ".join(f"Press {i} for {when(o.slot.start, tz, lang)}" for i, o in enumerate(offers, 1))
    return (
        f"Hello, this is a call on behalf of {practice}. Your appointment can no longer go ahead. "
        f"{options}. Press 0 to speak to a person."
    )


def voice_thanks(lang: str) -> str:
    return (
        "Dank u. U ontvangt een bevestiging." if lang == "nl" else "Thank you. You will get a confirmation."
    )


def voice_goodbye(lang: str) -> str:
    return (
        "We hebben geen keuze ontvangen. Tot ziens." if lang == "nl" else "We did not get a choice. Goodbye."
    )


def offer_email(
    lang: str, practice: str, original: Slot, offers: Sequence[OfferedSlot], tz: str, links: Sequence[str]
) -> tuple[str, str]:
    lines = [
        f"{i}. {when(o.slot.start, tz, lang)}: {link}"
        for i, (o, link) in enumerate(zip(offers, links, strict=True), 1)
    ]
    if lang == "nl":
        subject = f"{practice}: kies een nieuwe tijd"
        body = (
            f"Uw afspraak bij {practice} op {when(original.start, tz, lang)} kan helaas niet doorgaan.\n"
            "Kies een nieuwe tijd:\n"
            + "\n".join(lines)
            + "\n\nLiever iemand spreken? Antwoord op deze e-mail."
        )
    else:
        subject = f"{practice}: choose a new time"
        body = (
            f"Your appointment at {practice} on {when(original.start, tz, lang)} can no longer go ahead.\n"
            "Choose a new time:\n" + "\n".join(lines) + "\n\nRather talk to a person? Reply to this email."
        )
    return subject, body


def confirm_sms(lang: str, practice: str, slot: Slot, tz: str) -> str:
    at = when(slot.start, tz, lang)
    if lang == "nl":
        return _fit(lang, practice, lambda name: f"{name}: u staat ingepland op {at}. STOP = afmelden")
    return _fit(lang, practice, lambda name: f"{name}: you're booked for {at}. STOP to opt out")


def confirm_email(lang: str, practice: str, provider: str, slot: Slot, tz: str) -> tuple[str, str]:
    if lang == "nl":
        return (
            f"{practice}: uw nieuwe afspraak",
            f"U staat ingepland bij {provider}, {practice}, op {when(slot.start, tz, lang)}.",
        )
    return (
        f"{practice}: your new appointment",
        f"You're booked with {provider} at {practice} on {when(slot.start, tz, lang)}.",
    )


def rep_will_call_sms(lang: str, practice: str) -> str:
    if lang == "nl":
        return _fit(
            lang, practice, lambda name: f"{name}: een medewerker belt u zo snel mogelijk. STOP = afmelden"
        )
    return _fit(
        lang, practice, lambda name: f"{name}: someone from our team will call you shortly. STOP to opt out"
    )


def compensation_email(lang: str, practice: str, amount: str, currency: str, url: str) -> tuple[str, str]:
    if lang == "nl":
        return (
            "Onze excuses: een cadeaubon voor u",
            f"Het spijt ons dat uw afspraak bij {practice} niet doorging. "
            f"Als excuus ontvangt u een cadeaubon van {amount} {currency}: {url}",
        )
    return (
        "We're sorry: a gift card for you",
        f"We're sorry your appointment at {practice} did not go ahead. "
        f"As an apology, here is a {amount} {currency} gift card: {url}",
    )


def compensation_sms(lang: str, practice: str, amount: str, currency: str, url: str) -> str:
    if lang == "nl":
        return _fit(
            lang, practice, lambda name: f"{name}: excuses! Een cadeaubon van {amount} {currency}: {url}"
        )
    return _fit(
        lang, practice, lambda name: f"{name}: we're sorry! A {amount} {currency} gift card for you: {url}"
    )


def bridge_intro(lang: str) -> str:
    """What the rep hears before the patient is dialled in (staff-facing, so English is fine)."""
    return "Makeright: connecting you to the patient now. Their phone will show the practice line."


# ---------------------------------------------------------------- check-in


def checkin_prompt_sms(lang: str, practice: str, slot: Slot, tz: str) -> str:
    """At check-in time: practice and time only (no patient name, no reason for the visit)."""
    at = when(slot.start, tz, lang)
    if lang == "nl":
        return _fit(
            lang,
            practice,
            lambda name: (
                f"{name}: inchecken voor {at}. Problemen met uw formulieren? Antwoord op dit bericht, "
                "wij helpen. STOP = afmelden"
            ),
        )
    return _fit(
        lang,
        practice,
        lambda name: (
            f"{name}: check-in for {at}. Reply if you have any trouble with your paperwork "
            "and we'll help. STOP to opt out"
        ),
    )


def checkin_thanks_sms(lang: str, practice: str) -> str:
    if lang == "nl":
        return _fit(lang, practice, lambda name: f"{name}: dank u, fijn dat alles goed gaat. Tot zo!")
    return _fit(lang, practice, lambda name: f"{name}: thanks, glad all is well. See you soon!")


def checkin_will_call_sms(lang: str, practice: str) -> str:
    if lang == "nl":
        return _fit(
            lang,
            practice,
            lambda name: f"{name}: vervelend! Een collega belt u binnen enkele minuten om het op te lossen.",
        )
    return _fit(
        lang,
        practice,
        lambda name: f"{name}: sorry about that! A colleague will call you within minutes to sort it out.",
    )


def checkin_resolved_sms(
    lang: str, practice: str, amount: str | None = None, currency: str = "", url: str = ""
) -> str:
    """After the rep resolved it: thanks, and the gift card's link when there is one."""
    if lang == "nl":
        gift = f" Als excuus een cadeaubon van {amount} {currency}: {url}" if amount else ""
        return _fit(lang, practice, lambda name: f"{name}: bedankt voor uw geduld, het is opgelost.{gift}")
    gift = f" Sorry! A {amount} {currency} gift card: {url}" if amount else ""
    return _fit(lang, practice, lambda name: f"{name}: thanks for your patience, it's resolved.{gift}")


def checkin_compensation_email(
    lang: str, practice: str, amount: str, currency: str, url: str
) -> tuple[str, str]:
    if lang == "nl":
        return (
            "Onze excuses: een cadeaubon voor u",
            f"Het spijt ons dat het inchecken bij {practice} niet soepel ging. "
            f"Als excuus ontvangt u een cadeaubon van {amount} {currency}: {url}",
        )
    return (
        "We're sorry: a gift card for you",
        f"We're sorry checking in at {practice} did not go smoothly. "
        f"As an apology, here is a {amount} {currency} gift card: {url}",
    )


# ---------------------------------------------------------------- feedback


def feedback_request_sms(lang: str, practice: str) -> str:
    """After a resolved case: one request to rate the help (a digit, then any words)."""
    if lang == "nl":
        return _fit(
            lang,
            practice,
            lambda name: (
                f"{name}: hoe hebben wij u geholpen? Antwoord met een cijfer 1 (slecht) tot 5 (prima), "
                "met een opmerking als u wilt. STOP = afmelden"
            ),
        )
    return _fit(
        lang,
        practice,
        lambda name: (
            f"{name}: how did we do? Reply with a number from 1 (poor) to 5 (great), with a comment "
            "if you like. STOP to opt out"
        ),
    )


def feedback_reask_sms(lang: str, practice: str) -> str:
    """The one polite re-ask, when a reply to the request was not a score."""
    if lang == "nl":
        return _fit(
            lang,
            practice,
            lambda name: f"{name}: dank u! Wilt u uw antwoord met een cijfer 1 tot 5 beginnen? Bijv: 4 fijn",
        )
    return _fit(
        lang,
        practice,
        lambda name: f"{name}: thank you! Could you start your reply with a number 1-5? E.g. 4 all good",
    )


def feedback_email(lang: str, practice: str, links: Sequence[str]) -> tuple[str, str]:
    """The request by email (texts cannot reach the patient): one link per score, 1 to 5."""
    scores = "\n".join(f"{n}: {link}" for n, link in enumerate(links, start=1))
    if lang == "nl":
        return (
            "Hoe hebben wij u geholpen?",
            f"Hoe hebben wij u geholpen bij {practice}? Kies een cijfer van 1 (slecht) tot 5 (prima):\n"
            f"{scores}",
        )
    return (
        "How did we do?",
        f"How did we do at {practice}? Choose a score from 1 (poor) to 5 (great):\n{scores}",
    )
