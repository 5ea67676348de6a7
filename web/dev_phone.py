"""`/dev/phone`: the local phone. Mounted only in the fully embedded mode: every provider local
(`Settings.local_phone`), since it signs Twilio webhooks as any patient without a login.

It shows what the local providers "delivered" (read by `store.local_phone`) as a phone would, and lets
the person at the keyboard play the patient: a reply is sent as the very form Twilio would send, signed
with the auth token, over real HTTP to the same webhook real Twilio calls. Nothing here bypasses the
webhooks; a bad signature or a refused answer shows on the page as it would in Twilio's debugger.

It plays the rep too: a console user's phone (`cli.py users set --phone`) is listed as "rep <user>", and
work offered to them rings there (an offer call). Answered, the whisper waits for a key, posted to the
call's Gather action like Twilio posts it; the page then does what the TwiML answered (the local Twilio:
`providers.phone.local_twiml`): a <Dial><Number> rings the patient's phone from our number, a <Say> and
<Hangup> end the call. Every step is reported to the status callback URL the call was placed (or dialled)
with, signed.

Patient data (numbers, bodies) never goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from twilio.request_validator import RequestValidator

from config import Settings
from domain.inbound_email import reply_subject
from providers.phone import local_twiml
from store import local_calls, local_phone, support_calls
from store.db import Store
from web.deps import services

log = logging.getLogger("makeright.dev_phone")

router = APIRouter(prefix="/dev/phone")

WEBHOOK_TIMEOUT = 30.0
DIGITS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")
QUICK_REPLIES = ("1", "2", "3", "0", "STOP", "START")
HEARD_LIMIT = 500

_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}'\""


def linkify(text: str | None) -> Markup:
    """Escape `text` and make its http(s) URLs clickable (emails carry the choice links)."""
    result = Markup("")
    if not text:
        return result
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        result += escape(text[last : match.start()])
        result += Markup('<a href="{0}" target="_blank" rel="noopener">{0}</a>').format(url)
        last = match.start() + len(url)
    return result + escape(text[last:])


def quoted(at: datetime, sender: str | None, body: str) -> str:
    """An answer's body as a mail client starts it: room to type at the top, the email quoted below."""
    when = format_datetime(at if at.tzinfo else at.replace(tzinfo=UTC))
    lines = "\n".join(f"> {line}" if line else ">" for line in body.splitlines())
    return f"\n\nOn {when}, {sender or 'makeright'} wrote:\n{lines}\n"


def _initials(name: str | None, address: str) -> str:
    if name:
        words = [w for w in re.split(r"\s+", name.strip()) if w]
        if words:
            return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()
    return "@" if "@" in address else "#"


templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.filters["linkify"] = linkify
templates.env.filters["initials"] = _initials


def _normalise(to: str | None) -> str | None:
    """`?to=+316...` typed by hand arrives as ` 316...` (a `+` in a query string is a space)."""
    if to is None:
        return None
    if to[:1] == " ":
        to = "+" + to.lstrip()
    return to.strip() or None


ROUTED = {
    "offer": "→ the offer",
    "checkin_prompt": "→ the check-in prompt",
    "rating": "→ the rating request",
    "person": "→ a person",
    "consent": "→ your consent",
    "link": "→ its case",
}


def routed_label(answered: str) -> str:
    """What a reply answered on the patient's conversation, in a word or two."""
    return ROUTED.get(answered, answered)


def _thread_url(to: str | None) -> str:
    return "/dev/phone" + (f"?{urlencode({'to': to})}" if to else "")


async def _render(
    request: Request,
    to: str | None,
    *,
    error: str | None = None,
    draft: str = "",
    heard: str | None = None,
    status: int = 200,
    mail_draft: dict[str, str] | None = None,
    mailed: str | None = None,
    answer: int | None = None,
) -> HTMLResponse:
    svc = services(request)
    if answer is not None and not mail_draft:  # "Answer" on an email: the composer starts as a reply
        answered = await asyncio.to_thread(local_phone.mail, svc.store, answer)
        if answered is not None and answered.to_address == to:
            mail_draft = {
                "subject": reply_subject(answered.subject or ""),
                "text": quoted(answered.at, answered.from_address, answered.body),
                "answering": str(answered.id),
            }
    shown = await asyncio.to_thread(local_phone.page, svc.store, to)
    line = await asyncio.to_thread(support_calls.on_the_line, svc.store, to) if to else []
    return templates.TemplateResponse(
        request,
        "dev_phone.html",
        {
            "contacts": shown.contacts,
            "thread": shown.thread,
            "selected": to,
            "version": shown.version,
            "error": error,
            "heard": heard,
            "draft": draft,
            "digits": DIGITS,
            "quick_replies": QUICK_REPLIES,
            "twilio_number": svc.settings.twilio_from_number,
            "thread_url": _thread_url,
            "routed_label": routed_label,
            "line_calls": line,
            "caller_wait_seconds": svc.settings.routing.caller_wait_seconds,
            # the local mailbox (web/dev_mailbox.py): support's address, a refused email's draft, and
            # what the inbound webhook made of the email just sent
            "inbound_address": svc.settings.inbound_email_address,
            "mail_draft": mail_draft or {},
            "mailed": mailed,
        },
        status_code=status,
    )


@router.get("", response_class=HTMLResponse)
async def phone(
    request: Request,
    to: str | None = None,
    heard: str | None = None,
    mailed: str | None = None,
    answer: int | None = None,
) -> HTMLResponse:
    """The phone; `heard`: what a call just said (the TwiML's <Say> after the rep's key), shown once;
    `mailed`: what became of the email just sent to support; `answer`: a delivered email to answer."""
    return await _render(
        request,
        _normalise(to),
        heard=(heard or "")[:HEARD_LIMIT] or None,
        mailed=(mailed or "")[:HEARD_LIMIT] or None,
        answer=answer,
    )


# for the local mailbox (web/dev_mailbox.py), which shares the page
render_phone = _render
thread_url = _thread_url


@router.get("/version")
async def phone_version(request: Request) -> dict[str, str]:
    """The page polls this and reloads its thread only when something changed."""
    return {"version": await asyncio.to_thread(local_phone.version, services(request).store)}


# ---------------------------------------------------------------------- playing the patient


def twilio_signature(settings: Settings, url: str, params: dict[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature: HMAC-SHA1 over the full URL and the sorted form."""
    return str(RequestValidator(settings.twilio_auth_token).compute_signature(url, params))


async def post_as_twilio(settings: Settings, url: str, params: dict[str, str]) -> str | None:
    """POST `params` to `url` signed like Twilio. Returns None on a 2xx, else what went wrong."""
    problem, _ = await exchange_as_twilio(settings, url, params)
    return problem


async def exchange_as_twilio(settings: Settings, url: str, params: dict[str, str]) -> tuple[str | None, str]:
    """`post_as_twilio`, and the answer's body: the TwiML a call's webhook answered ("" on a failure)."""
    headers = {
        "X-Twilio-Signature": twilio_signature(settings, url, params),
        "User-Agent": "TwilioProxy/1.1 (makeright dev phone)",
    }
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT) as client:
            response = await client.post(url, data=params, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("dev phone: webhook not reachable: %s", type(exc).__name__)
        return (
            f"Could not reach the webhook ({type(exc).__name__}). "
            "Is PUBLIC_BASE_URL the address this app answers on?"
        ), ""
    if response.is_success:
        return None, response.text
    log.warning("dev phone: webhook answered %s", response.status_code)
    return f"The webhook answered {response.status_code}: {_reason(response)}", ""


def _reason(response: httpx.Response) -> str:
    try:
        payload: Any = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(payload, dict) and payload.get("error"):
        return str(payload["error"])
    return str(payload)[:300]


@router.post("/sms")
async def send_sms(request: Request, to: str = Form(""), body: str = Form("")) -> Response:
    settings = services(request).settings
    patient = _normalise(to)
    if not patient:
        return await _render(request, None, error="Choose a number to text from.", status=422)
    if not body.strip():
        return await _render(request, patient, error="Type a message first.", status=422)
    url = settings.public_base_url + "/webhooks/twilio/sms"
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid,
        "From": patient,
        "To": settings.twilio_from_number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    problem = await post_as_twilio(settings, url, params)
    if problem:
        return await _render(request, patient, error=problem, draft=body, status=502)
    return RedirectResponse(_thread_url(patient), status_code=303)


@router.post("/call/{delivery_id}")
async def answer_call(request: Request, delivery_id: int, digits: str = Form("")) -> Response:
    svc = services(request)
    settings = svc.settings
    leg = await asyncio.to_thread(local_calls.leg, svc.store, delivery_id)
    if leg is not None:  # a call the local Twilio plays on: only an offer's whisper takes a key
        return await _press(request, leg, digits)
    call = await asyncio.to_thread(local_phone.call, svc.store, delivery_id)
    if call is None or call.channel != "voice" or not call.gather_action_url:
        return await _render(request, None, error="There is no such call to answer.", status=404)
    if call.answered is not None:
        return await _render(request, call.to_address, error="This call was already answered.", status=409)
    if digits not in DIGITS:
        return await _render(request, call.to_address, error="Press one key from 0 to 9.", status=422)
    params = {
        "CallSid": call.provider_id,
        "AccountSid": settings.twilio_account_sid,
        "From": settings.twilio_from_number,
        "To": call.to_address,
        "Direction": "outbound-api",
        "CallStatus": "in-progress",
        "Digits": digits,
        "ApiVersion": "2010-04-01",
    }
    problem = await post_as_twilio(settings, call.gather_action_url, params)
    if problem:
        return await _render(request, call.to_address, error=problem, status=502)
    await asyncio.to_thread(local_phone.mark_answered, svc.store, delivery_id, digits)
    return RedirectResponse(_thread_url(call.to_address), status_code=303)


# ---------------------------------------------------------------------- playing Twilio's side of a bridge


def _call_params(
    settings: Settings, leg: local_calls.Leg, status: str, parent: local_calls.Leg | None = None
) -> dict[str, str]:
    """What Twilio sends about a call in every request (webhooks and status callbacks alike)."""
    params = {
        "CallSid": leg.provider_id,
        "AccountSid": settings.twilio_account_sid,
        "From": leg.from_address,
        "To": leg.to_address,
        "Direction": "outbound-dial" if parent is not None else "outbound-api",
        "CallStatus": status,
        "ApiVersion": "2010-04-01",
    }
    if parent is not None:
        params["ParentCallSid"] = parent.provider_id
    return params


def _absolute(settings: Settings, url: str) -> str:
    """A URL the local provider stored relative to PUBLIC_BASE_URL (it does not know it), made whole."""
    return settings.public_base_url + url if url.startswith("/") else url


async def _report(
    settings: Settings, leg: local_calls.Leg, status: str, parent: local_calls.Leg | None = None
) -> str | None:
    """Tell the web app how a leg moved, as Twilio's status callback does (signed): to the URL and for
    the events the call was placed (or dialled) with; a bridge's legs, placed before calls named theirs,
    to the call status webhook."""
    params = _call_params(settings, leg, status, parent) | {"CallbackSource": "call-progress-events"}
    if status in local_calls.ENDED:
        params["CallDuration"] = str(leg.seconds())
    if leg.callback is not None:
        if not leg.callback.wants(status):
            return None
        return await post_as_twilio(settings, _absolute(settings, leg.callback.url), params)
    url = settings.public_base_url + "/webhooks/twilio/voice/status"
    if parent is not None:
        url += "?leg=patient"
    return await post_as_twilio(settings, url, params)


async def _end(settings: Settings, store: Store, leg: local_calls.Leg, status: str) -> str | None:
    """One leg ends (`status`); a bridge ends as a whole: the patient's leg first, then the rep's call.
    An offer call whose TwiML dialled the patient with a <Dial action> goes on as Twilio's does: the action
    hears how the patient's leg ended, and its TwiML says what the rep's call does next."""
    other = await asyncio.to_thread(local_calls.other_leg, store, leg)
    rep, patient = (leg, other) if leg.is_rep_leg else (other, leg)
    problem = None
    if patient is not None and patient.status not in local_calls.ENDED:
        final = status
        if patient.id != leg.id:  # the rep hung up: a ringing patient's phone stops ringing
            final = "completed" if patient.status == "in-progress" else "canceled"
        ended = await asyncio.to_thread(local_calls.set_status, store, patient.id, final)
        problem = await _report(settings, ended, final, parent=rep)
        if rep is not None and rep.is_offer and rep.action_url and rep.status not in local_calls.ENDED:
            on_the_line = rep.id != leg.id
            answered_problem, twiml = await _dial_ended(settings, rep, ended, on_the_line)
            problem = problem or answered_problem
            if on_the_line and answered_problem is None:
                followed, _ = await _follow(settings, store, rep, twiml, rep.action_url)
                return followed or problem
    if rep is not None and rep.status not in local_calls.ENDED:
        final = status if rep.id == leg.id else "completed"
        ended = await asyncio.to_thread(local_calls.set_status, store, rep.id, final)
        problem = await _report(settings, ended, final) or problem
    return problem


@router.post("/call/{delivery_id}/{move}")
async def bridge_move(request: Request, delivery_id: int, move: str) -> Response:
    """Answer, decline or hang up one leg of a "Call patient" bridge or of an offer call. Answering the
    rep's bridge call dials the patient in (Twilio's <Dial>); answering an offer call plays the whisper and
    waits for a key (`answer_call`); every step is reported to the web app as Twilio would report it."""
    svc = services(request)
    settings, store = svc.settings, svc.store
    leg = await asyncio.to_thread(local_calls.leg, store, delivery_id)
    if leg is None or move not in ("answer", "decline", "hangup"):
        return await _render(request, None, error="There is no such call.", status=404)
    back = _thread_url(leg.to_address)
    if leg.status in local_calls.ENDED:
        return await _render(request, leg.to_address, error="This call has ended.", status=409)
    problem: str | None
    if move == "answer":
        if leg.status != "ringing":
            return RedirectResponse(back, status_code=303)
        leg = await asyncio.to_thread(local_calls.set_status, store, leg.id, "in-progress")
        parent = None if leg.is_rep_leg else await asyncio.to_thread(local_calls.other_leg, store, leg)
        problem = await _report(settings, leg, "in-progress", parent=parent)
        if leg.is_rep_leg and leg.dial is not None and problem is None:
            # the rep is on the line: <Dial> rings the patient, with our number as caller id
            patient = await asyncio.to_thread(
                local_calls.ring_patient, store, leg, settings.twilio_from_number, _dial_in_text(leg.language)
            )
            problem = await _report(settings, patient, "initiated", parent=leg) or await _report(
                settings, patient, "ringing", parent=leg
            )
    elif move == "decline":
        problem = await _end(settings, store, leg, "busy" if leg.is_rep_leg else "no-answer")
    else:
        problem = await _end(settings, store, leg, "completed")
    if problem:
        return await _render(request, leg.to_address, error=problem, status=502)
    return RedirectResponse(back, status_code=303)


def _dial_in_text(language: str) -> str:
    return {
        "nl": "Een collega van de praktijk belt u over uw afspraak.",
    }.get(language, "A colleague from the practice is calling you about your appointment.")


# ---------------------------------------------------------------------- Twilio's side of an offer call


async def _press(request: Request, leg: local_calls.Leg, digits: str) -> Response:
    """The rep pressed a key on an offer call: Twilio posts it to the <Gather action> (signed), and the
    call goes on as the TwiML answered."""
    svc = services(request)
    settings, store = svc.settings, svc.store
    if not leg.is_offer or not leg.action_url:
        return await _render(request, None, error="There is no such call to answer.", status=404)
    if leg.status in local_calls.ENDED:
        return await _render(request, leg.to_address, error="This call has ended.", status=409)
    if leg.status != "in-progress":
        return await _render(request, leg.to_address, error="Answer the call first.", status=409)
    if leg.keyed is not None:
        return await _render(request, leg.to_address, error="This call was already answered.", status=409)
    if digits not in DIGITS:
        return await _render(request, leg.to_address, error="Press one key from 0 to 9.", status=422)
    params = _call_params(settings, leg, "in-progress") | {"Digits": digits, "FinishedOnKey": ""}
    problem, twiml = await exchange_as_twilio(settings, leg.action_url, params)
    if problem:  # nothing moved: the key may be pressed again
        return await _render(request, leg.to_address, error=problem, status=502)
    await asyncio.to_thread(local_calls.keyed, store, leg.id, digits)
    problem, said = await _follow(settings, store, leg, twiml, leg.action_url)
    heard = " ".join(text for text in said if text)
    if problem:
        return await _render(request, leg.to_address, error=problem, heard=heard or None, status=502)
    back = _thread_url(leg.to_address) + (f"&{urlencode({'heard': heard[:HEARD_LIMIT]})}" if heard else "")
    return RedirectResponse(back, status_code=303)


async def _follow(
    settings: Settings, store: Store, leg: local_calls.Leg, twiml: str, document_url: str
) -> tuple[str | None, tuple[str, ...]]:
    """Carry out the TwiML a webhook answered for the rep's call `leg` (on the line): listen for a key
    again, dial the number it names, or end the call. What went wrong (or None), and what the call said."""
    step = local_twiml.read(twiml, document_url)
    if step.then == "gather":
        assert step.action is not None
        await asyncio.to_thread(local_calls.next_action, store, leg.id, step.action, True)
        return None, step.said
    if step.then == "dial_queue":
        # the local Twilio takes the caller waiting in the queue: the two are connected; the rep's call
        # goes on until one of them hangs up
        return None, (*step.said, "You are connected to the caller.")
    if step.then == "dial":
        assert step.dial is not None
        dial = step.dial
        caller_id = dial.caller_id or leg.from_address
        if caller_id != settings.twilio_from_number:
            await _hang_up(settings, store, leg)
            refused = (
                f"Twilio error 13214: <Dial callerId> {caller_id} is not this account's number "
                "(TWILIO_FROM_NUMBER): the call ends here"
            )
            return refused, step.said
        await asyncio.to_thread(local_calls.next_action, store, leg.id, dial.action, False)
        # what the patient's phone shows of the call: in the patient's language (the offer's)
        language = leg.language
        callback = (
            local_calls.Callback(dial.status_callback, dial.status_events) if dial.status_callback else None
        )
        patient = await asyncio.to_thread(
            local_calls.ring_dialled,
            store,
            leg,
            dial.number,
            caller_id,
            _dial_in_text(language),
            language,
            callback,
        )
        reported = await _report(settings, patient, "initiated", parent=leg) or await _report(
            settings, patient, "ringing", parent=leg
        )
        return reported, step.said
    reported = await _hang_up(settings, store, leg)
    return step.problem or reported, step.said


async def _hang_up(settings: Settings, store: Store, leg: local_calls.Leg) -> str | None:
    """The TwiML ended the rep's call (a <Hangup>, or nothing more to do)."""
    current = await asyncio.to_thread(local_calls.leg, store, leg.id)
    if current is None or current.status in local_calls.ENDED:
        return None
    ended = await asyncio.to_thread(local_calls.set_status, store, leg.id, "completed")
    return await _report(settings, ended, "completed")


async def _dial_ended(
    settings: Settings, rep: local_calls.Leg, patient: local_calls.Leg, on_the_line: bool
) -> tuple[str | None, str]:
    """The patient's leg is over: Twilio asks the <Dial action> (the rep's call's `action_url`) what
    next, with how the dialled call went; its TwiML is carried out only while the rep is on the line."""
    assert rep.action_url is not None
    dial_status = patient.status
    params = _call_params(settings, rep, "in-progress" if on_the_line else "completed") | {
        "DialCallSid": patient.provider_id,
        "DialCallStatus": dial_status,
        "DialCallDuration": str(patient.seconds()),
    }
    return await exchange_as_twilio(settings, rep.action_url, params)


# ---------------------------------------------------------------------- a patient calling the support line

LINE = "/webhooks/twilio/voice/incoming"


def _line_params(settings: Settings, call_sid: str, caller: str, status: str) -> dict[str, str]:
    """What Twilio sends about an inbound call to TWILIO_FROM_NUMBER."""
    return {
        "CallSid": call_sid,
        "AccountSid": settings.twilio_account_sid,
        "From": caller,
        "To": settings.twilio_from_number,
        "Direction": "inbound",
        "CallStatus": status,
        "ApiVersion": "2010-04-01",
    }


def _line_url(settings: Settings, what: str, call_sid: str) -> str:
    return f"{settings.public_base_url}{LINE}/{what}?{urlencode({'call': call_sid})}"


def _said(texts: tuple[str, ...]) -> str:
    return " ".join(text for text in texts if text)[:HEARD_LIMIT]


@router.post("/line")
async def call_the_line(request: Request, to: str = Form("")) -> Response:
    """The patient `to` calls the support line: the signed Voice webhook as Twilio posts it, then the
    queue's waitUrl once (the hold message); the reps' phones ring here as offers do."""
    svc = services(request)
    settings = svc.settings
    caller = _normalise(to)
    if caller is None:
        return await _render(request, None, error="Pick a patient's number to call from.", status=422)
    call_sid = "CA" + uuid.uuid4().hex
    url = settings.public_base_url + LINE
    problem, twiml = await exchange_as_twilio(
        settings, url, _line_params(settings, call_sid, caller, "ringing")
    )
    if problem:
        return await _render(request, caller, error=problem, status=502)
    line = local_twiml.read_line(twiml, url)
    if line.problem or line.enqueue is None or line.enqueue.wait_url is None:
        return await _render(
            request, caller, error=line.problem or "The line did not hold the call.", status=502
        )
    said = list(line.said)
    if line.keys_action is None:  # held at once: the hold message
        hold = _line_params(settings, call_sid, caller, "in-progress") | {
            "QueueTime": "0",
            "QueuePosition": "1",
        }
        problem, twiml = await exchange_as_twilio(settings, line.enqueue.wait_url, hold)
        said += local_twiml.read(twiml, line.enqueue.wait_url).said if not problem else ()
    back = _thread_url(caller) + f"&{urlencode({'heard': _said(tuple(said))})}"
    return RedirectResponse(back, status_code=303)


@router.post("/line/{call_sid}/{move}")
async def line_move(request: Request, call_sid: str, move: str, digits: str = Form("")) -> Response:
    """The caller on the support line: `wait` (the hold message again, with the time waited so far: after
    ROUTING__CALLER_WAIT_SECONDS it offers a callback), `callback` (press 1 for it), `key` (press a booking
    choice during the greeting), `hangup` (the number's status callback: the call is over)."""
    svc = services(request)
    settings = svc.settings
    call = await asyncio.to_thread(support_calls.get, svc.store, call_sid)
    if call is None or move not in ("wait", "callback", "key", "hangup"):
        return await _render(request, None, error="There is no such call.", status=404)
    caller = call.from_number
    params = _line_params(settings, call_sid, caller, "in-progress")
    if move == "hangup":
        problem = await post_as_twilio(
            settings, f"{settings.public_base_url}{LINE}/status", params | {"CallStatus": "completed"}
        )
        said: tuple[str, ...] = ()
    else:
        waited = int((datetime.now(UTC) - call.arrived_at).total_seconds())
        if move == "wait":
            url = _line_url(settings, "wait", call_sid)
            params |= {"QueueTime": str(waited), "QueuePosition": "1"}
        else:
            url = _line_url(settings, "callback" if move == "callback" else "keys", call_sid)
            params |= {"Digits": "1" if move == "callback" else digits}
        problem, twiml = await exchange_as_twilio(settings, url, params)
        said = local_twiml.read(twiml, url).said if not problem else ()
    if problem:
        return await _render(request, caller, error=problem, status=502)
    back = _thread_url(caller) + (f"&{urlencode({'heard': _said(said)})}" if said else "")
    return RedirectResponse(back, status_code=303)
