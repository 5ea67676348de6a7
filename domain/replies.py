"""What a patient meant: a pure classification of SMS text or keypad digits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    CHOICE = "choice"
    PERSON = "person"
    DECLINE = "decline"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    ALL_GOOD = "all_good"
    TROUBLE = "trouble"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Understood:
    intent: Intent
    choice: int | None = None


# Twilio's own single-word opt-out and opt-in keywords
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "stoppen"}
START_WORDS = {"start", "unstop", "yes"}
_STOP_PHRASES = re.compile(
    r"\b(stop (texting|messaging|calling|sending|contacting)|don'?t (text|call|message|contact) me|"
    r"leave me alone|remove me|unsubscribe|opt (me )?out|no more (texts|messages|calls)|"
    r"niet meer (bellen|sms|sms'en|berichten|sturen|appen)|stop met|stop (sturen|sms'en|bellen|berichten)|"
    r"stuur (me |mij )?geen|geen (sms|sms'jes|berichten) meer|hou op|laat me met rust|"
    r"afmelden|uitschrijven)\b"
)
# "please stop", "stop aub": a plain stop word with nothing but politeness around it
_PLAIN_STOP_WORDS = {"stop", "stopall", "unsubscribe", "optout", "stoppen"}
_POLITE = {
    "please",
    "pls",
    "plz",
    "just",
    "now",
    "thanks",
    "aub",
    "alstublieft",
    "alsjeblieft",
    "graag",
    "nu",
}
_PERSON = re.compile(
    r"\b(call me|phone me|ring me|talk to (a )?(person|human|someone)|speak to|human|person|agent|"
    r"bel me|bel mij|mens|medewerker|iemand spreken)\b"
)
_DECLINE = re.compile(r"^(no|nope|none|no thanks|nee|geen|nee dank je|nee bedankt)[.! ]*$")
_ALL_GOOD = re.compile(
    r"^(ok|okay|all good|fine|good|no problem|no trouble|alles goed|goed|prima|geen probleem)[.! ]*$"
)


def classify(text: str, choices: int = 0) -> Understood:
    """Classify a reply. `choices` is how many numbered options were offered (0: none)."""
    normalised = " ".join(text.strip().lower().split())
    if not normalised:
        return Understood(Intent.UNKNOWN)
    bare = normalised.strip(".!?")
    words = re.findall(r"[a-z']+", normalised)
    core = [word for word in words if word not in _POLITE]
    plain_stop = len(core) == 1 and core[0] in _PLAIN_STOP_WORDS and len(words) == len(normalised.split())
    if bare in STOP_WORDS or plain_stop or _STOP_PHRASES.search(normalised):
        return Understood(Intent.OPT_OUT)
    if bare in START_WORDS:
        return Understood(Intent.OPT_IN)
    if bare.isdecimal():  # not isdigit(): "²" and "①" are digits that int() refuses
        significant = bare.lstrip("0") or "0"
        # a number longer than any option is none (and a very long one would exceed int()'s limit)
        number = int(significant) if len(significant) <= 6 else -1
        if number == 0:
            return Understood(Intent.PERSON)
        if 1 <= number <= choices:
            return Understood(Intent.CHOICE, number)
        return Understood(Intent.UNKNOWN)
    if _PERSON.search(normalised):
        return Understood(Intent.PERSON)
    if _DECLINE.match(normalised):
        return Understood(Intent.DECLINE)
    if _ALL_GOOD.match(normalised):
        return Understood(Intent.ALL_GOOD)
    return Understood(Intent.UNKNOWN)


# the most numbered options any offer makes: ingress reads a digit up to this as a choice, and the
# workflow that made the offer checks it against how many options it gave
MAX_CHOICES = 9


def understand(text: str) -> Understood:
    """What ingress understood a reply (SMS text, keypad digits, a clicked link) to say, classified once
    when the reply is relayed: the workflow gets the intent, never the text, so a change to these word
    lists cannot change a workflow's replay."""
    return classify(text, choices=MAX_CHOICES)


def against_offers(understood: Understood, offered: int) -> Understood:
    """A choice as the workflow that made the offer sees it: a number it did not offer is unknown."""
    if understood.intent is Intent.CHOICE and not (
        understood.choice is not None and 1 <= understood.choice <= offered
    ):
        return Understood(Intent.UNKNOWN)
    return understood


_ABOUT_CALLS = re.compile(r"\b(call|calling|phone|ring|bel|bellen)\b")


@dataclass(frozen=True)
class ConsentChange:
    opted_out: bool
    channels: tuple[str, ...]


def consent_change(text: str) -> ConsentChange | None:
    """What an SMS says about being contacted: STOP (or plain words asking to stop) withdraws texts, and
    calls too when it speaks of calling; START gives both back; anything else changes nothing."""
    intent = classify(text).intent
    if intent is Intent.OPT_OUT:
        channels = ("sms", "voice") if _ABOUT_CALLS.search(text.lower()) else ("sms",)
        return ConsentChange(opted_out=True, channels=channels)
    if intent is Intent.OPT_IN:
        return ConsentChange(opted_out=False, channels=("sms", "voice"))
    return None
