"""When a case's rating request may go (`domain.feedback.decide`): pure, from what the store says about
the patient's other cases, their rating requests and the conversations started with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.contact_rules import Conversation
from domain.feedback import FeedbackDecision, FeedbackOutlook, PatientCase, Verdict, decide

ZONE = "Europe/Amsterdam"
NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 12:00 in Amsterdam
WINDOW = timedelta(days=1)


def resolved(case_id: str, closed: datetime, asked: datetime | None = None) -> PatientCase:
    return PatientCase(case_id=case_id, status="resolved", closed_at=closed, rating_asked_at=asked)


def started(case_id: str, at: datetime) -> Conversation:
    return Conversation(case_id=case_id, started_at=at)


def decide_at(now: datetime, outlook: FeedbackOutlook, case_id: str = "case-3") -> FeedbackDecision:
    return decide(now, ZONE, case_id, outlook, give_up_at=now + WINDOW)


def test_one_case_closed_an_hour_ago_is_asked_at_once() -> None:
    outlook = FeedbackOutlook(
        closed_at=NOON - timedelta(hours=1), conversations=()
    )  # its own offer is not in the outlook: the request closes that conversation
    decision = decide(NOON, ZONE, "case-1", outlook, give_up_at=NOON + WINDOW)
    assert (decision.verdict, decision.reason) == (Verdict.SEND, "clear")


def test_of_cases_that_close_together_only_the_latest_asks() -> None:
    """Four cases closed within 14 minutes: the first three are superseded, the latest asks, for all."""
    closes = {f"case-{n}": NOON - timedelta(hours=1) + timedelta(minutes=5 * n) for n in range(4)}
    starts = tuple(started(case_id, at - timedelta(minutes=10)) for case_id, at in closes.items())

    def outlook_of(me: str) -> FeedbackOutlook:
        return FeedbackOutlook(
            closed_at=closes[me],
            cases=tuple(resolved(c, at) for c, at in closes.items() if c != me),
            conversations=tuple(s for s in starts if s.case_id != me),
        )

    for early in ("case-0", "case-1", "case-2"):
        decision = decide(NOON, ZONE, early, outlook_of(early), give_up_at=NOON + WINDOW)
        assert (decision.verdict, decision.reason) == (Verdict.DROP, "superseded")
        assert decision.superseded_by == "case-3"
    latest = decide(NOON, ZONE, "case-3", outlook_of("case-3"), give_up_at=NOON + WINDOW)
    # the conversations of the cases it stands for do not count against it: it closes them
    assert (latest.verdict, latest.merged) == (Verdict.SEND, ("case-0", "case-1", "case-2"))


def test_a_tie_on_the_close_goes_to_the_greater_case_id() -> None:
    outlook = FeedbackOutlook(closed_at=NOON, cases=(resolved("case-b", NOON),))
    assert decide(NOON, ZONE, "case-a", outlook, give_up_at=NOON + WINDOW).verdict is Verdict.DROP
    outlook = FeedbackOutlook(closed_at=NOON, cases=(resolved("case-a", NOON),))
    assert decide(NOON, ZONE, "case-b", outlook, give_up_at=NOON + WINDOW).verdict is Verdict.SEND


def test_while_another_case_is_in_progress_it_waits_and_asks_again() -> None:
    outlook = FeedbackOutlook(
        closed_at=NOON - timedelta(hours=1),
        cases=(PatientCase(case_id="case-4", status="waiting_patient"),),
    )
    decision = decide(NOON, ZONE, "case-3", outlook, give_up_at=NOON + WINDOW, recheck=timedelta(minutes=30))
    assert (decision.verdict, decision.reason) == (Verdict.WAIT, "case_in_progress")
    assert decision.until == NOON + timedelta(minutes=30)
    # still in progress when the window after it was due is over: it gives up quietly
    end = NOON + WINDOW
    late = decide(end, ZONE, "case-3", outlook, give_up_at=end)
    assert (late.verdict, late.reason) == (Verdict.DROP, "gave_up")
    # and the case in progress closes resolved later: that one asks, this one is superseded
    closed = FeedbackOutlook(
        closed_at=outlook.closed_at, cases=(resolved("case-4", NOON + timedelta(hours=2)),)
    )
    after = decide(NOON + timedelta(hours=2), ZONE, "case-3", closed, give_up_at=end)
    assert (after.verdict, after.superseded_by) == (Verdict.DROP, "case-4")


def test_a_case_that_failed_meanwhile_does_not_supersede() -> None:
    outlook = FeedbackOutlook(
        closed_at=NOON - timedelta(hours=2),
        cases=(PatientCase(case_id="case-4", status="failed", closed_at=NOON - timedelta(hours=1)),),
    )
    assert decide_at(NOON, outlook).verdict is Verdict.SEND


def test_at_most_one_rating_request_a_day() -> None:
    """Case 1 was rated this morning; case 2 closed since: its request waits until a day after the first,
    when the first one's reply window has closed too."""
    asked = NOON - timedelta(hours=3)
    outlook = FeedbackOutlook(
        closed_at=NOON - timedelta(hours=1),
        cases=(resolved("case-1", asked - timedelta(hours=1), asked=asked),),
        conversations=(started("case-1", asked),),  # the request for case 1 is a conversation too
    )
    decision = decide(NOON, ZONE, "case-2", outlook, give_up_at=NOON + WINDOW)
    assert (decision.verdict, decision.reason, decision.until) == (
        Verdict.WAIT,
        "rated_today",
        asked + timedelta(days=1),
    )
    assert decision.merged == ()


def test_other_conversations_today_hold_it_by_the_caps() -> None:
    """A check-in prompt went this morning (another conversation, not one this request closes): the
    rating request is no news about an appointment, so it waits for the day's cap."""
    prompt = NOON - timedelta(hours=3)
    outlook = FeedbackOutlook(
        closed_at=NOON - timedelta(hours=1),
        conversations=(started("watch-1", prompt), started("case-0", prompt + timedelta(hours=1))),
        cases=(resolved("case-0", NOON - timedelta(hours=2)),),
    )
    decision = decide(NOON, ZONE, "case-3", outlook, give_up_at=NOON + WINDOW)
    assert (decision.verdict, decision.reason) == (Verdict.WAIT, "contact_rules")
    assert decision.until == prompt + timedelta(days=1)  # 09:00 tomorrow at hers: awake


def test_not_in_the_quiet_hours() -> None:
    night = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 23:00 in Amsterdam
    decision = decide(night, ZONE, "case-1", FeedbackOutlook(closed_at=night), give_up_at=night + WINDOW)
    assert (decision.verdict, decision.reason) == (Verdict.WAIT, "contact_rules")
    assert decision.until == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 at hers


def test_what_cannot_go_within_the_window_is_dropped() -> None:
    week = tuple(started(f"case-{n}", NOON - timedelta(days=n, hours=1)) for n in range(1, 4))
    outlook = FeedbackOutlook(closed_at=NOON - timedelta(hours=1), conversations=week)
    decision = decide(NOON, ZONE, "case-9", outlook, give_up_at=NOON + WINDOW)
    # three conversations in the week already: the next may start only when the oldest leaves it, in 4 days
    assert (decision.verdict, decision.reason) == (Verdict.DROP, "gave_up")
