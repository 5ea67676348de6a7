"""Pure policy decisions: how much a case is owed, and whether it needs a human to approve it."""

from __future__ import annotations

from decimal import Decimal

from domain.models import BudgetVerdict, CaseKind, CompensationPolicy, EventType

_CAUSE_FROM_TYPE = {
    EventType.SLOT_CANCELLED_BY_PRACTICE: "slot_cancelled_by_practice",
    EventType.SLOT_DOUBLE_BOOKED: "double_booking",
    EventType.APPOINTMENT_MOVED_BY_PRACTICE: "moved_by_practice",
}


def root_cause(event_type: EventType, hint: str | None) -> str:
    """Every case closes with a cause category: the booking system's hint, else one read off the event."""
    return hint or _CAUSE_FROM_TYPE.get(event_type, "unknown")


def compensation_amount(policy: CompensationPolicy, kind: CaseKind, cause: str) -> Decimal:
    """The most specific rule wins: kind and cause, then kind with `*`, then the default."""
    for rule in policy.rules:
        if rule.kind == kind and rule.cause == cause:
            return rule.amount
    for rule in policy.rules:
        if rule.kind == kind and rule.cause == "*":
            return rule.amount
    return policy.default_amount


def auto_approved(policy: CompensationPolicy, amount: Decimal) -> bool:
    return Decimal(0) < amount <= policy.auto_approve_up_to


def budget_check(
    policy: CompensationPolicy, amount: Decimal, patient_used: Decimal, day_used: Decimal
) -> BudgetVerdict:
    """A payment the system would make on its own, against what the ledger already holds: the patient's
    payments over the rolling year and everyone's today (UTC). Breaking either waits for a person."""
    cap = policy.patient_yearly_cap
    if cap is not None and patient_used + amount > cap:
        return BudgetVerdict(
            fits=False, reason=f"would exceed the patient's yearly cap: {patient_used:.2f} of {cap:.2f} used"
        )
    budget = policy.daily_budget
    if budget is not None and day_used + amount > budget:
        return BudgetVerdict(
            fits=False, reason=f"would exceed today's budget: {day_used:.2f} of {budget:.2f} used"
        )
    return BudgetVerdict(fits=True)
