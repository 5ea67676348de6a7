"""The patient's conversation in the store: intake routes each SMS to the question it answers (issue 17's
first two trips, replayed on the store), and the conversation shows the open questions and every message."""

from __future__ import annotations

from datetime import timedelta

from domain import ids
from domain.checkin import WatchRecord, WatchStatus
from domain.feedback import FeedbackAsked
from domain.messaging import Channel
from store import checkin, conversation, feedback, inbox
from store.db import Store
from store.models import ReceivedEvent, utcnow
from tests.support.cases import open_case, waiting_for_a_choice

PHONE = "+31612345678"
_sids = iter(range(10_000))


def sms(store: Store, text: str) -> ReceivedEvent:
    sid = f"SM{next(_sids):032d}"
    row_id, _, _ = inbox.accept_patient_answer(
        store, "twilio_sms", sid, PHONE, text, None, {"channel": "sms", "text": text}
    )
    with store.session() as s:
        row = s.get(ReceivedEvent, row_id)
        assert row is not None
        return row


def listening_watch(store: Store, appointment_id: str = "appt-watch") -> str:
    now = utcnow()
    workflow_id = ids.checkin_watch_workflow_id(appointment_id)
    checkin.record_watch(
        store,
        WatchRecord(
            appointment_id=appointment_id,
            workflow_id=workflow_id,
            patient_id="pat-1",
            patient_phone=PHONE,
            status=WatchStatus.LISTENING,
            slot_start=now,
            prompt_at=now,
            listen_until=now + timedelta(hours=1),
        ),
    )
    return workflow_id


def test_each_reply_answers_the_question_it_fits_whatever_else_is_open(store: Store) -> None:
    older = open_case(store)
    newer = open_case(store)
    waiting_for_a_choice(store, older.case_id)  # Ada's first conflict waits for her choice
    watch = listening_watch(store)  # then the check-in prompt arrived

    choice = sms(store, "1")
    assert (choice.workflow_id, choice.status) == (
        older.workflow_id,
        "pending",
    )  # the offer, not the newer case
    trouble = sms(store, "de kiosk weigert mijn verzekeringspas")
    assert (trouble.workflow_id, trouble.appointment_id) == (watch, "appt-watch")  # the listening prompt

    shown = conversation.for_phone(store, PHONE)
    assert [q.kind.value for q in shown.questions] == ["checkin_prompt", "offer"]  # newest first
    assert [(m.body, m.answered) for m in shown.messages] == [
        ("de kiosk weigert mijn verzekeringspas", "checkin_prompt"),
        ("1", "offer"),
    ]
    assert newer.case_id not in {m.case_id for m in shown.messages}


def test_a_rating_is_taken_by_the_rating_request_not_by_the_check_in_prompt(store: Store) -> None:
    rated = open_case(store)
    listening_watch(store)
    now = utcnow()
    feedback.asked(
        store,
        FeedbackAsked(
            case_id=rated.case_id,
            workflow_id=ids.feedback_workflow_id(rated.case_id),
            channel=Channel.SMS,
            address=PHONE,
            language="nl",
            asked_at=now + timedelta(seconds=1),  # asked after the check-in prompt went out
            expires_at=now + timedelta(days=1),
        ),
    )
    row = sms(store, "5 very kind")
    assert (row.workflow_id, row.case_id) == (ids.feedback_workflow_id(rated.case_id), rated.case_id)


def test_what_fits_no_question_goes_to_a_person_on_the_newest_case_and_start_to_nobody(store: Store) -> None:
    open_case(store)
    newest = open_case(store)  # open, but it has asked nothing yet
    first = sms(store, "can I come Thursday instead?")
    second = sms(store, "hello?")
    assert first.workflow_id == ids.reply_escalation_id(newest.case_id, 1)
    assert second.workflow_id == ids.reply_escalation_id(newest.case_id, 2)  # one escalation per reply
    assert first.parsed["route"] == "person" and first.status == "pending"
    start = sms(store, "START")
    assert (start.status, start.workflow_id) == ("consent", None)  # recorded, for no case
    assert [m.answered for m in conversation.for_phone(store, PHONE).messages] == [
        "consent",
        "person",
        "person",
    ]


def test_a_stranger_writing_in_is_kept_unrouted_on_the_conversation(store: Store) -> None:
    row = sms(store, "who is this?")
    assert (row.status, row.workflow_id) == ("unrouted", None)
    (kept,) = conversation.for_phone(store, PHONE).messages
    assert kept.answered == "person" and "no case" in (kept.why or "")


def test_an_answer_faster_than_the_cases_waiting_status_still_finds_the_offer(store: Store) -> None:
    """The offer is kept just before it is sent; the case says it waits just after. A patient who answers
    in between (a fast thumb, a busy worker) answers that offer, not a person."""
    from store.models import Case

    case = open_case(store)
    waiting_for_a_choice(store, case.case_id)
    with store.session() as s:
        row = s.get(Case, case.case_id)
        assert row is not None
        row.status = "open"  # the offer is out, the status change not yet written
    assert sms(store, "2").workflow_id == case.workflow_id
