"""Choice links in emails: a patient who cannot be texted picks a slot from the email.

GET shows a confirmation page (mail scanners prefetch links: a GET must not act); POST acts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from html import escape
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute

from domain import messages
from store import cases, feedback, inbox
from web import patient_language
from web.deps import Services, services

# a patient's link carries its token in the URL: the page (and its error pages) is never cached, and
# nothing on it tells another site where the patient came from
PATIENT_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


class PatientPage(APIRoute):
    """A patient link's route: every answer carries PATIENT_PAGE_HEADERS, and a link whose parts do not
    parse (no token, a choice that is not a number) is the "link not valid" page, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except RequestValidationError:
                response = _not_valid(services(request), request)
            response.headers.update(PATIENT_PAGE_HEADERS)
            return response

        return handler


router = APIRouter(route_class=PatientPage)


def _page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='{escape(lang)}'><head><meta charset='utf-8'>"
        "<link rel='icon' href='/favicon.svg' type='image/svg+xml'>"
        f"<title>{escape(title)}</title>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
        "button{font-size:1.1rem;padding:.6rem 1.2rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def _not_valid(svc: Services, request: Request) -> HTMLResponse:
    """A link that names no case (or with a wrong token): in the language the browser asks for."""
    lang = patient_language.asked(svc, request)
    t = patient_language.words(lang, "link")
    return _page(lang, t["invalid_title"], f"<p>{escape(t['invalid'])}</p>", 404)


async def _language(svc: Services, request: Request, case_id: str) -> str:
    """The patient's language, from their case (a feedback request remembers the one it asked in)."""
    found = await asyncio.to_thread(_case_language, svc, case_id)
    return found or patient_language.asked(svc, request)


def _case_language(svc: Services, case_id: str) -> str | None:
    row = feedback.for_case(svc.store, case_id)
    if row is not None and row.language in messages.TABLES:
        return row.language
    return patient_language.of_case(svc, case_id)


@router.get("/choose/{case_id}/{choice}")
async def confirm_choice(case_id: str, choice: int, t: str, request: Request) -> HTMLResponse:
    svc = services(request)
    case = await asyncio.to_thread(cases.link_holder, svc.store, case_id, t)
    if case is None:
        return _not_valid(svc, request)
    lang = await _language(svc, request, case_id)
    words = patient_language.words(lang, "choose")
    button = words["button"].format(n=choice)
    return _page(
        lang,
        words["title"],
        f"<form method='post'><input type='hidden' name='t' value='{escape(t)}'>"
        f"<button type='submit'>{escape(button)}</button></form>",
    )


@router.post("/choose/{case_id}/{choice}")
async def make_choice(case_id: str, choice: int, request: Request, t: str = Form(...)) -> HTMLResponse:
    svc = services(request)
    case = await asyncio.to_thread(cases.link_holder, svc.store, case_id, t)
    if case is None:
        return _not_valid(svc, request)
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
        await svc.dispatcher.dispatch(row_id)
    lang = await _language(svc, request, case_id)
    words = patient_language.words(lang, "choose")
    return _page(lang, words["thanks_title"], f"<p>{escape(words['thanks'])}</p>")


# ---------------------------------------------------------------- feedback links (1 to 5) in the email


@router.get("/feedback/{case_id}/{score}")
async def confirm_rating(case_id: str, score: int, t: str, request: Request) -> HTMLResponse:
    """The score's page: the link chose the score; the patient may add a comment and sends it (a GET
    never records anything: mail scanners prefetch links)."""
    svc = services(request)
    case = await asyncio.to_thread(cases.link_holder, svc.store, case_id, t)
    if case is None or not 1 <= score <= 5:
        return _not_valid(svc, request)
    lang = await _language(svc, request, case_id)
    words = patient_language.words(lang, "rate")
    return _page(
        lang,
        words["title"],
        f"<form method='post'><input type='hidden' name='t' value='{escape(t)}'>"
        f"<p>{escape(words['score'].format(n=score))}</p>"
        f"<p><label>{escape(words['comment'])}<br>"
        "<textarea name='comment' rows='4' cols='40' maxlength='1000'>"
        f"</textarea></label></p><button type='submit'>{escape(words['send'])}</button></form>",
    )


@router.post("/feedback/{case_id}/{score}")
async def give_rating(
    case_id: str, score: int, request: Request, t: str = Form(...), comment: str = Form("")
) -> HTMLResponse:
    """The rating goes into the inbox like an SMS answer ("4 all good"), routed to the case's open
    feedback request; once that has ended, nothing happens and the patient is still thanked."""
    svc = services(request)
    case = await asyncio.to_thread(cases.link_holder, svc.store, case_id, t)
    if case is None or not 1 <= score <= 5:
        return _not_valid(svc, request)
    text = f"{score} {comment.strip()[:1000]}".strip()
    row_id, routed, duplicate = await asyncio.to_thread(
        inbox.accept_patient_answer,
        svc.store,
        "patient_link",
        f"link-{uuid.uuid4().hex}",
        case.patient_email or case.patient_id,
        text,
        case_id,
        {"channel": "email", "text": text},
    )
    if routed and not duplicate:
        await svc.dispatcher.dispatch(row_id)
    lang = await _language(svc, request, case_id)
    words = patient_language.words(lang, "rate")
    return _page(lang, words["thanks_title"], f"<p>{escape(words['thanks'])}</p>")
