"""`/gift/{link token}`: the card behind the link a patient gets when makeright issues gift cards itself
(GIFT_CARD_MODE=local). The link is the card: no login, no patient data (no name, case or appointment),
not cached, not indexed. Its token is random and only in the patient's link (SMS, email); the order id,
which the ledger keeps, opens nothing. With Tango Card the patient's link is Tango's own, and this page
does not exist."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain import locale_format
from store.gift_cards import local_card
from web import patient_language
from web.console import SECURITY_HEADERS, templates
from web.deps import services

router = APIRouter(include_in_schema=False)

HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


@router.get("/gift/{link_token}", response_class=HTMLResponse)
async def gift_card(link_token: str, request: Request) -> HTMLResponse:
    """The card in its patient's language (the case's; `?lang=` or the browser's for a link that leads
    nowhere), its value and date as that language writes them."""
    svc = services(request)
    card = None
    if svc.settings.gift_card_mode == "local" and len(link_token) <= 64:
        secret = svc.settings.gift_card_key(svc.codec.ring)
        card = await asyncio.to_thread(local_card, svc.store, link_token, secret)
    lang = None
    if card is not None and "lang" not in request.query_params:
        lang = await asyncio.to_thread(patient_language.of_case, svc, card.case_id)
    lang = lang or patient_language.asked(svc, request)
    context: dict[str, object] = {"lang": lang, "t": patient_language.words(lang, "gift"), "card": card}
    if card is not None:
        context["value"] = locale_format.money(card.amount, card.currency, lang)
        context["issued"] = locale_format.day(card.issued_at, lang)
    return templates.TemplateResponse(
        request, "gift_card.html", context, status_code=200 if card else 404, headers=HEADERS
    )
