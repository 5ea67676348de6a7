"""A patient's conversation as the store holds it: the open questions (read from the cases waiting for a
choice, the check-in watches listening and the rating requests asked) and every message they sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.base import CaseKind
from domain.cases import CaseStatus
from domain.conversation import Question, QuestionKind, open_newest_first
from store.checkin import ROUTED_STATUSES
from store.db import Store
from store.models import Case, CaseOffer, CheckInWatchRow, Feedback, InboundMessage, utcnow


def open_questions(s: Session, phone: str, now: datetime | None = None) -> list[Question]:
    """Every question open on the conversation of the patient with this phone number."""
    now = now or utcnow()
    questions: list[Question] = []
    # a booking-conflict case that has made its offer and not moved on: open from the moment the offer is
    # kept (just before it is sent), not only once the case says it waits, so an answer faster than that
    # status change still finds its question
    waiting = s.execute(
        select(Case.case_id, Case.workflow_id, Case.appointment_id).where(
            Case.patient_phone == phone,
            Case.kind == CaseKind.BOOKING_CONFLICT.value,
            Case.status.in_((CaseStatus.OPEN.value, CaseStatus.WAITING_PATIENT.value)),
        )
    ).all()
    for case_id, workflow_id, appointment_id in waiting:
        offer = s.execute(
            select(CaseOffer.offers, CaseOffer.created_at)
            .where(CaseOffer.case_id == case_id)
            .order_by(CaseOffer.offer_round.desc())
            .limit(1)
        ).first()
        if offer is None:
            continue  # nothing offered yet (still looking, deferred, or waiting for an earlier offer)
        questions.append(
            Question(
                kind=QuestionKind.OFFER,
                workflow_id=workflow_id,
                case_id=case_id,
                asked_at=offer.created_at,
                choices=len(offer.offers),
                appointment_id=appointment_id,
            )
        )
    prompts = s.execute(
        select(
            CheckInWatchRow.workflow_id,
            CheckInWatchRow.case_id,
            CheckInWatchRow.prompt_at,
            CheckInWatchRow.listen_until,
            CheckInWatchRow.appointment_id,
        ).where(CheckInWatchRow.patient_phone == phone, CheckInWatchRow.status.in_(ROUTED_STATUSES))
    ).all()
    ratings = s.execute(
        select(
            Feedback.workflow_id,
            Feedback.case_id,
            Feedback.asked_at,
            Feedback.expires_at,
            Case.appointment_id,
        )
        .join(Case, Case.case_id == Feedback.case_id)
        .where(Feedback.patient_phone == phone, Feedback.status == "asked", Feedback.expires_at > now)
    ).all()
    for kind, rows in ((QuestionKind.CHECKIN_PROMPT, prompts), (QuestionKind.RATING, ratings)):
        questions += [Question(kind, *row[:4], appointment_id=row[4]) for row in rows]
    return questions


def newest_case(s: Session, phone: str) -> Case | None:
    """The patient's newest case, whatever its status: where a reply that fits no question is taken up."""
    return s.scalars(select(Case).where(Case.patient_phone == phone).order_by(Case.opened_at.desc())).first()


def person_escalations(s: Session, case_id: str) -> int:
    """How many of the case's replies went to a person so far (numbers each one's escalation)."""
    return int(
        s.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.case_id == case_id, InboundMessage.answered == "person")
        )
        or 0
    )


@dataclass(frozen=True)
class Said:
    """One message from the patient, as the conversation shows it."""

    at: datetime
    channel: str
    body: str
    case_id: str | None
    answered: str | None
    why: str | None


@dataclass(frozen=True)
class Conversation:
    phone: str
    questions: list[Question]
    messages: list[Said]  # newest first


def for_phone(store: Store, phone: str, limit: int = 20, now: datetime | None = None) -> Conversation:
    """The patient's conversation: the questions open now and what they wrote lately."""
    with store.session() as s:
        questions = open_newest_first(open_questions(s, phone, now), now or utcnow())
        rows = s.execute(
            select(
                InboundMessage.received_at,
                InboundMessage.channel,
                InboundMessage.body,
                InboundMessage.case_id,
                InboundMessage.answered,
                InboundMessage.why,
            )
            .where(InboundMessage.from_address == phone)
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(limit)
        ).all()
        return Conversation(phone, questions, [Said(*row) for row in rows])


def earlier_offer_open(store: Store, case_id: str, phone: str) -> str | None:
    """An earlier-opened booking-conflict case of the patient's that is still open or waiting for their
    choice: its offer is (or will be) on the conversation first. Earlier by opening time, so of two cases
    opened together exactly one goes first."""
    with store.session() as s:
        this = s.execute(select(Case.opened_at).where(Case.case_id == case_id)).scalar_one_or_none()
        if this is None:
            return None
        earlier = s.scalar(
            select(Case.case_id)
            .where(
                Case.patient_phone == phone,
                Case.kind == CaseKind.BOOKING_CONFLICT.value,
                Case.status.in_((CaseStatus.OPEN.value, CaseStatus.WAITING_PATIENT.value)),
                Case.case_id != case_id,
                (Case.opened_at < this) | ((Case.opened_at == this) & (Case.case_id < case_id)),
            )
            .order_by(Case.opened_at)
            .limit(1)
        )
        return earlier
