"""The shapes that cross every boundary: events in, workflow inputs, activity requests and results."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from domain import phones
from domain.base import CaseKind, Model
from domain.contact_rules import ContactRules
from domain.escalation import EscalationLevel, EscalationPolicy
from domain.replies import MAX_CHOICES, Intent, Understood, against_offers

# The validation context of an event as it enters (`BookingEvent.received`): phone numbers are parsed,
# normalised to E.164 and judged SMS-capable here, once. Without it (the starter re-reading a stored event,
# a workflow's input) the stored values are trusted as they are: a number-plan update cannot turn an
# accepted case invalid, nor a replayed workflow different.
INGRESS: dict[str, bool] = {"ingress": True}


def _at_ingress(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("ingress"))


def _parsed_phone(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or not _at_ingress(info):
        return value
    try:
        return phones.normalise(value)
    except phones.PhoneError as exc:
        raise PydanticCustomError("phone_number", "{reason}", {"reason": str(exc)}) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a UTC offset, e.g. 2026-11-24T10:00:00-05:00")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Patient(Model):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)  # E.164 once received (any format in)
    # whether `phone` can receive a text: False for a landline. Judged at ingress from the numbering plan
    # and carried with the case from then on (absent from inputs recorded before: True, as they behaved)
    sms_capable: bool = Field(default=True, validate_default=True)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    timezone: str = "UTC"

    _phone = field_validator("phone")(_parsed_phone)

    @field_validator("sms_capable")
    @classmethod
    def _judged_at_ingress(cls, value: bool, info: ValidationInfo) -> bool:
        if not _at_ingress(info):
            return value
        phone = info.data.get("phone")  # already E.164 (absent when it was refused)
        return phone is not None and phones.parse(phone).sms_capable

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def language(self) -> str:
        return self.locale.split("-")[0].lower()


class Practice(Model):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    timezone: str = "UTC"

    _phone = field_validator("phone")(_parsed_phone)
    _known_zone = field_validator("timezone")(Patient._known_zone.__func__)  # type: ignore[attr-defined]


class Provider(Model):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    specialty: str = Field(min_length=1, max_length=100)


class Slot(Model):
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: object) -> datetime:
        start = getattr(info, "data", {}).get("start")
        if start is not None and end <= start:
            raise ValueError("must be after start")
        return end


class BookingEventData(Model):
    appointment_id: str = Field(min_length=1, max_length=100)
    patient: Patient
    practice: Practice
    provider: Provider
    slot: Slot
    cause: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9_.-]+$")


class EventType(StrEnum):
    SLOT_CANCELLED_BY_PRACTICE = "booking.slot_cancelled_by_practice"
    SLOT_DOUBLE_BOOKED = "booking.slot_double_booked"
    APPOINTMENT_MOVED_BY_PRACTICE = "booking.appointment_moved_by_practice"
    APPOINTMENT_BOOKED = "booking.appointment_booked"
    APPOINTMENT_RESCHEDULED = "booking.appointment_rescheduled"
    APPOINTMENT_CANCELLED = "booking.appointment_cancelled"


CONFLICT_TYPES = frozenset(
    {
        EventType.SLOT_CANCELLED_BY_PRACTICE,
        EventType.SLOT_DOUBLE_BOOKED,
        EventType.APPOINTMENT_MOVED_BY_PRACTICE,
    }
)


class BookingEvent(Model):
    """A CloudEvents 1.0 envelope in structured JSON mode."""

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: EventType
    time: AwareDatetime | None = None
    data: BookingEventData

    @classmethod
    def received(cls, payload: object) -> BookingEvent:
        """An event as it enters from outside: validated, phone numbers parsed and normalised (INGRESS)."""
        return cls.model_validate(payload, context=INGRESS)


class CaseStatus(StrEnum):
    OPEN = "open"
    WAITING_PATIENT = "waiting_patient"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    FAILED = "failed"


class Outcome(StrEnum):
    REBOOKED = "rebooked"
    PATIENT_DECLINED = "patient_declined"
    RESOLVED_BY_REP = "resolved_by_rep"
    UNREACHABLE = "unreachable"


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


# ---------------------------------------------------------------- policy (from config, part of every input)


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


class RecoveryPolicy(Model):
    """Every duration and amount a case obeys. It enters the workflow with its input, so a replay sees
    what the run saw and tests can shorten it."""

    reply_deadline_seconds: int = Field(default=15 * 60, gt=0)
    call_answer_deadline_seconds: int = Field(default=10 * 60, gt=0)
    # one SMS segment (160 GSM-7 septets) holds three numbered times with the rest of the offer, not more
    max_alternatives: int = Field(default=3, ge=1, le=3)
    max_offer_rounds: int = Field(default=2, ge=1)
    search_days: int = Field(default=14, ge=1)
    locales: tuple[str, ...] = ("en", "nl")
    default_locale: str = "en"
    compensation: CompensationPolicy = CompensationPolicy()
    # quiet hours and frequency caps for automated outreach (TCPA healthcare exemption)
    contact: ContactRules = ContactRules()
    # a case a rep must take over (unreachable patient, a request for a person, an approval)
    escalation: EscalationPolicy = EscalationPolicy()
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


# ---------------------------------------------------------------- workflow inputs, signals and results


class BookingConflictInput(Model):
    case_id: str
    event_id: str
    event_type: EventType
    data: BookingEventData
    policy: RecoveryPolicy
    public_base_url: str
    # lets the patient choose by a link in an email; a capability for this case's choices only
    reply_token: str


class PatientReply(Model):
    """A patient's answer, whatever the channel it came by, as ingress understood it. The text itself
    stays in the case store (the inbox row and inbound message found by `provider_ref`), out of workflow
    history: what the workflow acts on is the intent, classified once when the reply is relayed."""

    channel: Channel
    intent: Intent
    choice: int | None = Field(default=None, ge=1, le=MAX_CHOICES)  # any digit 1-9 the patient sent
    received_at: datetime
    provider_ref: str | None = None  # the provider's message id

    def understood(self, offered: int = 0) -> Understood:
        """The reply against an offer of `offered` numbered options (0: none): a number not offered is
        unknown."""
        return against_offers(Understood(self.intent, self.choice), offered)


class CaseResult(Model):
    case_id: str
    status: CaseStatus
    outcome: Outcome | None
    needs_rep: bool = False
    new_slot: Slot | None = None
    ticket_id: str | None = None
    compensation_amount: Decimal | None = None


# ---------------------------------------------------------------- activity requests and results


class TimelineEntry(Model):
    case_id: str
    what: str
    key: str | None = None  # makes a retried write land once
    detail: dict[str, object] = {}


class CaseUpdate(Model):
    case_id: str
    status: CaseStatus
    outcome: Outcome | None = None
    needs_rep: bool | None = None
    new_slot: Slot | None = None
    root_cause: str | None = None
    ticket_id: str | None = None
    what: str
    key: str | None = None  # defaults to the `what`: each status step lands once
    detail: dict[str, object] = {}


class ConflictNote(Model):
    case_id: str
    data: BookingEventData


class AlternativesRequest(Model):
    case_id: str
    practice: Practice
    provider: Provider
    original: Slot
    not_before: datetime
    count: int
    search_days: int
    # the offers made in a round are kept: a retried or re-run case offers the same slots it texted
    offer_round: int | None = None


class OfferedSlot(Model):
    slot: Slot
    provider: Provider
    practice: Practice


class BookRequest(Model):
    case_id: str
    appointment_id: str
    patient_id: str
    offer: OfferedSlot


class OutboundMessage(Model):
    """One message to one patient. `key` names it within the case, so sending it again is a no-op."""

    case_id: str
    key: str
    channel: Channel
    to: str
    subject: str | None = None
    body: str
    # voice only: spoken prompt with keypad gather, answered at this callback
    gather_action_url: str | None = None
    # voice only: when set, the call (to a rep) speaks `body`, then dials this number in (a bridge)
    dial: str | None = None
    language: str = "en"


class SendResult(Model):
    message_id: str  # our intent id
    provider_id: str | None
    # unavailable: the provider stayed down past the retry budget (nothing known to be sent)
    status: Literal["sent", "already_sent", "rejected", "unavailable"]
    reason: str | None = None

    @property
    def reached_provider(self) -> bool:
        return self.status in ("sent", "already_sent")


class GiftCardRequest(Model):
    case_id: str
    patient_id: str
    amount: Decimal
    currency: str
    idempotency_key: str = Field(max_length=100)


class ReserveRequest(Model):
    """A payment the system would make on its own, checked against the caps and budget of `rules`."""

    payment: GiftCardRequest
    rules: CompensationPolicy


class GiftCardResult(Model):
    order_id: str
    amount: Decimal
    currency: str
    redemption_url: str
    already_issued: bool


class TicketRequest(Model):
    case_id: str
    cause: str
    practice_id: str
    practice_name: str
    summary: str


class TicketResult(Model):
    ticket_id: str
    occurrences: int
    reopened: bool
    # an external tracker (TRACKER_MODE jira|github) is to hear of it: the case starts a TicketSync
    # (histories recorded before carry no such field)
    sync: bool = False


class TicketSyncRequest(Model):
    """Mirror one case's occurrence of its problem ticket to the external tracker."""

    case_id: str
    ticket_id: str


class BridgeCallRequest(Model):
    """Call the rep, then dial the patient in: the patient sees our number, never the rep's."""

    case_id: str
    key: str
    rep_user: str
    patient_phone: str
    language: str = "en"


class DenialRequest(Model):
    """Compensation a rep refused: kept in the ledger with the reason, never paid."""

    case_id: str
    patient_id: str
    amount: Decimal
    currency: str
    idempotency_key: str = Field(max_length=100)
    reason: str
    denied_by: str


class ContactHistoryRequest(Model):
    """What was sent to a patient's addresses lately, for the frequency caps."""

    addresses: tuple[str, ...]
    since: datetime
    exclude_case_id: str | None = None
    patient_id: str | None = None


class ContactHistory(Model):
    sent: tuple[datetime, ...] = ()  # messages to the patient, any case but this one
    last_heard_from: datetime | None = None  # the patient's own latest message to us
    # their other cases still in progress that have exchanged messages with them (sent them one, or
    # heard from them): a case deferred until the morning has not, and does not count
    other_open_cases: int = 0

    def in_conversation(self, now: datetime, window: timedelta = timedelta(hours=24)) -> bool:
        """An exchange is under way: they wrote to us lately, or another of their cases in progress has
        exchanged messages with them."""
        recent = self.last_heard_from is not None and now - self.last_heard_from <= window
        return recent or self.other_open_cases > 0


class DeliveryProblem(Model):
    """A provider's report that a message did not reach the patient."""

    channel: Channel
    key: str  # the message's key within its case
    status: str  # undelivered | failed | bounce | dropped | no-answer | busy | machine
    provider_ref: str | None = None


# ---------------------------------------------------------------- check-in watch and check-in trouble


class WatchStatus(StrEnum):
    WAITING = "waiting"  # a timer runs to the prompt
    LISTENING = "listening"  # the prompt went out: replies are routed here
    TROUBLE = "trouble"  # a reply reported trouble: a check-in-trouble case is open
    ENDED = "ended"


class CheckInWatchInput(Model):
    """What `booking.appointment_booked` (or a reschedule without a watch) starts a watch with. The
    check-in timing comes from config through the starter, like every other policy value."""

    appointment_id: str
    event_id: str
    data: BookingEventData
    policy: RecoveryPolicy
    public_base_url: str
    prompt_lead_minutes: int = Field(default=0, ge=0)
    listen_minutes: int = Field(default=60, gt=0)


class WatchMove(Model):
    """`booking.appointment_rescheduled`: the watch follows the appointment to `data.slot`."""

    event_id: str
    data: BookingEventData


class WatchCancel(Model):
    """`booking.appointment_cancelled`: the watch ends."""

    event_id: str


class WatchRecord(Model):
    """The watch as the store keeps it (the row replies are routed by)."""

    appointment_id: str
    workflow_id: str
    patient_id: str
    patient_phone: str | None
    status: WatchStatus
    slot_start: datetime
    prompt_at: datetime
    listen_until: datetime
    case_id: str | None = None


class WatchResult(Model):
    appointment_id: str
    status: WatchStatus
    prompts_sent: int
    ended_because: Literal[
        "listen_window_over", "cancelled", "opted_out", "unreachable", "no_phone", "landline"
    ]
    case_id: str | None = None


class TroubleCaseRequest(Model):
    """Open (or find) the check-in-trouble case for one appointment at one time."""

    appointment_id: str
    data: BookingEventData
    # the reply that reported the trouble (its provider id): it becomes the case's first message
    reply_ref: str | None = None


class TroubleCase(Model):
    case_id: str
    workflow_id: str
    reply_token: str
    status: CaseStatus
    opened: bool  # False: the case already existed (a second trouble reply, a re-run watch)


class CheckInTroubleInput(Model):
    case_id: str
    appointment_id: str
    data: BookingEventData
    policy: RecoveryPolicy
    public_base_url: str
    reply_token: str
    watch_workflow_id: str
