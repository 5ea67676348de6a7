"""Patient feedback: the request to rate a resolved case ("reply 1-5"), when it may go, and what a reply
says. Pure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from domain import contact_rules
from domain.base import CaseKind, Model
from domain.contact_rules import ContactRules, Conversation
from domain.events import Patient
from domain.messaging import Channel
from domain.policy import RecoveryPolicy
from domain.replies import Intent, classify

LOW_SCORE = 2  # a score at or below this opens a follow-up escalation ("patient unhappy")
MAX_COMMENT = 1000

# a score is a digit 1-5 at the very start, not followed by another digit ("10" and "45" are no score)
_SCORE = re.compile(r"^\s*([1-5])(?![0-9])")
_SEPARATORS = " \t\r\n-:.,;!/*)"


class Parsed(Model):
    score: int | None = None
    comment: str = ""
    opt_out: bool = False


def parse(text: str) -> Parsed:
    """A reply that starts with a digit 1-5 is the score; the rest of it (separators trimmed) is the
    comment. STOP and its synonyms are an opt-out. Anything else is not a score."""
    match = _SCORE.match(text)
    if match:
        comment = text[match.end() :].lstrip(_SEPARATORS).strip()
        comment = " ".join(comment.split())[:MAX_COMMENT]
        return Parsed(score=int(match.group(1)), comment=comment)
    return Parsed(opt_out=classify(text).intent is Intent.OPT_OUT)


def low(score: int) -> bool:
    return score <= LOW_SCORE


class FeedbackInput(Model):
    """What a resolved case hands its FeedbackRequest child."""

    case_id: str
    kind: CaseKind
    appointment_id: str
    patient: Patient
    practice_name: str
    language: str
    policy: RecoveryPolicy
    public_base_url: str
    sms_works: bool = True  # false: the patient opted out of texts, or their number takes none


class FeedbackReply(Model):
    """A patient's answer to the request, as ingress read it (signal `feedback_replied`)."""

    score: int | None = Field(default=None, ge=1, le=5)
    comment: str = ""
    opt_out: bool = False
    channel: Channel = Channel.SMS
    received_at: datetime | None = None
    provider_ref: str | None = None


class FeedbackAsked(Model):
    case_id: str
    workflow_id: str
    channel: Channel
    address: str
    language: str
    asked_at: datetime
    expires_at: datetime


class FeedbackAnswer(Model):
    case_id: str
    score: int = Field(ge=1, le=5)
    comment: str = ""
    at: datetime
    channel: Channel = Channel.SMS


class FeedbackClosed(Model):
    case_id: str
    status: str  # expired | opted_out | not_sent


# ---------------------------------------------------------------------- when the request may go


class PatientCase(Model):
    """Another case of the same patient, as the store sees it when a rating request asks."""

    case_id: str
    status: str
    closed_at: datetime | None = None
    rating_asked_at: datetime | None = None  # a rating request went out for it, then


class FeedbackOutlookRequest(Model):
    case_id: str
    patient_id: str
    addresses: tuple[str, ...]
    since: datetime  # conversations and rating requests from then on (a week back is what the caps need)


class FeedbackOutlook(Model):
    """What the store says about the patient when a case's rating request is due."""

    closed_at: datetime | None = None  # this case's close
    cases: tuple[PatientCase, ...] = ()  # their other cases
    conversations: tuple[Conversation, ...] = ()  # started with them since `since`, any case but this one


class Verdict(StrEnum):
    SEND = "send"
    WAIT = "wait"
    DROP = "drop"


class FeedbackDecision(Model):
    verdict: Verdict
    until: datetime | None = None  # WAIT: ask again then
    # SEND: "clear"; WAIT: "case_in_progress" | "rated_today" | "contact_rules"; DROP: "superseded" |
    # "gave_up" (it could not go before `give_up_at`)
    reason: str
    superseded_by: str | None = None  # DROP "superseded": the later case whose request asks instead
    merged: tuple[str, ...] = ()  # SEND: the earlier resolved cases this one request stands for


def _order(case_id: str, closed_at: datetime | None, now: datetime) -> tuple[datetime, str]:
    return (closed_at or now, case_id)


def decide(
    now: datetime,
    zone: str,
    case_id: str,
    outlook: FeedbackOutlook,
    *,
    give_up_at: datetime,
    rules: ContactRules = ContactRules(),
    recheck: timedelta = timedelta(minutes=30),
) -> FeedbackDecision:
    """May this case's rating request go now, wait (until when), or be dropped?

    - Superseded: another of the patient's cases closed `resolved` after this one. The request is for the
      latest case; the earlier ones do not ask (cases that close together get one request, and its
      answer is stored on the latest case only).
    - Another case of theirs in progress: wait (ask again every `recheck`) until none is; that case may
      yet close resolved and supersede this one.
    - At most one rating request a day per patient: wait until a day after the last one.
    - The contact rules: quiet hours always, and the caps over the conversations started with the patient,
      except the ones this request closes (this case's, and those of the resolved cases it stands for:
      closed since the patient was last asked to rate, without a request of their own). A rating request
      is not news about an appointment, and answering it is no reason to skip the caps.
    - Whatever would wait past `give_up_at` (the reply window after it was due) is dropped quietly."""
    mine = _order(case_id, outlook.closed_at, now)
    later = [
        c
        for c in outlook.cases
        if c.status == "resolved" and c.closed_at is not None and _order(c.case_id, c.closed_at, now) > mine
    ]
    if later:
        latest = max(later, key=lambda c: _order(c.case_id, c.closed_at, now))
        return FeedbackDecision(verdict=Verdict.DROP, reason="superseded", superseded_by=latest.case_id)

    asked = [c.rating_asked_at for c in outlook.cases if c.rating_asked_at is not None]
    last_asked = max(asked, default=None)
    merged = tuple(
        c.case_id
        for c in outlook.cases
        if c.status == "resolved"
        and c.rating_asked_at is None
        and c.closed_at is not None
        and (last_asked is None or c.closed_at > last_asked)
    )
    waits: list[tuple[datetime, str]] = []
    if any(c.status in contact_rules.IN_PROGRESS for c in outlook.cases):
        waits.append((min(now + recheck, give_up_at), "case_in_progress"))
    if last_asked is not None and last_asked + contact_rules.DAY > now:
        waits.append((last_asked + contact_rules.DAY, "rated_today"))
    closes = {case_id, *merged}
    others = sorted(c.started_at for c in outlook.conversations if c.case_id not in closes)
    allowed = contact_rules.next_allowed(now, zone, others, rules=rules)
    if allowed > now:
        waits.append((allowed, "contact_rules"))
    if not waits:
        return FeedbackDecision(verdict=Verdict.SEND, reason="clear", merged=merged)
    until, reason = max(waits)
    if until > give_up_at or now >= give_up_at:
        return FeedbackDecision(verdict=Verdict.DROP, reason="gave_up")
    return FeedbackDecision(verdict=Verdict.WAIT, until=until, reason=reason)
