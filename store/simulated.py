"""What a simulated day (simulation/) reads back from the store, as the world outside would see it: the rep
phones the local phone was asked to ring (an offer call each), and the support line's calls with their
times (for the figures per hour). Reading only: the simulation acts through the webhooks' own functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from store.db import Store
from store.local_calls import ENDED
from store.models import Case, EscalationRow, InboundEmail, LocalDelivery, OutboundMessageRow, SupportCall


@dataclass(frozen=True)
class OfferRing:
    """One offer call to a rep's phone, as the local phone recorded it."""

    delivery_id: int
    offer_id: str
    to: str
    call_sid: str
    ended: bool  # makeright hung it up already (withdrawn, timed out) before the rep could answer


def _offer_of(url: str | None) -> str | None:
    if not url or "/webhooks/twilio/voice/offer" not in url:
        return None
    return parse_qs(urlsplit(url).query).get("offer", [None])[0]


def offer_rings(store: Store, after_id: int) -> list[OfferRing]:
    """The offer calls placed since delivery `after_id`, oldest first."""
    with store.session() as s:
        rows = s.scalars(
            select(LocalDelivery)
            .where(
                LocalDelivery.channel == "voice",
                LocalDelivery.gather_action_url.is_not(None),
                LocalDelivery.id > after_id,
            )
            .order_by(LocalDelivery.id)
        ).all()
        found = []
        for row in rows:
            offer_id = _offer_of(row.gather_action_url)
            if offer_id is not None:
                found.append(
                    OfferRing(row.id, offer_id, row.to_address, row.provider_id, row.call_status in ENDED)
                )
        return found


def ring_ended(store: Store, call_sid: str) -> bool:
    """Whether makeright has hung up this offer call (the rep's phone stopped ringing)."""
    with store.session() as s:
        status = s.scalar(select(LocalDelivery.call_status).where(LocalDelivery.provider_id == call_sid))
        return status in ENDED


@dataclass(frozen=True)
class CallRow:
    call_sid: str
    status: str
    first_ring: bool
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


def calls(store: Store, since: datetime) -> list[CallRow]:
    """The support line's calls that arrived since `since`, oldest first."""
    with store.session() as s:
        rows = s.execute(
            select(
                SupportCall.call_sid,
                SupportCall.status,
                SupportCall.first_ring,
                SupportCall.arrived_at,
                SupportCall.answered_at,
                SupportCall.ended_at,
            )
            .where(SupportCall.arrived_at >= since)
            .order_by(SupportCall.arrived_at)
        ).all()
    return [CallRow(*row) for row in rows]


@dataclass(frozen=True)
class PatientMessage:
    """A message makeright sent a patient (text, email or call), as the local phone or mailbox got it."""

    delivery_id: int
    channel: str  # sms | email | voice
    to: str
    case_id: str
    key: str  # the step's send-once key (offer-1-sms, checkin-prompt-…, offer-1-call, …)
    provider_id: str  # a call's sid, an email's message id
    reply_to: str | None


# a delivery whose send-once row still names no provider id after this long never will (a bridge call's
# patient leg is placed by the call, not by a send step)
UNKEYED_FOR = timedelta(seconds=5)


def patient_messages(store: Store, after_id: int, patients: set[str]) -> tuple[int, list[PatientMessage]]:
    """What was delivered to the addresses in `patients` since delivery `after_id`, oldest first, with the
    send-once key of the step that sent it; and the delivery id read up to. A delivery whose send-once row
    does not name it yet (its activity is still finishing) stops the reading there, to be read next time,
    unless it has stayed so for UNKEYED_FOR: it was not sent by a step (a bridge call's leg)."""
    with store.session() as s:
        rows = s.execute(
            select(
                LocalDelivery.id,
                LocalDelivery.channel,
                LocalDelivery.to_address,
                LocalDelivery.provider_id,
                LocalDelivery.reply_to,
                LocalDelivery.created_at,
                OutboundMessageRow.case_id,
                OutboundMessageRow.key,
            )
            .outerjoin(OutboundMessageRow, OutboundMessageRow.provider_id == LocalDelivery.provider_id)
            .where(LocalDelivery.id > after_id)
            .order_by(LocalDelivery.id)
        ).all()
    last = after_id
    found = []
    settled = datetime.now(UTC) - UNKEYED_FOR
    for row_id, channel, to, provider_id, reply_to, created, case_id, key in rows:
        if to in patients:
            if key is None:
                if (created if created.tzinfo else created.replace(tzinfo=UTC)) > settled:
                    break
            else:
                found.append(PatientMessage(row_id, channel, to, case_id, key, provider_id, reply_to))
        last = row_id
    return last, found


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    workflow_id: str
    kind: str
    status: str
    with_rep: bool  # a rep was involved: an escalation, or an email a rep answered
    messages: int  # messages sent to the patient (texts, emails, calls)


def cases(store: Store) -> list[CaseRow]:
    """Every case, with whether a person worked on it and how many messages its patient was sent."""
    with store.session() as s:
        escalated = set(s.scalars(select(EscalationRow.case_id)).all())
        answered = set(
            s.scalars(select(InboundEmail.case_id).where(InboundEmail.answered_at.is_not(None))).all()
        )
        sent = dict(
            s.execute(
                select(OutboundMessageRow.case_id, func.count())
                .where(OutboundMessageRow.status == "sent")
                .group_by(OutboundMessageRow.case_id)
            ).all()
        )
        rows = s.execute(select(Case.case_id, Case.workflow_id, Case.kind, Case.status)).all()
    return [
        CaseRow(
            case_id,
            workflow_id,
            kind,
            status,
            case_id in escalated or case_id in answered,
            int(sent.get(case_id, 0)),
        )
        for case_id, workflow_id, kind, status in rows
    ]


def phone_of_escalation(store: Store, escalation_id: str) -> str | None:
    """The phone number of the patient whose case the escalation is about."""
    with store.session() as s:
        return s.scalar(
            select(Case.patient_phone)
            .join(EscalationRow, EscalationRow.case_id == Case.case_id)
            .where(EscalationRow.escalation_id == escalation_id)
        )
