"""The local Twilio's calls that go on after they are placed: the two legs of a "Call patient" bridge, and
a rep's offer call (domain.routing) with the patient's leg its TwiML dials in.

The rep's leg of a bridge is recorded by the local provider (`outbox.record_local_delivery`, with `dial`);
when the rep answers it on /dev/phone, the patient's leg starts ringing, as Twilio's <Dial> would. An offer
call (`record_offer`) instead waits, once answered, for the rep's key; the page posts it to the call's
Gather action and does what the TwiML answered (dial the patient in, or hang up). Each change is reported
to the web app as Twilio reports it (a signed status callback), so the case's timeline and the router hear
the same in local and live mode.

An offer call, and a leg dialled by TwiML, keep what Twilio would keep of the request that made them, in
the `local_deliveries` columns a call has no other use for (the table has no columns of its own for them):
- `gather_action_url`: where the call's next TwiML comes from: the <Gather action> while the whisper waits
  for a key, the <Dial action> once the patient is being dialled;
- `subject`: the leg's status callback: the events asked for and the URL, `"initiated ringing ... <url>"`
  (`Callback`). A URL that starts with `/` is relative to PUBLIC_BASE_URL (the local provider, which
  places the call, does not know it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.messaging import OutboundMessage
from store.db import Store
from store.models import LocalDelivery, utcnow

ENDED = ("completed", "no-answer", "busy", "canceled", "failed")
# the status callback event each call status belongs to (Twilio's `statusCallbackEvent` names)
EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"} | {
    status: "completed" for status in ENDED
}
SUBJECT_LENGTH = 300  # local_deliveries.subject


@dataclass(frozen=True)
class Callback:
    """Where a leg's progress is reported, and which events (Twilio's statusCallback, statusCallbackEvent)."""

    url: str
    events: tuple[str, ...] = ("completed",)

    def wants(self, status: str) -> bool:
        return EVENT_OF.get(status) in self.events

    def encode(self) -> str:
        text = " ".join((*self.events, self.url))
        if len(text) > SUBJECT_LENGTH:
            raise ValueError(f"a status callback URL of {len(self.url)} characters is too long to keep")
        return text

    @classmethod
    def decode(cls, text: str | None) -> Callback | None:
        if not text:
            return None
        *events, url = text.split(" ")
        return cls(url=url, events=tuple(events))


@dataclass(frozen=True)
class Leg:
    id: int
    provider_id: str
    to_address: str
    from_address: str
    language: str
    dial: str | None  # set on the rep's leg of a bridge
    parent_id: str | None  # set on the patient's leg
    status: str
    answered_at: datetime | None
    ended_at: datetime | None
    # an offer call: where its next TwiML comes from (the Gather's action, then the Dial's), the key the
    # rep pressed; any leg: where its progress is reported, when the request that made it said so
    action_url: str | None = None
    keyed: str | None = None
    callback: Callback | None = None

    @property
    def is_rep_leg(self) -> bool:
        """The call makeright placed to the rep (a bridge's, or an offer); else the patient's leg."""
        return self.parent_id is None

    @property
    def is_offer(self) -> bool:
        """A rep's offer call: answered, it waits for a key (no number to dial of its own)."""
        return self.parent_id is None and self.dial is None

    def seconds(self) -> int:
        """How long it has been (or was) connected; 0 when never answered."""
        if self.answered_at is None:
            return 0
        return max(0, int(((self.ended_at or utcnow()) - self.answered_at).total_seconds()))


def _leg(row: LocalDelivery) -> Leg:
    return Leg(
        id=row.id,
        provider_id=row.provider_id,
        to_address=row.to_address,
        from_address=row.from_address,
        language=row.language,
        dial=row.dial,
        parent_id=row.parent_id,
        status=row.call_status or "ringing",
        answered_at=row.call_answered_at,
        ended_at=row.call_ended_at,
        action_url=row.gather_action_url,
        keyed=row.answered,
        callback=Callback.decode(row.subject),
    )


def record_offer(store: Store, msg: OutboundMessage, sender: str, callback: Callback) -> str:
    """The local provider places a rep's offer call (`msg.offer_id`): it rings until answered, declined or
    ended by makeright (`end_by_provider_id`); answered, it waits for a key for `gather_action_url`."""
    assert msg.offer_id is not None and msg.gather_action_url is not None
    provider_id = "CAlocal" + uuid.uuid4().hex
    with store.session() as s:
        s.add(
            LocalDelivery(
                provider_id=provider_id,
                channel="voice",
                to_address=msg.to,
                from_address=sender,
                subject=callback.encode(),
                body=msg.body,
                gather_action_url=msg.gather_action_url,
                language=msg.language,
                call_status="ringing",
            )
        )
    return provider_id


def leg(store: Store, delivery_id: int) -> Leg | None:
    """A call the local Twilio plays on (a bridge's leg, an offer call), or None (no such delivery, or a
    plain call that only takes a key)."""
    with store.session() as s:
        return leg_in(s, delivery_id)


def leg_in(s: Session, delivery_id: int) -> Leg | None:
    """`leg`, in the caller's session."""
    row = s.get(LocalDelivery, delivery_id)
    if row is None or row.channel != "voice" or row.call_status is None:
        return None
    return _leg(row)


def other_leg(store: Store, of: Leg) -> Leg | None:
    """The patient's leg of a rep's call, or the rep's call of a patient's leg."""
    with store.session() as s:
        return other_leg_in(s, of)


def other_leg_in(s: Session, of: Leg) -> Leg | None:
    """`other_leg`, in the caller's session."""
    if of.is_rep_leg:
        row = s.scalars(
            select(LocalDelivery)
            .where(LocalDelivery.parent_id == of.provider_id)
            .order_by(LocalDelivery.id.desc())
        ).first()
    else:
        row = s.scalars(select(LocalDelivery).where(LocalDelivery.provider_id == of.parent_id)).first()
    return _leg(row) if row is not None else None


def set_status(store: Store, delivery_id: int, status: str) -> Leg:
    """Move a leg on; answering stamps the moment, for the call's duration."""
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id, with_for_update=True)
        assert row is not None
        row.call_status = status
        if status == "in-progress" and row.call_answered_at is None:
            row.call_answered_at = utcnow()
        if status in ENDED and row.call_ended_at is None:
            row.call_ended_at = utcnow()
        return _leg(row)


def end_by_provider_id(store: Store, provider_id: str) -> None:
    """Hang up a local call placed by makeright: ringing → canceled, answered → completed (and the
    patient's leg it dialled with it)."""
    with store.session() as s:
        rows = s.scalars(
            select(LocalDelivery)
            .where((LocalDelivery.provider_id == provider_id) | (LocalDelivery.parent_id == provider_id))
            .with_for_update()
        ).all()
        for row in rows:
            if row.channel != "voice" or row.call_status in ENDED:
                continue
            row.call_status = "completed" if row.call_status == "in-progress" else "canceled"
            row.call_ended_at = utcnow()


def ring_patient(store: Store, rep_leg: Leg, caller_id: str, body: str) -> Leg:
    """The rep answered: the bridge dials the patient, showing our number (never the rep's)."""
    assert rep_leg.dial is not None
    return ring_dialled(store, rep_leg, rep_leg.dial, caller_id, body, rep_leg.language)


def ring_dialled(
    store: Store,
    parent: Leg,
    to: str,
    caller_id: str,
    body: str,
    language: str,
    callback: Callback | None = None,
) -> Leg:
    """A <Dial><Number> of `parent`'s call: `to` rings, showing `caller_id`; its progress goes to
    `callback` (the Number's statusCallback) when there is one."""
    with store.session() as s:
        row = LocalDelivery(
            provider_id="CAlocal" + uuid.uuid4().hex,
            channel="voice",
            to_address=to,
            from_address=caller_id,
            subject=callback.encode() if callback is not None else None,
            body=body,
            language=language,
            parent_id=parent.provider_id,
            call_status="ringing",
        )
        s.add(row)
        s.flush()
        return _leg(row)


def keyed(store: Store, delivery_id: int, digits: str) -> None:
    """The rep pressed `digits` on an offer call."""
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id)
        assert row is not None
        row.answered = digits


def next_action(store: Store, delivery_id: int, url: str | None, keypad: bool) -> None:
    """The call's TwiML moved on: to a <Gather> again (`keypad`: the keys are listened to afresh), or to a
    <Dial> (the key that led there stays on the call; `url` is its action, None when it has none)."""
    with store.session() as s:
        row = s.get(LocalDelivery, delivery_id)
        assert row is not None
        row.gather_action_url = url
        if keypad:
            row.answered = None


def version_in(s: Session) -> str:
    """Changes whenever a bridge leg changes state (for the phone page's poll)."""
    counts = s.execute(
        select(LocalDelivery.call_status, func.count())
        .where(LocalDelivery.call_status.is_not(None))
        .group_by(LocalDelivery.call_status)
        .order_by(LocalDelivery.call_status)
    ).all()
    return ",".join(f"{status}:{n}" for status, n in counts)
