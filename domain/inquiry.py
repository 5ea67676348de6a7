"""An inquiry: a patient with no case open writes in about something new. The case a rep answers and
resolves (workflows/inquiry.py); here what it starts from, and the patient's language guessed from what
they wrote (no booking tells it). Pure."""

from __future__ import annotations

import re

from domain.base import Model
from domain.events import Patient
from domain.policy import RecoveryPolicy

# the case's cause when the rep names none, and the "practice" its ticket is filed under: an inquiry is
# about no appointment, so it belongs to the support desk
DEFAULT_CAUSE = "patient_inquiry"
SUPPORT_DESK = "support"
# the inbox row the dispatcher starts the workflow from
SOURCE = "inquiry"
OPENED = "inquiry.opened"
# as the Patient model takes an address (a sender it refuses is left waiting, with no case)
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InquiryInput(Model):
    case_id: str
    email_id: str  # the email that opened it
    patient: Patient  # known by their email address only
    policy: RecoveryPolicy
    public_base_url: str


def can_open(address: str) -> bool:
    return bool(_ADDRESS.match(address)) and len(address) <= 254


# words that are common in one language and rare in the other (short mails: a few suffice)
_DUTCH = frozenset(
    "ik je jij u uw mijn het een niet wel en of maar met voor van naar bij kan kunt wil graag dank bedankt "
    "groet groeten vriendelijke afspraak wanneer waarom hoe wat is zijn ben heb heeft hebben ook nog dat "
    "deze die er hier daar geen vraag vragen over alstublieft beste hallo goedemorgen goedemiddag".split()
)
_ENGLISH = frozenset(
    "i you your my the a an not and or but with for of to at can could would will please thanks thank "
    "regards dear hello hi appointment when why how what is are am have has had also still that this "
    "there here no question questions about".split()
)
_WORD = re.compile(r"[a-zà-ÿ']+")


def language_of(text: str, supported: tuple[str, ...] = ("en", "nl"), default: str = "en") -> str:
    """`nl` when the text reads as Dutch more than English (and Dutch is supported), else `default`."""
    words = _WORD.findall(text.lower()[:2000])
    dutch = sum(word in _DUTCH for word in words)
    english = sum(word in _ENGLISH for word in words)
    if "nl" in supported and dutch > english:
        return "nl"
    return default if default in supported else supported[0]
