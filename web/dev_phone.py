"""`/dev/phone`: the local phone. Mounted only in the fully embedded mode: every provider local
(`Settings.local_phone`), since it signs Twilio webhooks as any patient without a login.

It shows what the local providers "delivered" (the `local_deliveries` table) as a phone would, and lets
the person at the keyboard play the patient: a reply is sent as the very form Twilio would send, signed
with the auth token, over real HTTP to the same webhook real Twilio calls. Nothing here bypasses the
webhooks; a bad signature or a refused answer shows on the page as it would in Twilio's debugger.

Patient data (numbers, bodies) never goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from config import Settings
from domain.messages import voice_thanks
from store import local_calls
from store.db import Store
from store.models import Case, InboundMessage, LocalDelivery, ReceivedEvent
from web.deps import services

log = logging.getLogger("makeright.dev_phone")

router = APIRouter(prefix="/dev/phone")

THREAD_LIMIT = 300  # the newest entries of one thread
CONTACT_LIMIT = 200
WEBHOOK_TIMEOUT = 30.0
DIGITS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")
QUICK_REPLIES = ("1", "2", "3", "0", "STOP", "START")

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


def _initials(name: str | None, address: str) -> str:
    if name:
        words = [w for w in re.split(r"\s+", name.strip()) if w]
        if words:
            return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper()
    return "@" if "@" in address else "#"


templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.filters["linkify"] = linkify
templates.env.filters["initials"] = _initials


# ---------------------------------------------------------------------- what the phone shows


@dataclass
class Contact:
    address: str
    name: str | None
    last_at: datetime
    preview: str
    preview_kind: str  # sms | voice | email | reply
    unanswered_calls: int

    @property
    def is_email(self) -> bool:
        return "@" in self.address


@dataclass
class Entry:
    kind: str  # sms | voice | email | reply
    id: int
    at: datetime
    body: str
    subject: str | None = None
    from_address: str | None = None
    language: str = "en"
    answered: str | None = None
    spoken_reply: str | None = None
    channel: str | None = None  # a reply's channel
    # a leg of a "Call patient" bridge: rep (our call to the rep) or patient (the rep's call dialling in),
    # and where it stands: ringing | dialling (the rep waits for the patient) | connected | ended | missed
    bridge: str | None = None
    bridge_state: str | None = None
    bridge_seconds: int = 0


@dataclass
class Thread:
    address: str
    name: str | None = None
    case_id: str | None = None
    case_status: str | None = None
    case_kind: str | None = None
    linked: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def is_email(self) -> bool:
        return "@" in self.address


def _names(store: Store, addresses: list[str]) -> tuple[dict[str, str], dict[str, Case]]:
    """Patient names and newest case by address, from the cases and the booking events that opened them."""
    if not addresses:
        return {}, {}
    with store.session() as s:
        cases = list(
            s.scalars(
                select(Case)
                .where((Case.patient_phone.in_(addresses)) | (Case.patient_email.in_(addresses)))
                .order_by(Case.opened_at)
            )
        )
        newest: dict[str, Case] = {}
        for case in cases:
            for address in (case.patient_phone, case.patient_email):
                if address:
                    newest[address] = case
        case_ids = {case.case_id for case in newest.values()}
        events = s.execute(
            select(ReceivedEvent.case_id, ReceivedEvent.parsed).where(
                ReceivedEvent.source == "booking", ReceivedEvent.case_id.in_(case_ids)
            )
        ).all()
    name_by_case: dict[str, str] = {}
    for case_id, parsed in events:
        name = ((parsed or {}).get("data") or {}).get("patient", {}).get("name")
        if case_id and isinstance(name, str) and name:
            name_by_case[case_id] = name
    names = {a: name_by_case[c.case_id] for a, c in newest.items() if c.case_id in name_by_case}
    return names, newest


def load_contacts(store: Store) -> list[Contact]:
    """Every address that received something, newest activity first."""
    with store.session() as s:
        rows = s.execute(
            select(
                LocalDelivery.to_address,
                func.max(LocalDelivery.id),
                func.max(LocalDelivery.created_at),
            )
            .group_by(LocalDelivery.to_address)
            .order_by(func.max(LocalDelivery.created_at).desc())
            .limit(CONTACT_LIMIT)
        ).all()
        addresses = [row[0] for row in rows]
        if not addresses:
            return []
        last_delivery = {
            d.to_address: d
            for d in s.scalars(select(LocalDelivery).where(LocalDelivery.id.in_([row[1] for row in rows])))
        }
        unanswered = dict(
            s.execute(
                select(LocalDelivery.to_address, func.count())
                .where(
                    LocalDelivery.to_address.in_(addresses),
                    LocalDelivery.channel == "voice",
                    LocalDelivery.answered.is_(None),
                    LocalDelivery.gather_action_url.is_not(None),
                )
                .group_by(LocalDelivery.to_address)
            ).all()
        )
        reply_ids = [
            row[1]
            for row in s.execute(
                select(InboundMessage.from_address, func.max(InboundMessage.id))
                .where(InboundMessage.from_address.in_(addresses))
                .group_by(InboundMessage.from_address)
            ).all()
        ]
        last_reply = {
            r.from_address: r
            for r in s.scalars(select(InboundMessage).where(InboundMessage.id.in_(reply_ids)))
        }
    names, _ = _names(store, addresses)
    contacts: list[Contact] = []
    for address in addresses:
        delivery = last_delivery[address]
        at, kind = delivery.created_at, delivery.channel
        preview = delivery.subject if delivery.channel == "email" and delivery.subject else delivery.body
        reply = last_reply.get(address)
        if reply is not None and reply.received_at >= at:
            at, kind, preview = reply.received_at, "reply", reply.body
        contacts.append(
            Contact(
                address=address,
                name=names.get(address),
                last_at=at,
                preview=preview,
                preview_kind=kind,
                unanswered_calls=int(unanswered.get(address, 0)),
            )
        )
    contacts.sort(key=lambda c: c.last_at, reverse=True)
    return contacts


def load_thread(store: Store, address: str, known: list[str]) -> Thread:
    """One address's conversation, oldest first: what it received, and what it answered."""
    with store.session() as s:
        deliveries = list(
            s.scalars(
                select(LocalDelivery)
                .where(LocalDelivery.to_address == address)
                .order_by(LocalDelivery.id.desc())
                .limit(THREAD_LIMIT)
            )
        )
        replies = list(
            s.scalars(
                select(InboundMessage)
                .where(InboundMessage.from_address == address)
                .order_by(InboundMessage.id.desc())
                .limit(THREAD_LIMIT)
            )
        )
    thread = Thread(address=address)
    names, newest = _names(store, [address])
    thread.name = names.get(address)
    case = newest.get(address)
    if case is not None:
        thread.case_id, thread.case_status, thread.case_kind = case.case_id, case.status, case.kind
        other = case.patient_email if address == case.patient_phone else case.patient_phone
        if other and other != address and other in known:
            thread.linked.append(other)
    calls = {d.provider_id for d in deliveries if d.channel == "voice"}
    for d in deliveries:
        entry = Entry(
            kind=d.channel,
            id=d.id,
            at=d.created_at,
            body=d.body,
            subject=d.subject,
            from_address=d.from_address,
            language=d.language,
            answered=d.answered,
            spoken_reply=voice_thanks(d.language) if d.answered is not None else None,
        )
        if d.channel == "voice" and (d.dial or d.parent_id):
            _bridge_state(store, entry)
        thread.entries.append(entry)
    for r in replies:
        if r.channel == "voice" and r.provider_id.split(":", 1)[0] in calls:
            continue  # shown on its call's card
        thread.entries.append(Entry(kind="reply", id=r.id, at=r.received_at, body=r.body, channel=r.channel))
    thread.entries.sort(key=lambda e: (e.at, e.kind == "reply", e.id))
    thread.entries = thread.entries[-THREAD_LIMIT:]
    return thread


def _bridge_state(store: Store, entry: Entry) -> None:
    leg = local_calls.leg(store, entry.id)
    if leg is None:
        return
    other = local_calls.other_leg(store, leg)
    entry.bridge = "rep" if leg.is_rep_leg else "patient"
    entry.bridge_seconds = leg.seconds()
    if leg.status == "ringing":
        entry.bridge_state = "ringing"
    elif leg.status == "in-progress":
        connected = other is not None and other.status == "in-progress"
        entry.bridge_state = "connected" if connected or not leg.is_rep_leg else "dialling"
    elif leg.status == "completed":
        entry.bridge_state = "ended"
    else:
        entry.bridge_state = "missed"


def version(store: Store) -> str:
    """Changes whenever anything the page shows changes: the poll swaps the page's parts only then."""
    with store.session() as s:
        deliveries = s.execute(select(func.max(LocalDelivery.id), func.count(LocalDelivery.answered))).one()
        reply = s.scalar(select(func.max(InboundMessage.id)))
    return f"{deliveries[0] or 0}.{deliveries[1] or 0}.{reply or 0}.{local_calls.version(store)}"


def _load_page(store: Store, to: str | None) -> tuple[list[Contact], Thread | None, str]:
    contacts = load_contacts(store)
    thread = load_thread(store, to, [c.address for c in contacts]) if to else None
    return contacts, thread, version(store)


def _normalise(to: str | None) -> str | None:
    """`?to=+316...` typed by hand arrives as ` 316...` (a `+` in a query string is a space)."""
    if to is None:
        return None
    if to[:1] == " ":
        to = "+" + to.lstrip()
    return to.strip() or None


def _thread_url(to: str | None) -> str:
    return "/dev/phone" + (f"?{urlencode({'to': to})}" if to else "")


async def _render(
    request: Request, to: str | None, *, error: str | None = None, draft: str = "", status: int = 200
) -> HTMLResponse:
    svc = services(request)
    contacts, thread, stamp = await asyncio.to_thread(_load_page, svc.store, to)
    return templates.TemplateResponse(
        request,
        "dev_phone.html",
        {
            "contacts": contacts,
            "thread": thread,
            "selected": to,
            "version": stamp,
            "error": error,
            "draft": draft,
            "digits": DIGITS,
            "quick_replies": QUICK_REPLIES,
            "twilio_number": svc.settings.twilio_from_number,
            "thread_url": _thread_url,
        },
        status_code=status,
    )


@router.get("", response_class=HTMLResponse)
async def phone(request: Request, to: str | None = None) -> HTMLResponse:
    return await _render(request, _normalise(to))


@router.get("/version")
async def phone_version(request: Request) -> dict[str, str]:
    """The page polls this and reloads its thread only when something changed."""
    return {"version": await asyncio.to_thread(version, services(request).store)}


# ---------------------------------------------------------------------- playing the patient


def twilio_signature(settings: Settings, url: str, params: dict[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature: HMAC-SHA1 over the full URL and the sorted form."""
    return str(RequestValidator(settings.twilio_auth_token).compute_signature(url, params))


async def post_as_twilio(settings: Settings, url: str, params: dict[str, str]) -> str | None:
    """POST `params` to `url` signed like Twilio. Returns None on a 2xx, else what went wrong."""
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
        )
    if response.is_success:
        return None
    log.warning("dev phone: webhook answered %s", response.status_code)
    return f"The webhook answered {response.status_code}: {_reason(response)}"


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


def _delivery(store: Store, delivery_id: int) -> LocalDelivery | None:
    with store.session() as s:
        return s.get(LocalDelivery, delivery_id)


def _mark_answered(store: Store, delivery_id: int, digits: str) -> None:
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id)
        if row is not None:
            row.answered = digits


@router.post("/call/{delivery_id}")
async def answer_call(request: Request, delivery_id: int, digits: str = Form("")) -> Response:
    svc = services(request)
    settings = svc.settings
    call = await asyncio.to_thread(_delivery, svc.store, delivery_id)
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
    await asyncio.to_thread(_mark_answered, svc.store, delivery_id, digits)
    return RedirectResponse(_thread_url(call.to_address), status_code=303)


# ---------------------------------------------------------------------- playing Twilio's side of a bridge


async def _report(
    settings: Settings, leg: local_calls.Leg, status: str, parent: local_calls.Leg | None = None
) -> str | None:
    """Tell the web app how a leg of a bridge moved, as Twilio's status callback does (signed)."""
    params = {
        "CallSid": leg.provider_id,
        "AccountSid": settings.twilio_account_sid,
        "From": leg.from_address,
        "To": leg.to_address,
        "Direction": "outbound-dial" if parent is not None else "outbound-api",
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "ApiVersion": "2010-04-01",
    }
    if parent is not None:
        params["ParentCallSid"] = parent.provider_id
    if status in local_calls.ENDED:
        params["CallDuration"] = str(leg.seconds())
    url = settings.public_base_url + "/webhooks/twilio/voice/status"
    if parent is not None:
        url += "?leg=patient"
    return await post_as_twilio(settings, url, params)


async def _end(settings: Settings, store: Store, leg: local_calls.Leg, status: str) -> str | None:
    """One leg ends (`status`); a bridge ends as a whole: the patient's leg first, then the rep's call."""
    other = await asyncio.to_thread(local_calls.other_leg, store, leg)
    rep, patient = (leg, other) if leg.is_rep_leg else (other, leg)
    problem = None
    if patient is not None and patient.status not in local_calls.ENDED:
        final = status
        if patient.id != leg.id:  # the rep hung up: a ringing patient's phone stops ringing
            final = "completed" if patient.status == "in-progress" else "canceled"
        ended = await asyncio.to_thread(local_calls.set_status, store, patient.id, final)
        problem = await _report(settings, ended, final, parent=rep)
    if rep is not None and rep.status not in local_calls.ENDED:
        final = status if rep.id == leg.id else "completed"
        ended = await asyncio.to_thread(local_calls.set_status, store, rep.id, final)
        problem = await _report(settings, ended, final) or problem
    return problem


@router.post("/call/{delivery_id}/{move}")
async def bridge_move(request: Request, delivery_id: int, move: str) -> Response:
    """Answer, decline or hang up one leg of a "Call patient" bridge. Answering the rep's call dials the
    patient in (Twilio's <Dial>); every step is reported to the web app as Twilio would report it."""
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
        if leg.is_rep_leg and problem is None:
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
