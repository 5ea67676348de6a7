"""Patients' emails (SendGrid Inbound Parse), stored before anything acts on them: matched to a case (by
the Reply-To token, else by the sender's open case), understood like a text message, and answered by a
rep. What the web does with one: `accept`; what the API lists and answers: `listing`, `get`, `answered`.

An email that needs a person is work for the rep router (`email-<email_id>`): kept in the inbox, in the
transaction that leaves the email waiting, as an instruction to offer it (source WORK_SOURCE), which the
dispatcher carries out now and the relay after a failure (`work_for` builds the work as it is then: an
email no longer waiting is withdrawn instead). Its answer, whoever sends it, is an instruction that the
work is done. A waiting email that has no instruction yet (the process died between storing it and
deciding) is found by the relay's `sweep_unrouted`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain import ids, inbound_email, inquiry, messages
from domain.base import CaseKind
from domain.cases import CaseStatus, TimelineEntry
from domain.masking import mask_contacts_everywhere
from domain.replies import Intent, Understood, understand
from domain.routing import WorkItem, WorkKind
from store import cases, consent, inbox, views
from store.db import Store
from store.models import Case, InboundEmail, ReceivedEvent, utcnow

WAITING = "waiting"  # for a person
ANSWERED = "answered"  # a rep's answer went out
UNDERSTOOD = "understood"  # makeright acted on it (a choice, an opt-out)
IGNORED = "ignored"  # an auto-reply or a bounce: never answered
STATUSES = (WAITING, ANSWERED, UNDERSTOOD, IGNORED)
SOURCE = "sendgrid_inbound"  # as the inbox names a choice handed to its case
OPEN_CASE = (CaseStatus.OPEN.value, CaseStatus.WAITING_PATIENT.value, CaseStatus.ESCALATED.value)
# the inbox rows that tell the rep router about an email's work (dispatch/dispatcher.py acts on them)
WORK_SOURCE = "sendgrid_email_work"
# a waiting email with no work yet after this long is routed by the relay's sweep (the web decides within
# a moment of storing it; one older was left undecided by a process that died)
UNROUTED_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Incoming:
    """An Inbound Parse post as the webhook read it."""

    from_address: str
    recipients: list[str]  # `to`, `cc` and the envelope's `to`, lower-cased
    subject: str
    text: str  # the new text only
    headers: dict[str, str]
    automatic: str | None  # why a machine sent it (domain.inbound_email.automatic)
    notes: tuple[str, ...] = ()  # what was dropped (attachments)

    @property
    def message_id(self) -> str | None:
        value = self.headers.get("message-id", "").strip()
        return value[:300] or None


@dataclass(frozen=True)
class Accepted:
    email_id: str
    case_id: str | None
    status: str
    why: str
    duplicate: bool
    # the inbox row to dispatch now: a choice handed to its case, or the work offered to reps
    event_row_id: int | None
    # an inquiry the email opened: the inbox row that starts its workflow, to dispatch first
    opened_row_id: int | None = None


def accept(store: Store, mail: Incoming, inbound_address: str) -> Accepted:
    """Store the email first (waiting for a person), then decide what it is and act: ignored (a machine's),
    understood (a choice goes to its case through the inbox as a text message's would; an opt-out stops
    email to the address) or, as stored, waiting for a person (anything else). A person's email from a
    sender with no case opens an inquiry case with it, in the same transaction, and the inbox row that
    starts its workflow (`opened_row_id`, dispatched like any other). Should acting fail half-way, the email
    is still there, waiting for a person. The same Message-ID again is a duplicate (SendGrid retries what
    it did not see answered): nothing new happens."""
    if mail.message_id:
        seen = _by_message_id(store, mail.message_id)
        if seen is not None:
            return seen
    email_id = f"em_{secrets.token_hex(8)}"
    understood = _understood(mail.text)
    inquiry_row: int | None = None
    try:
        with store.session() as s:
            case = _match_case(s, mail, inbound_address)
            if case is None and _opens_an_inquiry(mail, understood):
                inquiry_row = _open_inquiry(s, email_id, mail)
                case = s.scalars(select(Case).where(Case.conflict_key == ids.inquiry_key(email_id))).one()
            s.add(
                InboundEmail(
                    email_id=email_id,
                    message_id=mail.message_id,
                    case_id=case.case_id if case is not None else None,
                    from_address=mail.from_address,
                    subject=mail.subject[: inbound_email.MAX_SUBJECT],
                    text=mail.text,
                    status=WAITING,
                    why="received",
                    received_at=utcnow(),
                )
            )
            s.flush()
            if case is not None:
                s.expunge(case)  # read after the session, as it was when the email came
    except IntegrityError:
        # the same Message-ID stored by a concurrent post (SendGrid retried while the first was stored)
        seen = _by_message_id(store, mail.message_id or "")
        if seen is None:
            raise
        return seen
    row_id: int | None = None
    if inquiry_row is not None:
        status, why = WAITING, "a new inquiry: needs a person"
    else:
        status, why, row_id = _act(store, email_id, mail, understood, case)
    if mail.notes:
        why = f"{why}; {'; '.join(mail.notes)}"
    with store.session() as s:
        row = s.get(InboundEmail, email_id, with_for_update=True)
        assert row is not None
        if status == WAITING:  # needs a person: the router is told in the same transaction
            row_id = _tell_router(s, row, "offer")
        row.status, row.why, row.event_row_id = status, why[:300], row_id
    if case is not None:
        cases.add_timeline(
            store,
            TimelineEntry(
                case_id=case.case_id,
                what="email_received",
                key=f"email:{email_id}",
                detail={"email_id": email_id, "status": status, "why": mask_contacts_everywhere(why)},
            ),
        )
    return Accepted(email_id, case.case_id if case else None, status, why, False, row_id, inquiry_row)


def _opens_an_inquiry(mail: Incoming, understood: Understood) -> bool:
    """A person's email about something new: not a machine's, not an opt-out or opt-in (those are acted
    on), from an address a case can hold."""
    return (
        not mail.automatic
        and understood.intent not in (Intent.OPT_OUT, Intent.OPT_IN)
        and inquiry.can_open(mail.from_address)
    )


def _open_inquiry(s: Session, email_id: str, mail: Incoming) -> int:
    """The inquiry case this email opens (the patient known by their address: the id of their earlier
    cases, or a new random one; no patient data in any id) and the inbox row that starts its workflow
    (what the workflow needs: the patient as the dispatcher hands them over). The row's id."""
    key = ids.inquiry_key(email_id)
    case_id = ids.case_id_for(key)
    workflow_id = ids.inquiry_workflow_id(case_id)
    patient_id = cases.patient_id_by_email(s, mail.from_address) or f"pt-{secrets.token_hex(8)}"
    language = inquiry.language_of(f"{mail.subject}\n{mail.text}")
    opened = {"kind": CaseKind.INQUIRY.value, "email_id": email_id}
    cases.new_inquiry(
        s, case_id, workflow_id, key, patient_id, mail.from_address, inquiry.SUPPORT_DESK, opened
    )
    row = ReceivedEvent(
        source=inquiry.SOURCE,
        external_id=email_id,
        type=inquiry.OPENED,
        appointment_id=None,
        raw=b"",
        parsed={
            "email_id": email_id,
            "patient": {"id": patient_id, "name": "-", "email": mail.from_address, "locale": language},
        },
        case_id=case_id,
        workflow_id=workflow_id,
        status="pending",
        received_at=utcnow(),
    )
    s.add(row)
    s.flush()
    return row.id


def _act(
    store: Store, email_id: str, mail: Incoming, understood: Understood, case: Case | None
) -> tuple[str, str, int | None]:
    """What the email is, and what was done: (status, why, the inbox row of a choice handed to its case)."""
    if mail.automatic:
        return IGNORED, f"sent by a machine ({mail.automatic}): never answered", None
    if understood.intent in (Intent.OPT_OUT, Intent.OPT_IN):
        opted_out = understood.intent is Intent.OPT_OUT
        patient = case.patient_id if case is not None else None
        consent.record(store, "email", mail.from_address, opted_out, source=SOURCE, patient_id=patient)
        return UNDERSTOOD, "opted out of email" if opted_out else "opted back in to email", None
    if understood.intent is Intent.CHOICE and case is not None and _takes_choices(case):
        # handed to the case as a text message's choice would be: the inbox row names the case, and the
        # dispatcher signals its workflow (channel email) with what it understood
        row_id, _, _duplicate = inbox.accept_patient_answer(
            store,
            SOURCE,
            email_id,
            mail.from_address,
            str(understood.choice),
            case.case_id,
            {"channel": "email", "text": str(understood.choice)},
        )
        return UNDERSTOOD, f"choice {understood.choice} for its case", row_id
    if case is None:
        return WAITING, "no case found for the sender: needs a person", None
    if understood.intent is Intent.PERSON:
        return WAITING, "asked for a person", None
    return WAITING, "not understood: needs a person", None


def _takes_choices(case: Case) -> bool:
    """An open case that asks the patient to choose (an inquiry asks nothing: a "2" there is words for a
    person)."""
    return case.status in OPEN_CASE and case.kind != CaseKind.INQUIRY.value


def _understood(text: str) -> Understood:
    """The new text as a text message would be understood; when the whole is not, its first line (a
    reply of "1" above a line of thanks)."""
    whole = understand(text)
    if whole.intent is not Intent.UNKNOWN:
        return whole
    first = inbound_email.first_words(text)
    if first and first != text.strip():
        return understand(first)
    return whole


def _by_message_id(store: Store, message_id: str) -> Accepted | None:
    with store.session() as s:
        row = s.scalars(select(InboundEmail).where(InboundEmail.message_id == message_id)).first()
        if row is None:
            return None
        return Accepted(row.email_id, row.case_id, row.status, row.why or "", True, None)


def _match_case(s: Session, mail: Incoming, inbound_address: str) -> Case | None:
    """By the Reply-To token the patient answered to, else the sender's newest open case."""
    token = inbound_email.token_in(mail.recipients, inbound_address) if inbound_address else None
    if token is not None:
        case = cases.case_by_email_token(s, token)
        if case is not None:
            return case
    return s.scalars(
        select(Case)
        .where(func.lower(Case.patient_email) == mail.from_address.lower(), Case.status.in_(OPEN_CASE))
        .order_by(Case.opened_at.desc())
    ).first()


# ------------------------------------------------------------------ the API


def listing(store: Store, status: str | None, limit: int) -> list[InboundEmail]:
    with store.session() as s:
        query = select(InboundEmail).order_by(InboundEmail.received_at.desc()).limit(limit)
        if status:
            query = query.where(InboundEmail.status == status)
        return list(s.scalars(query))


def get(store: Store, email_id: str) -> InboundEmail | None:
    with store.session() as s:
        return s.get(InboundEmail, email_id)


def view(row: InboundEmail, unmasked: bool = False) -> dict[str, Any]:
    """CONTRACT.md's email JSON. The sender is never in it; contact details the patient wrote in the
    subject or text are masked for every caller but a supervisor and the rep it is assigned to."""
    shown = (lambda value: value) if unmasked else mask_contacts_everywhere
    return {
        "email_id": row.email_id,
        "case_id": row.case_id,
        "received_at": _iso(row.received_at),
        "status": row.status,
        "assigned_to": row.assigned_to,
        "answered_at": _iso(row.answered_at),
        "subject": shown(row.subject),
        "text": shown(row.text),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def answered(store: Store, email_id: str, user: str, text: str) -> int | None:
    """Mark the email answered by `user` (their answer went out) and, in the same transaction, tell the
    router its work is done: the inbox row to dispatch, or None when it was answered already."""
    with store.session() as s:
        row = s.get(InboundEmail, email_id, with_for_update=True)
        if row is None or row.status == ANSWERED:
            return None
        row.status = ANSWERED
        row.assigned_to = user[:100]
        row.answered_at = utcnow()
        row.answer_text = text
        return _tell_router(s, row, "done")


def case_kind_of(store: Store, email_id: str) -> str | None:
    """The kind of the email's case (what the console names its work by), None without one."""
    with store.session() as s:
        return s.scalar(
            select(Case.kind)
            .join(InboundEmail, InboundEmail.case_id == Case.case_id)
            .where(InboundEmail.email_id == email_id)
        )


def assign(store: Store, email_id: str, user: str) -> bool:
    """The rep who accepted the email's offer answers it (`assigned_to`); False when it no longer waits."""
    with store.session() as s:
        row = s.get(InboundEmail, email_id, with_for_update=True)
        if row is None or row.status != WAITING:
            return False
        row.assigned_to = user[:100]
        return True


# ------------------------------------------------------------------ work for the rep router


def _tell_router(s: Session, row: InboundEmail, step: str) -> int:
    """The inbox row that tells the router to offer the email's work (`offer`) or that it is done."""
    parsed = {"email_id": row.email_id, "step": step}
    return inbox.work_row(s, WORK_SOURCE, "email", row.email_id, step, parsed, row.case_id)


def sweep_unrouted(store: Store, older_than: timedelta = UNROUTED_AFTER, limit: int = 100) -> int:
    """Waiting emails the router was never told of (stored, then the process died before it decided):
    told now, for the relay to dispatch. Returns how many."""
    try:
        return _sweep(store, utcnow() - older_than, limit)
    except IntegrityError:
        return 0  # another relay told the router of one of them meanwhile: the next pass sees it


def _sweep(store: Store, cutoff: datetime, limit: int) -> int:
    with store.session() as s:
        rows = list(
            s.scalars(
                select(InboundEmail)
                .where(
                    InboundEmail.status == WAITING,
                    InboundEmail.event_row_id.is_(None),
                    InboundEmail.received_at < cutoff,
                )
                .order_by(InboundEmail.received_at)
                .limit(limit)
            )
        )
        for row in rows:
            seen = s.scalar(
                select(ReceivedEvent.id).where(
                    ReceivedEvent.source == WORK_SOURCE, ReceivedEvent.external_id == f"{row.email_id}:offer"
                )
            )
            row.event_row_id = seen if seen is not None else _tell_router(s, row, "offer")
        return len(rows)


def work_for(store: Store, email_id: str, locales: tuple[str, ...], default_locale: str) -> WorkItem | None:
    """The email's work as the router is offered it: the email's case (and its kind, the practice, the
    patient's language) when it has one; None when it no longer needs a person (answered, understood)."""
    with store.session() as s:
        row = s.get(InboundEmail, email_id)
        if row is None or row.status != WAITING:
            return None
        case = s.get(Case, row.case_id) if row.case_id else None
        if case is not None:
            s.expunge(case)
        arrived = _utc(row.received_at)
    default = messages.language_for(default_locale, locales, default_locale)
    language, case_kind, practice = default, "", ""
    if case is not None:
        booking = views.booking_data(store, case)
        case_kind = case.kind
        practice = booking.practice.name if booking is not None else case.practice_id
        if booking is not None and booking.patient.locale:
            language = messages.language_for(booking.patient.locale, locales, default)
    return WorkItem(
        work_id=inbound_email.work_id_of(email_id),
        kind=WorkKind.EMAIL,
        arrived_at=arrived,
        language=language,
        case_id=case.case_id if case is not None else None,
        case_kind=case_kind,
        practice=practice,
    )


# an email counts as answered in time when makeright acted on it, or a rep's answer went out, within this
WITHIN = 3600.0


@dataclass(frozen=True)
class EmailFigures:
    """Patients' emails that arrived since a moment (machines' mail left out: nobody answers it)."""

    emails_in: int
    answered_within_hour: int
    decided: int  # answered or acted on, or waiting longer than the hour: what the share is over
    first_reply_seconds: list[float]
    oldest_waiting_seconds: float | None


def first_reply_seconds(row: InboundEmail) -> float | None:
    """From arrival to the first reply: makeright's own act (a choice, an opt-out: at once) or a rep's
    answer; None while it waits."""
    if row.status == UNDERSTOOD:
        return 0.0
    if row.status == ANSWERED and row.answered_at is not None:
        return max(0.0, (_utc(row.answered_at) - _utc(row.received_at)).total_seconds())
    return None


def figures(store: Store, since: datetime, now: datetime) -> EmailFigures:
    """The wall's email numbers for what arrived since `since`. An email still waiting but not yet an hour
    old is undecided: it counts in `emails_in`, not in the share (it may still be answered in time)."""
    with store.session() as s:
        rows = list(
            s.scalars(
                select(InboundEmail).where(InboundEmail.received_at >= since, InboundEmail.status != IGNORED)
            )
        )
    replies = [(row, first_reply_seconds(row)) for row in rows]
    late = [
        row
        for row, seconds in replies
        if seconds is None and (now - row.received_at).total_seconds() > WITHIN
    ]
    waiting = [row for row in rows if row.status == WAITING]
    return EmailFigures(
        emails_in=len(rows),
        answered_within_hour=sum(1 for _, seconds in replies if seconds is not None and seconds <= WITHIN),
        decided=sum(1 for _, seconds in replies if seconds is not None) + len(late),
        first_reply_seconds=[seconds for _, seconds in replies if seconds is not None],
        oldest_waiting_seconds=(
            max((now - _utc(row.received_at)).total_seconds() for row in waiting) if waiting else None
        ),
    )


def result_totals(store: Store) -> dict[str, int]:
    """Every patient's email ever, by what became of it first: understood (makeright acted on it) or
    to_person (it needed a person's answer), for /metrics."""
    with store.session() as s:
        counts = dict(
            s.execute(
                select(InboundEmail.status, func.count())
                .where(InboundEmail.status != IGNORED)
                .group_by(InboundEmail.status)
            ).all()
        )
    return {
        "understood": counts.get(UNDERSTOOD, 0),
        "to_person": counts.get(WAITING, 0) + counts.get(ANSWERED, 0),
    }


def first_reply_seconds_all(store: Store) -> list[float]:
    """How long every replied email waited for its first reply, for /metrics."""
    with store.session() as s:
        rows = list(s.scalars(select(InboundEmail).where(InboundEmail.status.in_((UNDERSTOOD, ANSWERED)))))
    return [seconds for row in rows if (seconds := first_reply_seconds(row)) is not None]


def _utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
