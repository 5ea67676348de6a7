"""Minimum necessary: contact details shown masked to everyone who does not need them."""

from __future__ import annotations

import re


def mask_phone(phone: str | None) -> str | None:
    """`+31612345678` → `+316****5678`."""
    if not phone:
        return phone
    if len(phone) <= 8:
        return phone[:2] + "*" * max(len(phone) - 2, 0)
    return phone[:4] + "****" + phone[-4:]


def mask_email(email: str | None) -> str | None:
    """`ada@example.com` → `a**@example.com`."""
    if not email or "@" not in email:
        return email
    local, domain = email.split("@", 1)
    return local[:1] + "*" * max(len(local) - 1, 2) + "@" + domain


_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(
    # an address starts where a run of address characters starts (the lookbehind): without it, a long run
    # with no `@` is tried from each of its characters, each try reading to its end (quadratic time on an
    # attacker-chosen path); with it each character is read a bounded number of times
    r"(?<![^@\s\"'<>])[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}"
)


def mask_text(text: str) -> str:
    """Mask every phone number and email address inside free text (log lines, timeline details)."""
    text = _PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)
    return _EMAIL.sub(lambda m: mask_email(m.group(0)) or "", text)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An error in one line for an operator, contact details masked, at most `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return mask_text(text)[:limit]


def mask_value(value: object) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value


# Phone numbers as people and systems write them, for log lines: E.164 and international forms with
# separators (+31 6 12345678, +1 (212) 555-0100, 0031612345678, %2B31612345678 in a URL), North American
# (212) 555-0100 / 212-555-0100 / 212.555.0100, and national trunk-prefixed numbers (06-12345678,
# 020 123 4567). Not: dates (2026-11-24), times, bare counters or ids (the lookarounds keep
# `appt-0612345678` and `12:30` alone).
_NOT_AFTER = r"(?<![\w+\-./:])"
_NOT_BEFORE = r"(?![\w\-/:]|\.\d)"
_LOG_PHONES = re.compile(
    r"(?:"
    + r"(?<![\w+])(?:\+|%2[Bb])[1-9](?:[\s.\-]?\(?\d\)?){6,14}"  # international (%2B: in a URL)
    + r"|"
    + _NOT_AFTER
    + r"(?:00[1-9](?:[\s.\-]?\(?\d\)?){6,14}"  # international, 00 for the +
    + r"|\(\d{3}\)\s?\d{3}[\s.\-]\d{4}"  # (212) 555-0100
    + r"|\d{3}[\s.\-]\d{3}[\s.\-]\d{4}"  # 212-555-0100
    + r"|0\d{1,4}[\s\-]?\d{2,4}[\s\-]?\d{2,4}(?:[\s\-]?\d{2,4})?)"  # 06-12345678, 020 123 4567
    + r")"
    + _NOT_BEFORE
)


def _mask_any_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    if not 7 <= len(digits) <= 15:
        return found  # too short or too long for a phone number: leave it
    if found.startswith("%"):
        digits = digits[1:]  # the 2 of %2B
    elif digits.startswith("00"):
        digits = digits[2:]
    if found.startswith(("+", "%", "00")):
        return mask_phone("+" + digits) or ""
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_contacts_everywhere(text: str) -> str:
    """Every phone number (in any common format) and email address in `text`, masked: for log lines,
    where nobody wrote the text with masking in mind."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)) or "", text)
    return _LOG_PHONES.sub(_mask_any_phone, text)


# Secrets in URLs, as a log line or an access log's path carries them: the codec's path form
# (`/codec/t/<token>/decode`), the gift card page (`/gift/<order id>`: its id is the capability), and query
# parameters that hold a token, a signature or a key (`?token=` of the wall, `?t=` of a patient's link).
# A separator may be URL-encoded (`%3F`, `%26`, `%3D`) when a URL sits inside another one's query.
REDACTED = "[redacted]"
_PATH_SECRETS = re.compile(r"(/codec/t/|/gift/)[^/?#&\s\"'<>]+")
SECRET_QUERY_NAMES = (
    "token",
    "t",
    "access_token",
    "id_token",
    "refresh_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "auth",
    "sig",
    "signature",
)
_QUERY_SECRETS = re.compile(
    r"((?:[?&;]|%3[Ff]|%26)(?:" + "|".join(SECRET_QUERY_NAMES) + r")(?:=|%3[Dd]))[^&#;\s\"'<>]*",
    re.IGNORECASE,
)


def redact_secrets(text: str) -> str:
    """Path tokens and query secrets in `text` replaced by `[redacted]`: `/codec/t/abc/decode` →
    `/codec/t/[redacted]/decode`, `/wall?token=abc&since=x` → `/wall?token=[redacted]&since=x`."""
    text = _PATH_SECRETS.sub(lambda m: m.group(1) + REDACTED, text)
    return _QUERY_SECRETS.sub(lambda m: m.group(1) + REDACTED, text)


# A log line longer than this is cut (the rest is only counted): an attacker chooses how long a path is.
MAX_LOG_LINE = 8 * 1024
_MARGIN = 512  # masked a little past the cut, so an address or number across it is never half shown


def scrub_log_line(text: str, limit: int = MAX_LOG_LINE) -> str:
    """A log line as it may be written: at most `limit` characters (and a note of how many were cut),
    secrets in URLs redacted, phone numbers and email addresses masked."""
    cut = len(text) - limit
    if cut > 0:
        text = text[: limit + _MARGIN]
    text = mask_contacts_everywhere(redact_secrets(text))
    if cut > 0:
        text = f"{text[:limit]}… [{cut} more characters]"
    return text
