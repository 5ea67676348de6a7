"""Twilio webhooks: inbound SMS and keypad answers. Signature checked against PUBLIC_BASE_URL + path."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from dispatch import offers
from domain.jsonload import ascii_int
from domain.messages import voice_thanks
from domain.routing import OfferAnswer, OfferDecision, WorkKind, offer_call_key
from providers.phone import twiml
from store import callbacks, cases, escalations, inbox, spool, support_calls
from store.db import database_unavailable
from web.deps import Services, services

log = logging.getLogger("makeright.web")

router = APIRouter(prefix="/webhooks/twilio")

MAX_FORM_BYTES = 64 * 1024
# Twilio waits 15 s for a webhook's answer; past this the database counts as away and the webhook is spooled
INTAKE_WAIT_SECONDS = 5.0
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def public_url(svc: Services, request: Request) -> str:
    """The URL Twilio called, as the world sees it (not the internal one behind a proxy)."""
    url = svc.settings.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def signed_form(request: Request) -> dict[str, str] | Response:
    svc = services(request)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return JSONResponse({"error": "form too large"}, status_code=413)
    form = await request.form()
    params = {key: str(value) for key, value in form.items()}
    validator = RequestValidator(svc.settings.twilio_auth_token)
    if not validator.validate(
        public_url(svc, request), params, request.headers.get("x-twilio-signature", "")
    ):
        return JSONResponse({"error": "invalid X-Twilio-Signature"}, status_code=403)
    return params


async def missing_fields(request: Request, params: dict[str, str], names: list[str]) -> Response | None:
    missing = [name for name in names if not params.get(name)]
    if not missing:
        return None
    errors: list[dict[str, Any]] = [{"field": name, "reason": "required"} for name in missing]
    svc = services(request)
    raw = await request.body()
    await asyncio.to_thread(inbox.keep_dead_letter, svc.store, request.url.path, "form", raw, 422, errors)
    return JSONResponse({"error": "invalid Twilio callback", "errors": errors}, status_code=422)


@router.post("/sms")
async def inbound_sms(request: Request) -> Response:
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["MessageSid", "From"])) is not None:
        return refused
    body = params.get("Body", "")
    answer = spool.Answer(
        "twilio_sms", params["MessageSid"], params["From"], body, None, {"channel": "sms", "text": body}
    )
    await take_answer(request, answer)
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/voice/gather")
async def keypad_answer(request: Request) -> Response:
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["CallSid", "To"])) is not None:
        return refused
    digits = params.get("Digits", "")
    lang = request.query_params.get("lang", "en")
    answer = spool.Answer(
        "twilio_voice",
        f"{params['CallSid']}:{request.query_params.get('round', '')}",
        params["To"],  # an outbound call: the patient is the called party
        digits,
        request.query_params.get("case_id"),
        {"channel": "voice", "text": digits},
    )
    await take_answer(request, answer)
    response = VoiceResponse()
    response.say(voice_thanks(lang), language="nl-NL" if lang == "nl" else "en-US")
    return Response(str(response), media_type="application/xml")


@router.post("/voice/offer")
async def offer_key(request: Request) -> Response:
    """The rep's key on an offer call (the Gather's action): 1 takes the work and the patient is dialled
    in from our number (the rep's never shows); anything else passes it to the next rep. The router
    decides, so an offer that timed out, or work claimed in the console meanwhile, is not taken twice."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    offer_id = request.query_params.get("offer", "")
    refused = await missing_fields(request, {**params, "offer": offer_id}, ["CallSid", "offer"])
    if refused is not None:
        return refused
    svc = services(request)
    digits = params.get("Digits", "")
    await asyncio.to_thread(callbacks.record_offer_key, svc.store, params["CallSid"], offer_id, digits)
    try:
        client = await svc.dispatcher.client()
        decision = await asyncio.wait_for(
            offers.answer_offer(client, svc.settings, OfferAnswer(offer_id=offer_id, digits=digits)),
            OFFER_ANSWER_WAIT_SECONDS,
        )
    except Exception as exc:  # Temporal away: the offer times out and goes to the next rep
        log.warning("offer %s: the router did not answer (%s)", offer_id, type(exc).__name__)
        return _twiml(twiml.say_and_hang_up(REP_SAYS["unavailable"]))
    if not decision.accepted:
        return _twiml(
            twiml.say_and_hang_up(REP_SAYS["declined" if decision.reason == "declined" else "gone"])
        )
    if decision.kind is WorkKind.CALLER and decision.work_id:
        return await _connect_caller(svc, decision, offer_id)
    taken = False
    if decision.escalation_id:
        taken = await asyncio.to_thread(_claimed_by_another, svc, decision.escalation_id, decision.user)
    if taken:
        # claimed in the console a moment before the 1 (its withdrawal was on its way to the router)
        return _twiml(twiml.say_and_hang_up(REP_SAYS["gone"]))
    phone = (
        await asyncio.to_thread(cases.patient_phone_of, svc.store, decision.case_id)
        if decision.case_id
        else None
    )
    if decision.kind is WorkKind.CALLBACK and decision.work_id:
        # a patient who asked the support line to call them back: the number they called from
        call = await asyncio.to_thread(
            support_calls.get, svc.store, support_calls.call_sid_of(decision.work_id) or ""
        )
        phone = call.from_number if call is not None else phone
    if phone is None:
        return _twiml(twiml.say_and_hang_up(REP_SAYS["no_phone"]))
    return _twiml(
        twiml.connect_twiml(
            phone,
            svc.settings.twilio_from_number,
            svc.settings.public_base_url,
            decision.case_id or "",
            offer_call_key(offer_id),
            offer_id,
            "en",
        )
    )


async def _connect_caller(svc: Services, decision: OfferDecision, offer_id: str) -> Response:
    """A rep took a caller on the support line: the caller is taken from their queue (`<Dial><Queue>`),
    and the call is answered by the rep (at the first ring when within 6 s of its arrival). A caller who
    hung up a moment before: the rep hears so."""
    assert decision.work_id is not None
    call_sid = support_calls.call_sid_of(decision.work_id) or ""
    held = await asyncio.to_thread(support_calls.answered, svc.store, call_sid, decision.user)
    if not held:
        return _twiml(twiml.say_and_hang_up(REP_SAYS["caller_gone"]))
    return _twiml(twiml.caller_connect_twiml(decision.work_id, svc.settings.public_base_url, offer_id))


@router.post("/voice/offer/dialed")
async def offer_dialed(request: Request) -> Response:
    """The <Dial> to the patient is over: the rep hears how it went. (What it means for the escalation
    comes with the patient leg's status callback.)"""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    status = params.get("DialCallStatus", "")
    said = REP_SAYS["ended"] if status in ("completed", "answered") else REP_SAYS["not_reached"]
    return _twiml(twiml.say_and_hang_up(said))


def _claimed_by_another(svc: Services, escalation_id: str, user: str | None) -> bool:
    row = escalations.get(svc.store, escalation_id)
    return row is not None and row.claimed_by is not None and row.claimed_by != user


# what the rep hears on an offer call (staff-facing: English)
REP_SAYS = {
    "gone": "This work is no longer yours to take: it timed out or someone else took it. Goodbye.",
    "declined": "Passed to the next rep. Goodbye.",
    "unavailable": "Sorry, makeright could not connect you just now; the work goes to the next rep.",
    "no_phone": "The escalation is yours, but there is no number to call the patient on. See the console.",
    "ended": "The call has ended. Thank you.",
    "caller_gone": "The caller has hung up or asked to be called back. Goodbye.",
    "not_reached": (
        "The patient did not answer. We have texted them, and the escalation is back in the queue."
    ),
}
# Twilio waits 15 s for a webhook's answer; the router answers an Update in milliseconds
OFFER_ANSWER_WAIT_SECONDS = 8.0


def _twiml(xml: str) -> Response:
    return Response(xml, media_type="application/xml")


@router.post("/sms/status")
async def sms_status(request: Request) -> Response:
    """Twilio's StatusCallback for a message: undelivered or failed moves the case to the next channel."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["MessageSid", "MessageStatus"])) is not None:
        return refused
    status = params["MessageStatus"].lower()
    report = callbacks.Report(
        source="twilio_sms_status",
        external_id=f"{params['MessageSid']}:{status}",
        channel="sms",
        status=status,
        provider_id=params["MessageSid"],
    )
    return await _store_and_act(request, report, {"error_code": params.get("ErrorCode")})


@router.post("/voice/status")
async def call_status(request: Request) -> Response:
    """Twilio's StatusCallback for a call: no answer, busy, failed or an answering machine means nobody
    heard the choices; the case stops waiting for keys and moves on."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["CallSid", "CallStatus"])) is not None:
        return refused
    status = params["CallStatus"].lower()
    if params.get("AnsweredBy", "").startswith("machine"):
        status = "machine"
    # a "Call patient" bridge asks for every progress event of both legs: the URL names the call
    # (`ref=case:key`) and the patient's leg (`leg=patient`; Twilio adds ParentCallSid for it)
    leg = request.query_params.get("leg")
    duration = params.get("CallDuration", "")
    report = callbacks.Report(
        source="twilio_call_status",
        external_id=f"{params['CallSid']}:{status}",
        channel="voice",
        status=status,
        provider_id=params["CallSid"],
        ref=request.query_params.get("ref"),
        parent_id=params.get("ParentCallSid") or None,
        leg=leg if leg in ("rep", "patient") else None,
        duration=ascii_int(duration),
        offer=request.query_params.get("offer") or None,
    )
    return await _store_and_act(request, report, {"answered_by": params.get("AnsweredBy")})


async def _store_and_act(request: Request, report: callbacks.Report, extra: dict[str, Any]) -> Response:
    svc = services(request)
    row_id = await _take_or_spool(
        svc,
        functools.partial(spool.take_report, svc.store, report, extra),
        functools.partial(svc.dispatcher.spool.put_report, report, extra),
    )
    if row_id is not None:  # a failed delivery the case's workflow must hear of
        await svc.dispatcher.dispatch(row_id)
    return Response(EMPTY_TWIML, media_type="application/xml")


async def take_answer(request: Request, answer: spool.Answer) -> None:
    """A patient's answer: STOP / START bind at once, the inbox stores and routes it, and it goes to its
    case or check-in watch now (an unrouted row cannot be claimed: nothing happens)."""
    svc = services(request)
    row_id = await _take_or_spool(
        svc,
        functools.partial(spool.take_answer, svc.store, answer),
        functools.partial(svc.dispatcher.spool.put_answer, answer),
    )
    if row_id is not None:
        await svc.dispatcher.dispatch(row_id)


async def _take_or_spool(
    svc: Services, take: Callable[[], int | None], put: Callable[[], bool]
) -> int | None:
    """Store a webhook in the inbox; the row to act on now, or None. Twilio sends these once and never
    again: with the database away (or not answering within INTAKE_WAIT_SECONDS) the webhook is kept in the
    local spool instead, taken into the inbox by the relay once the database is back, and Twilio still
    gets its 200 in time. Taking it in is de-duplicated by Twilio's id, so a slow write that lands after
    all is not stored twice."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(take), INTAKE_WAIT_SECONDS)
    except Exception as exc:
        if not (isinstance(exc, TimeoutError) or database_unavailable(exc)):
            raise
        kept = await asyncio.to_thread(put)
        log.warning(
            "database unavailable (%s): webhook kept in the local spool%s",
            type(exc).__name__,
            "" if kept else " (already there)",
        )
        return None
