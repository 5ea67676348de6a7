"""Send-once bookkeeping for outbound messages, with each message's steps on its case's timeline, and the
local providers' delivery log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from domain import contact_rules
from domain.cases import TimelineEntry
from domain.masking import mask_text
from domain.messaging import ContactHistory, ContactHistoryRequest, OutboundMessage
from store import cases, consent
from store.db import Store, insert_once
from store.models import Case, InboundMessage, LocalDelivery, OutboundMessageRow, utcnow


@dataclass(frozen=True)
class Intent:
    id: int
    status: str
    provider_id: str | None
    created_at: datetime
    attempts: int
    last_error: str | None
    resent_reason: str | None = None


def begin(store: Store, msg: OutboundMessage) -> Intent:
    """Record the intent to send (once), count this attempt, and return the intent as it stood before."""
    intent = _begin(store, msg, consent_first=False)
    assert intent is not None
    return intent


def begin_unless_opted_out(store: Store, msg: OutboundMessage) -> Intent | None:
    """`begin`, in the same transaction as the look at the patient's consent: None when they opted out of
    this channel (nothing recorded but `<channel>_withheld` on the case's timeline)."""
    return _begin(store, msg, consent_first=True)


def _begin(store: Store, msg: OutboundMessage, consent_first: bool) -> Intent | None:
    """The intent is INSERTed once (… ON CONFLICT DO NOTHING on (case, channel, key), which waits for a
    concurrent attempt's to commit): a first attempt is that one statement. A later attempt locks the row
    it finds, returns it as it stood, and counts itself, unless the message went out or was refused."""
    with store.session() as s:
        if consent_first and consent.opted_out_in(s, msg.channel.value, msg.to):
            withheld = _step(msg, f"{msg.channel.value}_withheld", ":withheld", {"reason": "opted_out"})
            cases.timeline_in(s, withheld)
            return None
        conn = s.connection()
        now, table = utcnow(), OutboundMessageRow
        first = conn.execute(
            insert_once(s, table, ("case_id", "channel", "key")).returning(table.id),
            dict(
                case_id=msg.case_id,
                key=msg.key,
                channel=msg.channel.value,
                to_address=msg.to,
                subject=msg.subject,
                body=msg.body,
                status="sending",
                attempts=1,
                created_at=now,
            ),
        ).scalar()
        if first is not None:
            return Intent(int(first), "intent", None, now, 0, None)  # as it stood before this attempt
        row = conn.execute(
            select(
                table.id,
                table.status,
                table.provider_id,
                table.created_at,
                table.attempts,
                table.last_error,
                table.resent_reason,
            )
            .where(table.case_id == msg.case_id, table.channel == msg.channel.value, table.key == msg.key)
            .with_for_update()
        ).one()
        before = Intent(*row)
        if before.status not in ("sent", "rejected"):
            counted = {"attempts": table.attempts + 1, "status": "sending"}
            conn.execute(update(table).where(table.id == before.id).values(counted))
        return before


def finish(
    store: Store, intent_id: int, status: str, provider_id: str | None = None, error: str | None = None
) -> None:
    with store.session() as s:
        _update_in(s, intent_id, _finished(status, provider_id, error))


def sent(store: Store, intent_id: int, provider_id: str, msg: OutboundMessage, what: str) -> None:
    """The provider took the message (`what` on the timeline, with its id)."""
    step = _step(msg, what, "", {"provider_id": provider_id})
    _row_and_step(store, intent_id, _finished("sent", provider_id, None), step)


def rejected(store: Store, intent_id: int, msg: OutboundMessage, status: int, reason: str) -> None:
    """The provider refused the message for good: `<channel>_failed` on the timeline, the reason masked."""
    detail = {"status": status, "reason": mask_text(reason)}
    step = _step(msg, f"{msg.channel.value}_failed", ":rejected", detail)
    _row_and_step(store, intent_id, _finished("rejected", None, reason), step)


def mark_resent(store: Store, intent_id: int, msg: OutboundMessage, reason: str) -> None:
    """The message goes out again although an earlier attempt may have delivered it: say so on the row
    and on the timeline, before the request goes out."""
    step = _step(msg, f"{msg.channel.value}_resent", ":resent", {"reason": reason})
    _row_and_step(store, intent_id, {"resent_reason": reason}, step)


def _finished(status: str, provider_id: str | None, error: str | None) -> dict[str, object]:
    values: dict[str, object] = {"status": status, "last_error": error}
    if provider_id:
        values.update(provider_id=provider_id, sent_at=utcnow())
    return values


def _row_and_step(store: Store, intent_id: int, values: dict[str, object], step: TimelineEntry) -> None:
    """The message's row changed and its step on the case's timeline, in one transaction."""
    with store.session() as s:
        _update_in(s, intent_id, values)
        cases.timeline_in(s, step)


def _update_in(s: Session, intent_id: int, values: dict[str, object]) -> None:
    changed = s.connection().execute(
        update(OutboundMessageRow).where(OutboundMessageRow.id == intent_id).values(**values)
    )
    assert changed.rowcount == 1, intent_id


def _step(msg: OutboundMessage, what: str, suffix: str, detail: dict[str, object]) -> TimelineEntry:
    """The message's step on its case's timeline, written once per (channel, key, outcome). A message of
    no case (an offer call for a caller the store does not know) has no timeline: nothing is written."""
    return TimelineEntry(
        case_id=msg.case_id,
        what=what,
        key=f"msg:{msg.channel.value}:{msg.key}{suffix}",
        detail={"to": msg.to, "message": msg.key, **detail},
    )


def record_local_delivery(store: Store, msg: OutboundMessage, sender: str) -> str:
    """The local providers' 'network': what would have reached the patient, for /dev/phone."""
    prefix = {"sms": "SMlocal", "voice": "CAlocal", "email": "EMlocal"}[msg.channel.value]
    provider_id = prefix + uuid.uuid4().hex
    with store.session() as s:
        s.connection().execute(
            insert(LocalDelivery),
            dict(
                provider_id=provider_id,
                channel=msg.channel.value,
                to_address=msg.to,
                from_address=sender,
                subject=msg.subject,
                body=msg.body,
                gather_action_url=msg.gather_action_url,
                language=msg.language,
                reply_to=msg.reply_to,
                in_reply_to=msg.in_reply_to,
                # a bridge (the rep's leg of "Call patient") rings until the rep answers it
                dial=msg.dial,
                call_status="ringing" if msg.dial else None,
                created_at=utcnow(),
            ),
        )
    return provider_id


def find_local_delivery(store: Store, msg: OutboundMessage, since: datetime) -> str | None:
    with store.session() as s:
        return s.scalars(
            select(LocalDelivery.provider_id).where(
                LocalDelivery.channel == msg.channel.value,
                LocalDelivery.to_address == msg.to,
                LocalDelivery.body == msg.body,
                LocalDelivery.created_at >= since,
            )
        ).first()


def sent_to(
    s: Session, addresses: tuple[str, ...], since: datetime, exclude_case_id: str | None = None
) -> list[contact_rules.SentMessage]:
    """Every message that reached a provider for these addresses in the conversations that had a message
    since `since` (their earlier messages too: a conversation starts at its first), with each case's kind."""
    recent = select(OutboundMessageRow.case_id).where(
        OutboundMessageRow.to_address.in_(addresses),
        OutboundMessageRow.status == "sent",
        OutboundMessageRow.sent_at >= since,
    )
    query = (
        select(OutboundMessageRow.case_id, OutboundMessageRow.key, OutboundMessageRow.sent_at, Case.kind)
        .outerjoin(Case, Case.case_id == OutboundMessageRow.case_id)
        .where(
            OutboundMessageRow.to_address.in_(addresses),
            OutboundMessageRow.status == "sent",
            OutboundMessageRow.case_id.in_(recent),
        )
    )
    if exclude_case_id:
        query = query.where(OutboundMessageRow.case_id != exclude_case_id)
    return [
        contact_rules.SentMessage(case_id=case_id, key=key, sent_at=_utc(sent_at), kind=kind)
        for case_id, key, sent_at, kind in s.execute(query)
        if sent_at is not None
    ]


def conversations_with(
    s: Session, addresses: tuple[str, ...], since: datetime, exclude_case_id: str | None = None
) -> list[contact_rules.Conversation]:
    """The conversations makeright started with these addresses since `since` (any case but the one
    excluded), each at its first message: what the caps count (`contact_rules.conversation_of`)."""
    return contact_rules.conversations(sent_to(s, addresses, since, exclude_case_id), _utc(since))


def contact_history(store: Store, req: ContactHistoryRequest) -> ContactHistory:
    with store.session() as s:
        started = conversations_with(s, req.addresses, req.since, req.exclude_case_id)
        heard = s.scalar(
            select(func.max(InboundMessage.received_at)).where(InboundMessage.from_address.in_(req.addresses))
        )
        open_cases = 0
        if req.patient_id:
            texted = (
                select(func.count())
                .where(
                    OutboundMessageRow.case_id == Case.case_id,
                    OutboundMessageRow.to_address.in_(req.addresses),
                    OutboundMessageRow.status == "sent",
                )
                .scalar_subquery()
            )
            heard_in_case = (
                select(func.count()).where(InboundMessage.case_id == Case.case_id).scalar_subquery()
            )
            others = s.execute(
                select(Case.status, texted, heard_in_case).where(
                    Case.patient_id == req.patient_id, Case.case_id != (req.exclude_case_id or "")
                )
            ).all()
            open_cases = sum(
                1
                for status, sent_n, heard_n in others
                if contact_rules.is_conversation(status, sent_n, heard_n)
            )
    # the caps count conversations started, not every message within one
    sent = tuple(c.started_at for c in started)
    return ContactHistory(
        sent=sent, last_heard_from=_utc(heard) if heard else None, other_open_cases=open_cases
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def provider_id_of(store: Store, case_id: str, key: str, channel: str = "voice") -> str | None:
    """The provider's id of the message sent under (case, key), once the provider took it."""
    with store.session() as s:
        row = s.scalars(
            select(OutboundMessageRow).where(
                OutboundMessageRow.case_id == case_id,
                OutboundMessageRow.key == key,
                OutboundMessageRow.channel == channel,
            )
        ).first()
        return row.provider_id if row is not None else None
