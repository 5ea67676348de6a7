"""domain.replies.classify: what a patient meant, in English and Dutch."""

from __future__ import annotations

import pytest

from domain.replies import Intent, Understood, classify
from tests.support.settings import ROOT

CASES: list[tuple[str, int, Understood]] = [
    # numbered choices
    ("1", 3, Understood(Intent.CHOICE, 1)),
    ("2", 3, Understood(Intent.CHOICE, 2)),
    ("3", 3, Understood(Intent.CHOICE, 3)),
    (" 2 ", 3, Understood(Intent.CHOICE, 2)),
    ("3.", 3, Understood(Intent.CHOICE, 3)),
    ("4", 3, Understood(Intent.UNKNOWN)),
    ("12", 3, Understood(Intent.UNKNOWN)),
    ("1", 0, Understood(Intent.UNKNOWN)),  # nothing was offered
    ("2", 1, Understood(Intent.UNKNOWN)),
    ("٣", 3, Understood(Intent.CHOICE, 3)),  # Arabic-Indic digits are digits
    ("²", 3, Understood(Intent.UNKNOWN)),  # a superscript is not an answer (and must not raise)
    ("①", 3, Understood(Intent.UNKNOWN)),
    ("1" * 5000, 3, Understood(Intent.UNKNOWN)),  # past int()'s digit limit: unknown, not an error
    ("0000", 3, Understood(Intent.PERSON)),
    # a person
    ("0", 3, Understood(Intent.PERSON)),
    ("0", 0, Understood(Intent.PERSON)),
    ("call me", 3, Understood(Intent.PERSON)),
    ("Call me please", 3, Understood(Intent.PERSON)),
    ("Can I talk to a person?", 3, Understood(Intent.PERSON)),
    ("Bel me alstublieft", 3, Understood(Intent.PERSON)),
    ("bel mij", 3, Understood(Intent.PERSON)),
    ("Ik wil een medewerker spreken", 3, Understood(Intent.PERSON)),
    # opt-out
    ("STOP", 3, Understood(Intent.OPT_OUT)),
    ("stop", 3, Understood(Intent.OPT_OUT)),
    ("Stop.", 3, Understood(Intent.OPT_OUT)),
    ("Unsubscribe", 3, Understood(Intent.OPT_OUT)),
    ("STOPALL", 3, Understood(Intent.OPT_OUT)),
    ("please stop texting me", 3, Understood(Intent.OPT_OUT)),
    ("please stop", 3, Understood(Intent.OPT_OUT)),
    ("Stop please!", 3, Understood(Intent.OPT_OUT)),
    ("don't text me again", 3, Understood(Intent.OPT_OUT)),
    ("Leave me alone", 3, Understood(Intent.OPT_OUT)),
    ("niet meer sms'en aub", 3, Understood(Intent.OPT_OUT)),
    ("Stoppen", 3, Understood(Intent.OPT_OUT)),
    ("stop aub", 3, Understood(Intent.OPT_OUT)),
    ("Laat me met rust", 3, Understood(Intent.OPT_OUT)),
    ("stop sturen aub", 3, Understood(Intent.OPT_OUT)),
    ("Stuur me geen berichten meer", 3, Understood(Intent.OPT_OUT)),
    ("geen sms meer graag", 3, Understood(Intent.OPT_OUT)),
    ("hou op!", 3, Understood(Intent.OPT_OUT)),
    ("please opt me out", 3, Understood(Intent.OPT_OUT)),
    ("stop contacting me", 3, Understood(Intent.OPT_OUT)),
    ("I'm waiting at the bus stop", 3, Understood(Intent.UNKNOWN)),
    # opt back in
    ("START", 3, Understood(Intent.OPT_IN)),
    ("start", 0, Understood(Intent.OPT_IN)),
    ("UNSTOP", 0, Understood(Intent.OPT_IN)),
    # decline
    ("no", 3, Understood(Intent.DECLINE)),
    ("No.", 3, Understood(Intent.DECLINE)),
    ("no thanks", 3, Understood(Intent.DECLINE)),
    ("nee", 3, Understood(Intent.DECLINE)),
    ("Nee bedankt", 3, Understood(Intent.DECLINE)),
    # all good
    ("ok", 0, Understood(Intent.ALL_GOOD)),
    ("OK!", 0, Understood(Intent.ALL_GOOD)),
    ("all good", 0, Understood(Intent.ALL_GOOD)),
    ("alles goed", 0, Understood(Intent.ALL_GOOD)),
    ("Prima", 0, Understood(Intent.ALL_GOOD)),
    # not understood
    ("", 3, Understood(Intent.UNKNOWN)),
    ("   ", 3, Understood(Intent.UNKNOWN)),
    ("blah", 3, Understood(Intent.UNKNOWN)),
    ("the form will not load", 0, Understood(Intent.UNKNOWN)),
    ("I can't stop coughing", 3, Understood(Intent.UNKNOWN)),
    ("stop 2", 3, Understood(Intent.UNKNOWN)),
]


@pytest.mark.parametrize(("text", "choices", "expected"), CASES, ids=[repr(c[0][:12]) for c in CASES])
def test_classify(text: str, choices: int, expected: Understood) -> None:
    assert classify(text, choices=choices) == expected


def test_choice_carries_its_number_and_others_none() -> None:
    assert classify("2", choices=3).choice == 2
    assert classify("0", choices=3).choice is None
    assert classify("STOP", choices=3).choice is None


def test_default_is_no_choices() -> None:
    assert classify("1") == Understood(Intent.UNKNOWN)
    assert classify("0") == Understood(Intent.PERSON)


def test_opt_out_wins_over_a_request_for_a_person() -> None:
    assert classify("stop calling me", choices=3).intent is Intent.OPT_OUT
    assert classify("niet meer bellen", choices=3).intent is Intent.OPT_OUT


def test_what_a_reply_says_about_consent() -> None:
    from domain.replies import ConsentChange, consent_change

    assert consent_change("STOP") == ConsentChange(opted_out=True, channels=("sms",))
    assert consent_change("stop calling me") == ConsentChange(opted_out=True, channels=("sms", "voice"))
    assert consent_change("niet meer bellen") == ConsentChange(opted_out=True, channels=("sms", "voice"))
    assert consent_change("START") == ConsentChange(opted_out=False, channels=("sms", "voice"))
    assert consent_change("2") is None


@pytest.mark.parametrize(("text", "choices", "expected"), CASES, ids=[repr(c[0][:12]) for c in CASES])
def test_understood_at_ingress_then_checked_against_the_offer_is_the_same(
    text: str, choices: int, expected: Understood
) -> None:
    """The Dispatcher classifies once (any digit 1-9 is a choice); the workflow checks the number against
    the options it offered. Together they decide exactly what classifying with the offer did."""
    from datetime import UTC, datetime

    from domain.messaging import Channel, PatientReply
    from domain.replies import understand

    understood = understand(text)
    reply = PatientReply(
        channel=Channel.SMS,
        intent=understood.intent,
        choice=understood.choice,
        received_at=datetime.now(UTC),
        provider_ref="SM1",
    )
    assert reply.understood(choices) == expected
    assert "text" not in reply.model_dump()  # the signal carries no words of the patient's


def test_every_digit_is_a_choice_at_ingress() -> None:
    from domain.replies import MAX_CHOICES, understand

    assert [understand(str(n)) for n in range(1, MAX_CHOICES + 1)] == [
        Understood(Intent.CHOICE, n) for n in range(1, MAX_CHOICES + 1)
    ]
    assert understand("10") == Understood(Intent.UNKNOWN)
    assert understand("0") == Understood(Intent.PERSON)


def test_no_workflow_classifies_text() -> None:
    """Workflows act on the intent the signal carries: a keyword list change cannot change a replay."""

    workflows = ROOT / "workflows"
    for module in workflows.glob("*.py"):
        assert "classify" not in module.read_text(), module.name
