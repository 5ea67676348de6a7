"""Choice links in emails: a patient who cannot be texted picks a slot from the email.

GET shows a confirmation page (mail scanners prefetch links: a GET must not act); POST acts."""

from __future__ import annotations

import asyncio
import hmac
import uuid
from html import escape

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from store import inbox
from store.db import Store
from store.models import Case
from web.deps import services

router = APIRouter()


def _case_for(store: Store, case_id: str, token: str) -> Case | None:
    with store.session() as s:
        case = s.get(Case, case_id)
        if case is None or not hmac.compare_digest(case.reply_token.encode(), token.encode()):
            return None
        return case


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
        "button{font-size:1.1rem;padding:.6rem 1.2rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


@router.get("/choose/{case_id}/{choice}")
async def confirm_choice(case_id: str, choice: int, t: str, request: Request) -> HTMLResponse:
    case = await asyncio.to_thread(_case_for, services(request).store, case_id, t)
    if case is None:
        return _page("Link not valid", "<p>This link is not valid any more.</p>", 404)
    return _page(
        "Confirm your new time",
        f"<form method='post'><input type='hidden' name='t' value='{escape(t)}'>"
        f"<button type='submit'>Book option {choice}</button></form>",
    )


@router.post("/choose/{case_id}/{choice}")
async def make_choice(case_id: str, choice: int, request: Request, t: str = Form(...)) -> HTMLResponse:
    svc = services(request)
    case = await asyncio.to_thread(_case_for, svc.store, case_id, t)
    if case is None:
        return _page("Link not valid", "<p>This link is not valid any more.</p>", 404)
    row_id, routed, duplicate = await asyncio.to_thread(
        inbox.accept_patient_answer,
        svc.store,
        "patient_link",
        f"link-{uuid.uuid4().hex}",
        case.patient_email or case.patient_id,
        str(choice),
        case_id,
        {"channel": "email", "text": str(choice)},
    )
    if routed and not duplicate:
        await svc.starter.dispatch(row_id)
    return _page("Thank you", "<p>We have your choice. You will get a confirmation shortly.</p>")
