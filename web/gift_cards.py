"""`/gift/{order id}`: the card behind the link a patient gets when makeright issues gift cards itself
(GIFT_CARD_MODE=local). The link is the card: no login, no patient data (no name, case or appointment),
not cached, not indexed. With Tango Card the patient's link is Tango's own, and this page does not exist."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from store.gift_cards import local_card
from web.console import SECURITY_HEADERS, templates
from web.deps import services

router = APIRouter(include_in_schema=False)

HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
TEXT = {
    "en": {
        "title": "Your gift card",
        "kind": "Gift card",
        "lead": "With our apologies, and thank you for your patience.",
        "amount": "Value",
        "number": "Card number",
        "issued": "Issued",
        "order": "Reference",
        "keep": "Keep this page to yourself: whoever has the card number can use the card.",
        "missing_title": "Gift card not found",
        "missing": "This link does not lead to a gift card. Check that the whole link was opened.",
    },
    "nl": {
        "title": "Uw cadeaubon",
        "kind": "Cadeaubon",
        "lead": "Met onze excuses, en dank voor uw geduld.",
        "amount": "Waarde",
        "number": "Kaartnummer",
        "issued": "Uitgegeven",
        "order": "Referentie",
        "keep": "Houd deze pagina voor uzelf: wie het kaartnummer heeft, kan de cadeaubon gebruiken.",
        "missing_title": "Cadeaubon niet gevonden",
        "missing": "Deze link leidt niet naar een cadeaubon. Controleer of de hele link is geopend.",
    },
}


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.headers.get("accept-language", "")
    first = asked.split(",")[0].split(";")[0].strip().lower()[:2]
    return first if first in TEXT else "en"


@router.get("/gift/{order_id}", response_class=HTMLResponse)
async def gift_card(order_id: str, request: Request) -> HTMLResponse:
    svc = services(request)
    lang = language(request)
    card = None
    if svc.settings.gift_card_mode == "local" and len(order_id) <= 40:
        card = await asyncio.to_thread(local_card, svc.store, order_id)
    context = {"lang": lang, "t": TEXT[lang], "card": card}
    if card is not None:
        symbol = SYMBOLS.get(card.currency, "")
        context["value"] = f"{symbol}{card.amount:.2f}" if symbol else f"{card.amount:.2f}"
        context["issued"] = card.issued_at.strftime("%Y-%m-%d")
    return templates.TemplateResponse(
        request, "gift_card.html", context, status_code=200 if card else 404, headers=HEADERS
    )
