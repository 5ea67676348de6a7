"""Tables of the case store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware on every backend (SQLite stores naive values; we store and return UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON}


class ReceivedEvent(Base):
    """The inbox: every accepted event, raw and parsed, stored before anything acts on it."""

    __tablename__ = "received_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # booking | twilio_sms | twilio_voice | patient_link
    external_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    appointment_id: Mapped[str | None] = mapped_column(String(100), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    parsed: Mapped[dict[str, Any]] = mapped_column(JSON)
    case_id: Mapped[str | None] = mapped_column(String(40), index=True)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    # pending → dispatched | ignored; a relay retries pending ones
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    # a relay (or the inline dispatch) holds the row while it acts on it; a lapsed lease frees it
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_received_events_source_id"),)


class EventTally(Base):
    """How many booking events were received, by type and result (accepted | duplicate | invalid |
    unauthorized), for /metrics: in the database, so every web replica reports the same counts."""

    __tablename__ = "event_tallies"

    type: Mapped[str] = mapped_column(String(100), primary_key=True)
    result: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class DeadLetter(Base):
    """Input that could not be accepted, kept with its reasons for inspection; never acted on."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # an engineer resubmitted it (`cli.py dead-letters resubmit`) and it was valid then: when, by whom,
    # and the inbox row it became (a duplicate's row is the one stored before)
    resubmitted_at: Mapped[datetime | None] = mapped_column()
    resubmitted_by: Mapped[str | None] = mapped_column(String(100))
    resubmitted_as: Mapped[int | None] = mapped_column(Integer)


class Case(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    conflict_key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))
    needs_rep: Mapped[bool] = mapped_column(default=False)
    appointment_id: Mapped[str] = mapped_column(String(100), index=True)
    patient_id: Mapped[str] = mapped_column(String(100), index=True)
    patient_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    patient_email: Mapped[str | None] = mapped_column(String(254))
    practice_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    original_slot: Mapped[dict[str, Any]] = mapped_column(JSON)
    new_slot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    root_cause: Mapped[str | None] = mapped_column(String(100))
    ticket_id: Mapped[str | None] = mapped_column(String(40))
    # capability for the patient's choice links in emails
    reply_token: Mapped[str] = mapped_column(String(40))
    # names the case in the Reply-To of its emails (care+<token>@…): random, no patient data, made when the
    # case's first email to the patient goes out
    email_token: Mapped[str | None] = mapped_column(String(40), unique=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    # why the case is `failed`: workflow_failed|workflow_timed_out|workflow_terminated|escalation_expired
    failure_kind: Mapped[str | None] = mapped_column(String(40))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    failure_at: Mapped[datetime | None] = mapped_column()
    # the workflow run that failed (a retry starts a new run; a report on the old one is then stale)
    failure_run_id: Mapped[str | None] = mapped_column(String(64))
    # the patient's answer to the request to rate the case, loaded with it (one small query per load)
    feedback: Mapped[Feedback | None] = relationship(lazy="selectin", viewonly=True)


class CaseOffer(Base):
    """The slots offered to the patient in one round of a case, as texted: a re-run finds the same ones
    (the patient's "1" means the first slot they were sent, whatever the calendar says now)."""

    __tablename__ = "case_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    offer_round: Mapped[int] = mapped_column()
    offers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("case_id", "offer_round", name="uq_case_offers_round"),)


class TimelineItem(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    what: Mapped[str] = mapped_column(String(60))
    # a retried activity writes its entry once: (case_id, key) is unique when a key is given
    key: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_timeline_case_key"),)


class OutboundMessageRow(Base):
    """Send-once: the intent is written before the provider call, the provider's id after it.
    One row per (case, channel, key): the SMS and the email of one step are two messages."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # intent → sending → sent | rejected | failed_retryable | unknown
    status: Mapped[str] = mapped_column(String(20), default="intent")
    # what the provider reported afterwards (delivered, undelivered, bounce, no-answer, …); send-once
    # never looks at it, so a late report cannot make a message go twice
    delivery_status: Mapped[str | None] = mapped_column(String(30))
    provider_id: Mapped[str | None] = mapped_column(String(100), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # set when the message went out again because an earlier attempt's outcome could not be known (a
    # provider that cannot be asked what it sent): the patient may have it twice, and this says why
    resent_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("case_id", "channel", "key", name="uq_outbound_case_channel_key"),)


class LocalDelivery(Base):
    """What the local providers 'delivered': the local phone's and mailbox's view, shown on /dev/phone."""

    __tablename__ = "local_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    from_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    gather_action_url: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(10), default="en")
    # email: where the patient's reply goes (the Reply-To), and the message it answers (In-Reply-To)
    reply_to: Mapped[str | None] = mapped_column(String(254))
    in_reply_to: Mapped[str | None] = mapped_column(String(300))
    answered: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a "Call patient" bridge: the rep's leg dials `dial` once answered; the patient's leg names the rep's
    # call as its parent (Twilio's ParentCallSid); both legs go ringing → in-progress → completed (or
    # no-answer, busy, canceled)
    dial: Mapped[str | None] = mapped_column(String(254))
    parent_id: Mapped[str | None] = mapped_column(String(100))
    call_status: Mapped[str | None] = mapped_column(String(20))
    call_answered_at: Mapped[datetime | None] = mapped_column()
    call_ended_at: Mapped[datetime | None] = mapped_column()


class InboundMessage(Base):
    """A patient's answer as received (SMS body, keypad digits, a choice link)."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    provider_id: Mapped[str] = mapped_column(String(100), unique=True)
    from_address: Mapped[str] = mapped_column(String(254), index=True)
    body: Mapped[str] = mapped_column(Text)
    case_id: Mapped[str | None] = mapped_column(String(40), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # what it answered on the patient's conversation: offer | checkin_prompt | rating (an open question),
    # person (it fitted none, or two), consent (START / STOP with no question open), link (a link or a
    # call named its case); and why, in words
    answered: Mapped[str | None] = mapped_column(String(20))
    why: Mapped[str | None] = mapped_column(String(200))


class InboundEmail(Base):
    """A patient's email to us (SendGrid Inbound Parse), stored before anything acts on it. `text` is the
    new part only (quoted history and signature removed); the sender is kept for the answer and shown
    masked. waiting (for a person) | answered (a rep's answer went out) | understood (makeright acted on
    it: a choice, an opt-out) | ignored (an auto-reply or a bounce: never answered)."""

    __tablename__ = "inbound_emails"

    email_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # the sender's Message-ID (threading, and de-duplication of SendGrid's retries)
    message_id: Mapped[str | None] = mapped_column(String(300), unique=True)
    case_id: Mapped[str | None] = mapped_column(String(40), index=True)
    from_address: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)
    why: Mapped[str | None] = mapped_column(String(300))
    # the inbox row it was handed to its case by (a choice), if any
    event_row_id: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(100))
    answered_at: Mapped[datetime | None] = mapped_column()
    answer_text: Mapped[str | None] = mapped_column(Text)


class LedgerEntry(Base):
    """Money owed or paid to patients. One entry per idempotency key: a replay cannot pay twice."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    patient_id: Mapped[str] = mapped_column(String(100), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    # reserved (fits the caps, being ordered) | issued | pending_approval | denied
    status: Mapped[str] = mapped_column(String(20))
    provider_order_id: Mapped[str | None] = mapped_column(String(100))
    denied_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # when it was reserved or issued: the UTC day it counts against, and the patient's rolling year
    issued_at: Mapped[datetime | None] = mapped_column(index=True)
    # why a payment waits for a person (the cap or the budget it would break)
    hold_reason: Mapped[str | None] = mapped_column(Text)


class LedgerLock(Base):
    """One row, updated first in every check-and-reserve: concurrent reservations run one at a time, so two
    cases can never both take the last of the budget (a row lock on PostgreSQL, the write lock on SQLite)."""

    __tablename__ = "ledger_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    reservations: Mapped[int] = mapped_column(default=0)


class GiftCardOrder(Base):
    """The local gift-card provider's own book of orders (idempotent on external_ref, like Tango RaaS).
    The patient's link (`/gift/<link_token>`) is the card: a random token of its own, never the order id
    (which staff may see)."""

    __tablename__ = "gift_card_orders"

    order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(100), unique=True)
    link_token: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A problem ticket: one per cause and practice, counting occurrences (ITIL problem management)."""

    __tablename__ = "tickets"

    ticket_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cause: Mapped[str] = mapped_column(String(100))
    practice_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | fixed
    occurrences: Mapped[int] = mapped_column(Integer, default=0)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    # the issue in the external tracker (TRACKER_MODE jira or github): its key (PRJ-12, or the GitHub
    # issue number) and web address, once known
    external_ref: Mapped[str | None] = mapped_column(String(100))
    external_url: Mapped[str | None] = mapped_column(String(500))
    # a sync that is creating the external issue right now (others wait rather than create a second)
    external_claimed_at: Mapped[datetime | None] = mapped_column()
    external_claimed_by: Mapped[str | None] = mapped_column(String(40))  # the case whose sync creates it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("cause", "practice_id", name="uq_tickets_cause_practice"),)


class TicketLink(Base):
    __tablename__ = "ticket_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id"), index=True)
    case_id: Mapped[str] = mapped_column(String(40), unique=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    # this occurrence's comment is on the external issue (so a retried or re-run sync comments once)
    external_synced_at: Mapped[datetime | None] = mapped_column()


class CalendarEntry(Base):
    """The practice calendar of the local scheduling adapter: what is booked or blocked."""

    __tablename__ = "calendar_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[str] = mapped_column(String(100), index=True)
    provider_id: Mapped[str] = mapped_column(String(100))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    appointment_id: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # booked | blocked

    __table_args__ = (
        UniqueConstraint("provider_id", "start", name="uq_calendar_provider_start"),
        Index("ix_calendar_provider_window", "provider_id", "start", "end"),
    )


class KnownProvider(Base):
    """Providers the scheduling adapter has seen, for 'same specialty nearby' offers."""

    __tablename__ = "known_providers"

    provider_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str] = mapped_column(String(100), index=True)
    practice: Mapped[dict[str, Any]] = mapped_column(JSON)


class EscalationRow(Base):
    """An escalation as the console and the API read it; written by the Escalation workflow."""

    __tablename__ = "escalations"

    escalation_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    appointment_id: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer, default=0)
    level_name: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | claimed | resolved | expired
    claimed_by: Mapped[str | None] = mapped_column(String(100), index=True)
    sla_deadline: Mapped[datetime] = mapped_column(index=True)
    breached: Mapped[bool] = mapped_column(default=False)
    pending_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    pending_currency: Mapped[str | None] = mapped_column(String(3))
    approved_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    denied_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(String(100))
    compensation_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    calls_placed: Mapped[int] = mapped_column(Integer, default=0)
    alerted: Mapped[bool] = mapped_column(default=False)
    # the state as the workflow last wrote it (the policy it follows, for the console's allowed actions)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class User(Base):
    """A console user (rep, supervisor, engineer, auditor). Passwords are kept as scrypt hashes."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # where the bridge call rings the rep (never shown to patients)
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A console login. Only a hash of the cookie's token is stored."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class LoginFailure(Base):
    """A failed console sign-in, by the name tried (existing or not) and the address it came from: the
    throttle counts these, in the database so every web replica sees the same count."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(index=True)


class LoginThrottle(Base):
    """Console sign-in attempts in a row, per name tried (`user:<name>`, existing or not) and per client
    address (`addr:<ip>`): each attempt is reserved here, in one statement, before its password is hashed,
    and pushes `not_before` (epoch seconds) out by a back-off that doubles. In the database, so every web
    replica counts the same attempts."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[float] = mapped_column(Float, default=0.0)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)


class CheckInWatchRow(Base):
    """An appointment whose check-in is watched: where patient replies to the prompt are routed."""

    __tablename__ = "checkin_watches"

    appointment_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), unique=True)
    patient_id: Mapped[str] = mapped_column(String(100))
    patient_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    # waiting (timer to the prompt) | listening (prompt sent) | trouble (a case opened) | ended
    status: Mapped[str] = mapped_column(String(20), index=True)
    slot_start: Mapped[datetime] = mapped_column()
    prompt_at: Mapped[datetime] = mapped_column()
    listen_until: Mapped[datetime] = mapped_column()
    case_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Consent(Base):
    """A patient's word on being contacted by one channel at one address (STOP / START), honoured at the
    moment of sending by every workflow, running or future."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(254))
    patient_id: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20))  # opted_out | opted_in
    source: Mapped[str] = mapped_column(String(40))  # where the patient said it (twilio_sms, …)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("channel", "address", name="uq_consents_channel_address"),)


class Feedback(Base):
    """The request to rate a resolved case (one per case) and the patient's answer. While `asked` and
    before `expires_at`, the patient's replies by phone number route to its FeedbackRequest workflow."""

    __tablename__ = "feedback"

    case_id: Mapped[str] = mapped_column(String(40), ForeignKey("cases.case_id"), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    # asked | answered | expired | opted_out | not_sent
    status: Mapped[str] = mapped_column(String(20), default="asked", index=True)
    channel: Mapped[str] = mapped_column(String(10))  # how it was asked: sms | email
    patient_phone: Mapped[str | None] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(5), default="en")
    asked_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(index=True)


class RepOnDuty(Base):
    """A rep as the router workflow (workflows/rep_router.py) last saved them: the router holds the truth,
    this is its projection for GET /api/reps, the console and the wall. No phone numbers here. `updated_at`
    is the time of the router's snapshot that wrote the row, so an older snapshot saved late is ignored."""

    __tablename__ = "reps_on_duty"

    user: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # available|offered|busy|wrap_up|away
    since: Mapped[datetime] = mapped_column()
    languages: Mapped[list[str]] = mapped_column(JSON)
    missed_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    missed_total: Mapped[int] = mapped_column(Integer, default=0)
    # what they are offered or working on (an escalation id, a call's, an email's)
    work_id: Mapped[str | None] = mapped_column(String(200), index=True)
    offer_expires_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class SupportCall(Base):
    """A patient's call to the support line (`TWILIO_FROM_NUMBER`'s Voice URL): stored before anything acts
    on it. `status`: waiting (held for a rep; `offered`, a rep's phone ringing for it, is left to the
    router's floor, which knows it, and not written here) |
    answered (a rep took it) | abandoned (the caller hung up first) | callback (the caller asked to be called
    back) | keypad (they pressed their booking choice during the greeting: no person needed).
    `first_ring`: a rep accepted it within 6 s of its arrival (CONTRACT.md). No case: a caller the
    store does not know by number."""

    __tablename__ = "support_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str | None] = mapped_column(String(40), index=True)
    language: Mapped[str] = mapped_column(String(10), default="en")
    arrived_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default="waiting", index=True)
    answered_at: Mapped[datetime | None] = mapped_column()
    answered_by: Mapped[str | None] = mapped_column(String(100))
    ended_at: Mapped[datetime | None] = mapped_column()
    first_ring: Mapped[bool] = mapped_column(default=False)
