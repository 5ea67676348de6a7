"""Reps on duty and the work offered to them (domain/routing.py): an example of each rule, then properties
over random sequences of events (reps going available and away, work arriving and withdrawn, offers
accepted, declined, rung out and ended, time passing), checked after every step."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.routing import (
    LANGUAGES,
    Accepted,
    Floor,
    Missed,
    Rep,
    RepStatus,
    Ring,
    RoutingPolicy,
    Step,
    StopRinging,
    WorkItem,
    WorkKind,
    accept,
    add_work,
    best_rep,
    call_ended,
    can_accept,
    decline,
    next_deadline,
    offer_id_parts,
    rang_out,
    set_presence,
    tick,
    waiting,
    whisper,
    withdraw,
    work_done,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
POLICY = RoutingPolicy()  # offers last 20 s, 2 misses in a row set a rep away, 30 s of wrap-up
USERS = ("ann", "bob", "cem", "dee")
PHONES = {user: f"+3161234560{n}" for n, user in enumerate(USERS)}


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def work(
    work_id: str, kind: WorkKind = WorkKind.ESCALATION, language: str = "en", arrived: float = 0
) -> WorkItem:
    return WorkItem(work_id=work_id, kind=kind, arrived_at=at(arrived), language=language)


def on(
    floor: Floor,
    user: str,
    now: datetime = NOW,
    languages: tuple[str, ...] | None = None,
    policy: RoutingPolicy = POLICY,
) -> Step:
    """`user` goes available with their phone."""
    return set_presence(floor, user, "available", now, policy, phone=PHONES[user], languages=languages)


def reps_on(*users: str, now: datetime = NOW, policy: RoutingPolicy = POLICY) -> Floor:
    """A floor with `users` available, in that order, one second apart (the first idle longest)."""
    floor = Floor()
    for n, user in enumerate(users):
        floor = on(floor, user, now + timedelta(seconds=n), policy=policy).floor
    return floor


def rings(step: Step) -> list[Ring]:
    return [e for e in step.effects if isinstance(e, Ring)]


def rung(step: Step) -> list[str]:
    """Whose phones the step rings."""
    return [r.offer.user for r in rings(step)]


def offer_of(floor: Floor, work_id: str) -> str:
    """The id of the offer out now for `work_id`."""
    offer_id = next(w.offer_id for w in floor.queue if w.work_id == work_id)
    assert offer_id is not None
    return offer_id


# ---------------------------------------------------------------------- examples


def test_work_goes_to_a_rep_who_speaks_the_patients_language_before_one_idle_longer() -> None:
    floor = on(Floor(), "ann", at(0), languages=("en",)).floor
    floor = on(floor, "bob", at(5), languages=("nl", "en")).floor
    step = add_work(floor, work("esc-1", language="nl"), at(10), POLICY)
    assert rung(step) == ["bob"]
    # in English, the one idle longest
    assert rung(add_work(floor, work("esc-2"), at(10), POLICY)) == ["ann"]
    # nobody speaks it: the one idle longest
    assert rung(add_work(floor, work("esc-3", language="de"), at(10), POLICY)) == ["ann"]


def test_between_reps_alike_the_one_idle_longest_is_offered_and_a_tie_goes_by_name() -> None:
    floor = reps_on("cem", "bob", "ann")
    assert best_rep(floor, work("esc-1")) == floor.reps["cem"]
    floor = Floor()
    for user in ("cem", "bob", "ann"):  # all at the same moment
        floor = on(floor, user).floor
    assert best_rep(floor, work("esc-1")) == floor.reps["ann"]
    step = add_work(floor, work("esc-1"), NOW, POLICY)
    step = add_work(step.floor, work("esc-2"), NOW, POLICY)
    assert rung(step) == ["bob"]


def test_a_rep_who_let_the_work_pass_is_not_rung_for_it_again_and_nobody_free_is_nobody() -> None:
    floor = on(Floor(), "ann", languages=("en",)).floor
    floor = on(floor, "bob", at(1), languages=("nl", "en")).floor
    first = add_work(floor, work("esc-1", language="nl"), at(5), POLICY)
    assert rung(first) == ["bob"]
    step = decline(first.floor, offer_of(first.floor, "esc-1"), at(6), POLICY)
    # ann does not speak Dutch, but bob already declined it
    assert rung(step) == ["ann"]
    assert next(w for w in step.floor.queue if w.work_id == "esc-1").tried == ("bob",)
    # ann lets it ring out too: nobody left who has not passed it, so it waits (no loop of re-rings)
    out = tick(step.floor, at(6 + POLICY.offer_seconds), POLICY)
    assert rung(out) == [] and waiting(out.floor)[0].work_id == "esc-1"
    # bob goes away and comes back: he may be offered it again
    back = set_presence(out.floor, "bob", "away", at(40), POLICY)
    back = set_presence(back.floor, "bob", "available", at(41), POLICY)
    assert rung(back) == ["bob"]
    assert best_rep(Floor(), work("esc-2")) is None
    no_phone = set_presence(Floor(), "ann", "available", NOW, POLICY)
    assert best_rep(no_phone.floor, work("esc-2")) is None
    assert rings(add_work(no_phone.floor, work("esc-2"), NOW, POLICY)) == []


def test_callers_come_before_escalations_before_callbacks_before_emails_and_the_oldest_first() -> None:
    floor = Floor()
    arrivals = [
        work("email-1", WorkKind.EMAIL, arrived=-600),
        work("callback-2", WorkKind.CALLBACK, arrived=-60),
        work("esc-old", WorkKind.ESCALATION, arrived=-300),
        work("callback-1", WorkKind.CALLBACK, arrived=-120),
        work("caller-1", WorkKind.CALLER, arrived=0),
        work("esc-new", WorkKind.ESCALATION, arrived=-10),
    ]
    for item in arrivals:
        floor = add_work(floor, item, NOW, POLICY).floor
    assert [w.work_id for w in waiting(floor)] == [
        "caller-1",
        "esc-old",
        "esc-new",
        "callback-1",
        "callback-2",
        "email-1",
    ]
    offered = []
    for n, user in enumerate(USERS):  # reps come in one at a time
        step = on(floor, user, at(n))
        floor = step.floor
        offered += [r.item.work_id for r in rings(step)]
    assert offered == ["caller-1", "esc-old", "esc-new", "callback-1"]


def test_a_rep_who_lets_max_missed_offers_pass_in_a_row_is_set_away() -> None:
    floor = add_work(Floor(), work("esc-1"), NOW, POLICY).floor
    floor = add_work(floor, work("esc-2", arrived=1), at(1), POLICY).floor
    step = on(floor, "ann")
    (ring,) = rings(step)
    assert ring.offer.expires_at == at(POLICY.offer_seconds)
    assert next_deadline(step.floor) == ring.offer.expires_at
    assert tick(step.floor, at(19), POLICY) == Step(floor=step.floor)  # not yet
    step = tick(step.floor, at(20), POLICY)  # timed out: a miss; ann is rung for the other work
    assert [type(e) for e in step.effects] == [StopRinging, Missed, Ring]
    assert [r.item.work_id for r in rings(step)] == ["esc-2"]
    assert step.floor.reps["ann"].missed_in_a_row == 1 and step.floor.reps["ann"].status is RepStatus.OFFERED
    step = rang_out(step.floor, offer_of(step.floor, "esc-2"), at(25), POLICY)  # her phone rang out
    missed = step.effects[0]
    assert isinstance(missed, Missed) and missed.why == "rang_out" and missed.rep_set_away
    ann = step.floor.reps["ann"]
    assert ann.status is RepStatus.AWAY and ann.missed_in_a_row == 2 and ann.missed_total == 2
    assert step.floor.offers == {} and [w.work_id for w in waiting(step.floor)] == ["esc-1", "esc-2"]
    # back, she starts afresh and is offered the waiting work at once (what she let pass, too)
    step = on(step.floor, "ann", at(30))
    assert step.floor.reps["ann"].missed_in_a_row == 0 and [r.item.work_id for r in rings(step)] == ["esc-1"]


def test_an_accept_resets_the_misses_and_a_decline_is_not_one() -> None:
    policy = RoutingPolicy(max_missed=3)
    floor = Floor()
    for n in (1, 2, 3):
        floor = add_work(floor, work(f"esc-{n}", arrived=n), at(n), policy).floor
    floor = on(floor, "ann", at(3), policy=policy).floor
    floor = tick(floor, at(23), policy).floor  # esc-1 timed out: a miss
    floor = decline(floor, offer_of(floor, "esc-2"), at(24), policy).floor  # esc-2 declined: not a miss
    assert floor.reps["ann"].missed_in_a_row == 1 and floor.reps["ann"].status is RepStatus.OFFERED
    floor = tick(floor, at(44), policy).floor  # esc-3 timed out: a second miss, not yet away
    assert floor.reps["ann"].missed_in_a_row == 2 and floor.reps["ann"].status is RepStatus.AVAILABLE
    # nothing left she has not let pass: it all waits for someone else, and ann is not rung in a loop
    assert waiting(floor) and floor.offers == {}
    floor = on(floor, "bob", at(45), policy=policy).floor
    step = accept(floor, offer_of(floor, "esc-1"), at(46), policy)
    assert isinstance(step.effects[0], Accepted) and step.effects[0].offer.user == "bob"
    bob = step.floor.reps["bob"]
    assert bob.status is RepStatus.BUSY and bob.missed_in_a_row == 0
    ann = step.floor.reps["ann"]
    assert ann.missed_in_a_row == 2 and ann.missed_total == 2


def test_an_offer_that_is_no_longer_out_cannot_be_accepted_and_can_accept_says_why() -> None:
    floor = on(add_work(Floor(), work("esc-1"), NOW, POLICY).floor, "ann").floor
    timed_out = offer_of(floor, "esc-1")
    assert can_accept(floor, timed_out) is None
    floor = on(tick(floor, at(20), POLICY).floor, "bob", at(20)).floor  # ...and bob has it now
    assert floor.reps["bob"].offer_id != timed_out
    assert accept(floor, timed_out, at(21), POLICY) == Step(floor=floor)
    assert "no longer open" in (can_accept(floor, timed_out) or "")
    withdrawn = offer_of(floor, "esc-1")
    floor = withdraw(floor, "esc-1", at(22), POLICY).floor
    assert accept(floor, withdrawn, at(23), POLICY) == Step(floor=floor)
    assert can_accept(floor, withdrawn) is not None
    assert accept(floor, "nonsense", at(23), POLICY) == Step(floor=floor)


def test_when_the_call_ends_the_rep_wraps_up_and_is_free_again_idle_from_the_end_of_wrap_up() -> None:
    floor = on(add_work(Floor(), work("esc-1"), NOW, POLICY).floor, "ann").floor
    offer_id = offer_of(floor, "esc-1")
    floor = accept(floor, offer_id, at(5), POLICY).floor
    floor = on(floor, "bob", at(6)).floor
    floor = call_ended(floor, offer_id, at(65), POLICY).floor
    ann = floor.reps["ann"]
    assert ann.status is RepStatus.WRAP_UP and ann.wrap_up_until == at(95)
    assert next_deadline(floor) == at(95)
    assert call_ended(floor, offer_id, at(66), POLICY) == Step(floor=floor)  # told twice: once
    assert tick(floor, at(94), POLICY) == Step(floor=floor)
    floor = tick(floor, at(99), POLICY).floor  # the timer fired a little late
    ann = floor.reps["ann"]
    assert ann.status is RepStatus.AVAILABLE and ann.idle_since == at(95) and ann.wrap_up_until is None
    assert next_deadline(floor) is None
    # bob has been idle since 6 s: he is offered first
    assert rung(add_work(floor, work("esc-2"), at(100), POLICY)) == ["bob"]


def test_with_no_wrap_up_time_the_rep_is_free_as_the_call_ends() -> None:
    policy = RoutingPolicy(wrap_up_seconds=0)
    floor = on(add_work(Floor(), work("esc-1"), NOW, policy).floor, "ann", policy=policy).floor
    offer_id = offer_of(floor, "esc-1")
    floor = add_work(accept(floor, offer_id, at(5), policy).floor, work("esc-2"), at(6), policy).floor
    step = call_ended(floor, offer_id, at(60), policy)
    assert [(r.offer.user, r.item.work_id) for r in rings(step)] == [("ann", "esc-2")]
    assert step.floor.reps["ann"].idle_since == at(60)


def test_work_done_outside_a_call_wraps_the_rep_up_and_withdraws_work_still_offered() -> None:
    # an email the rep accepted in the console: its answer went out, the rep wraps up as after a call
    floor = on(add_work(Floor(), work("email-1", WorkKind.EMAIL), NOW, POLICY).floor, "ann").floor
    offer_id = offer_of(floor, "email-1")
    floor = accept(floor, offer_id, at(5), POLICY).floor
    assert floor.reps["ann"].status is RepStatus.BUSY
    step = work_done(floor, "email-1", at(65), POLICY)
    assert step.effects == ()
    ann = step.floor.reps["ann"]
    assert ann.status is RepStatus.WRAP_UP and ann.wrap_up_until == at(95) and ann.missed_in_a_row == 0
    assert work_done(step.floor, "email-1", at(66), POLICY) == Step(floor=step.floor)  # told twice: once
    floor = tick(step.floor, at(95), POLICY).floor
    assert floor.reps["ann"].status is RepStatus.AVAILABLE and floor.reps["ann"].idle_since == at(95)
    # an email answered by someone else while it is offered to bob: withdrawn, not bob's miss, and bob
    # is offered what waits next
    floor = reps_on("bob", now=at(100))
    floor = add_work(floor, work("email-2", WorkKind.EMAIL), at(101), POLICY).floor
    floor = add_work(floor, work("email-3", WorkKind.EMAIL), at(102), POLICY).floor
    offer = floor.offers[offer_of(floor, "email-2")]
    step = work_done(floor, "email-2", at(103), POLICY)
    assert [type(e) for e in step.effects] == [StopRinging, Ring]
    assert step.effects[0].offer == offer and rung(step) == ["bob"]
    assert step.floor.reps["bob"].missed_in_a_row == 0 and step.floor.reps["bob"].work_id == "email-3"
    assert "email-2" in step.floor.handled
    # work the floor never had, or waiting for nobody: nothing happens
    assert work_done(step.floor, "email-9", at(104), POLICY) == Step(floor=step.floor)
    policy = RoutingPolicy(wrap_up_seconds=0)
    floor = on(
        add_work(Floor(), work("email-4", WorkKind.EMAIL), NOW, policy).floor, "ann", policy=policy
    ).floor
    floor = accept(floor, offer_of(floor, "email-4"), at(1), policy).floor
    floor = add_work(floor, work("esc-5"), at(2), policy).floor
    step = work_done(floor, "email-4", at(30), policy)  # no wrap-up time: free, and offered at once
    assert rung(step) == ["ann"] and step.floor.reps["ann"].work_id == "esc-5"


def test_the_same_work_added_again_changes_nothing() -> None:
    floor = add_work(Floor(), work("esc-1"), NOW, POLICY).floor
    assert add_work(floor, work("esc-1", WorkKind.CALLER), at(1), POLICY) == Step(floor=floor)
    floor = on(floor, "ann").floor
    assert add_work(floor, work("esc-1"), at(1), POLICY) == Step(floor=floor)  # offered
    offer_id = offer_of(floor, "esc-1")
    floor = accept(floor, offer_id, at(2), POLICY).floor
    assert add_work(floor, work("esc-1"), at(3), POLICY) == Step(floor=floor)  # accepted
    floor = withdraw(add_work(floor, work("esc-2"), at(4), POLICY).floor, "esc-2", at(5), POLICY).floor
    assert add_work(floor, work("esc-2"), at(6), POLICY) == Step(floor=floor)  # withdrawn


def test_withdrawing_offered_work_stops_the_ringing_and_is_not_the_reps_miss() -> None:
    floor = on(add_work(Floor(), work("esc-1"), NOW, POLICY).floor, "ann").floor
    offer = floor.offers[offer_of(floor, "esc-1")]
    step = withdraw(floor, "esc-1", at(3), POLICY)
    assert step.effects == (StopRinging(offer=offer, item=step.effects[0].item, why="withdrawn"),)
    ann = step.floor.reps["ann"]
    assert ann.status is RepStatus.AVAILABLE and ann.missed_in_a_row == 0 and ann.idle_since == NOW
    assert step.floor.queue == () and step.floor.offers == {}
    assert withdraw(step.floor, "esc-1", at(4), POLICY) == Step(floor=step.floor)


def test_a_rep_going_away_hands_the_offer_on_without_a_miss() -> None:
    floor = reps_on("ann", "bob")
    floor = add_work(floor, work("esc-1"), at(5), POLICY).floor
    assert floor.reps["ann"].status is RepStatus.OFFERED
    step = set_presence(floor, "ann", "away", at(6), POLICY)
    assert [type(e) for e in step.effects] == [StopRinging, Ring]
    stop = step.effects[0]
    assert isinstance(stop, StopRinging) and stop.why == "rep_away"
    assert rung(step) == ["bob"]
    ann = step.floor.reps["ann"]
    assert ann.status is RepStatus.AWAY and ann.missed_in_a_row == 0 and ann.offer_id is None


def test_hanging_up_on_the_whisper_is_a_decline_and_a_call_ended_away_clears_it() -> None:
    floor = reps_on("ann", "bob")
    floor = add_work(floor, work("esc-1"), at(5), POLICY).floor
    step = call_ended(floor, offer_of(floor, "esc-1"), at(6), POLICY)
    missed = step.effects[0]
    assert isinstance(missed, Missed) and missed.why == "declined" and not missed.rep_set_away
    assert step.floor.reps["ann"].missed_in_a_row == 0
    assert rung(step) == ["bob"]
    offer_id = offer_of(step.floor, "esc-1")
    floor = accept(step.floor, offer_id, at(7), POLICY).floor
    floor = set_presence(floor, "bob", "away", at(8), POLICY).floor  # a supervisor sets him away mid-call
    assert floor.reps["bob"].offer_id == offer_id
    floor = call_ended(floor, offer_id, at(9), POLICY).floor
    bob = floor.reps["bob"]
    assert bob.status is RepStatus.AWAY and bob.offer_id is None and bob.wrap_up_until is None


def test_next_deadline_is_the_first_offer_expiry_or_wrap_up_end() -> None:
    assert next_deadline(Floor()) is None
    floor = reps_on("ann", "bob", "cem")
    floor = add_work(floor, work("esc-1"), at(10), POLICY).floor
    floor = add_work(floor, work("esc-2"), at(15), POLICY).floor
    assert next_deadline(floor) == at(30)
    floor = accept(floor, offer_of(floor, "esc-1"), at(16), POLICY).floor
    assert next_deadline(floor) == at(35)
    floor = call_ended(floor, floor.reps["ann"].offer_id or "", at(17), POLICY).floor
    assert next_deadline(floor) == at(35)
    floor = accept(floor, offer_of(floor, "esc-2"), at(18), POLICY).floor
    assert next_deadline(floor) == at(47)


def test_a_rep_with_languages_and_a_phone_on_record_keeps_them() -> None:
    floor = on(Floor(), "ann", languages=("nl", "nl", "en")).floor
    assert floor.reps["ann"].languages == ("nl", "en")
    floor = set_presence(floor, "ann", "away", at(1), POLICY).floor
    floor = set_presence(floor, "ann", "available", at(2), POLICY, languages=[]).floor
    ann = floor.reps["ann"]
    assert ann.phone == PHONES["ann"] and ann.languages == LANGUAGES and ann.idle_since == at(2)


def test_the_whisper_says_what_and_where_and_nothing_about_the_patient() -> None:
    item = work("call-1", WorkKind.CALLER, language="nl").model_copy(
        update={"case_kind": "checkin_trouble", "practice": "Tandarts Noord", "case_id": "case-9"}
    )
    assert whisper(item) == (
        "A patient is calling. Check-in trouble at Tandarts Noord. The patient speaks Dutch. "
        "Press 1 to take it."
    )
    assert whisper(work("esc-1", language="de")) == (
        "A patient needs you. The patient speaks de. Press 1 to take it."
    )


def test_offer_ids_name_their_work() -> None:
    floor = on(add_work(Floor(), work("esc.o7"), NOW, POLICY).floor, "ann").floor
    assert offer_id_parts(offer_of(floor, "esc.o7")) == ("esc.o7", 1)
    assert offer_id_parts("esc-1") is None and offer_id_parts(".o1") is None


def test_the_auto_call_reasons_read_from_a_comma_list_or_json() -> None:
    assert RoutingPolicy(auto_call_reasons="a, b,,c").auto_call_reasons == ("a", "b", "c")
    assert RoutingPolicy(auto_call_reasons='["a", "b"]').auto_call_reasons == ("a", "b")


# ---------------------------------------------------------------------- properties over random sequences

WORK_IDS = tuple(f"w{n}" for n in range(10))
SPOKEN = ("en", "nl", "de")


@dataclass(frozen=True)
class Presence:
    user: str
    status: Literal["available", "away"]
    with_phone: bool
    languages: tuple[str, ...] | None


@dataclass(frozen=True)
class Arrive:
    work_id: str
    kind: WorkKind
    language: str
    age_seconds: int


@dataclass(frozen=True)
class Answer:
    how: Literal["accept", "decline", "rang_out", "call_ended"]
    current: bool  # to an offer out now or a call a rep took (if any), or to any offer id
    pick: int  # which one


@dataclass(frozen=True)
class Withdraw:
    work_id: str


@dataclass(frozen=True)
class Done:
    work_id: str  # finished outside a call (an email answered), by whoever


@dataclass(frozen=True)
class Wait:
    seconds: int  # time passes, without a tick (a message may come before the timer fires)


@dataclass(frozen=True)
class Tick:
    to_deadline: bool  # at the next deadline (the router's timer), or now


Event = Presence | Arrive | Answer | Withdraw | Done | Wait | Tick

HOW = st.sampled_from(["accept", "accept", "decline", "rang_out", "call_ended", "call_ended"])
# answers to offers out now, and reps coming back, come more often: they take reps through offered,
# busy, wrap-up and back
EVENTS: st.SearchStrategy[Event] = st.one_of(
    st.builds(
        Presence,
        st.sampled_from(USERS),
        st.sampled_from(["available", "available", "available", "away"]),
        st.sampled_from([True, True, True, False]),
        st.none() | st.lists(st.sampled_from(SPOKEN), max_size=3).map(tuple),
    ),
    st.builds(
        Arrive,
        st.sampled_from(WORK_IDS),
        st.sampled_from(list(WorkKind)),
        st.sampled_from(SPOKEN),
        st.integers(0, 600),
    ),
    st.builds(Answer, HOW, st.just(True), st.integers(0, 7)),
    st.builds(Answer, HOW, st.booleans(), st.integers(0, 50)),
    st.builds(Withdraw, st.sampled_from(WORK_IDS)),
    st.builds(Done, st.sampled_from(WORK_IDS)),
    st.builds(Wait, st.integers(0, 40)),
    st.builds(Tick, st.booleans()),
    st.builds(Presence, st.sampled_from(USERS), st.just("available"), st.just(True), st.none()),
)
POLICIES = st.builds(
    RoutingPolicy,
    offer_seconds=st.sampled_from([5, 20]),
    max_missed=st.integers(1, 3),
    wrap_up_seconds=st.sampled_from([0, 10, 30]),
)


def free_reps(floor: Floor) -> set[str]:
    return {r.user for r in floor.reps.values() if r.status is RepStatus.AVAILABLE and r.phone}


def order(item: WorkItem) -> tuple[int, datetime, str]:
    """Who is offered first (CONTRACT.md): callers, escalations, callbacks, emails; then the oldest."""
    kinds = [WorkKind.CALLER, WorkKind.ESCALATION, WorkKind.CALLBACK, WorkKind.EMAIL]
    return (kinds.index(item.kind), item.arrived_at, item.work_id)


def preference(rep: Rep, item: WorkItem) -> tuple[bool, datetime, str]:
    """Who is offered `item` first (among those who have not let it pass): speaks the language, idle
    longest, then by name."""
    assert rep.idle_since is not None
    return (item.language not in rep.languages, rep.idle_since, rep.user)


def placeable(item: WorkItem, free: set[str]) -> bool:
    """Some free rep has not let `item` pass already."""
    return bool(free - set(item.tried))


def check_floor(floor: Floor, policy: RoutingPolicy) -> None:
    """What holds of the floor after every step."""
    queue = {w.work_id: w for w in floor.queue}
    assert len(queue) == len(floor.queue)
    assert not set(queue) & set(floor.handled)
    # 1. no rep holds two offers: each offer is its rep's one offer, and an offered rep holds one
    holders = Counter(o.user for o in floor.offers.values())
    for offer_id, offer in floor.offers.items():
        rep = floor.reps[offer.user]
        assert offer.offer_id == offer_id
        assert rep.status is RepStatus.OFFERED and rep.offer_id == offer_id and rep.work_id == offer.work_id
    for rep in floor.reps.values():
        assert holders[rep.user] == (1 if rep.status is RepStatus.OFFERED else 0)
    # 2. one piece of work is offered to one rep at a time, and its queue item names that offer
    assert all(n == 1 for n in Counter(o.work_id for o in floor.offers.values()).values())
    for offer in floor.offers.values():
        assert queue[offer.work_id].offer_id == offer.offer_id
    for item in floor.queue:
        assert item.offer_id is None or floor.offers[item.offer_id].work_id == item.work_id
    # 3. nothing waits while a rep with a phone who has not let it pass is free
    assert not any(placeable(w, free_reps(floor)) for w in waiting(floor))
    assert {w.work_id for w in waiting(floor)} == {w.work_id for w in floor.queue if w.offer_id is None}
    # the rest of a rep's state agrees with their status
    for rep in floor.reps.values():
        assert (rep.wrap_up_until is not None) == (rep.status is RepStatus.WRAP_UP)
        if rep.status is not RepStatus.AWAY:
            assert rep.missed_in_a_row < policy.max_missed
        if rep.status is RepStatus.AVAILABLE:
            assert rep.idle_since is not None and rep.offer_id is None and rep.work_id is None
        if rep.status in (RepStatus.BUSY, RepStatus.WRAP_UP):
            assert rep.offer_id is not None and rep.offer_id not in floor.offers
            assert rep.work_id in floor.handled
    # 12. the next deadline is the first offer expiry or wrap-up end
    deadlines = [o.expires_at for o in floor.offers.values()]
    deadlines += [r.wrap_up_until for r in floor.reps.values() if r.wrap_up_until is not None]
    assert next_deadline(floor) == (min(deadlines) if deadlines else None)


@dataclass
class Run:
    """A floor driven by random events, with what the test remembers to check it against."""

    policy: RoutingPolicy
    floor: Floor = field(default_factory=Floor)
    clock: datetime = NOW
    added: set[str] = field(default_factory=set)
    handled: set[str] = field(default_factory=set)  # accepted or withdrawn
    rung: set[str] = field(default_factory=set)  # every offer id ever rung

    def do(self, event: Event) -> None:
        before, now, policy = self.floor, self.clock, self.policy
        concerned: set[str] = set()  # reps this event may free (they may be rung at once)
        if isinstance(event, Wait):
            self.clock += timedelta(seconds=event.seconds)
            return
        if isinstance(event, Presence):
            phone = PHONES[event.user] if event.with_phone else None
            step = set_presence(before, event.user, event.status, now, policy, phone, event.languages)
            concerned = {event.user}
            self.check_presence(event, phone, before, step)
        elif isinstance(event, Arrive):
            item = WorkItem(
                work_id=event.work_id,
                kind=event.kind,
                language=event.language,
                arrived_at=now - timedelta(seconds=event.age_seconds),
            )
            step = add_work(before, item, now, policy)
            self.check_arrival(item, before, step)
        elif isinstance(event, Answer):
            offer_id = self.pick(event.current, event.pick)
            holder = next((r.user for r in before.reps.values() if r.offer_id == offer_id), None)
            concerned = {holder} if holder else set()
            step = self.answer(event.how, offer_id, before)
        elif isinstance(event, Withdraw):
            item_before = next((w for w in before.queue if w.work_id == event.work_id), None)
            step = withdraw(before, event.work_id, now, policy)
            if item_before is not None and item_before.offer_id is not None:
                concerned = {before.offers[item_before.offer_id].user}
            self.check_withdrawal(event.work_id, before, step)
        elif isinstance(event, Done):
            item_before = next((w for w in before.queue if w.work_id == event.work_id), None)
            step = work_done(before, event.work_id, now, policy)
            concerned = {r.user for r in before.reps.values() if r.work_id == event.work_id}
            self.check_done(event.work_id, item_before, before, step)
        else:
            deadline = next_deadline(before)
            if event.to_deadline and deadline is not None and deadline > now:
                self.clock = now = deadline
            step = tick(before, now, policy)
            concerned = self.check_tick(before, step)
        self.check_effects(before, step, concerned)
        self.check_misses(event, before, step)
        check_floor(step.floor, policy)
        assert set(step.floor.handled) == self.handled
        assert {w.work_id for w in step.floor.queue} | self.handled == self.added
        self.floor = step.floor

    def pick(self, current: bool, n: int) -> str:
        """An offer out now or a call a rep took, or any offer id rung so far, or one never rung."""
        out = sorted(self.floor.offers) + sorted(
            r.offer_id for r in self.floor.reps.values() if r.offer_id and r.offer_id not in self.floor.offers
        )
        if current and out:
            return out[n % len(out)]
        anything = [*sorted(self.rung), "w0.o99", "not-an-offer"]
        return anything[n % len(anything)]

    def answer(self, how: str, offer_id: str, before: Floor) -> Step:
        now, policy = self.clock, self.policy
        out = before.offers.get(offer_id)
        if how == "accept":
            step = accept(before, offer_id, now, policy)
            if out is None:
                # 8. an offer no longer out changes nothing, and can_accept says why
                assert step == Step(floor=before)
                assert isinstance(can_accept(before, offer_id), str)
                return step
            assert can_accept(before, offer_id) is None
            taken = step.effects[0]
            assert isinstance(taken, Accepted) and taken.offer == out and taken.item.work_id == out.work_id
            rep = step.floor.reps[out.user]
            assert rep.status is RepStatus.BUSY and rep.offer_id == offer_id and rep.work_id == out.work_id
            assert rep.since == now and rep.missed_in_a_row == 0
            self.handled.add(out.work_id)
            return step
        if how == "decline" or (how == "call_ended" and out is not None):
            step = (decline if how == "decline" else call_ended)(before, offer_id, now, policy)
            if out is None:
                assert step == Step(floor=before)
                return step
            missed = step.effects[0]
            assert isinstance(missed, Missed) and missed.why == "declined" and not missed.rep_set_away
            assert out.user in next(w for w in step.floor.queue if w.work_id == out.work_id).tried
            return step
        if how == "rang_out":
            step = rang_out(before, offer_id, now, policy)
            if out is None:
                assert step == Step(floor=before)
            else:
                missed = step.effects[0]
                assert isinstance(missed, Missed) and missed.why == "rang_out"
            return step
        # 9. the call ends after an accept: wrap-up (or free at once)
        step = call_ended(before, offer_id, now, policy)
        rep_before = next((r for r in before.reps.values() if r.offer_id == offer_id), None)
        if rep_before is None or rep_before.status not in (RepStatus.BUSY, RepStatus.AWAY):
            assert step == Step(floor=before)
            return step
        rep = step.floor.reps[rep_before.user]
        if rep_before.status is RepStatus.AWAY:
            assert step.effects == () and rep.status is RepStatus.AWAY and rep.offer_id is None
        elif policy.wrap_up_seconds:
            assert step.effects == () and rep.status is RepStatus.WRAP_UP and rep.since == now
            assert rep.wrap_up_until == now + timedelta(seconds=policy.wrap_up_seconds)
        else:
            assert rep.status in (RepStatus.AVAILABLE, RepStatus.OFFERED) and rep.idle_since == now
        return step

    def check_presence(self, event: Presence, phone: str | None, before: Floor, step: Step) -> None:
        rep_before = before.reps.get(event.user)
        rep = step.floor.reps[event.user]
        assert rep.phone == (phone or (rep_before.phone if rep_before else None))
        if event.languages is not None:
            assert rep.languages == (tuple(dict.fromkeys(event.languages)) or LANGUAGES)
        status_before = rep_before.status if rep_before else RepStatus.AWAY
        if event.status == "away":
            assert rep.status is RepStatus.AWAY and rep.idle_since is None
            if rep_before is not None and rep_before.status is RepStatus.OFFERED:
                # the offer goes on to the next rep: stopped, not the rep's miss, not passed by them
                offer = before.offers[rep_before.offer_id or ""]
                stop = step.effects[0]
                assert isinstance(stop, StopRinging) and stop.offer == offer and stop.why == "rep_away"
                item_before = next(w for w in before.queue if w.work_id == offer.work_id)
                assert stop.item.tried == item_before.tried
        elif status_before in (RepStatus.AWAY, RepStatus.WRAP_UP):
            assert rep.status in (RepStatus.AVAILABLE, RepStatus.OFFERED)
            assert rep.idle_since == self.clock and rep.missed_in_a_row == 0
        elif status_before is RepStatus.AVAILABLE:
            assert rep.status in (RepStatus.AVAILABLE, RepStatus.OFFERED)
        else:
            assert rep.status is status_before  # offered or busy: going available changes nothing

    def check_arrival(self, item: WorkItem, before: Floor, step: Step) -> None:
        if item.work_id in self.added:
            # 10. a repeated add_work (queued, accepted or withdrawn) changes nothing
            assert step == Step(floor=before)
            return
        self.added.add(item.work_id)
        assert item.work_id in {w.work_id for w in step.floor.queue}
        ringed = rings(step)
        assert all(r.item.work_id == item.work_id for r in ringed) and len(ringed) <= 1
        if ringed:  # 4. chosen among the reps free before it came
            assert free_reps(before) == free_reps(step.floor) | {ringed[0].offer.user}

    def check_withdrawal(self, work_id: str, before: Floor, step: Step) -> None:
        item = next((w for w in before.queue if w.work_id == work_id), None)
        if item is None:
            assert step == Step(floor=before)
            return
        self.handled.add(work_id)
        assert work_id not in {w.work_id for w in step.floor.queue}
        assert not any(isinstance(e, Missed) for e in step.effects)
        if item.offer_id is None:
            assert step.effects == () and step.floor.offers == before.offers
            return
        # 11. a phone ringing for it stops, and the rep is free again, no miss, idle as before
        offer = before.offers[item.offer_id]
        stop = step.effects[0]
        assert isinstance(stop, StopRinging) and stop.offer == offer and stop.why == "withdrawn"
        rep_before, rep = before.reps[offer.user], step.floor.reps[offer.user]
        assert rep.status in (RepStatus.AVAILABLE, RepStatus.OFFERED) and rep.offer_id != offer.offer_id
        assert rep.idle_since == rep_before.idle_since and rep.missed_in_a_row == rep_before.missed_in_a_row

    def check_done(self, work_id: str, item: WorkItem | None, before: Floor, step: Step) -> None:
        """13. work done outside a call: out of the queue (an offer out for it withdrawn, no miss), and the
        rep who took it is busy with it no more (wrap-up, or free at once)."""
        if item is not None:
            self.handled.add(work_id)
        assert work_id not in {w.work_id for w in step.floor.queue}
        assert not any(isinstance(e, Missed) for e in step.effects)
        for user, rep_before in before.reps.items():
            rep = step.floor.reps[user]
            if rep_before.work_id == work_id and rep_before.status is RepStatus.BUSY:
                if self.policy.wrap_up_seconds:
                    assert rep.status is RepStatus.WRAP_UP and rep.since == self.clock
                else:
                    assert rep.status in (RepStatus.AVAILABLE, RepStatus.OFFERED)
                    assert rep.idle_since == self.clock
        if item is None and not any(r.work_id == work_id for r in before.reps.values()):
            assert step == Step(floor=before)

    def check_tick(self, before: Floor, step: Step) -> set[str]:
        now, deadline = self.clock, next_deadline(before)
        if deadline is None or now < deadline:
            assert step == Step(floor=before)  # nothing is due: nothing happens
            return set()
        assert step.floor != before
        expired = {o.offer_id: o for o in before.offers.values() if o.expires_at <= now}
        stopped = [e for e in step.effects if isinstance(e, StopRinging)]
        assert {e.offer.offer_id for e in stopped} == set(expired)
        assert all(e.why == "timed_out" for e in stopped)
        missed = [e for e in step.effects if isinstance(e, Missed)]
        assert [(e.offer.offer_id, e.why) for e in missed] == [
            (e.offer.offer_id, "timed_out") for e in stopped
        ]
        freed = {
            u: r for u, r in before.reps.items() if r.wrap_up_until is not None and r.wrap_up_until <= now
        }
        for user, rep_before in freed.items():
            # 9. the end of wrap-up frees the rep, idle from when it ended
            rep = step.floor.reps[user]
            assert rep.status in (RepStatus.AVAILABLE, RepStatus.OFFERED)
            assert rep.idle_since == rep_before.wrap_up_until and rep.wrap_up_until is None
        for user, rep_before in before.reps.items():
            if rep_before.status is RepStatus.WRAP_UP and user not in freed:
                assert step.floor.reps[user] == rep_before
        return set(freed) | {o.user for o in expired.values()}

    def check_effects(self, before: Floor, step: Step, concerned: set[str]) -> None:
        now, after = self.clock, step.floor
        for effect in step.effects:
            if isinstance(effect, Ring):
                continue
            # an offer that ends was out, and is out no longer
            assert before.offers.get(effect.offer.offer_id) == effect.offer
            assert effect.offer.offer_id not in after.offers
        ringed = rings(step)
        is_ring = [isinstance(e, Ring) for e in step.effects]
        assert is_ring == sorted(is_ring)  # the phones ring after the offers that ended are over
        for ring in ringed:
            # 12. every offer expires offer_seconds after it is made; offer ids are never used twice
            offer = ring.offer
            assert offer.at == now and offer.expires_at == now + timedelta(seconds=self.policy.offer_seconds)
            assert offer.offer_id not in self.rung and after.offers.get(offer.offer_id) == offer
            assert ring.item.offer_id == offer.offer_id and offer.phone == after.reps[offer.user].phone
            self.rung.add(offer.offer_id)
            rep_before = before.reps.get(offer.user)
            was_free = (
                rep_before is not None and rep_before.status is RepStatus.AVAILABLE and rep_before.phone
            )
            assert was_free or offer.user in concerned
        # 4, 5, 6: replay the assignment: the reps free and the work waiting just before it began are those
        # left free and waiting now plus those rung; each ring takes the first work in order, to the rep
        # it prefers (not passed it, speaks the language, idle longest, by name)
        free = free_reps(after) | {r.offer.user for r in ringed}
        queued = {w.work_id: w for w in waiting(after)} | {r.item.work_id: r.item for r in ringed}
        for ring in ringed:
            item = ring.item
            assert order(item) == min(order(w) for w in queued.values() if placeable(w, free))
            chosen = after.reps[ring.offer.user]
            assert chosen.user not in item.tried
            others = [after.reps[u] for u in free if u not in item.tried]
            assert preference(chosen, item) == min(preference(r, item) for r in others)
            # 5. language first: no free rep who speaks it and has not passed it is left for one who does not
            if item.language not in chosen.languages:
                assert not any(item.language in r.languages for r in others)
            free.discard(chosen.user)
            del queued[item.work_id]
        assert not any(placeable(w, free) for w in queued.values())

    def check_misses(self, event: Event, before: Floor, step: Step) -> None:
        """7. timeouts and rang-outs count in a row; max_missed of them set the rep away; an accept resets
        the count; a decline (or being withdrawn) is not a miss."""
        missed = Counter(
            e.offer.user for e in step.effects if isinstance(e, Missed) and e.why in ("timed_out", "rang_out")
        )
        accepted = {e.offer.user for e in step.effects if isinstance(e, Accepted)}
        for user, rep_before in before.reps.items():
            rep = step.floor.reps[user]
            if missed[user]:
                assert missed[user] == 1
                (effect,) = [e for e in step.effects if isinstance(e, Missed) and e.offer.user == user]
                count = rep_before.missed_in_a_row + 1
                assert rep.missed_in_a_row == count and rep.missed_total == rep_before.missed_total + 1
                assert effect.rep_set_away == (count >= self.policy.max_missed)
                assert (rep.status is RepStatus.AWAY) == effect.rep_set_away
                continue
            assert rep.missed_total == rep_before.missed_total
            if user in accepted:
                assert rep.missed_in_a_row == 0
            elif (
                isinstance(event, Presence)
                and event.user == user
                and event.status == "available"
                and rep_before.status in (RepStatus.AWAY, RepStatus.WRAP_UP)
            ):
                assert rep.missed_in_a_row == 0  # back from away starts afresh
            else:
                assert rep.missed_in_a_row == rep_before.missed_in_a_row


@settings(max_examples=200, deadline=None)
@given(POLICIES, st.lists(EVENTS, min_size=20, max_size=80))
def test_random_days_on_the_floor_keep_every_routing_promise(
    policy: RoutingPolicy, events: list[Event]
) -> None:
    run = Run(policy)
    for event in events:
        run.do(event)


@settings(max_examples=100, deadline=None)
@given(POLICIES, st.lists(EVENTS, min_size=10, max_size=40), st.sampled_from(WORK_IDS))
def test_an_offer_no_longer_out_is_refused_however_it_ended(
    policy: RoutingPolicy, events: list[Event], work_id: str
) -> None:
    """8 and 10 from the other side: after each step every offer id that is not out is refused (accept,
    decline, rang out), every one that is out can be accepted, and handled work added or withdrawn again
    changes nothing."""
    run = Run(policy)
    for event in events:
        run.do(event)
        floor = run.floor
        for offer_id in run.rung - set(floor.offers):
            assert accept(floor, offer_id, run.clock, policy) == Step(floor=floor)
            assert can_accept(floor, offer_id) is not None
            assert decline(floor, offer_id, run.clock, policy) == Step(floor=floor)
            assert rang_out(floor, offer_id, run.clock, policy) == Step(floor=floor)
        for offer_id in floor.offers:
            assert can_accept(floor, offer_id) is None
        if work_id in run.handled:
            assert add_work(floor, work(work_id), run.clock, policy) == Step(floor=floor)
            assert withdraw(floor, work_id, run.clock, policy) == Step(floor=floor)
