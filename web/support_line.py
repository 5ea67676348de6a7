"""The support line: patients calling `TWILIO_FROM_NUMBER` (its Voice URL and status callback URL point
here). Signed like every Twilio webhook (web/twilio_hooks.py).

A call is stored first (store/support_calls.py) with the router's instruction to offer it to reps, which
the dispatcher carries out now (and the relay again after a failure). The caller hears a greeting in their
language and waits in a Twilio queue named by the work (`call-<CallSid>`); the rep who presses 1 on the
offer takes them from that queue (`<Dial><Queue>`, web/twilio_hooks.offer_key). While nobody has: hold
messages with the expected wait and, after ROUTING__CALLER_WAIT_SECONDS, the offer of a callback (press 1),
which withdraws the call's work and offers a callback in its place. A caller who hangs up first is an
abandoned call, and its work is withdrawn (a ringing rep's phone stops).

A caller with an open booking-conflict offer may just press their choice during the greeting: the key is
taken like the outbound call's (the inbox routes it to the newest open offer)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from domain import messages
from domain.jsonload import ascii_int
from domain.routing import WorkItem, WorkKind
from providers.phone import twiml
from store import spool, support_calls
from store.db import database_unavailable
from web import patient_language
from web.deps import Services, services
from web.twilio_hooks import EMPTY_TWIML, INTAKE_WAIT_SECONDS, missing_fields, signed_form, take_answer

log = logging.getLogger("makeright.web")

router = APIRouter(prefix="/webhooks/twilio/voice/incoming")

# Twilio's statuses of the caller's leg that mean it is over
CALL_OVER = ("completed", "canceled", "busy", "failed", "no-answer")


def _xml(body: str) -> Response:
    return Response(body, media_type="application/xml")


def _language(svc: Services, case_id: str | None) -> str:
    policy = svc.settings.policy
    found = patient_language.of_case(svc, case_id) if case_id else None
    return found or messages.language_for(policy.default_locale, policy.locales, policy.default_locale)


@router.post("")
async def incoming(request: Request) -> Response:
    """A patient calls: kept, handed to the router, greeted, and held in the call's queue."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["CallSid", "From"])) is not None:
        return refused
    svc = services(request)
    call_sid, phone = params["CallSid"], params["From"]
    try:
        return await asyncio.wait_for(_take_call(svc, call_sid, phone), INTAKE_WAIT_SECONDS)
    except Exception as exc:
        if not (isinstance(exc, TimeoutError) or database_unavailable(exc)):
            raise
        # the call cannot be kept, so no rep would ever be offered it: say so rather than hold the caller
        # in a queue nobody takes them from (Twilio waits 15 s for this answer)
        log.warning(
            "support line: database unavailable (%s): the caller is asked to call again", type(exc).__name__
        )
        return _xml(twiml.say_and_hang_up(messages.text(_default(svc), "line_unavailable"), _default(svc)))


def _default(svc: Services) -> str:
    policy = svc.settings.policy
    return messages.language_for(policy.default_locale, policy.locales, policy.default_locale)


async def _take_call(svc: Services, call_sid: str, phone: str) -> Response:
    caller = await asyncio.to_thread(support_calls.recognise, svc.store, phone)
    lang = await asyncio.to_thread(_language, svc, caller.case_id)
    work = WorkItem(
        work_id=support_calls.caller_work_id(call_sid),
        kind=WorkKind.CALLER,
        arrived_at=datetime.now(UTC),
        language=lang,
        case_id=caller.case_id,
        case_kind=caller.case_kind,
        practice=caller.practice,
    )
    row_id = await asyncio.to_thread(
        support_calls.arrived, svc.store, call_sid, phone, caller, lang, work.model_dump(mode="json")
    )
    if row_id is not None:
        await svc.dispatcher.dispatch(row_id)
    return _xml(
        twiml.line_greeting_twiml(
            svc.settings.public_base_url,
            call_sid,
            work.work_id,
            messages.text(lang, "line_greeting"),
            lang,
            messages.text(lang, "line_choices") if caller.offer_open else None,
        )
    )


@router.post("/keys")
async def choice_key(request: Request) -> Response:
    """A key pressed during the greeting of a caller with an open offer: their choice, routed like the
    outbound call's keypad answer; then they are thanked and the call ends (no person needed)."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["CallSid", "From"])) is not None:
        return refused
    svc = services(request)
    call_sid = params["CallSid"]
    digits = params.get("Digits", "")
    call = await asyncio.to_thread(support_calls.get, svc.store, call_sid)
    lang = call.language if call is not None else "en"
    answer = spool.Answer(
        "twilio_voice",
        f"{call_sid}:incoming",
        params["From"],  # an inbound call: the patient is the caller
        digits,
        None,
        {"channel": "voice", "text": digits},
    )
    await take_answer(request, answer)
    # the caller's work is no longer for a person: withdrawn (and the call counts as taken by the keypad)
    row_id = await asyncio.to_thread(support_calls.ended, svc.store, call_sid, None, "keypad")
    if row_id is not None:
        await svc.dispatcher.dispatch(row_id)
    return _xml(twiml.say_and_hang_up(messages.voice_thanks(lang), lang))


@router.post("/wait")
async def hold(request: Request) -> Response:
    """The queue's waitUrl: the hold message with the caller's place and the expected wait; once they have
    waited ROUTING__CALLER_WAIT_SECONDS, the offer of a callback."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    svc = services(request)
    call_sid = request.query_params.get("call") or params.get("CallSid", "")
    call = await asyncio.to_thread(support_calls.get, svc.store, call_sid) if call_sid else None
    lang = call.language if call is not None else "en"
    position = ascii_int(params.get("QueuePosition", "")) or 1
    said = messages.text(lang, "line_hold", position=position)
    average = ascii_int(params.get("AvgQueueTime", "")) or 0
    if average >= 60:
        said += " " + messages.text(lang, "line_hold_wait", minutes=max(1, round(average / 60)))
    waited = ascii_int(params.get("QueueTime", "")) or 0
    if waited >= svc.settings.routing.caller_wait_seconds and call_sid:
        return _xml(
            twiml.line_hold_twiml(
                said,
                lang,
                messages.text(lang, "line_callback_offer"),
                twiml.line_url(svc.settings.public_base_url, "callback", call_sid),
            )
        )
    return _xml(twiml.line_hold_twiml(said, lang))


@router.post("/callback")
async def callback_key(request: Request) -> Response:
    """The waiting caller's key on the callback offer: 1 withdraws the call's work and offers a callback in
    its place; they are thanked and leave the queue. Any other key: back to waiting."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    call_sid = request.query_params.get("call", "")
    refused = await missing_fields(request, {**params, "call": call_sid}, ["CallSid", "call"])
    if refused is not None:
        return refused
    svc = services(request)
    call = await asyncio.to_thread(support_calls.get, svc.store, call_sid)
    if call is None:
        return _xml(EMPTY_TWIML)
    if params.get("Digits", "").strip() != "1":
        return _xml(EMPTY_TWIML)  # the wait document runs out: Twilio asks the waitUrl again
    caller = support_calls.Caller(call.case_id)
    recognised = await asyncio.to_thread(support_calls.recognise, svc.store, call.from_number)
    if recognised.case_id == call.case_id:
        caller = recognised
    work = WorkItem(
        work_id=support_calls.callback_work_id(call_sid),
        kind=WorkKind.CALLBACK,
        arrived_at=datetime.now(UTC),
        language=call.language,
        case_id=call.case_id,
        case_kind=caller.case_kind,
        practice=caller.practice,
    )
    row_id = await asyncio.to_thread(
        support_calls.wants_callback, svc.store, call_sid, work.model_dump(mode="json")
    )
    if row_id is not None:
        await svc.dispatcher.dispatch(row_id)
    return _xml(twiml.line_leave_twiml(messages.text(call.language, "line_callback_thanks"), call.language))


@router.post("/left")
async def left_queue(request: Request) -> Response:
    """The Enqueue's action: the caller left the queue (a rep took them and the call is over, they asked
    for a callback, or hung up). The call ends."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    return _xml(twiml.hang_up())


@router.post("/status")
async def call_status(request: Request) -> Response:
    """The number's status callback: a caller's leg that is over before a rep took them is an abandoned
    call, and its work is withdrawn."""
    params = await signed_form(request)
    if isinstance(params, Response):
        return params
    if (refused := await missing_fields(request, params, ["CallSid", "CallStatus"])) is not None:
        return refused
    if params["CallStatus"].lower() not in CALL_OVER:
        return _xml(EMPTY_TWIML)
    svc = services(request)
    at = _twilio_time(params.get("Timestamp", ""))
    row_id = await asyncio.to_thread(support_calls.ended, svc.store, params["CallSid"], at)
    if row_id is not None:
        await svc.dispatcher.dispatch(row_id)
    return _xml(EMPTY_TWIML)


def _twilio_time(value: str) -> datetime | None:
    """Twilio's `Timestamp` of a call progress event (RFC 2822, `Mon, 16 Aug 2010 03:45:01 +0000`): when
    the call moved, as Twilio saw it; None when absent or unreadable (the time of receipt is used)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    now = datetime.now(UTC)
    # a clock far off (or a forged old time in a signed but replayed request) is not believed
    return moment.astimezone(UTC) if abs((now - moment).total_seconds()) < 3600 else None
