"""One conversation per patient: which open question a reply answers. Pure: no I/O, no clock.

Everything makeright sends that expects an answer is a question on the patient's conversation: an offer
waiting for a choice, a check-in prompt that is still listening, a request to rate a resolved case. A
reply answers the newest open question that can take it, preferring a question the reply is the very
answer to (a choice for an offer, a score for a rating request) over one that takes any words (the
check-in prompt, where any reply but "all good" is trouble). What fits no question, or is a choice while
two offers are open, goes to a person with the conversation shown: no reply is dropped, and none reaches
a case that would misread it. STOP and START are the patient's word on being contacted: recorded for the
patient (consent binds every case at the moment of sending), and STOP is also told to the newest open
question so it stops waiting for an answer that will not come by text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from domain.feedback import parse as parse_score
from domain.replies import Intent, Understood, understand


class QuestionKind(StrEnum):
    OFFER = "offer"  # a booking-conflict case offered numbered slots
    CHECKIN_PROMPT = "checkin_prompt"  # "any trouble checking in?", listening until its window closes
    RATING = "rating"  # "how did we do? reply 1-5"


@dataclass(frozen=True)
class Question:
    """An open question on a patient's conversation, and where its answer goes."""

    kind: QuestionKind
    workflow_id: str  # the workflow that waits for the answer
    case_id: str | None  # the case it is about (a check-in prompt has none until trouble opens one)
    asked_at: datetime
    open_until: datetime | None = None  # None: open until its workflow closes it
    choices: int = 0  # an offer's numbered options
    appointment_id: str | None = None  # the appointment it is about (kept with the answer)

    def is_open(self, now: datetime) -> bool:
        return self.open_until is None or now < self.open_until


class Route(StrEnum):
    QUESTION = "question"  # answers `question`
    PERSON = "person"  # fits no open question, or is ambiguous: a person reads it with the conversation
    CONSENT = "consent"  # START: the patient's word on being contacted, for no question


class Fit(IntEnum):
    NONE = 0
    ANY_WORDS = 1  # the question takes any words (a check-in prompt: trouble), or a request for a person
    ANSWER = 2  # the reply is this question's very answer (a choice offered, a score asked for)


@dataclass(frozen=True)
class Routed:
    route: Route
    understood: Understood
    question: Question | None = None
    why: str = ""


def fit(question: Question, text: str, understood: Understood, offer_open: bool) -> Fit:
    """How well a reply fits one open question."""
    intent = understood.intent
    if question.kind is QuestionKind.OFFER:
        if intent is Intent.CHOICE:
            return (
                Fit.ANSWER
                if understood.choice is not None and understood.choice <= question.choices
                else Fit.NONE
            )
        if intent is Intent.DECLINE:
            return Fit.ANSWER
        return Fit.ANY_WORDS if intent is Intent.PERSON else Fit.NONE
    if question.kind is QuestionKind.RATING:
        # a digit 1-5 while an offer is open is that offer's choice (or nothing), never a score
        return Fit.ANSWER if not offer_open and parse_score(text).score is not None else Fit.NONE
    # a check-in prompt: "all good" is its answer; any other words are trouble; a bare number is not
    # words about paperwork (a choice sent late, a score): it takes no numbers
    if intent is Intent.ALL_GOOD:
        return Fit.ANSWER
    if intent is Intent.CHOICE or not text.strip() or text.strip().isdecimal():
        return Fit.NONE
    return Fit.ANY_WORDS


def route(text: str, questions: Sequence[Question], now: datetime) -> Routed:
    """Which open question `text` answers, or that it goes to a person (or is the patient's consent)."""
    understood = understand(text)
    open_now = open_newest_first(questions, now)
    if understood.intent is Intent.OPT_IN:
        return Routed(Route.CONSENT, understood, why="START: the patient may be texted again")
    if understood.intent is Intent.OPT_OUT:
        if open_now:
            return Routed(Route.QUESTION, understood, open_now[0], "STOP: the newest open question stops")
        return Routed(Route.CONSENT, understood, why="STOP: no open question")
    offer_open = any(q.kind is QuestionKind.OFFER for q in open_now)
    fits = [(fit(q, text, understood, offer_open), q) for q in open_now]
    best = max((f for f, _ in fits), default=Fit.NONE)
    if best is Fit.NONE:
        return Routed(Route.PERSON, understood, why="fits no open question")
    takers = [q for f, q in fits if f is best]  # newest first
    if understood.intent is Intent.CHOICE and len([q for q in takers if q.kind is QuestionKind.OFFER]) > 1:
        return Routed(Route.PERSON, understood, why="a choice while two offers are open")
    chosen = takers[0]
    return Routed(Route.QUESTION, understood, chosen, f"answers the newest open {chosen.kind.value}")


def open_newest_first(questions: Sequence[Question], now: datetime) -> list[Question]:
    """The questions still open at `now`, newest first (the order a reply looks for its question in, and
    what the conversation shows)."""
    return sorted(
        (q for q in questions if q.is_open(now)), key=lambda q: (q.asked_at, q.workflow_id), reverse=True
    )
