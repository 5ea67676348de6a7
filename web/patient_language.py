"""The language a patient's page speaks: the patient's own, from what the store knows about their case
(the booking system's locale for them), as their texts speak it (`domain.messages.language_for`, within the
configured locales); without a case, what the browser asks for."""

from __future__ import annotations

from fastapi import Request

from domain import messages
from store import views
from web.deps import Services


def of_case(svc: Services, case_id: str | None) -> str | None:
    """The case's patient's language; None when the case or its booking is unknown. Reads the store:
    call it in a thread."""
    locale = views.patient_locale(svc.store, case_id) if case_id else None
    if locale is None:
        return None
    policy = svc.settings.policy
    return messages.language_for(locale, policy.locales, policy.default_locale)


def asked(svc: Services, request: Request) -> str:
    """What the request asks for (`?lang=`, else the browser's Accept-Language), within the configured
    locales; else the default."""
    wanted = request.query_params.get("lang") or request.headers.get("accept-language", "")
    first = wanted.split(",")[0].split(";")[0].strip()
    policy = svc.settings.policy
    return messages.language_for(first or policy.default_locale, policy.locales, policy.default_locale)


def words(lang: str, prefix: str) -> dict[str, str]:
    """A page's words: the language's texts named `<prefix>_…`, by the rest of their name."""
    table = messages.TABLES.get(lang, messages.TABLES[messages.BASE])
    return {
        key.removeprefix(f"{prefix}_"): text for key, text in table.items() if key.startswith(f"{prefix}_")
    }
