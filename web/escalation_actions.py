"""What reps do to escalations, shared by the HTTP API and the console: each action is an Update on the
Escalation workflow, whose validator has the last word. Refusals come back as `Refused(status, message)`."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from dispatch.connection import not_found
from domain import escalation as rules
from domain import root_causes
from domain.escalation import (
    Action,
    Actor,
    ApproveRequest,
    ByActor,
    DenyRequest,
    EscalationState,
    Money,
    ReassignRequest,
    Refusal,
    ResolveRequest,
)
from store import escalations, users
from store.models import EscalationRow
from web.deps import Services

# an Update is answered within this, or the caller hears 503 (the bridge call gives up within 20 s)
UPDATE_DEADLINE_SECONDS = 30
UPDATES: dict[str, str] = {
    "claim": "claim",
    "release": "release",
    "approve": "approve",
    "deny": "deny",
    "resolve": "resolve",
    "reassign": "reassign",
    "call": "call_patient",
}


class Refused(Exception):
    """An action not taken: 404 (no such escalation), 409 (wrong state), 403 (role or limit), 422 (bad
    input), 503 (Temporal unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def load(svc: Services, escalation_id: str) -> EscalationRow:
    row = await asyncio.to_thread(escalations.get, svc.store, escalation_id)
    if row is None:
        raise Refused(404, f"no escalation {escalation_id}")
    return row


def known_actor(svc: Services, username: str) -> Actor | None:
    """A user the escalation could be handed to: a console user, or an API token's user."""
    user = users.get(svc.store, username)
    if user is not None and user.active:
        return Actor.model_validate({"user": user.username, "role": user.role})
    for token in svc.settings.tokens().values():
        if token.user == username:
            return Actor(user=token.user, role=token.role)
    return None


def request_for(svc: Services, action: Action, actor: Actor, body: dict[str, Any]) -> Any:
    """The Update's argument, from the JSON body or form fields. Raises Refused(422) naming the field.
    An amount without a currency is in the policy's; one in another currency is refused by the rules."""
    currency = svc.settings.policy.compensation.currency
    try:
        if action in ("claim", "release", "call"):
            return ByActor(actor=actor)
        if action == "approve":
            return ApproveRequest(actor=actor, amount=_money(body, "amount", "currency", currency))
        if action == "deny":
            return DenyRequest(actor=actor, reason=str(body.get("reason") or "").strip())
        if action == "resolve":
            compensation = body.get("compensation")
            money = None
            if isinstance(compensation, dict):
                money = _money(compensation, "amount", "currency", currency)
            elif body.get("compensation_amount"):
                money = _money(body, "compensation_amount", "compensation_currency", currency)
            cause, other = _root_cause(svc, body)
            notes = str(body.get("notes") or "").strip()
            if notes and other:
                notes = f"{notes}\n\nRoot cause (other): {other}"[:4000]
            return ResolveRequest(actor=actor, notes=notes, root_cause=cause, compensation=money)
        if action == "reassign":
            to_name = str(body.get("to") or "").strip()
            if not to_name:
                raise Refused(422, "to: required (the user to hand the escalation to)")
            to = known_actor(svc, to_name)
            if to is None:
                raise Refused(422, f"to: no user {to_name!r}")
            return ReassignRequest(actor=actor, to=to)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise Refused(422, f"{field or 'body'}: {first['msg']}") from None
    raise Refused(404, f"no action {action!r}")


def _root_cause(svc: Services, body: dict[str, Any]) -> tuple[str | None, str]:
    """A code from the catalogue in config, or `other` with the rep's words (root_cause_other): a typo
    must not open a problem ticket of its own."""
    code = body.get("root_cause")
    text = body.get("root_cause_other")
    try:
        return root_causes.chosen(
            svc.settings.root_causes,
            None if code is None else str(code),
            None if text is None else str(text)[:500],
        )
    except root_causes.UnknownCause as exc:
        raise Refused(422, str(exc)) from None


def _money(body: dict[str, Any], amount_key: str, currency_key: str, currency: str) -> Money:
    raw = body.get(amount_key)
    if raw in (None, ""):
        raise Refused(422, f"{amount_key}: required")
    text = str(raw).strip()
    # ASCII only: Decimal() also reads "٣" or fullwidth digits, which no amount field should carry
    if not text.isascii() or len(text) > 30:
        raise Refused(422, f"{amount_key}: not a number in ASCII digits: {text[:30]!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Refused(422, f"{amount_key}: not a number: {text!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise Refused(422, f"{amount_key}: must be more than 0")
    if amount.adjusted() > 12:  # quantize() of a huge exponent raises InvalidOperation
        raise Refused(422, f"{amount_key}: too large")
    if amount != amount.quantize(Decimal("0.01")):
        raise Refused(422, f"{amount_key}: at most two decimals")
    return Money(amount=amount, currency=str(body.get(currency_key) or currency).upper())


async def act(
    svc: Services, escalation_id: str, action: Action, actor: Actor, body: dict[str, Any]
) -> EscalationRow:
    """Take `action` on the escalation as `actor`; the fresh row once the workflow has recorded it."""
    row = await load(svc, escalation_id)
    argument = request_for(svc, action, actor, body)
    if action == "call" and await asyncio.to_thread(users.phone_of, svc.store, actor.user) is None:
        raise Refused(
            409, "add your phone number to your profile first: the call rings you, then the patient"
        )
    # the same rules the workflow applies, checked first so a refusal costs no round trip; the workflow's
    # validator still decides (the row may be a moment behind)
    try:
        rules.check(
            escalations.state_of(row),
            escalations.policy_of(row),
            action,
            actor,
            amount=getattr(argument, "amount", None) or getattr(argument, "compensation", None),
            to=getattr(argument, "to", None),
        )
    except Refusal as refusal:
        raise Refused(_status(refusal.kind), refusal.message) from None
    # the worker believes the actor only with the web tier's signature (runtime/signed_actors.py)
    secret = svc.settings.update_signing_secrets(svc.codec.ring)[0]
    argument = rules.signed(argument, secret, row.escalation_id, UPDATES[action], time.time())
    client = await svc.dispatcher.client()
    handle = client.get_workflow_handle(row.escalation_id)
    try:
        async with asyncio.timeout(UPDATE_DEADLINE_SECONDS):
            await handle.execute_update(UPDATES[action], argument, result_type=EscalationState)
    except TimeoutError:
        raise Refused(
            503, f"no answer from the escalation within {UPDATE_DEADLINE_SECONDS} s; look again shortly"
        ) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise Refused(_status(cause.type), cause.message) from None
        raise Refused(409, "the escalation refused the action") from None
    except RPCError as exc:
        if not_found(exc):
            raise Refused(409, "the escalation has ended") from None
        raise Refused(503, "the workflow service is unreachable; try again shortly") from None
    return await load(svc, escalation_id)


def _status(kind: str | None) -> int:
    if kind == Refusal.UNAVAILABLE:
        return 503
    return 403 if kind == Refusal.NOT_ALLOWED else 409
