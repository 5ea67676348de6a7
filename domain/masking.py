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
_EMAIL = re.compile(r"[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}")


def mask_text(text: str) -> str:
    """Mask every phone number and email address inside free text (log lines, timeline details)."""
    text = _PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)
    return _EMAIL.sub(lambda m: mask_email(m.group(0)) or "", text)


def mask_value(value: object) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value
