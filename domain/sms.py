"""SMS segments, counted the way carriers and Twilio bill them. Pure.

Twilio's documented rules (https://www.twilio.com/docs/glossary/what-sms-character-limit,
https://www.twilio.com/docs/glossary/what-is-gsm-7-character-encoding, and Twilio's own segment
calculator, github.com/TwilioDevEd/message-segment-calculator):
- a text made only of GSM-7 characters (the basic table of 3GPP TS 23.038) is sent as GSM-7: one segment
  holds 160 septets; a longer text is split into parts of 153 (the rest carries the concatenation header);
- the extension table's characters (form feed ^ { } \\ [ ~ ] | and the euro sign) are an escape plus a
  septet: they count twice;
- one character outside GSM-7 (`Ë`, an emoji, a curly quote) makes the whole text UCS-2: 70 UTF-16 code
  units in one segment, 67 per part (a character outside the Basic Multilingual Plane takes two);
- a character is never split across two parts.

The GSM-7 tables are the `gsm0338` package's; `gsm7()` transliterates with `anyascii`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from anyascii import anyascii
from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION

_ESCAPE = 0x1B  # the basic table's escape to the extension table: not a character of its own

GSM7_BASIC = frozenset(
    unicodedata.lookup(name) for code, name in BASIC_CHARACTER_SET.items() if code != _ESCAPE
)
GSM7_EXTENSION = frozenset(unicodedata.lookup(name) for name in BASIC_CHARACTER_SET_EXTENSION.values())

SINGLE = {"GSM-7": 160, "UCS-2": 70}  # septets / UTF-16 code units in a text of one segment
PART = {"GSM-7": 153, "UCS-2": 67}  # in each part of a concatenated text

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _units(c: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if c in GSM7_EXTENSION else 1
    return 2 if ord(c) > 0xFFFF else 1


def septets(text: str) -> int:
    """The GSM-7 length of a text made of GSM-7 characters (extension characters count twice)."""
    return sum(_units(c, "GSM-7") for c in text)


def segments(text: str) -> Segments:
    """How many segments `text` is sent (and billed) as."""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    sizes = [_units(c, encoding) for c in text]
    total = sum(sizes)
    if total <= SINGLE[encoding]:
        return Segments(encoding, total, 1 if text else 0)
    count, used = 1, 0
    for size in sizes:  # fill each part; a character that does not fit starts the next one
        if used + size > PART[encoding]:
            count, used = count + 1, 0
        used += size
    return Segments(encoding, total, count)


def gsm7(text: str) -> str:
    """`text` in GSM-7 characters only: those outside it transliterated where that stays readable
    (Ë -> E, ç -> c, a curly quote -> ', 東京 -> DongJing), dropped where nothing close exists (emoji).
    GSM-7's own letters and signs (é, ü, ñ, €) are kept."""
    out = []
    for c in text:
        if c in GSM7_BASIC or c in GSM7_EXTENSION:
            out.append(c)
        elif unicodedata.category(c) != "So":  # an emoji or a pictogram has no readable letters
            out.append("".join(t for t in anyascii(c) if t in GSM7_BASIC or t in GSM7_EXTENSION))
    return "".join(out)
