"""The root-cause catalogue: the causes a case may close with, from config (code, label, description).
A rep picks one from a list, or `other` with words of their own, so a typo cannot open a problem of its
own."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from domain.base import Model

OTHER = "other"
CODE_PATTERN = r"^[a-z0-9_.-]+$"


class RootCause(Model):
    code: str = Field(min_length=1, max_length=100, pattern=CODE_PATTERN)
    label: str = Field(min_length=1, max_length=200)
    description: str = ""


class UnknownCause(ValueError):
    """A code that is not in the catalogue (or `other` without words)."""


def label_of(catalogue: Sequence[RootCause], code: str) -> str:
    """The catalogue's label for a code; the code itself, in words, for one the catalogue lacks (a cause
    the booking system sent, or one a catalogue edit removed)."""
    for cause in catalogue:
        if cause.code == code:
            return cause.label
    return code.replace("_", " ")


def description_of(catalogue: Sequence[RootCause], code: str) -> str:
    return next((cause.description for cause in catalogue if cause.code == code), "")


def chosen(
    catalogue: Sequence[RootCause], code: str | None, other_text: str | None
) -> tuple[str | None, str]:
    """What a rep's resolve names: (the catalogue code or None, the words given with `other`). Raises
    UnknownCause with a message for the rep for a code the catalogue does not have."""
    code = (code or "").strip()
    text = (other_text or "").strip()
    if not code:
        if text:
            raise UnknownCause("root_cause: choose 'other' to describe a cause in your own words")
        return None, ""
    if code == OTHER:
        if not text:
            raise UnknownCause("root_cause_other: describe the cause when choosing 'other'")
        return OTHER, text
    if any(cause.code == code for cause in catalogue):
        return code, ""
    known = ", ".join(cause.code for cause in catalogue)
    raise UnknownCause(
        f"root_cause: unknown cause {code[:100]!r} (one of: {known}, or 'other' with root_cause_other)"
    )
