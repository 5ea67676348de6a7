"""Phone numbers, parsed once where they enter (an event, the config, the CLI) with Google's
libphonenumber data (`phonenumbers`): validated, normalised to E.164, and whether the number can receive a
text. Everything behind the ingress trusts the stored E.164 string and the stored fact. Pure: no I/O.

A number is SMS-capable unless the numbering plan says it is a fixed line (a landline): `FIXED_LINE_OR_MOBILE`
(the whole of North America) and numbers whose type the data does not know count as mobile-capable, so a
text is tried and a provider's 'undelivered' still moves the case on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

EXAMPLE = "+31612345678"


class PhoneError(ValueError):
    """Why a string is not a phone number we can use, in words for a 422 or a config error."""


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str | None  # ISO 3166 code of the numbering plan, e.g. NL
    sms_capable: bool


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        f"must be in international format, + and the country code (e.g. {EXAMPLE})"
    ),
    NumberParseException.NOT_A_NUMBER: f"is not a phone number (e.g. {EXAMPLE})",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short to be a phone number",
    NumberParseException.TOO_SHORT_NSN: "is too short to be a phone number",
    NumberParseException.TOO_LONG: "is too long to be a phone number",
}

_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "is too short for a number in {region}",
    ValidationResult.TOO_LONG: "is too long for a number in {region}",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits for a number in {region}",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "is a local number: add the area code",
    ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country code",
}


# A pure function of the string (the numbering data is fixed for the process's life), and not cheap: an
# event's patient number is parsed twice at ingress (normalised, then judged SMS-capable), and a practice's
# number arrives with every one of its events. Refusals (PhoneError) are not kept.
@lru_cache(maxsize=4096)
def parse(value: str) -> Phone:
    """The number as E.164 with what it can receive, or PhoneError naming the reason."""
    try:
        number = phonenumbers.parse(value, None)
    except NumberParseException as exc:
        raise PhoneError(
            _PARSE_REASONS.get(exc.error_type, f"is not a phone number (e.g. {EXAMPLE})")
        ) from None
    region = phonenumbers.region_code_for_number(number)
    where = (
        region if region and region != phonenumbers.UNKNOWN_REGION else f"country code +{number.country_code}"
    )
    if number.extension:
        raise PhoneError("must not carry an extension: a text or a call cannot reach one")
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        reason = _LENGTH_REASONS.get(possible, "is not a possible phone number")
        raise PhoneError(reason.format(region=where))
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"is not a number in use in {where} (no such range)")
    kind = phonenumbers.number_type(number)
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        sms_capable=kind != PhoneNumberType.FIXED_LINE,
    )


def normalise(value: str) -> str:
    """E.164, or PhoneError: for numbers where only validity matters (staff phones, a practice's line)."""
    return parse(value).e164
