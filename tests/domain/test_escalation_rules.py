"""Who may do what to an escalation, and when: the pure rules behind the validators and the console."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.base import CaseKind
from domain.escalation import (
    Action,
    Actor,
    EscalationPolicy,
    EscalationState,
    EscalationStatus,
    Money,
    Refusal,
    allowed_actions,
    check,
)
from domain.policy import RecoveryPolicy

POLICY = EscalationPolicy()
ANN, BOB = Actor(user="ann", role="rep"), Actor(user="bob", role="rep")
SUE, AUD, ED = (
    Actor(user="sue", role="supervisor"),
    Actor(user="aud", role="auditor"),
    Actor(user="ed", role="engineer"),
)


def state(status: EscalationStatus = EscalationStatus.OPEN, **changes: object) -> EscalationState:
    base = EscalationState(
        escalation_id="esc-1",
        case_id="case-1",
        appointment_id="appt-1",
        kind=CaseKind.BOOKING_CONFLICT,
        reason="unreachable",
        level_name="reps",
        status=status,
        sla_deadline=datetime(2026, 11, 23, 12, tzinfo=UTC),
        opened_at=datetime(2026, 11, 23, 11, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


CLAIMED = state(EscalationStatus.CLAIMED, claimed_by="ann")
PENDING = state(EscalationStatus.CLAIMED, claimed_by="ann", pending_approval=Money(amount=Decimal("40.00")))
SMALL_PENDING = state(
    EscalationStatus.CLAIMED, claimed_by="ann", pending_approval=Money(amount=Decimal("20.00"))
)


@pytest.mark.parametrize(
    ("situation", "action", "actor", "amount", "refused_as", "says"),
    [
        (state(), "claim", ANN, None, None, ""),
        (state(), "claim", AUD, None, Refusal.NOT_ALLOWED, "auditor may not claim"),
        (state(), "claim", ED, None, Refusal.NOT_ALLOWED, "engineer may not claim"),
        (
            state(level=1, level_name="supervisor"),
            "claim",
            ANN,
            None,
            Refusal.NOT_ALLOWED,
            "level 'supervisor'",
        ),
        (state(level=1, level_name="supervisor"), "claim", SUE, None, None, ""),
        (CLAIMED, "claim", BOB, None, Refusal.WRONG_STATE, "already claimed by ann"),
        (state(), "resolve", ANN, None, Refusal.WRONG_STATE, "claim the escalation before you resolve"),
        (state(EscalationStatus.RESOLVED), "claim", ANN, None, Refusal.WRONG_STATE, "escalation is resolved"),
        (state(EscalationStatus.EXPIRED), "release", ANN, None, Refusal.WRONG_STATE, "escalation is expired"),
        (CLAIMED, "resolve", ANN, None, None, ""),
        (CLAIMED, "resolve", BOB, None, Refusal.NOT_ALLOWED, "only they or a supervisor"),
        (CLAIMED, "resolve", SUE, None, None, ""),
        (CLAIMED, "release", AUD, None, Refusal.NOT_ALLOWED, "auditor may not release"),
        # nothing pending: approving grants the amount given, within the caller's limit (CONTRACT.md)
        (CLAIMED, "approve", ANN, Money(amount=Decimal("15.00")), None, ""),
        (
            CLAIMED,
            "approve",
            ANN,
            Money(amount=Decimal("30.00")),
            Refusal.NOT_ALLOWED,
            "above your approval limit of 25.00",
        ),
        (CLAIMED, "deny", ANN, None, Refusal.WRONG_STATE, "no compensation is waiting"),
        (
            state(
                EscalationStatus.CLAIMED,
                claimed_by="ann",
                approved=Money(amount=Decimal("15.00")),
                approved_by="ann",
            ),
            "approve",
            ANN,
            Money(amount=Decimal("5.00")),
            Refusal.WRONG_STATE,
            "already granted by ann",
        ),
        (PENDING, "approve", ANN, Money(amount=Decimal("25.00")), None, ""),
        (
            PENDING,
            "approve",
            ANN,
            Money(amount=Decimal("25.01")),
            Refusal.NOT_ALLOWED,
            "above your approval limit",
        ),
        (PENDING, "approve", SUE, Money(amount=Decimal("40.00")), None, ""),
        (
            PENDING,
            "approve",
            SUE,
            Money(amount=Decimal("200.01")),
            Refusal.NOT_ALLOWED,
            "limit of 200.00 USD",
        ),
        (PENDING, "approve", ANN, Money(amount=Decimal("5"), currency="EUR"), Refusal.WRONG_STATE, "in USD"),
        (PENDING, "resolve", ANN, None, Refusal.WRONG_STATE, "decide the pending compensation"),
        (SMALL_PENDING, "deny", ANN, None, None, ""),
        # denying decides the payment as much as approving it: within the caller's limit
        (PENDING, "deny", ANN, None, Refusal.NOT_ALLOWED, "40.00 USD is above your approval limit of 25.00"),
        (PENDING, "deny", SUE, None, None, ""),
        # the limits are in the policy's currency: 25.00 of another currency is not 25.00
        (
            CLAIMED,
            "approve",
            ANN,
            Money(amount=Decimal("15.00"), currency="EUR"),
            Refusal.NOT_ALLOWED,
            "in USD",
        ),
        (
            CLAIMED,
            "resolve",
            ANN,
            Money(amount=Decimal("25.00"), currency="JPY"),
            Refusal.NOT_ALLOWED,
            "in USD",
        ),
        (
            CLAIMED,
            "resolve",
            SUE,
            Money(amount=Decimal("25.00"), currency="GBP"),
            Refusal.NOT_ALLOWED,
            "in USD",
        ),
        (
            CLAIMED,
            "resolve",
            ANN,
            Money(amount=Decimal("26")),
            Refusal.NOT_ALLOWED,
            "above your approval limit",
        ),
        (CLAIMED, "call", ANN, None, None, ""),
    ],
)
def test_who_may_do_what(
    situation: EscalationState,
    action: Action,
    actor: Actor,
    amount: Money | None,
    refused_as: str | None,
    says: str,
) -> None:
    if refused_as is None:
        check(situation, POLICY, action, actor, amount=amount)
        return
    with pytest.raises(Refusal) as caught:
        check(situation, POLICY, action, actor, amount=amount)
    assert caught.value.kind == refused_as
    assert says in caught.value.message


def test_reassign_is_for_supervisors_and_the_claimer_and_only_to_someone_who_may_claim() -> None:
    check(CLAIMED, POLICY, "reassign", SUE, to=BOB)
    check(CLAIMED, POLICY, "reassign", ANN, to=BOB)  # the claimer hands it over
    with pytest.raises(Refusal):
        check(CLAIMED, POLICY, "reassign", BOB, to=BOB)
    with pytest.raises(Refusal):
        check(CLAIMED, POLICY, "reassign", SUE, to=AUD)
    with pytest.raises(Refusal):
        check(CLAIMED, POLICY, "reassign", SUE, to=ANN)  # ann has it already


def test_the_console_offers_only_what_the_user_may_do_now() -> None:
    assert allowed_actions(state(), POLICY, ANN) == ["claim"]
    assert allowed_actions(state(), POLICY, AUD) == []
    # approve with nothing pending is a grant (CONTRACT.md)
    assert set(allowed_actions(CLAIMED, POLICY, ANN)) == {"release", "resolve", "reassign", "call", "approve"}
    assert "resolve" not in allowed_actions(PENDING, POLICY, ANN)
    assert {"approve", "deny"} <= set(allowed_actions(SMALL_PENDING, POLICY, ANN))
    # 40.00 is above ann's limit: she may approve part of it, not deny it; the supervisor may do either
    assert "deny" not in allowed_actions(PENDING, POLICY, ANN)
    assert {"approve", "deny"} <= set(allowed_actions(PENDING, POLICY, SUE))
    assert allowed_actions(CLAIMED, POLICY, BOB) == []
    assert "call" not in allowed_actions(CLAIMED, POLICY, ANN, has_patient_phone=False)


def test_the_limits_are_in_the_compensation_policys_currency() -> None:
    """One currency for the whole policy: a EUR deployment's rep limit is 25.00 EUR, and USD is refused."""
    policy = RecoveryPolicy.model_validate({"compensation": {"currency": "EUR"}})
    assert (policy.escalation.currency, policy.urgent_escalation.currency) == ("EUR", "EUR")
    check(
        CLAIMED, policy.urgent_escalation, "resolve", ANN, amount=Money(amount=Decimal("25"), currency="EUR")
    )
    with pytest.raises(Refusal) as caught:
        check(CLAIMED, policy.urgent_escalation, "resolve", ANN, amount=Money(amount=Decimal("25")))
    assert caught.value.kind == Refusal.NOT_ALLOWED
    assert caught.value.message == "compensation is paid in EUR, not USD"
