"""Patients' emails in the console: `/console/emails` lists those waiting for a person (or answered), an
email's page shows what the patient wrote (masked as the API masks it: whole for a supervisor and the rep
it is assigned to), its case, and a form whose answer goes out exactly as `POST /api/emails/{id}/reply`'s
does (web/emails.send_answer).

An email that needs a person is offered to reps by the router like a call, but on their console, not
their phone: the presence bar shows the offer with Accept and Pass (`/console/offers/accept|pass`), which
answer the router's offer as pressing 1 (or another key) on an offer call would. Accepting assigns the
email to the rep; its answer going out sends them to wrap-up (store/inbound_email.answered tells the
router). The bar asks `/console/presence/state` every few seconds, so an offer shows up within moments."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from dispatch import offers
from domain.inbound_email import email_id_of, work_id_of
from domain.masking import mask_contacts_everywhere
from domain.routing import OfferAnswer
from store import escalations, reps
from store import inbound_email as emails
from store.sessions import Login
from store.views import case_view, load_cases
from web import timeline
from web.console import _page, _refused_page, _render, _safe_next, csrf_ok, current_login
from web.deps import Services, services
from web.emails import ANSWERERS, MAX_ANSWER_CHARS, READERS, send_answer, unmasked

log = logging.getLogger("makeright.web")

router = APIRouter(prefix="/console", include_in_schema=False)

LIST_FILTERS = ("waiting", "answered")
# the router answers an Accept or a Pass within this, or the rep is told to try again
ROUTER_WAIT_SECONDS = 10
STALE_FORM = "The form was missing its security token or came from an old page. Reload the page and retry."


@router.get("/emails", response_class=HTMLResponse)
async def email_list(request: Request, status: str = "waiting") -> Response:
    svc = services(request)
    login = await current_login(request)
    if login.role not in READERS:
        return _refused_page(request, login, 403, "Emails", f"A {login.role} may not read patients' emails.")
    if status not in LIST_FILTERS:
        status = "waiting"
    rows = await asyncio.to_thread(emails.listing, svc.store, status, 200)
    holders = await asyncio.to_thread(reps.by_work, svc.store)
    items = []
    for row in reversed(rows) if status == "waiting" else rows:  # waiting: the oldest first
        view = emails.view(row, unmasked=unmasked(login.role, login.username, row.assigned_to))
        view["rep"] = holders.get(work_id_of(row.email_id))
        view["preview"] = " ".join(view["text"].split())[:140]
        items.append(view)
    return _render(
        request, "emails.html", _page(login, "emails", items=items, status=status, filters=LIST_FILTERS)
    )


def _email_context(svc: Services, login: Login, email_id: str) -> dict[str, Any] | None:
    row = emails.get(svc.store, email_id)
    if row is None:
        return None
    whole = unmasked(login.role, login.username, row.assigned_to)
    view = emails.view(row, unmasked=whole)
    if row.answer_text is not None:
        view["answer_text"] = row.answer_text if whole else mask_contacts_everywhere(row.answer_text)
    case = None
    if row.case_id is not None:
        found = load_cases(svc.store, case_id=row.case_id)
        if found:
            case_row, ledger, items = found[0]
            shown = case_view(case_row, ledger, items, whole, svc.settings.policy.compensation.currency)
            held = escalations.for_case(svc.store, row.case_id)
            case = {
                "case_id": case_row.case_id,
                "kind": case_row.kind,
                "status": case_row.status,
                "opened_at": case_row.opened_at.isoformat(),
                # the case's newest escalation is where its whole story is shown
                "link": f"/console/escalations/{held[-1].escalation_id}" if held else None,
                "lines": timeline.lines(shown["timeline"])[:8],  # the newest
            }
    rep = reps.by_work(svc.store).get(work_id_of(email_id))
    return {
        "email": view,
        "whole": whole,
        "case": case,
        "rep": rep,
        "can_answer": login.role in ANSWERERS and row.status == emails.WAITING,
        "why": row.why,
        "max_chars": MAX_ANSWER_CHARS,
    }


async def _email_page(
    request: Request,
    login: Login,
    email_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    draft: str = "",
) -> HTMLResponse:
    svc = services(request)
    if login.role not in READERS:
        return _refused_page(request, login, 403, "Emails", f"A {login.role} may not read patients' emails.")
    context = await asyncio.to_thread(_email_context, svc, login, email_id)
    if context is None:
        return _refused_page(request, login, 404, "No such email", f"There is no email {email_id}.")
    flash = {
        "answered": "Your answer is on its way to the patient, in their email thread.",
        "taken": "The email is yours: answer it below.",
    }.get(request.query_params.get("done") or "")
    return _render(
        request,
        "email.html",
        _page(login, "emails", **context, error=error, flash=flash if error is None else None, draft=draft),
        status_code=status_code,
    )


@router.get("/emails/{email_id}", response_class=HTMLResponse)
async def email_page(email_id: str, request: Request) -> Response:
    login = await current_login(request)
    return await _email_page(request, login, email_id)


@router.post("/emails/{email_id}/reply")
async def answer(email_id: str, request: Request) -> Response:
    """The answer form: sent as `POST /api/emails/{id}/reply` sends it (one function)."""
    svc = services(request)
    login = await current_login(request)
    form = await request.form()
    if not csrf_ok(login, form):
        return _refused_page(request, login, 403, "Answer not sent", STALE_FORM)
    if login.role not in ANSWERERS:
        return _refused_page(
            request, login, 403, "Answer not sent", f"A {login.role} may not answer patients."
        )
    text = str(form.get("text") or "").strip()
    if not text:
        return await _email_page(
            request, login, email_id, error="Write the answer first: it is empty.", status_code=422
        )
    if len(text) > MAX_ANSWER_CHARS:
        return await _email_page(
            request,
            login,
            email_id,
            error=f"The answer is too long: at most {MAX_ANSWER_CHARS} characters.",
            status_code=422,
            draft=text,
        )
    status, body = await send_answer(svc, email_id, login.username, login.role, text)
    if status != 200:
        if status == 404:
            return _refused_page(request, login, 404, "No such email", body["error"])
        return await _email_page(
            request, login, email_id, error=body["error"], status_code=status, draft=text
        )
    return RedirectResponse(f"/console/emails/{email_id}?done=answered", status_code=303)


# ---------------------------------------------------------------------- offers in the console


@router.post("/offers/{choice}")
async def answer_offer(choice: str, request: Request) -> Response:
    """Accept or Pass of an email offered to the signed-in rep: the router decides (an offer that timed
    out, or an email answered meanwhile, is no longer theirs to take)."""
    svc = services(request)
    login = await current_login(request)
    form = await request.form()
    title = "Email not taken" if choice == "accept" else "Offer not passed on"
    if choice not in ("accept", "pass"):
        return _refused_page(request, login, 404, "No such answer", f"There is no answer {choice!r}.")
    if not csrf_ok(login, form):
        return _refused_page(request, login, 403, title, STALE_FORM)
    work_id = str(form.get("work_id") or "")
    email_id = email_id_of(work_id)
    if email_id is None:
        return _refused_page(
            request, login, 422, title, "Only an email is taken in the console: a call rings your phone."
        )
    try:
        client = await svc.dispatcher.client()
        async with asyncio.timeout(ROUTER_WAIT_SECONDS):
            held = await offers.offer_held_by(client, svc.settings, login.username)
            if held is None or held[1] != work_id:
                gone = "This email is no longer offered to you: the offer timed out, or it was answered."
                return _refused_page(request, login, 409, title, gone)
            decision = await offers.answer_offer(
                client, svc.settings, OfferAnswer(offer_id=held[0], digits="1" if choice == "accept" else "")
            )
    except Exception as exc:
        log.warning("console offer %s: the router did not answer (%s)", work_id, type(exc).__name__)
        return _refused_page(
            request, login, 503, title, "The router did not answer: try again in a few seconds."
        )
    if choice == "pass":
        back = _safe_next(str(form.get("next") or ""))
        return RedirectResponse(back, status_code=303)
    if not decision.accepted:
        return _refused_page(request, login, 409, title, decision.reason or "The offer is over.")
    await asyncio.to_thread(emails.assign, svc.store, email_id, login.username)
    return RedirectResponse(f"/console/emails/{email_id}?done=taken", status_code=303)


@router.get("/presence/state")
async def presence_state(request: Request) -> JSONResponse:
    """The signed-in rep's status and work as the router last saved them: the presence bar reloads the
    page when they change (an email offered, an offer over)."""
    svc = services(request)
    login = await current_login(request)
    rep = await asyncio.to_thread(reps.get, svc.store, login.username)
    return JSONResponse(
        {"status": rep.status.value if rep else "away", "work_id": rep.work_id if rep else None},
        headers={"Cache-Control": "no-store"},
    )
