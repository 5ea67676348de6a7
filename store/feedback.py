"""Patient feedback: the request to rate a resolved case, the answer, and what the wall reads of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.cases import TimelineEntry
from domain.feedback import (
    FeedbackAnswer,
    FeedbackAsked,
    FeedbackClosed,
    FeedbackOutlook,
    FeedbackOutlookRequest,
    PatientCase,
)
from store import cases, outbox
from store.db import Store
from store.models import Case, Feedback, utcnow


def asked(store: Store, req: FeedbackAsked) -> str:
    """The request went out (idempotent: a retry keeps the first row). Returns the case's reply token,
    which signs the email's score links."""
    with store.session() as s:
        case = s.get(Case, req.case_id)
        assert case is not None, f"no case {req.case_id}"
        row = s.get(Feedback, req.case_id)
        if row is not None and row.status == "asked":
            row.channel = req.channel.value  # asked again on the other channel (texts did not go)
        if row is None:
            s.add(
                Feedback(
                    case_id=req.case_id,
                    workflow_id=req.workflow_id,
                    status="asked",
                    channel=req.channel.value,
                    patient_phone=case.patient_phone,
                    language=req.language,
                    asked_at=req.asked_at,
                    expires_at=req.expires_at,
                )
            )
        return case.reply_token


def outlook(store: Store, req: FeedbackOutlookRequest) -> FeedbackOutlook:
    """What a case's rating request decides from (`domain.feedback.decide`): the case's close, the
    patient's other cases (status, close, when they were asked to rate one), and the conversations
    started with them since `req.since` in any case but this one."""
    with store.session() as s:
        closed_at = s.scalar(select(Case.closed_at).where(Case.case_id == req.case_id))
        rows = s.execute(
            select(Case.case_id, Case.status, Case.closed_at, Feedback.asked_at, Feedback.status)
            .outerjoin(Feedback, Feedback.case_id == Case.case_id)
            .where(Case.patient_id == req.patient_id, Case.case_id != req.case_id)
        ).all()
        others = tuple(
            PatientCase(
                case_id=case_id,
                status=status,
                closed_at=closed,
                # a request recorded but never sent (no channel reached them) asked nobody
                rating_asked_at=asked_at if asked_at is not None and asked_status != "not_sent" else None,
            )
            for case_id, status, closed, asked_at, asked_status in rows
        )
        started = outbox.conversations_with(s, req.addresses, req.since, req.case_id)
    return FeedbackOutlook(closed_at=closed_at, cases=others, conversations=tuple(started))


def answered(store: Store, answer: FeedbackAnswer) -> bool:
    """The patient's score (and comment), kept once: the first answer counts. True if this one was kept."""
    with store.session() as s:
        row = s.get(Feedback, answer.case_id, with_for_update=True)
        if row is None or row.score is not None:
            return False
        row.status, row.score, row.answered_at = "answered", answer.score, answer.at
        row.comment = answer.comment or None
        s.flush()
    cases.add_timeline(
        store,
        TimelineEntry(
            case_id=answer.case_id,
            what="feedback_received",
            key="feedback:answer",
            detail={"score": answer.score, "with_comment": bool(answer.comment)},
        ),
    )
    return True


def closed(store: Store, end: FeedbackClosed) -> None:
    """The request ended without a score (no answer within the window, an opt-out)."""
    with store.session() as s:
        row = s.get(Feedback, end.case_id)
        if row is not None and row.score is None:
            row.status = end.status


def open_for_case(s: Session, case_id: str, now: datetime | None = None) -> Feedback | None:
    row = s.get(Feedback, case_id)
    if row is None or row.status != "asked" or row.expires_at <= (now or utcnow()):
        return None
    return row


def for_case(store: Store, case_id: str) -> Feedback | None:
    with store.session() as s:
        return s.get(Feedback, case_id)


def answered_since(s: Session, since: datetime) -> list[tuple[int, str | None, datetime]]:
    """Every answer since `since`, newest first: (score, comment as the patient wrote it, at)."""
    rows = s.execute(
        select(Feedback.score, Feedback.comment, Feedback.answered_at)
        .where(Feedback.score.is_not(None), Feedback.answered_at >= since)
        .order_by(Feedback.answered_at.desc())
    ).all()
    return [(int(score), comment, at) for score, comment, at in rows if score is not None and at is not None]


def counts_by_score(s: Session) -> dict[str, int]:
    """How many answers gave each score (for /metrics)."""
    rows = s.execute(
        select(Feedback.score, func.count()).where(Feedback.score.is_not(None)).group_by(Feedback.score)
    ).all()
    return {str(score): int(n) for score, n in rows}
