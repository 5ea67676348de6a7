"""Reps on duty and the work offered to them: who is offered what next, and what each answer does.

Pure: no I/O, no clock. The router workflow (workflows/rep_router.py) holds one `Floor`, feeds it what
happens (a rep goes available, work arrives, a phone rings out, a rep presses 1, a call ends, time
passes) and carries out the `Effect`s each step returns (ring a phone, stop it ringing, tell an
escalation who took it). Everything that decides lives here, with property tests over random sequences
(tests/domain/test_routing.py).

The rules (CONTRACT.md, "Reps on duty and routing"; TaskRouter's and Amazon Connect's defaults):
- work is taken in priority order (a caller on the line, then urgent escalations, then callbacks, then
  emails), oldest first within a priority;
- it goes to an available rep with a phone: one who speaks the patient's language first, then the one
  idle longest; a rep who already let this work pass is not rung for it again (until back from away);
- an offer lasts `offer_seconds`; unanswered it is withdrawn and counts as a miss, and `max_missed`
  misses in a row set the rep away; a decline (any key but 1, or hanging up on the whisper) is an answer,
  not a miss; either way the work goes to the next rep;
- an accepted offer makes the rep busy until the call ends, then `wrap_up` for `wrap_up_seconds`;
- a rep is never offered two things, and one piece of work is never offered to two reps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from domain.base import Model

ROUTER_WORKFLOW_ID = "rep-router"


def router_workflow_id(task_queue: str) -> str:
    """The router of the workers on `task_queue` (one floor per deployment; tests each have their own)."""
    return f"{ROUTER_WORKFLOW_ID}-{task_queue}"


# escalation reasons whose work is offered to the next free rep with a phone call (ROUTING__AUTO_CALL_REASONS)
DEFAULT_AUTO_CALL_REASONS = ("checkin_trouble", "patient_person", "patient_unhappy")
# how many finished work ids the floor remembers, so a repeated submit of handled work starts nothing
REMEMBERED = 500
LANGUAGES = ("en", "nl")


class RepStatus(StrEnum):
    AVAILABLE = "available"
    OFFERED = "offered"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    AWAY = "away"


class WorkKind(StrEnum):
    CALLER = "caller"  # a patient on the line (the support line)
    ESCALATION = "escalation"  # an urgent escalation: the automatic call
    CALLBACK = "callback"  # a patient who asked to be called back
    EMAIL = "email"  # an email that needs a person's answer


PRIORITY = {WorkKind.CALLER: 0, WorkKind.ESCALATION: 1, WorkKind.CALLBACK: 2, WorkKind.EMAIL: 3}


class RoutingPolicy(Model):
    """The floor's rules, from config (`ROUTING__*`)."""

    offer_seconds: int = Field(default=20, gt=0, le=600)
    max_missed: int = Field(default=2, ge=1, le=100)
    wrap_up_seconds: int = Field(default=30, ge=0, le=3600)
    auto_call_reasons: Annotated[tuple[str, ...], NoDecode] = DEFAULT_AUTO_CALL_REASONS
    # a caller nobody accepted after this long is offered a callback (the support line)
    caller_wait_seconds: int = Field(default=60, gt=0)
    # the router continues as new (the floor carried over) once its history is this long: well before the
    # server would suggest it (4K to 50K events), so that its history, replayed on a new worker or read by an
    # engineer, stays short
    history_limit: int = Field(default=1000, ge=50)

    @field_validator("auto_call_reasons", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`ROUTING__AUTO_CALL_REASONS=checkin_trouble,patient_person` (a JSON list works too)."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return tuple(json.loads(value))
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class Rep(Model):
    user: str
    status: RepStatus = RepStatus.AWAY
    since: datetime
    phone: str | None = None
    languages: tuple[str, ...] = LANGUAGES
    missed_in_a_row: int = 0
    missed_total: int = 0
    # when they last became free (went available, or finished wrap-up): the longest idle is offered first
    idle_since: datetime | None = None
    offer_id: str | None = None  # the offer they hold (offered) or took (busy, wrap-up)
    work_id: str | None = None
    wrap_up_until: datetime | None = None


class WorkItem(Model):
    """Something that needs a person now. `work_id` is the escalation's id (or the call's, the email's)."""

    work_id: str = Field(min_length=1, max_length=200)
    kind: WorkKind
    arrived_at: datetime
    language: str = "en"
    case_id: str | None = None
    escalation_id: str | None = None
    case_kind: str = ""  # for the whisper: what it is about (no patient data)
    practice: str = ""
    # reps it was offered to who let it pass (timed out, rang out, declined): they come last for it
    tried: tuple[str, ...] = ()
    offer_id: str | None = None  # the offer out now, if any
    offers_made: int = 0

    @property
    def priority(self) -> int:
        return PRIORITY[self.kind]


class Offer(Model):
    offer_id: str
    work_id: str
    user: str
    phone: str
    at: datetime
    expires_at: datetime


class Floor(Model):
    reps: dict[str, Rep] = {}
    queue: tuple[WorkItem, ...] = ()  # waiting or offered; accepted work leaves it
    offers: dict[str, Offer] = {}  # the offers out now (not yet accepted or ended)
    handled: tuple[str, ...] = ()  # work ids accepted or withdrawn lately (newest last)


# ---------------------------------------------------------------------- effects: what the router carries out


class Ring(Model):
    """Ring the rep's phone with a whisper; pressing 1 accepts `offer`."""

    what: Literal["ring"] = "ring"
    offer: Offer
    item: WorkItem


class StopRinging(Model):
    """The offer is over without an accept (timed out, withdrawn, the rep went away): hang up their phone."""

    what: Literal["stop_ringing"] = "stop_ringing"
    offer: Offer
    item: WorkItem
    why: Literal["timed_out", "withdrawn", "rep_away"]


class Accepted(Model):
    """The rep took the work: the escalation is theirs."""

    what: Literal["accepted"] = "accepted"
    offer: Offer
    item: WorkItem


class Missed(Model):
    """The offer passed without an accept: for the case's timeline and the floor's counts."""

    what: Literal["missed"] = "missed"
    offer: Offer
    item: WorkItem
    why: Literal["timed_out", "rang_out", "declined"]
    rep_set_away: bool = False


Effect = Ring | StopRinging | Accepted | Missed


class Step(Model):
    floor: Floor
    effects: tuple[Effect, ...] = ()


# ---------------------------------------------------------------------- what reps do


def set_presence(
    floor: Floor,
    user: str,
    status: Literal["available", "away"],
    now: datetime,
    policy: RoutingPolicy,
    phone: str | None = None,
    languages: Iterable[str] | None = None,
) -> Step:
    """A rep says they take work now (`available`), or not (`away`; also a supervisor setting them away).
    Going available from away or wrap-up starts their idle time now; an offer they hold is withdrawn when
    they go away (it goes to the next rep, not counted as a miss)."""
    rep = floor.reps.get(user) or Rep(user=user, since=now)
    changes: dict[str, object] = {}
    if phone is not None:
        changes["phone"] = phone
    if languages is not None:
        changes["languages"] = tuple(dict.fromkeys(languages)) or LANGUAGES
    effects: list[Effect] = []
    if status == "available":
        if rep.status is RepStatus.AWAY:  # back at their desk: work they let pass may be offered again
            floor = floor.model_copy(
                update={
                    "queue": tuple(
                        w.model_copy(update={"tried": tuple(u for u in w.tried if u != user)})
                        for w in floor.queue
                    )
                }
            )
        if rep.status in (RepStatus.AWAY, RepStatus.WRAP_UP):
            changes |= {
                "status": RepStatus.AVAILABLE,
                "since": now,
                "idle_since": now,
                "missed_in_a_row": 0,
                "wrap_up_until": None,
                "offer_id": None,
                "work_id": None,
            }
        rep = rep.model_copy(update=changes)
        floor = _with_rep(floor, rep)
    else:
        if rep.status is RepStatus.OFFERED and rep.offer_id in floor.offers:
            offer = floor.offers[rep.offer_id]
            floor, item = _offer_over(floor, offer, tried=False)
            effects.append(StopRinging(offer=offer, item=item, why="rep_away"))
            rep = floor.reps[user]
        if rep.status is not RepStatus.AWAY:
            changes |= {"status": RepStatus.AWAY, "since": now, "idle_since": None, "wrap_up_until": None}
            if rep.status is not RepStatus.BUSY:
                changes |= {"offer_id": None, "work_id": None}
        floor = _with_rep(floor, rep.model_copy(update=changes))
    return _assign(floor, now, effects, policy)


def add_work(floor: Floor, item: WorkItem, now: datetime, policy: RoutingPolicy) -> Step:
    """Work that needs a person: queued, and offered at once if a suitable rep is free. The same work
    again (a retried submit) changes nothing."""
    if item.work_id in floor.handled or any(w.work_id == item.work_id for w in floor.queue):
        return Step(floor=floor)
    fresh = item.model_copy(update={"tried": (), "offer_id": None, "offers_made": 0})
    floor = floor.model_copy(update={"queue": (*floor.queue, fresh)})
    return _assign(floor, now, [], policy)


def withdraw(floor: Floor, work_id: str, now: datetime, policy: RoutingPolicy) -> Step:
    """The work no longer needs routing (claimed in the console, resolved, expired, the caller hung up):
    out of the queue, and a phone ringing for it stops (not the rep's miss)."""
    item = next((w for w in floor.queue if w.work_id == work_id), None)
    if item is None:
        return Step(floor=floor)
    effects: list[Effect] = []
    if item.offer_id is not None and item.offer_id in floor.offers:
        offer = floor.offers[item.offer_id]
        floor, item = _offer_over(floor, offer, tried=False)
        effects.append(StopRinging(offer=offer, item=item, why="withdrawn"))
    floor = _done(floor, work_id)
    return _assign(floor, now, effects, policy)


def accept(floor: Floor, offer_id: str, now: datetime, policy: RoutingPolicy) -> Step:
    """The rep pressed 1: the work is theirs (busy), out of the queue. Refused (no change) when the offer
    is no longer out: `can_accept` says so first."""
    offer = floor.offers.get(offer_id)
    if offer is None:
        return Step(floor=floor)
    item = next(w for w in floor.queue if w.work_id == offer.work_id)
    rep = floor.reps[offer.user].model_copy(
        update={"status": RepStatus.BUSY, "since": now, "missed_in_a_row": 0, "idle_since": None}
    )
    floor = _with_rep(floor, rep)
    floor = floor.model_copy(update={"offers": {k: v for k, v in floor.offers.items() if k != offer_id}})
    floor = _done(floor, offer.work_id)
    return _assign(floor, now, [Accepted(offer=offer, item=item)], policy)


def can_accept(floor: Floor, offer_id: str) -> str | None:
    """Why pressing 1 for `offer_id` cannot take the work now, or None when it can."""
    if offer_id in floor.offers:
        return None
    return "this offer is no longer open: it timed out, or someone else took the work"


def decline(floor: Floor, offer_id: str, now: datetime, policy: RoutingPolicy) -> Step:
    """The rep answered and did not take it (another key, or hung up on the whisper): the next rep. An
    answer, not a miss."""
    offer = floor.offers.get(offer_id)
    if offer is None:
        return Step(floor=floor)
    floor, item = _offer_over(floor, offer, tried=True)
    return _assign(floor, now, [Missed(offer=offer, item=item, why="declined")], policy)


def rang_out(floor: Floor, offer_id: str, now: datetime, policy: RoutingPolicy) -> Step:
    """The rep's phone rang out, was busy, or failed (Twilio's status callback): a miss."""
    return _missed(floor, offer_id, now, policy, "rang_out")


def call_ended(floor: Floor, offer_id: str, now: datetime, policy: RoutingPolicy) -> Step:
    """The rep's call is over. After an accept: wrap-up (or available at once with no wrap-up time). Still
    only offered (they hung up on the whisper): a decline."""
    if offer_id in floor.offers:
        return decline(floor, offer_id, now, policy)
    rep = next((r for r in floor.reps.values() if r.offer_id == offer_id), None)
    if rep is None or rep.status not in (RepStatus.BUSY, RepStatus.AWAY):
        return Step(floor=floor)
    if rep.status is RepStatus.AWAY:  # went away during the call: stays away, the call is off them
        return Step(floor=_with_rep(floor, rep.model_copy(update={"offer_id": None, "work_id": None})))
    if policy.wrap_up_seconds == 0:
        rep = _free(rep, now)
    else:
        rep = rep.model_copy(
            update={
                "status": RepStatus.WRAP_UP,
                "since": now,
                "wrap_up_until": now + timedelta(seconds=policy.wrap_up_seconds),
            }
        )
    return _assign(_with_rep(floor, rep), now, [], policy)


def work_done(floor: Floor, work_id: str, now: datetime, policy: RoutingPolicy) -> Step:
    """The work is finished outside any call (an email's answer went out, whoever sent it; or it needs
    nobody now: understood, answered by someone else): still queued, it is withdrawn (an offer out for it
    ends, not as a miss); the rep who took it goes to wrap-up as after a call (or available at once with
    no wrap-up time). Twice, or for work the floor never had, it changes nothing."""
    step = withdraw(floor, work_id, now, policy)
    floor, effects = step.floor, list(step.effects)
    rep = next(
        (
            r
            for r in floor.reps.values()
            if r.work_id == work_id and r.status in (RepStatus.BUSY, RepStatus.AWAY)
        ),
        None,
    )
    if rep is not None and rep.offer_id is not None:
        ended = call_ended(floor, rep.offer_id, now, policy)
        floor = ended.floor
        effects.extend(ended.effects)
    return Step(floor=floor, effects=tuple(effects))


def tick(floor: Floor, now: datetime, policy: RoutingPolicy) -> Step:
    """Time passed: offers past their time are withdrawn as misses, wrap-ups that are over free their rep,
    and waiting work goes to whoever is free."""
    effects: list[Effect] = []
    for offer in sorted(floor.offers.values(), key=lambda o: (o.expires_at, o.offer_id)):
        if offer.expires_at <= now:
            step = _missed(floor, offer.offer_id, now, policy, "timed_out", assign=False)
            floor = step.floor
            effects.extend(step.effects)
    for rep in list(floor.reps.values()):
        if rep.status is RepStatus.WRAP_UP and rep.wrap_up_until is not None and rep.wrap_up_until <= now:
            floor = _with_rep(floor, _free(rep, rep.wrap_up_until))  # idle since it ended
    return _assign(floor, now, effects, policy)


def next_deadline(floor: Floor) -> datetime | None:
    """When `tick` next has something to do: the first offer to time out or wrap-up to end."""
    times = [o.expires_at for o in floor.offers.values()]
    times += [r.wrap_up_until for r in floor.reps.values() if r.wrap_up_until is not None]
    return min(times) if times else None


def waiting(floor: Floor) -> tuple[WorkItem, ...]:
    """Work no offer is out for, in the order it is offered."""
    return tuple(sorted((w for w in floor.queue if w.offer_id is None), key=_order))


def best_rep(floor: Floor, item: WorkItem) -> Rep | None:
    """Who gets `item` next: among available reps with a phone who have not let it pass already, one
    who speaks the patient's language, idle longest (then by name, so a tie is decided the same way every
    time). A rep who declined it, or let it ring out, is not rung for it again (a decline is not a miss,
    so re-ringing them would loop) until they come back from away: it waits for someone else."""
    free = [
        r
        for r in floor.reps.values()
        if r.status is RepStatus.AVAILABLE and r.phone and r.user not in item.tried
    ]
    if not free:
        return None
    return min(
        free,
        key=lambda r: (
            item.language not in r.languages,
            r.idle_since or r.since,
            r.user,
        ),
    )


def whisper(item: WorkItem) -> str:
    """What the rep hears before pressing 1: the kind of work, the patient's language, the practice;
    nothing more (no name, no number)."""
    what = {
        "checkin_trouble": "Check-in trouble",
        "booking_conflict": "A lost booking",
        "inquiry": "A patient's question",
    }.get(item.case_kind, "A patient needs you")
    if item.kind is WorkKind.CALLER:
        what = f"A patient is calling. {what}"
    language = {"nl": "Dutch", "en": "English"}.get(item.language, item.language)
    practice = f" at {item.practice}" if item.practice else ""
    return f"{what}{practice}. The patient speaks {language}. Press 1 to take it."


# ---------------------------------------------------------------------- the moves inside


def _order(item: WorkItem) -> tuple[int, datetime, str]:
    return (item.priority, item.arrived_at, item.work_id)


def _assign(floor: Floor, now: datetime, effects: list[Effect], policy: RoutingPolicy) -> Step:
    """Offer every waiting item, best first, to the best free rep, while both remain."""
    out = list(effects)
    for item in waiting(floor):
        rep = best_rep(floor, item)
        if rep is None:
            continue  # nobody free who has not let this one pass: a later item may still be placed
        assert rep.phone is not None
        n = item.offers_made + 1
        offer = Offer(
            offer_id=f"{item.work_id}.o{n}",
            work_id=item.work_id,
            user=rep.user,
            phone=rep.phone,
            at=now,
            expires_at=now + timedelta(seconds=policy.offer_seconds),
        )
        item = item.model_copy(update={"offer_id": offer.offer_id, "offers_made": n})
        floor = _with_item(floor, item)
        floor = _with_rep(
            floor,
            rep.model_copy(
                update={
                    "status": RepStatus.OFFERED,
                    "since": now,
                    "offer_id": offer.offer_id,
                    "work_id": item.work_id,
                }
            ),
        )
        floor = floor.model_copy(update={"offers": {**floor.offers, offer.offer_id: offer}})
        out.append(Ring(offer=offer, item=item))
    return Step(floor=floor, effects=tuple(out))


def _missed(
    floor: Floor,
    offer_id: str,
    now: datetime,
    policy: RoutingPolicy,
    why: Literal["timed_out", "rang_out"],
    assign: bool = True,
) -> Step:
    offer = floor.offers.get(offer_id)
    if offer is None:
        return Step(floor=floor)
    floor, item = _offer_over(floor, offer, tried=True)
    rep = floor.reps[offer.user]
    missed = rep.missed_in_a_row + 1
    away = missed >= policy.max_missed
    update: dict[str, object] = {"missed_in_a_row": missed, "missed_total": rep.missed_total + 1}
    if away:
        update |= {"status": RepStatus.AWAY, "since": now, "idle_since": None}
    floor = _with_rep(floor, rep.model_copy(update=update))
    effects: list[Effect] = []
    if why == "timed_out":
        effects.append(StopRinging(offer=offer, item=item, why="timed_out"))
    effects.append(Missed(offer=offer, item=item, why=why, rep_set_away=away))
    if not assign:
        return Step(floor=floor, effects=tuple(effects))
    return _assign(floor, now, effects, policy)


def _offer_over(floor: Floor, offer: Offer, tried: bool) -> tuple[Floor, WorkItem]:
    """The offer ends without an accept: the work waits again, the rep is free again (idle as before)."""
    item = next(w for w in floor.queue if w.work_id == offer.work_id)
    item = item.model_copy(
        update={"offer_id": None, "tried": (*item.tried, offer.user) if tried else item.tried}
    )
    floor = _with_item(floor, item)
    rep = floor.reps[offer.user]
    if rep.offer_id == offer.offer_id:
        rep = rep.model_copy(
            update={
                "status": RepStatus.AVAILABLE,
                "since": rep.idle_since or offer.at,
                "offer_id": None,
                "work_id": None,
            }
        )
        floor = _with_rep(floor, rep)
    offers = {k: v for k, v in floor.offers.items() if k != offer.offer_id}
    return floor.model_copy(update={"offers": offers}), item


def _free(rep: Rep, now: datetime) -> Rep:
    return rep.model_copy(
        update={
            "status": RepStatus.AVAILABLE,
            "since": now,
            "idle_since": now,
            "wrap_up_until": None,
            "offer_id": None,
            "work_id": None,
        }
    )


def _done(floor: Floor, work_id: str) -> Floor:
    queue = tuple(w for w in floor.queue if w.work_id != work_id)
    handled = (*[h for h in floor.handled if h != work_id], work_id)[-REMEMBERED:]
    return floor.model_copy(update={"queue": queue, "handled": handled})


def _with_rep(floor: Floor, rep: Rep) -> Floor:
    return floor.model_copy(update={"reps": {**floor.reps, rep.user: rep}})


def _with_item(floor: Floor, item: WorkItem) -> Floor:
    queue = tuple(item if w.work_id == item.work_id else w for w in floor.queue)
    return floor.model_copy(update={"queue": queue})


# ---------------------------------------------------------------------- the router workflow's messages


class RouterInput(Model):
    """The router's start (and continue-as-new) input: its rules and the floor it carries on with."""

    policy: RoutingPolicy = RoutingPolicy()
    floor: Floor = Floor()
    public_base_url: str = ""


class PresenceChange(Model):
    """`POST /api/reps/me/presence` (or a supervisor setting a rep away), for the router's Update."""

    user: str = Field(min_length=1, max_length=100)
    status: Literal["available", "away"]
    phone: str | None = None
    languages: tuple[str, ...] | None = None
    by: str = ""  # who set it: the rep, or the supervisor who set them away


class RepView(Model):
    """One rep as the API shows them (CONTRACT.md): no phone number."""

    user: str
    status: RepStatus
    since: datetime
    languages: tuple[str, ...]
    missed_in_a_row: int
    missed_total: int = 0
    work_id: str | None = None  # what they are offered or working on (an escalation id), for the console
    offer_expires_at: datetime | None = None

    @classmethod
    def of(cls, rep: Rep, floor: Floor) -> RepView:
        offer = floor.offers.get(rep.offer_id) if rep.offer_id else None
        return cls(
            user=rep.user,
            status=rep.status,
            since=rep.since,
            languages=rep.languages,
            missed_in_a_row=rep.missed_in_a_row,
            missed_total=rep.missed_total,
            work_id=rep.work_id,
            offer_expires_at=offer.expires_at if offer else None,
        )


class FloorSnapshot(Model):
    """What the store keeps of the floor after each change (GET /api/reps, the console, the wall)."""

    reps: tuple[RepView, ...]
    waiting: int = 0
    at: datetime


class WorkWithdrawal(Model):
    work_id: str


class WorkDone(Model):
    """Work finished outside a call (an email answered): the router frees the rep who had it."""

    work_id: str


class OfferAnswer(Model):
    """What the rep pressed on the offer call (`1` takes it)."""

    offer_id: str
    digits: str = ""


class OfferDecision(Model):
    accepted: bool
    reason: str | None = None
    user: str | None = None  # the rep the offer was made to
    escalation_id: str | None = None
    case_id: str | None = None
    work_id: str | None = None
    kind: WorkKind | None = None


class OfferCallStatus(Model):
    """Twilio's status callback for an offer call (the rep's leg)."""

    offer_id: str
    status: str  # ringing | in-progress | completed | no-answer | busy | failed | canceled


class RoutedClaim(Model):
    """The router tells an escalation who took it by pressing 1."""

    user: str
    offer_id: str


class PatientCallResult(Model):
    """How the patient's leg of an accepted automatic call went (Twilio's status callback)."""

    offer_id: str
    status: str  # no-answer | busy | failed | canceled | completed


def offer_call_key(offer_id: str) -> str:
    """The send-once key of the call that offers `offer_id` (and what its status callbacks name)."""
    return f"offer-{offer_id}"


def offer_id_parts(offer_id: str) -> tuple[str, int] | None:
    """(work id, n) of an offer id `<work_id>.o<n>`, or None when it is not one."""
    work_id, sep, n = offer_id.rpartition(".o")
    if not sep or not work_id or not n.isdigit():
        return None
    return work_id, int(n)
