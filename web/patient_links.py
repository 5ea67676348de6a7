"""Choice links in emails: a patient who cannot be texted picks a slot from the email.

GET shows a confirmation page (mail scanners prefetch links: a GET must not act); POST acts."""

from __future__ import annotations

import asyncio
import uuid
from html import escape

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from store import cases, feedback, inbox
from store.db import Store
from web.deps import services

router = APIRouter()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<link rel='icon' href='/favicon.svg' type='image/svg+xml'>"
        f"<title>{escape(title)}</title>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
        "button{font-size:1.1rem;padding:.6rem 1.2rem}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


@router.get("/choose/{case_id}/{choice}")
async def confirm_choice(case_id: str, choice: int, t: str, request: Request) -> HTMLResponse:
    case = await asyncio.to_thread(cases.link_holder, services(request).store, case_id, t)
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
    case = await asyncio.to_thread(cases.link_holder, svc.store, case_id, t)
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
        await svc.dispatcher.dispatch(row_id)
    return _page("Thank you", "<p>We have your choice. You will get a confirmation shortly.</p>")


# ---------------------------------------------------------------- feedback links (1 to 5) in the email

_RATE_WORDS = {
    "en": ("How did we do?", "Your score: {n} of 5", "A comment (optional)", "Send", "Thank you",
           "We have your rating. Thank you for telling us."),
    "nl": ("Hoe hebben wij u geholpen?", "Uw cijfer: {n} van 5", "Een opmerking (niet verplicht)",
           "Versturen", "Dank u", "Wij hebben uw beoordeling ontvangen. Dank u wel."),
}  # fmt: skip


def _words(lang: str) -> tuple[str, ...]:
    return _RATE_WORDS.get(lang, _RATE_WORDS["en"])


def _feedback_language(store: Store, case_id: str) -> str:
    row = feedback.for_case(store, case_id)
    return row.language if row is not None else "en"


@router.get("/feedback/{case_id}/{score}")
async def confirm_rating(case_id: str, score: int, t: str, request: Request) -> HTMLResponse:
    """The score's page: the link chose the score; the patient may add a comment and sends it (a GET
    never records anything: mail scanners prefetch links)."""
    store = services(request).store
    case = await asyncio.to_thread(cases.link_holder, store, case_id, t)
    if case is None or not 1 <= score <= 5:
        return _page("Link not valid", "<p>This link is not valid any more.</p>", 404)
    title, chosen, comment, send, _, _ = _words(await asyncio.to_thread(_feedback_language, store, case_id))
    return _page(
        title,
        f"<form method='post'><input type='hidden' name='t' value='{escape(t)}'>"
        f"<p>{escape(chosen.format(n=score))}</p>"
        f"<p><label>{escape(comment)}<br><textarea name='comment' rows='4' cols='40' maxlength='1000'>"
        f"</textarea></label></p><button type='submit'>{escape(send)}</button></form>",
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
        return _page("Link not valid", "<p>This link is not valid any more.</p>", 404)
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
    _, _, _, _, thanks, body = _words(await asyncio.to_thread(_feedback_language, svc.store, case_id))
    return _page(thanks, f"<p>{escape(body)}</p>")
