"""Policy: every duration and amount a case obeys (from config, part of every workflow input), and the
pure decisions made with it: how much a case is owed, and whether it needs a human to approve it."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from domain.base import CaseKind, Model
from domain.contact_rules import ContactRules
from domain.escalation import EscalationLevel, EscalationPolicy
from domain.events import EventType
from domain.routing import RoutingPolicy


class CompensationRule(Model):
    kind: CaseKind
    cause: str = "*"
    amount: Decimal


class CompensationPolicy(Model):
    currency: str = "USD"
    auto_approve_up_to: Decimal = Decimal("10.00")
    rules: tuple[CompensationRule, ...] = ()
    default_amount: Decimal = Decimal("10.00")
    # what the system pays on its own (unset: no limit): per patient over a rolling year, and over all
    # cases per UTC day; a payment that would break either waits for a person whose limit covers it
    patient_yearly_cap: Decimal | None = None
    daily_budget: Decimal | None = None


class BudgetVerdict(Model):
    """Whether a payment fits the patient's yearly cap and today's budget; `reason` says which it breaks."""

    fits: bool
    reason: str | None = None


class FeedbackPolicy(Model):
    """The request to rate a resolved case: one "reply 1-5" after the close, answered within a window."""

    enabled: bool = True
    # asked a while after the close, not on top of the confirmation (and always outside quiet hours)
    delay_seconds: int = Field(default=60 * 60, ge=0)
    reply_window_seconds: int = Field(default=24 * 60 * 60, gt=0)
    # while another case of the patient's is in progress the request waits, and asks again this often
    recheck_seconds: int = Field(default=30 * 60, gt=0)


class RecoveryPolicy(Model):
    """Every duration and amount a case obeys. It enters the workflow with its input, so a replay sees
    what the run saw and tests can shorten it."""

    reply_deadline_seconds: int = Field(default=15 * 60, gt=0)
    call_answer_deadline_seconds: int = Field(default=10 * 60, gt=0)
    # one SMS segment (160 GSM-7 septets) holds three numbered times with the rest of the offer, not more
    max_alternatives: int = Field(default=3, ge=1, le=3)
    max_offer_rounds: int = Field(default=2, ge=1)
    # one offer open per patient: a later conflict's offer waits for an earlier case's answer, looking again
    # this often, never longer than an offer stays open (reply deadline, then the call)
    offer_wait_check_seconds: int = Field(default=5, gt=0)
    search_days: int = Field(default=14, ge=1)
    locales: tuple[str, ...] = ("en", "nl")
    default_locale: str = "en"
    compensation: CompensationPolicy = CompensationPolicy()
    # quiet hours and frequency caps for automated outreach (TCPA healthcare exemption)
    contact: ContactRules = ContactRules()
    # a case a rep must take over (unreachable patient, a request for a person, an approval)
    escalation: EscalationPolicy = EscalationPolicy()
    # which escalations ring the next free rep, and how long an offer rings (config's ROUTING__*; None:
    # none do, as before reps were on duty)
    routing: RoutingPolicy | None = None
    # check-in trouble: a patient is at the door with paperwork failing; a rep must call within minutes
    urgent_escalation: EscalationPolicy = EscalationPolicy(
        levels=(
            EscalationLevel(name="reps", claim_sla_seconds=5 * 60),
            EscalationLevel(name="supervisor", claim_sla_seconds=5 * 60, claim_roles=("supervisor",)),
            EscalationLevel(name="on_call", claim_sla_seconds=10 * 60, claim_roles=("supervisor",)),
        ),
        work_sla_seconds=30 * 60,
    )
    # after a resolved case, the patient is asked to rate it (inputs recorded before: the default)
    feedback: FeedbackPolicy = FeedbackPolicy()

    @model_validator(mode="after")
    def _one_currency(self) -> RecoveryPolicy:
        """The escalations' approval limits are in the compensation's currency: an amount in another is
        refused (domain.escalation.check), so a limit of 25.00 never pays 25.00 of anything."""
        currency = self.compensation.currency
        for name in ("escalation", "urgent_escalation"):
            policy: EscalationPolicy = getattr(self, name)
            if policy.currency != currency:
                object.__setattr__(self, name, policy.model_copy(update={"currency": currency}))
        return self


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
