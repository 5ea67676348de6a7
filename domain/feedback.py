"""Patient feedback: the request to rate a resolved case ("reply 1-5") and what a reply says. Pure."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field

from domain.base import CaseKind, Model
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
