"""The console's timeline in plain words: every step the system writes has a sentence of its own, and no
internal key (`rep-will-call`, `checkin_trouble`) reaches the rep."""

from __future__ import annotations

import re

import pytest

from web.timeline import describe, lines, live_call, moment

# every `what` the workflows, activities and store write on a case's timeline
STEPS = [
    "case_opened", "needs_rep", "unreachable", "waiting_patient", "awaiting_approval", "case_closed",
    "escalation_opened", "escalation_claimed", "escalation_released", "escalation_reassigned",
    "escalation_breached", "escalation_expired", "escalation_resolved", "compensation_approved",
    "compensation_denial_decided", "compensation_pending_approval", "compensation_issued",
    "compensation_denied", "compensation_failed", "staff_notification_failed", "sms_sent", "email_sent",
    "call_placed", "sms_withheld", "voice_withheld", "sms_failed", "voice_failed", "email_failed",
    "delivery_failed", "provider_unavailable", "outreach_deferred", "alternatives_found", "rebooked",
    "slot_taken_meanwhile", "ticket_linked", "ticket_synced", "case_failed", "case_retried",
    "case_retry_failed",
    "rep_call_placed", "bridge_rep_ringing", "bridge_rep_answered", "bridge_rep_missed",
    "bridge_patient_ringing", "bridge_patient_answered", "bridge_patient_missed", "bridge_ended",
    "reply_received", "sms_skipped", "sms_resent", "email_resent", "feedback_deferred", "feedback_not_asked",
    "rep_rung", "offer_missed", "offer_accepted", "patient_not_reached", "patient_text_failed",
]  # fmt: skip

DETAIL = {
    "reason": "checkin_trouble",
    "message": "rep-will-call",
    "by": "rita",
    "level": "on_call",
    "to_level": "on_call",
    "outcome": "resolved_by_rep",
    "root_cause": "practice_calendar_out_of_sync",
    "intent": "opt_out",
    "channel": "sms",
    "status": "no-answer",
    "failure": "workflow_failed",
    "until": "2026-11-24T07:00:00+00:00",
    "patient_timezone": "Europe/Amsterdam",
    "kind": "checkin_trouble",
    "rep": "anna",
    "why": "timed_out",
    "rep_set_away": True,
}


# steps whose `reason` is a person's or a provider's own words (or the budget's sentence), shown as written
FREE_TEXT = {"compensation_denial_decided", "compensation_denied", "sms_failed", "voice_failed",
             "email_failed", "case_retry_failed", "compensation_pending_approval"}  # fmt: skip


@pytest.mark.parametrize("what", STEPS)
def test_every_step_reads_as_words(what: str) -> None:
    detail = {**DETAIL, "reason": "the number is not in service"} if what in FREE_TEXT else DETAIL
    title, said = describe(what, detail, "America/New_York")
    said = f"{title} {said}"
    assert title and not title[0].islower() and "_" not in title, title
    assert not re.search(r"[a-z]+_[a-z_]+", said), said  # no snake_case key
    assert "rep-will-call" not in said


def test_the_call_duration_and_the_date_format() -> None:
    assert describe("bridge_ended", {"duration": 130})[0] == "Call ended (2 min 10 s)"
    assert describe("bridge_ended", {"duration": 45})[0] == "Call ended (45 s)"
    assert moment("2026-11-24T15:00:00+00:00", "America/New_York") == "Tue 24 Nov 10:00 EST"
    assert moment("2026-11-23T23:06:09+00:00") == "Mon 23 Nov 23:06 UTC"
    # pressing Call patient is told by the call itself ("Calling the rep"), not as a second line
    shown = lines(
        [
            {"at": "2026-11-23T23:06:00+00:00", "what": "rep_call_placed", "detail": {"to": "+1212"}},
            {"at": "2026-11-23T23:06:01+00:00", "what": "call_requested", "detail": {"by": "rita"}},
        ]
    )
    assert [line.title for line in shown] == ["Calling the rep"]


def test_the_live_call_is_the_newest_call_step_that_has_not_ended() -> None:
    def step(what: str, at: str, **detail: object) -> dict[str, object]:
        return {"what": what, "at": at, "detail": detail}

    rung = [step("escalation_opened", "t0"), step("rep_rung", "t1", to="+3120****0001")]
    assert live_call(rung) is not None and live_call(rung).state == "ringing a rep"  # type: ignore[union-attr]
    missed = [*rung, step("offer_missed", "t2", rep="anna", why="timed_out")]
    assert live_call(missed) is None
    taken = [*missed, step("rep_rung", "t3"), step("offer_accepted", "t4", by="bob")]
    talking = [*taken, step("bridge_patient_ringing", "t5"), step("bridge_patient_answered", "t6")]
    now = live_call(talking)
    assert now is not None and (now.state, now.since, now.rep) == (
        "connected: the rep and the patient are talking",
        "t6",
        "bob",
    )
    assert live_call([*talking, step("bridge_ended", "t7", duration=95)]) is None
    assert live_call([*taken, step("patient_not_reached", "t8", by="bob")]) is None
