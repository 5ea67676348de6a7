"""Which open question a patient's reply answers (domain/conversation.py): the cases from issue 17, then
properties over random interleavings of offers, check-in prompts, rating requests and replies."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.conversation import Fit, Question, QuestionKind, Route, Routed, fit, route
from domain.replies import Intent, understand

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def offer(minutes_ago: int, choices: int = 3, case: str = "case-offer") -> Question:
    return Question(
        QuestionKind.OFFER, f"bc-{case}", case, NOW - timedelta(minutes=minutes_ago), None, choices
    )


def prompt(minutes_ago: int, listening_for: int = 60) -> Question:
    asked = NOW - timedelta(minutes=minutes_ago)
    return Question(
        QuestionKind.CHECKIN_PROMPT, "checkin-appt-1", None, asked, asked + timedelta(minutes=listening_for)
    )


def rating(minutes_ago: int, case: str = "case-rated") -> Question:
    asked = NOW - timedelta(minutes=minutes_ago)
    return Question(QuestionKind.RATING, f"feedback-{case}", case, asked, asked + timedelta(hours=24))


def test_a_choice_goes_to_the_offer_even_when_a_check_in_prompt_is_newer() -> None:
    routed = route("1", [offer(30), prompt(5)], NOW)
    assert routed.route is Route.QUESTION and routed.question == offer(30)
    assert routed.understood.choice == 1


def test_trouble_words_go_to_the_listening_check_in_prompt_not_to_the_open_offer() -> None:
    routed = route("de kiosk weigert mijn verzekeringspas", [offer(30), prompt(5)], NOW)
    assert routed.question == prompt(5)


def test_a_score_with_words_goes_to_the_rating_request_not_to_an_older_check_in_prompt() -> None:
    routed = route("5 very kind", [prompt(90, listening_for=120), rating(10)], NOW)
    assert routed.question == rating(10)


def test_a_score_while_an_offer_is_open_is_never_a_rating() -> None:
    assert route("2", [offer(30), rating(10)], NOW).question == offer(30)  # the offer's choice
    routed = route("5", [offer(30, choices=3), rating(10)], NOW)  # not offered, and not a score now
    assert routed.route is Route.PERSON


def test_a_choice_while_two_offers_are_open_goes_to_a_person() -> None:
    routed = route("1", [offer(30, case="a"), offer(20, case="b")], NOW)
    assert routed.route is Route.PERSON and "two offers" in routed.why


def test_a_request_for_a_person_goes_to_the_newest_question_that_takes_words() -> None:
    assert route("call me please", [offer(30), prompt(5)], NOW).question == prompt(5)
    assert route("call me please", [prompt(50), offer(30)], NOW).question == offer(30)
    assert route("call me please", [rating(5)], NOW).route is Route.PERSON  # a rating takes scores only


def test_words_that_fit_nothing_go_to_a_person() -> None:
    assert route("can I come Thursday instead?", [offer(30)], NOW).route is Route.PERSON
    assert route("thank you", [rating(30)], NOW).route is Route.PERSON
    assert route("hello?", [], NOW).route is Route.PERSON
    assert route("", [prompt(5)], NOW).route is Route.PERSON


def test_a_closed_question_takes_nothing() -> None:
    expired = prompt(120, listening_for=60)
    assert route("the kiosk is broken", [expired], NOW).route is Route.PERSON


def test_stop_and_start_are_the_patients_word_not_a_cases_answer() -> None:
    stopped = route("STOP", [offer(30), rating(5)], NOW)
    assert stopped.route is Route.QUESTION and stopped.question == rating(5)  # the newest stops waiting
    assert stopped.understood.intent is Intent.OPT_OUT
    assert route("stop", [], NOW).route is Route.CONSENT
    assert route("START", [offer(30)], NOW).route is Route.CONSENT


# ---------------------------------------------------------------------- properties

REPLIES = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "7",
    "0",
    "5 very kind",
    "1 nobody told me",
    "STOP",
    "START",
    "call me",
    "ok",
    "no",
    "de kiosk weigert mijn pas",
    "the form will not load",
    "",
    "can I come Thursday?",
]


@st.composite
def questions(draw: st.DrawFn) -> list[Question]:
    made: list[Question] = []
    for n in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(list(QuestionKind)))
        asked = NOW - timedelta(minutes=draw(st.integers(0, 600)))
        lasts = draw(st.one_of(st.none(), st.integers(1, 1440)))
        until = None if lasts is None else asked + timedelta(minutes=lasts)
        choices = draw(st.integers(1, 3)) if kind is QuestionKind.OFFER else 0
        made.append(Question(kind, f"wf-{n}", f"case-{n}", asked, until, choices))
    return made


def assert_routed_as_promised(text: str, asked: list[Question], now: datetime) -> Routed:
    """Route `text` and check what CONTRACT.md promises of it; the routing, for more checks."""
    routed = route(text, asked, now)
    open_now = [q for q in asked if q.is_open(now)]
    intent = understand(text).intent
    offer_open = any(q.kind is QuestionKind.OFFER for q in open_now)
    # no reply is dropped: it answers a question, or goes to a person, or is the patient's START
    if routed.route is Route.CONSENT:
        assert intent in (Intent.OPT_IN, Intent.OPT_OUT) and (intent is Intent.OPT_IN or not open_now)
    elif routed.route is Route.QUESTION:
        question = routed.question
        assert question is not None and question in open_now  # never a question that has closed
        assert intent is Intent.OPT_OUT or fit(question, text, routed.understood, offer_open) > Fit.NONE
        if intent is Intent.CHOICE:
            # a choice never reaches a case that did not offer it: an offer with that option, or (no offer
            # open) the rating request it scores
            assert routed.understood.choice is not None
            if question.kind is QuestionKind.OFFER:
                assert routed.understood.choice <= question.choices
            else:
                assert question.kind is QuestionKind.RATING and not offer_open
    else:
        assert routed.route is Route.PERSON
    # a reply that fits nothing open goes to a person
    fits = [fit(q, text, routed.understood, offer_open) for q in open_now]
    if intent not in (Intent.OPT_IN, Intent.OPT_OUT) and all(f is Fit.NONE for f in fits):
        assert routed.route is Route.PERSON
    return routed


@settings(max_examples=400, deadline=None)
@given(questions(), st.sampled_from(REPLIES) | st.text(max_size=30), st.randoms(use_true_random=False))
def test_every_reply_reaches_a_question_that_takes_it_or_a_person(
    asked: list[Question], text: str, shuffler: random.Random
) -> None:
    routed = assert_routed_as_promised(text, asked, NOW)
    # the order the store lists the questions in changes nothing
    shuffled = list(asked)
    shuffler.shuffle(shuffled)
    assert route(text, shuffled, NOW) == routed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ask", "reply"]), st.integers(0, 5)), max_size=30))
def test_an_interleaving_of_questions_and_replies_loses_no_reply(steps: list[tuple[str, int]]) -> None:
    """Questions asked and replies coming in over an afternoon; an answered offer or rating closes."""
    clock = NOW - timedelta(hours=6)
    asked: list[Question] = []
    for n, (what, pick) in enumerate(steps):
        clock += timedelta(minutes=7)
        if what == "ask":
            kind = list(QuestionKind)[pick % 3]
            until = clock + timedelta(hours=1) if kind is QuestionKind.CHECKIN_PROMPT else None
            asked.append(
                Question(kind, f"wf-{n}", f"case-{n}", clock, until, 3 if kind.value == "offer" else 0)
            )
            continue
        text = REPLIES[(pick * 5 + n) % len(REPLIES)]
        routed = assert_routed_as_promised(text, asked, clock)
        if routed.route is Route.QUESTION and routed.question is not None:
            answered = routed.question
            if (
                answered.kind is not QuestionKind.CHECKIN_PROMPT
                and routed.understood.intent is not Intent.PERSON
            ):
                asked.remove(answered)  # the offer was answered, the rating given: that question closes
