"""What the local phone (`/dev/phone`) shows: what the local providers "delivered" (`local_deliveries`)
and what each address answered, as a phone would show it. One session per page load."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain import conversation
from domain.conversation import Question
from domain.messages import voice_thanks
from store import local_calls
from store.conversation import open_questions
from store.db import Store
from store.models import (
    Case,
    InboundEmail,
    InboundMessage,
    LocalDelivery,
    ReceivedEvent,
    SupportCall,
    User,
    utcnow,
)

THREAD_LIMIT = 300  # the newest entries of one thread
CONTACT_LIMIT = 200


@dataclass
class Contact:
    address: str
    name: str | None
    last_at: datetime | None  # None: a console user's phone nothing has reached yet
    preview: str
    preview_kind: str  # sms | voice | email | reply
    unanswered_calls: int

    @property
    def is_email(self) -> bool:
        return "@" in self.address


@dataclass
class Entry:
    kind: str  # sms | voice | email | reply | mail_out (an email the patient wrote to support)
    id: int
    at: datetime
    body: str
    subject: str | None = None
    from_address: str | None = None
    language: str = "en"
    answered: str | None = None
    spoken_reply: str | None = None
    channel: str | None = None  # a reply's channel
    routed: str | None = None  # a reply: what it answered on the conversation (offer, rating, person, …)
    # a leg of a "Call patient" bridge or of an offer call: rep (our call to the rep) or patient (the rep's
    # call dialling in), and where it stands: ringing | whisper (an offer answered, waiting for the rep's
    # key) | on_call (the rep is on the line, nobody dialled) | dialling (the rep waits for the patient) |
    # connected | ended | missed
    bridge: str | None = None
    bridge_state: str | None = None
    bridge_seconds: int = 0
    offer: bool = False  # the rep's offer call: the whisper, and a key to take the work
    call_status: str | None = None  # Twilio's status of the leg (missed: no-answer, busy, canceled, failed)
    # an email the patient got: where a mail client sends the answer (Reply-To); one they wrote (mail_out):
    # what became of it (store/inbound_email.py: waiting | answered | understood | ignored) and why
    reply_to: str | None = None
    email_id: str | None = None
    email_status: str | None = None
    why: str | None = None


@dataclass
class Thread:
    address: str
    name: str | None = None
    case_id: str | None = None
    case_status: str | None = None
    case_kind: str | None = None
    # the patient's conversation: the questions open now, newest first (what a reply would answer)
    questions: list[Question] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    # a rep's (or any console user's) phone: no patient language, no patient quick replies
    is_staff: bool = False
    # the practice the newest case is about: makeright calls and texts on its behalf
    practice_name: str | None = None

    @property
    def is_email(self) -> bool:
        return "@" in self.address


@dataclass(frozen=True)
class Page:
    contacts: list[Contact]
    thread: Thread | None  # the chosen address's conversation
    version: str


@dataclass(frozen=True)
class Mail:
    """An email the local mailbox delivered, as the patient's mail client answers it."""

    id: int
    provider_id: str
    to_address: str
    from_address: str
    subject: str | None
    body: str
    reply_to: str | None
    at: datetime

    @property
    def message_id(self) -> str:
        """The Message-ID header the mail arrived with (the local SendGrid's: its provider id)."""
        return message_id_of(self.provider_id)


def message_id_of(provider_id: str) -> str:
    return f"<{provider_id}@makeright.local>"


def mail(store: Store, delivery_id: int) -> Mail | None:
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id)
        if row is None or row.channel != "email":
            return None
        return Mail(
            id=row.id,
            provider_id=row.provider_id,
            to_address=row.to_address,
            from_address=row.from_address,
            subject=row.subject,
            body=row.body,
            reply_to=row.reply_to,
            at=row.created_at,
        )


@dataclass(frozen=True)
class Call:
    """A delivered voice call the person at the keyboard may answer with a key."""

    id: int
    channel: str
    provider_id: str
    to_address: str
    gather_action_url: str | None
    answered: str | None


def page(store: Store, to: str | None) -> Page:
    """Every contact, the conversation with `to` (if any), and the page's version."""
    with store.session() as s:
        contacts = _contacts(s)
        thread = _thread(s, to, [c.address for c in contacts]) if to else None
        return Page(contacts, thread, _version(s))


def version(store: Store) -> str:
    """Changes whenever anything the page shows changes: the poll swaps the page's parts only then."""
    with store.session() as s:
        return _version(s)


def call(store: Store, delivery_id: int) -> Call | None:
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id)
        if row is None:
            return None
        return Call(
            id=row.id,
            channel=row.channel,
            provider_id=row.provider_id,
            to_address=row.to_address,
            gather_action_url=row.gather_action_url,
            answered=row.answered,
        )


def mark_answered(store: Store, delivery_id: int, digits: str) -> None:
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id)
        if row is not None:
            row.answered = digits


def _version(s: Session) -> str:
    deliveries = s.execute(select(func.max(LocalDelivery.id), func.count(LocalDelivery.answered))).one()
    reply = s.scalar(select(func.max(InboundMessage.id)))
    # calls to the support line: one arriving, answered by a rep, or ended changes what the caller sees
    line = s.execute(
        select(
            func.count(SupportCall.id), func.count(SupportCall.answered_at), func.count(SupportCall.ended_at)
        )
    ).one()
    calls = f"{line[0]}-{line[1]}-{line[2]}"
    # patients' emails to support: one arriving, or answered by a rep
    mails = s.execute(select(func.count(InboundEmail.email_id), func.count(InboundEmail.answered_at))).one()
    return (
        f"{deliveries[0] or 0}.{deliveries[1] or 0}.{reply or 0}.{local_calls.version_in(s)}.{calls}"
        f".{mails[0]}-{mails[1]}"
    )


def _staff(s: Session, addresses: list[str] | None = None) -> dict[str, str]:
    """The console users' phones (all of them, or those among `addresses`): phone → username."""
    query = select(User.phone, User.username).where(User.phone.is_not(None), User.active.is_(True))
    if addresses is not None:
        query = query.where(User.phone.in_(addresses))
    return {phone: user for phone, user in s.execute(query.order_by(User.username)).all() if phone}


def staff_label(user: str) -> str:
    return f"rep {user}"


def _names(s: Session, addresses: list[str]) -> tuple[dict[str, str], dict[str, Case]]:
    """Patient names and newest case by address, from the cases and the booking events that opened them."""
    if not addresses:
        return {}, {}
    cases = list(
        s.scalars(
            select(Case)
            .where((Case.patient_phone.in_(addresses)) | (Case.patient_email.in_(addresses)))
            .order_by(Case.opened_at)
        )
    )
    newest: dict[str, Case] = {}
    for case in cases:
        for address in (case.patient_phone, case.patient_email):
            if address:
                newest[address] = case
    # a check-in-trouble case has no booking event of its own: the name comes from the newest case that has
    case_ids = {case.case_id for case in cases}
    events = s.execute(
        select(ReceivedEvent.case_id, ReceivedEvent.parsed).where(
            ReceivedEvent.source == "booking", ReceivedEvent.case_id.in_(case_ids)
        )
    ).all()
    name_by_case: dict[str, str] = {}
    for case_id, parsed in events:
        name = ((parsed or {}).get("data") or {}).get("patient", {}).get("name")
        if case_id and isinstance(name, str) and name:
            name_by_case[case_id] = name
    names: dict[str, str] = {}
    for case in cases:  # oldest first: the newest case with a name has the last word
        for address in (case.patient_phone, case.patient_email):
            if address and case.case_id in name_by_case:
                names[address] = name_by_case[case.case_id]
    return names, newest


def _contacts(s: Session) -> list[Contact]:
    """Every address that received something, newest activity first; then the console users' phones nothing
    reached yet, so the person at the keyboard can open a rep's phone before the first offer rings."""
    contacts = _delivered_contacts(s)
    listed = {c.address for c in contacts}
    for contact in _writers(s, listed):
        if len(contacts) < CONTACT_LIMIT:
            contacts.append(contact)
            listed.add(contact.address)
    contacts.sort(key=lambda c: c.last_at or datetime.min, reverse=True)
    for phone, user in _staff(s).items():
        if phone not in listed and len(contacts) < CONTACT_LIMIT:
            contacts.append(
                Contact(
                    address=phone,
                    name=staff_label(user),
                    last_at=None,
                    preview="No calls yet: work offered to them rings here",
                    preview_kind="voice",
                    unanswered_calls=0,
                )
            )
    return contacts


def _writers(s: Session, listed: set[str]) -> list[Contact]:
    """Addresses that wrote to support but never got anything (yet): a sender with no case."""
    rows = s.execute(
        select(InboundEmail.from_address, func.max(InboundEmail.received_at))
        .group_by(InboundEmail.from_address)
        .order_by(func.max(InboundEmail.received_at).desc())
        .limit(CONTACT_LIMIT)
    ).all()
    found = []
    for address, at in rows:
        if address in listed:
            continue
        last = s.scalars(
            select(InboundEmail)
            .where(InboundEmail.from_address == address)
            .order_by(InboundEmail.received_at.desc())
            .limit(1)
        ).first()
        found.append(
            Contact(
                address=address,
                name=None,
                last_at=at,
                preview=(last.subject or last.text) if last is not None else "",
                preview_kind="reply",
                unanswered_calls=0,
            )
        )
    return found


def _delivered_contacts(s: Session) -> list[Contact]:
    rows = s.execute(
        select(
            LocalDelivery.to_address,
            func.max(LocalDelivery.id),
            func.max(LocalDelivery.created_at),
        )
        .group_by(LocalDelivery.to_address)
        .order_by(func.max(LocalDelivery.created_at).desc())
        .limit(CONTACT_LIMIT)
    ).all()
    addresses = [row[0] for row in rows]
    if not addresses:
        return []
    last_delivery = {
        d.to_address: d
        for d in s.scalars(select(LocalDelivery).where(LocalDelivery.id.in_([row[1] for row in rows])))
    }
    unanswered = dict(
        s.execute(
            select(LocalDelivery.to_address, func.count())
            .where(
                LocalDelivery.to_address.in_(addresses),
                LocalDelivery.channel == "voice",
                LocalDelivery.answered.is_(None),
                LocalDelivery.gather_action_url.is_not(None),
            )
            .group_by(LocalDelivery.to_address)
        ).all()
    )
    reply_ids = [
        row[1]
        for row in s.execute(
            select(InboundMessage.from_address, func.max(InboundMessage.id))
            .where(InboundMessage.from_address.in_(addresses))
            .group_by(InboundMessage.from_address)
        ).all()
    ]
    last_reply = {
        r.from_address: r for r in s.scalars(select(InboundMessage).where(InboundMessage.id.in_(reply_ids)))
    }
    for mail_row in s.scalars(
        select(InboundEmail)
        .where(InboundEmail.from_address.in_(addresses))
        .order_by(InboundEmail.received_at.desc())
        .limit(CONTACT_LIMIT)
    ):
        seen = last_reply.get(mail_row.from_address)
        if seen is None or seen.received_at < mail_row.received_at:
            last_reply[mail_row.from_address] = InboundMessage(
                channel="email",
                body=mail_row.subject or mail_row.text,
                received_at=mail_row.received_at,
            )
    names, _ = _names(s, addresses)
    staff = _staff(s, addresses)
    contacts: list[Contact] = []
    for address in addresses:
        delivery = last_delivery[address]
        at, kind = delivery.created_at, delivery.channel
        preview = delivery.subject if delivery.channel == "email" and delivery.subject else delivery.body
        reply = last_reply.get(address)
        if reply is not None and reply.received_at >= at:
            at, kind, preview = reply.received_at, "reply", reply.body
        contacts.append(
            Contact(
                address=address,
                name=staff_label(staff[address]) if address in staff else names.get(address),
                last_at=at,
                preview=preview,
                preview_kind=kind,
                unanswered_calls=int(unanswered.get(address, 0)),
            )
        )
    contacts.sort(key=lambda c: c.last_at or datetime.min, reverse=True)
    return contacts


def _thread(s: Session, address: str, known: list[str]) -> Thread:
    """One address's conversation, oldest first: what it received, and what it answered."""
    deliveries = list(
        s.scalars(
            select(LocalDelivery)
            .where(LocalDelivery.to_address == address)
            .order_by(LocalDelivery.id.desc())
            .limit(THREAD_LIMIT)
        )
    )
    replies = list(
        s.scalars(
            select(InboundMessage)
            .where(InboundMessage.from_address == address)
            .order_by(InboundMessage.id.desc())
            .limit(THREAD_LIMIT)
        )
    )
    thread = Thread(address=address)
    names, newest = _names(s, [address])
    staff = _staff(s, [address])
    thread.name = staff_label(staff[address]) if address in staff else names.get(address)
    case = newest.get(address)
    if case is not None:
        thread.case_id, thread.case_status, thread.case_kind = case.case_id, case.status, case.kind
        other = case.patient_email if address == case.patient_phone else case.patient_phone
        if other and other != address and other in known:
            thread.linked.append(other)
    if not thread.is_email:
        thread.questions = conversation.open_newest_first(open_questions(s, address), utcnow())
    calls = {d.provider_id for d in deliveries if d.channel == "voice"}
    for d in deliveries:
        entry = Entry(
            kind=d.channel,
            id=d.id,
            at=d.created_at,
            body=d.body,
            subject=d.subject,
            from_address=d.from_address,
            language=d.language,
            answered=d.answered,
            spoken_reply=voice_thanks(d.language) if d.answered is not None else None,
            reply_to=d.reply_to,
        )
        if d.channel == "voice" and d.call_status is not None:
            _bridge_state(s, entry)
        thread.entries.append(entry)
    written = _written(s, address) if thread.is_email else []
    by_email = {e.email_id: e for e in written}
    thread.entries.extend(written)
    for r in replies:
        if r.channel == "voice" and r.provider_id.split(":", 1)[0] in calls:
            continue  # shown on its call's card
        if r.provider_id in by_email:  # a choice by email: shown on the email, with what it answered
            by_email[r.provider_id].routed = r.answered
            continue
        thread.entries.append(
            Entry(kind="reply", id=r.id, at=r.received_at, body=r.body, channel=r.channel, routed=r.answered)
        )
    thread.entries.sort(key=lambda e: (e.at, e.kind == "reply", e.id))
    thread.entries = thread.entries[-THREAD_LIMIT:]
    thread.is_staff = any(e.bridge == "rep" for e in thread.entries) or address in staff
    if thread.case_id is not None:
        thread.practice_name = _practice_name(s, thread.case_id)
    return thread


def _written(s: Session, address: str) -> list[Entry]:
    """The emails `address` wrote to support (SendGrid Inbound Parse), as the webhook kept them: the new
    text only, and what became of each."""
    rows = s.scalars(
        select(InboundEmail)
        .where(InboundEmail.from_address == address.lower())
        .order_by(InboundEmail.received_at.desc())
        .limit(THREAD_LIMIT)
    )
    return [
        Entry(
            kind="mail_out",
            id=index,
            at=row.received_at,
            body=row.text,
            subject=row.subject,
            email_id=row.email_id,
            email_status=row.status,
            why=row.why,
        )
        for index, row in enumerate(rows)
    ]


def _practice_name(s: Session, case_id: str) -> str | None:
    parsed = s.scalar(
        select(ReceivedEvent.parsed)
        .where(ReceivedEvent.source == "booking", ReceivedEvent.case_id == case_id)
        .order_by(ReceivedEvent.id)
        .limit(1)
    )
    name = ((parsed or {}).get("data") or {}).get("practice", {}).get("name")
    return name if isinstance(name, str) and name else None


def _bridge_state(s: Session, entry: Entry) -> None:
    leg = local_calls.leg_in(s, entry.id)
    if leg is None:
        return
    other = local_calls.other_leg_in(s, leg)
    entry.bridge = "rep" if leg.is_rep_leg else "patient"
    entry.bridge_seconds = leg.seconds()
    entry.offer = leg.is_offer
    entry.call_status = leg.status
    if leg.status == "ringing":
        entry.bridge_state = "ringing"
    elif (
        leg.status == "in-progress" and leg.is_offer and (other is None or other.status in local_calls.ENDED)
    ):
        # the whisper waits for a key; or the key was pressed and nobody is being dialled (yet, or any more)
        entry.bridge_state = "whisper" if leg.keyed is None and other is None else "on_call"
    elif leg.status == "in-progress":
        connected = other is not None and other.status == "in-progress"
        entry.bridge_state = "connected" if connected or not leg.is_rep_leg else "dialling"
    elif leg.status == "completed":
        entry.bridge_state = "ended"
    else:
        entry.bridge_state = "missed"
