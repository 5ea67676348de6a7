"""Human escalation: levels, SLAs, who may do what, and the escalation's state. Pure: no I/O.

The rules here are used twice: by the Escalation workflow's Update validators (the authority), and by
the web layer to show only the actions a user may take.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator

from domain.base import CaseKind, Model
from domain.routing import RoutingPolicy

Role = Literal["engineer", "supervisor", "rep", "auditor"]


class Money(Model):
    amount: Decimal = Field(gt=0, max_digits=10, decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    def text(self) -> str:
        return f"{self.amount:.2f} {self.currency}"


class EscalationLevel(Model):
    """One rung of the ladder: who may claim at this level, how long they have, and who is told when a
    case reaches it (the on-call person's phone or email; staff contacts, never a patient's)."""

    name: str = Field(min_length=1, max_length=40)
    claim_sla_seconds: int = Field(gt=0)
    claim_roles: tuple[Role, ...] = ("rep", "supervisor")
    notify_sms: str | None = None  # E.164: parsed where the config enters (config.settings)
    notify_email: str | None = None


class EscalationPolicy(Model):
    """The rules an escalation follows from start to end (they enter with its input)."""

    levels: tuple[EscalationLevel, ...] = (
        EscalationLevel(name="reps", claim_sla_seconds=15 * 60),
        EscalationLevel(name="supervisor", claim_sla_seconds=15 * 60, claim_roles=("supervisor",)),
        EscalationLevel(name="on_call", claim_sla_seconds=30 * 60, claim_roles=("supervisor",)),
    )
    # once claimed, the claimer has this long to resolve; then the claim lapses and the case moves up
    work_sla_seconds: int = Field(default=4 * 60 * 60, gt=0)
    approval_limits: dict[str, Decimal] = {"rep": Decimal("25.00"), "supervisor": Decimal("200.00")}
    # the currency the limits are in and compensation is paid in: the compensation policy's (RecoveryPolicy
    # keeps the two the same); an amount in any other currency is refused, whatever its number
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    reassign_roles: tuple[Role, ...] = ("supervisor",)

    @field_validator("levels")
    @classmethod
    def _at_least_one(cls, levels: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        if not levels:
            raise ValueError("an escalation needs at least one level")
        return levels

    def limit_for(self, role: str) -> Decimal:
        return self.approval_limits.get(role, Decimal(0))


class EscalationStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    EXPIRED = "expired"


class Actor(Model):
    """Who acts: the user and the role they act in (from a bearer token or a console login)."""

    user: str = Field(min_length=1, max_length=100)
    role: Role


# A follow-up opened after the case closed (a patient who rated the help 1 or 2): a rep calls and listens,
# but nothing pays it (the case's gift card, if any, was issued when it closed), so no grant is offered.
PATIENT_UNHAPPY = "patient_unhappy"
# a patient's reply that fitted no open question on their conversation (or two): a rep reads it with the
# conversation and answers; started by ingress, not by a case, so nothing would pay a grant made here
REPLY_FOR_A_PERSON = "patient_wrote"
# a patient who wrote in about something new (an inquiry case): a rep answers by email; a question, not a
# failure of ours, so nothing is paid
PATIENT_INQUIRY = "patient_inquiry"
UNPAID_REASONS = frozenset({PATIENT_UNHAPPY, REPLY_FOR_A_PERSON, PATIENT_INQUIRY})


class EscalationInput(Model):
    escalation_id: str
    case_id: str
    appointment_id: str
    kind: CaseKind
    reason: str
    policy: EscalationPolicy
    pending_approval: Money | None = None
    # for the bridge call: the rep is called first and the patient is dialled in
    patient_phone: str | None = None
    language: str = "en"
    public_base_url: str = ""
    # set when the reason rings the next free rep (ROUTING__AUTO_CALL_REASONS): the floor's rules
    routing: RoutingPolicy | None = None
    practice: str = ""  # for the rep's whisper


class EscalationState(Model):
    """What the console shows and what the case workflow gets back when the escalation ends."""

    escalation_id: str
    case_id: str
    appointment_id: str
    kind: CaseKind
    reason: str
    level: int = 0
    level_name: str
    status: EscalationStatus = EscalationStatus.OPEN
    claimed_by: str | None = None
    # the next deadline: the level's claim deadline while open, the claimer's work deadline while claimed
    sla_deadline: datetime
    # the current level's claim deadline, fixed when the level began: a release goes back to it
    level_deadline: datetime | None = None
    breached: bool = False
    pending_approval: Money | None = None
    approved: Money | None = None
    approved_by: str | None = None
    denied_reason: str | None = None
    resolved_by: str | None = None
    notes: str | None = None
    root_cause: str | None = None
    compensation: Money | None = None
    calls_placed: int = 0
    opened_at: datetime
    closed_at: datetime | None = None


# ------------------------------------------------------------------ deadlines
#
# A level's claim deadline is set when the level begins and only a level change sets another one: a release,
# a hand-over, an approval or a call never give anyone more time. A claim starts the claimer's work SLA. And
# every escalation ends (resolved, or expired with an alert) by its final deadline: the sum of its levels'
# claim SLAs plus one work SLA after its opening, however often it was claimed, released or handed over.


def final_deadline(policy: EscalationPolicy, opened_at: datetime) -> datetime:
    """The latest moment an escalation opened at `opened_at` may still be open."""
    total = sum(level.claim_sla_seconds for level in policy.levels) + policy.work_sla_seconds
    return opened_at + timedelta(seconds=total)


def opened(state: EscalationState, policy: EscalationPolicy, now: datetime) -> EscalationState:
    """The first level begins: its claim SLA counts from now."""
    first = policy.levels[0]
    deadline = min(now + timedelta(seconds=first.claim_sla_seconds), final_deadline(policy, state.opened_at))
    return state.model_copy(
        update={"level": 0, "level_name": first.name, "sla_deadline": deadline, "level_deadline": deadline}
    )


def claimed(state: EscalationState, policy: EscalationPolicy, user: str, now: datetime) -> EscalationState:
    """`user` owns it now and has the work SLA to resolve it (never past the final deadline)."""
    work = now + timedelta(seconds=policy.work_sla_seconds)
    return state.model_copy(
        update={
            "status": EscalationStatus.CLAIMED,
            "claimed_by": user,
            "sla_deadline": min(work, final_deadline(policy, state.opened_at)),
        }
    )


def reassigned(state: EscalationState, policy: EscalationPolicy, user: str, now: datetime) -> EscalationState:
    """A claim handed to `user` keeps its work deadline; an open escalation handed to them is their claim."""
    if state.status is EscalationStatus.CLAIMED:
        return state.model_copy(update={"claimed_by": user})
    return claimed(state, policy, user, now)


def released(state: EscalationState, now: datetime) -> EscalationState:
    """Open again at the same level, due at the level's own claim deadline: if that has passed, the level
    has breached and the escalation moves up at once. (A state without a level deadline is treated as
    due now.)"""
    due = state.level_deadline if state.level_deadline is not None else now
    return state.model_copy(update={"status": EscalationStatus.OPEN, "claimed_by": None, "sla_deadline": due})


def ran_out(state: EscalationState, policy: EscalationPolicy, now: datetime) -> EscalationState:
    """The deadline passed (nobody claimed in time, or a claim was not worked in time): the next level
    begins with its claim SLA, or, at the last level or at the final deadline, the escalation expires."""
    final = final_deadline(policy, state.opened_at)
    up = state.level + 1
    if up < len(policy.levels) and now < final:
        level = policy.levels[up]
        deadline = min(now + timedelta(seconds=level.claim_sla_seconds), final)
        return state.model_copy(
            update={
                "level": up,
                "level_name": level.name,
                "status": EscalationStatus.OPEN,
                "claimed_by": None,
                "breached": True,
                "sla_deadline": deadline,
                "level_deadline": deadline,
            }
        )
    return state.model_copy(
        update={"status": EscalationStatus.EXPIRED, "claimed_by": None, "breached": True, "closed_at": now}
    )


# ------------------------------------------------------------------ requests (Update arguments)


class ActorProof(Model):
    """The web tier's word that the request's `actor` is who signed in: an HMAC-SHA256, under
    UPDATE_SIGNING_SECRET, of the escalation, the Update's name, the user, the role and the second it was
    issued (`actor_mac`). The worker checks it before any validator (runtime/signed_actors.py), so whoever
    can reach Temporal without the secret cannot act as anybody."""

    issued_at: int
    mac: str = Field(max_length=64)


class ByActor(Model):
    actor: Actor
    proof: ActorProof | None = None


class ResolveRequest(Model):
    actor: Actor
    notes: str = Field(min_length=1, max_length=4000)
    root_cause: str | None = Field(default=None, max_length=100)
    # optional compensation the resolver grants (within their approval limit)
    compensation: Money | None = None
    proof: ActorProof | None = None


class ApproveRequest(Model):
    actor: Actor
    amount: Money
    proof: ActorProof | None = None


class DenyRequest(Model):
    actor: Actor
    reason: str = Field(min_length=1, max_length=1000)
    proof: ActorProof | None = None


class ReassignRequest(Model):
    actor: Actor
    to: Actor
    proof: ActorProof | None = None


# ------------------------------------------------------------------ the signed actor

# a proof is good this long after it was issued (the Update reaches the worker within seconds; the web tier
# gives up after 30), and this far ahead of the worker's clock (clocks differ a little)
PROOF_VALID_SECONDS = 300
PROOF_SKEW_SECONDS = 60

RequestT = TypeVar("RequestT", bound=Model)


def actor_mac(secret: str, escalation_id: str, update: str, actor: Actor, issued_at: int) -> str:
    # a JSON array: no user name can make two different requests sign the same text
    text = json.dumps([escalation_id, update, actor.user, actor.role, issued_at], separators=(",", ":"))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def signed(request: RequestT, secret: str, escalation_id: str, update: str, now: float) -> RequestT:
    """`request` (whose `actor` the web tier vouches for) with its proof for the Update `update`."""
    actor: Actor = getattr(request, "actor")  # noqa: B009 (every request type has one)
    issued_at = int(now)
    proof = ActorProof(issued_at=issued_at, mac=actor_mac(secret, escalation_id, update, actor, issued_at))
    return request.model_copy(update={"proof": proof})


def check_proof(secrets: Sequence[str], escalation_id: str, update: str, request: Any, now: float) -> None:
    """Raise a Refusal (NOT_ALLOWED) unless `request` carries an actor signed for this escalation and
    Update, under one of `secrets` (the first signs; the others still verify while a secret rotates),
    issued within PROOF_VALID_SECONDS."""
    actor = getattr(request, "actor", None)
    proof = getattr(request, "proof", None)
    if not isinstance(actor, Actor):
        raise _role(f"the Update {update!r} names no actor")
    if not isinstance(proof, ActorProof):
        raise _role("the actor is not signed: act through the console or the escalation API")
    if not now - PROOF_VALID_SECONDS <= proof.issued_at <= now + PROOF_SKEW_SECONDS:
        raise _role("the actor's signature has expired: try again")
    given = proof.mac.encode()
    if not any(
        hmac.compare_digest(actor_mac(secret, escalation_id, update, actor, proof.issued_at).encode(), given)
        for secret in secrets
    ):
        raise _role("the actor's signature does not match: act through the console or the escalation API")


# ------------------------------------------------------------------ who may do what


class Refusal(Exception):
    """An action that is not allowed. `kind` decides the answer: wrong state (409) or not permitted
    (403)."""

    WRONG_STATE = "WrongState"
    NOT_ALLOWED = "NotAllowed"
    UNAVAILABLE = "Unavailable"  # a provider the action needs is down (503: try again)

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


Action = Literal["claim", "release", "approve", "deny", "resolve", "reassign", "call"]
ACTIONS: tuple[Action, ...] = ("claim", "release", "approve", "deny", "resolve", "reassign", "call")


def _state(message: str) -> Refusal:
    return Refusal(Refusal.WRONG_STATE, message)


def _role(message: str) -> Refusal:
    return Refusal(Refusal.NOT_ALLOWED, message)


def check(
    state: EscalationState,
    policy: EscalationPolicy,
    action: Action,
    actor: Actor,
    amount: Money | None = None,
    to: Actor | None = None,
    has_patient_phone: bool = True,
) -> None:
    """Raise a Refusal when `actor` may not take `action` now. Role before state: a user who may never
    do it learns that first, rather than that the moment is wrong."""
    closed = state.status in (EscalationStatus.RESOLVED, EscalationStatus.EXPIRED)
    level = policy.levels[min(state.level, len(policy.levels) - 1)]
    is_claimer = state.claimed_by == actor.user and state.status is EscalationStatus.CLAIMED
    is_supervisor = actor.role == "supervisor"

    if action == "claim":
        if actor.role not in level.claim_roles:
            raise _role(f"a {actor.role} may not claim at level {level.name!r}")
        if closed:
            raise _state(f"escalation is {state.status.value}")
        if state.status is EscalationStatus.CLAIMED:
            raise _state(f"already claimed by {state.claimed_by}")
        return

    if action == "reassign":
        if actor.role not in policy.reassign_roles and not is_claimer:
            raise _role(f"a {actor.role} may not reassign an escalation they have not claimed")
        if to is None or to.role not in level.claim_roles:
            who = to.role if to else "nobody"
            raise _role(
                f"cannot hand it to a {who}: level {level.name!r} is for {', '.join(level.claim_roles)}"
            )
        if closed:
            raise _state(f"escalation is {state.status.value}")
        if to.user == state.claimed_by:
            raise _state(f"already claimed by {to.user}")
        return

    # the rest act on a claimed escalation: its claimer does, or a supervisor steps in
    if actor.role not in ("rep", "supervisor"):
        raise _role(f"a {actor.role} may not {action} escalations")
    if closed:
        raise _state(f"escalation is {state.status.value}")
    if state.status is not EscalationStatus.CLAIMED:
        raise _state(f"claim the escalation before you {action} it")
    if not is_claimer and not is_supervisor:
        raise _role(f"claimed by {state.claimed_by}; only they or a supervisor may {action} it")

    if state.reason in UNPAID_REASONS and (
        (action == "approve" and state.pending_approval is None)
        or (action == "resolve" and amount is not None)
    ):
        raise _state(
            "an inquiry pays no compensation: it is a question, not a failure of ours"
            if state.reason == PATIENT_INQUIRY
            else "this follow-up cannot pay compensation: the case's compensation was settled when it closed"
        )
    if action == "deny" and state.pending_approval is None:
        raise _state("no compensation is waiting for approval")
    if action == "deny" and state.pending_approval is not None:
        # deciding a payment either way is within the decider's limit: above it, a supervisor decides
        waiting, limit = state.pending_approval, policy.limit_for(actor.role)
        if waiting.amount > limit:
            raise _role(
                f"{waiting.text()} is above your approval limit of {limit:.2f} {policy.currency}: "
                "someone whose limit covers it decides"
            )
    if action == "approve" and state.pending_approval is None and state.approved is not None:
        # nothing pending: approving grants the amount given, once (CONTRACT.md)
        raise _state(f"{state.approved.text()} was already granted by {state.approved_by}")
    if action in ("approve", "resolve") and amount is not None:
        pending = state.pending_approval
        if pending is not None and amount.currency != pending.currency:
            raise _state(f"the compensation is in {pending.currency}, not {amount.currency}")
        if amount.currency != policy.currency:
            raise _role(f"compensation is paid in {policy.currency}, not {amount.currency}")
        limit = policy.limit_for(actor.role)
        if amount.amount > limit:
            raise _role(f"{amount.text()} is above your approval limit of {limit:.2f} {policy.currency}")
    if action == "resolve" and state.pending_approval is not None:
        raise _state(
            f"decide the pending compensation of {state.pending_approval.text()} first (approve or deny)"
        )
    if action == "call" and not has_patient_phone:
        raise _state("the patient has no phone number on file")


def allowed_actions(
    state: EscalationState, policy: EscalationPolicy, actor: Actor, has_patient_phone: bool = True
) -> list[Action]:
    """What the console offers this user now (the workflow checks again when they act)."""
    allowed: list[Action] = []
    for action in ACTIONS:
        try:
            if action == "reassign":
                # offered when the user could hand it to somebody at all
                if actor.role not in policy.reassign_roles and state.claimed_by != actor.user:
                    continue
                if state.status in (EscalationStatus.RESOLVED, EscalationStatus.EXPIRED):
                    continue
                allowed.append(action)
                continue
            check(state, policy, action, actor, amount=None, has_patient_phone=has_patient_phone)
            allowed.append(action)
        except Refusal:
            continue
    return allowed


class EscalationRecord(Model):
    """An escalation's state as the store keeps it, with the timeline entry for what just happened."""

    state: EscalationState
    what: str
    seq: int  # the n-th record of this escalation: a retried write lands once
    detail: dict[str, object] = {}
    alert: bool = False
    policy: EscalationPolicy | None = None  # written with the first record: the rules it follows
