"""Providers' delivery reports (Twilio message and call status, SendGrid events): stored first, matched to
the message they are about, and queued for the case's workflow when the message did not arrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.cases import TimelineEntry
from store import cases
from store.db import Store
from store.models import Case, OutboundMessageRow, ReceivedEvent

# where delivery reports come from (ReceivedEvent.source); the relay passes failures to the case's workflow
SOURCES = ("twilio_sms_status", "twilio_call_status", "sendgrid_event")

# what each provider calls "it did not reach them"
FAILED = {
    "sms": {"undelivered", "failed"},
    "voice": {"no-answer", "busy", "failed", "canceled", "machine"},
    "email": {"bounce", "dropped"},
}


@dataclass(frozen=True)
class Report:
    source: str  # twilio_sms_status | twilio_call_status | sendgrid_event
    external_id: str  # de-duplicates: the provider's event id, or sid plus status
    channel: str
    status: str
    provider_id: str | None = None  # Twilio's sid, SendGrid's message id
    ref: str | None = None  # our own "case:key" reference (SendGrid custom arg, a bridge's callback URL)
    # a "Call patient" bridge: the patient's leg names the rep's call (Twilio's ParentCallSid)
    parent_id: str | None = None
    leg: str | None = None  # rep | patient, when the callback URL says which leg it reports on
    duration: int | None = None  # seconds, on a call's final report (CallDuration)
    offer: str | None = None  # an offer call to a rep (domain.routing), when the callback URL names one


# the console's "Call patient": a call to the rep (key `bridge-…`) that dials the patient in. Its two legs'
# reports go on the case's timeline as they happen; the case's workflow does not wait on them
BRIDGE_KEY_PREFIX = "bridge-"
# an offer of work to a rep (activities/routing.py): the rep's phone, then the patient dialled in when they
# press 1. Written on the timeline like a bridge; what the router and the escalation must hear is queued:
# the rep's phone rang out or the call ended (the router), the patient's phone was not answered (the
# escalation)
OFFER_KEY_PREFIX = "offer-"
MISSED = ("no-answer", "busy", "failed", "canceled")
ROUTER_HEARS = ("no-answer", "busy", "failed", "completed")
ESCALATION_HEARS = ("no-answer", "busy", "failed", "canceled")


def bridge_step(leg: str, status: str) -> str | None:
    """The timeline entry for one report about one leg (`rep` or `patient`) of a bridge, if it says
    something: ringing, answered (Twilio's `in-progress`), not answered, or the end of the call. The
    rep's `initiated` is the entry the call's placement already wrote ("Calling the rep")."""
    if status in MISSED:
        return f"bridge_{leg}_missed"
    return {
        "ringing": f"bridge_{leg}_ringing",
        "in-progress": f"bridge_{leg}_answered",
        "completed": "bridge_ended",
    }.get(status)


@dataclass(frozen=True)
class Stored:
    row_id: int
    case_id: str | None
    duplicate: bool
    act: bool  # the case's workflow must hear of it


def accept(store: Store, report: Report, parsed: dict[str, Any]) -> Stored:
    try:
        return _accept(store, report, parsed)
    except IntegrityError:  # the same report, concurrently
        with store.session() as s:
            seen = s.scalars(
                select(ReceivedEvent).where(
                    ReceivedEvent.source == report.source, ReceivedEvent.external_id == report.external_id
                )
            ).one()
            return Stored(seen.id, seen.case_id, True, False)


def _accept(store: Store, report: Report, parsed: dict[str, Any]) -> Stored:
    with store.session() as s:
        seen = s.scalars(
            select(ReceivedEvent).where(
                ReceivedEvent.source == report.source, ReceivedEvent.external_id == report.external_id
            )
        ).first()
        if seen is not None:
            return Stored(seen.id, seen.case_id, True, False)
        message = _message(s, report)
        case = s.get(Case, message.case_id) if message is not None else None
        failed = report.status in FAILED.get(report.channel, set())
        offer = report.offer if message is not None and message.key.startswith(OFFER_KEY_PREFIX) else None
        bridge = message is not None and (message.key.startswith(BRIDGE_KEY_PREFIX) or offer is not None)
        leg = report.leg or ("patient" if report.parent_id else "rep")
        if message is not None and not (bridge and leg == "patient"):
            message.delivery_status = report.status
        act = (
            failed
            and not bridge  # a call the rep asked for: the timeline tells them; no step of the case waits
            and message is not None
            and case is not None
            and case.status not in ("resolved", "failed")
        )
        if offer is not None:  # the floor (rep's leg) or the escalation (patient's leg) acts on it
            act = report.status in (ROUTER_HEARS if leg == "rep" else ESCALATION_HEARS)
        row = ReceivedEvent(
            source=report.source,
            external_id=report.external_id,
            type=f"delivery.{report.status}",
            appointment_id=case.appointment_id if case else None,
            raw=b"",
            parsed={
                **parsed,
                "channel": report.channel,
                "status": report.status,
                "key": message.key if message else None,
                **({"offer": offer, "leg": leg} if offer is not None else {}),
            },
            case_id=case.case_id if case else None,
            workflow_id=case.workflow_id if case else None,
            status="pending" if act else "recorded",
        )
        s.add(row)
        s.flush()
        stored = Stored(row.id, row.case_id, False, act)
        step = bridge_step(leg, report.status) if bridge and message is not None else None
        call_key = message.key if message is not None else ""
    if step is not None and stored.case_id is not None:
        detail: dict[str, Any] = {"status": report.status}
        if step == "bridge_ended" and report.duration is not None:
            detail["duration"] = report.duration
        # one end per call, whichever leg reports it first
        key = (
            f"bridge:{call_key}:ended"
            if step == "bridge_ended"
            else f"bridge:{call_key}:{leg}:{report.status}"
        )
        cases.add_timeline(store, TimelineEntry(case_id=stored.case_id, what=step, key=key, detail=detail))
    return stored


def _message(s: Any, report: Report) -> OutboundMessageRow | None:
    if report.parent_id:  # the patient's leg of a bridge: the message is the rep's call
        parent: OutboundMessageRow | None = s.scalars(
            select(OutboundMessageRow).where(
                OutboundMessageRow.provider_id == report.parent_id,
                OutboundMessageRow.channel == report.channel,
            )
        ).first()
        if parent is not None:
            return parent
    if report.provider_id:
        found: OutboundMessageRow | None = s.scalars(
            select(OutboundMessageRow).where(
                OutboundMessageRow.provider_id == report.provider_id,
                OutboundMessageRow.channel == report.channel,
            )
        ).first()
        if found is not None:
            return found
    if report.ref and ":" in report.ref:
        case_id, key = report.ref.split(":", 1)
        found = s.scalars(
            select(OutboundMessageRow).where(
                OutboundMessageRow.case_id == case_id,
                OutboundMessageRow.key == key,
                OutboundMessageRow.channel == report.channel,
            )
        ).first()
        return found
    return None


def record_offer_key(store: Store, call_sid: str, offer_id: str, digits: str) -> None:
    """A rep's key on an offer call, kept before the router hears of it (once per call and offer)."""
    try:
        with store.session() as s:
            s.add(
                ReceivedEvent(
                    source="twilio_offer_key",
                    external_id=f"{call_sid}:{offer_id}",
                    type="offer.key",
                    raw=b"",
                    parsed={"offer": offer_id, "digits": digits},
                    status="recorded",
                )
            )
    except IntegrityError:
        pass  # Twilio asked again: kept already
