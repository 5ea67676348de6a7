"""When automated outreach may reach a patient: quiet hours and frequency caps. Pure: no I/O, no clock.

One rule (README, "Contact rules"): the caps count the CONVERSATIONS makeright starts with a patient, not
the messages within one: a case's first message, a check-in prompt, a request to rate a case
(`conversation_of`). At most one a day and three a week (rolling), and none in the patient's quiet hours
(outside 08:00-21:00 in their zone), as TCPA's healthcare exemption asks (FIELD-NOTES). A patient in an
active conversation (they wrote to us recently, or another case of theirs is in progress and has
exchanged messages with them) is answered at once. News about the patient's own appointment (a booking
conflict's offer) keeps the quiet hours, but the caps never hold it past the last waking moment that is
still `news_margin_seconds` before the appointment (`next_allowed_for_news`). A message that may not go
now is deferred, never dropped: these functions say until when, and a case that slept asks again when it
wakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field

from domain.base import Model

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class ContactRules(Model):
    enabled: bool = True  # off only where a test must not depend on the hour it runs at
    quiet_start: time = time(21, 0)  # from this local time…
    quiet_end: time = time(8, 0)  # …until this one, no automated outreach
    max_per_day: int = 1  # conversations started, rolling 24 hours
    max_per_week: int = 3  # conversations started, rolling 7 days
    # news about the patient's own appointment must reach them awake and this long before its start: an
    # hour to get there, the offer's own reply deadline and call (25 minutes by default), and slack
    news_margin_seconds: int = Field(default=3 * 60 * 60, ge=0)


class SentMessage(Model):
    """A message that reached the provider for a patient, as the contact history reads it."""

    case_id: str  # the case, or a check-in watch's own reference (`ids.watch_ref`)
    key: str  # its send-once key within the case
    sent_at: datetime
    kind: str | None = None  # the case's kind; None for a check-in watch's own messages


# the kinds of case that answer what the patient reported or wrote: every message of theirs answers them
PATIENT_STARTED = frozenset({"checkin_trouble", "inquiry"})


def conversation_of(case_id: str, key: str, kind: str | None = None) -> str | None:
    """The conversation makeright started that a message belongs to (its first message starts it), or
    None for a message in a conversation the patient started. A case's messages are one conversation
    (the offer, its reminders, the call, the confirmation); each check-in prompt is one (a thank-you
    answers it); a rating request is one of its own; a check-in-trouble case answers the patient's own
    report and an inquiry answers their email, so the patient started those."""
    if key.startswith("checkin-prompt"):
        return f"{case_id}:{key}"
    if key.startswith("checkin-"):
        return None  # the thank-you for an answer to a prompt
    if key.startswith("feedback"):
        return f"{case_id}:feedback"  # the request and its one re-ask
    if kind in PATIENT_STARTED:
        return None
    return f"{case_id}:case"


class Conversation(Model):
    """A conversation makeright started with a patient: whose it is and when its first message went."""

    case_id: str
    started_at: datetime


def conversations(messages: Sequence[SentMessage], since: datetime | None = None) -> list[Conversation]:
    """The conversations among `messages`, each at its first message, oldest first; with `since`, only
    those that started then or later (a conversation's later messages never count as a start)."""
    first: dict[str, SentMessage] = {}
    for msg in messages:
        name = conversation_of(msg.case_id, msg.key, msg.kind)
        if name is not None and (name not in first or msg.sent_at < first[name].sent_at):
            first[name] = msg
    found = [Conversation(case_id=m.case_id, started_at=m.sent_at) for m in first.values()]
    return sorted((c for c in found if since is None or c.started_at >= since), key=lambda c: c.started_at)


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def outside_quiet_hours(moment: datetime, zone: str, rules: ContactRules = ContactRules()) -> datetime:
    """`moment` itself when it is within the allowed hours, else the next local `quiet_end` (DST-aware:
    08:00 on the wall clock, whatever the offset that day)."""
    if not rules.enabled:
        return moment
    local = _local(moment, zone)
    clock = local.timetz().replace(tzinfo=None)
    if rules.quiet_end <= clock < rules.quiet_start:
        return moment
    day = local.date() if clock < rules.quiet_end else local.date() + timedelta(days=1)
    opening = datetime.combine(day, rules.quiet_end, tzinfo=ZoneInfo(zone))
    # a wall time skipped by a DST jump resolves forwards; normalise through UTC
    return opening.astimezone(UTC)


def after_caps(moment: datetime, sent: Sequence[datetime], rules: ContactRules = ContactRules()) -> datetime:
    """The earliest time at or after `moment` when one more message keeps within the caps (rolling 24 hours
    and 7 days over what was already `sent`)."""
    candidate = moment
    history = sorted(sent)
    for _ in range(len(history) + 2):
        in_day = [t for t in history if candidate - DAY < t <= candidate]
        in_week = [t for t in history if candidate - WEEK < t <= candidate]
        later = candidate
        if len(in_day) >= rules.max_per_day:
            later = max(later, in_day[len(in_day) - rules.max_per_day] + DAY)
        if len(in_week) >= rules.max_per_week:
            later = max(later, in_week[len(in_week) - rules.max_per_week] + WEEK)
        if later == candidate:
            return candidate
        candidate = later
    return candidate


IN_PROGRESS = frozenset({"open", "waiting_patient", "escalated"})


def is_conversation(status: str, sent: int, heard: int) -> bool:
    """Whether another of the patient's cases makes this one part of a conversation: it is in progress and
    has exchanged messages with them (sent them one, or heard from them in it). A case still deferred
    until the morning is open but has said nothing: counting it would text the patient at night."""
    return status in IN_PROGRESS and (sent > 0 or heard > 0)


def next_allowed(
    now: datetime,
    zone: str,
    sent: Sequence[datetime] = (),
    in_conversation: bool = False,
    rules: ContactRules = ContactRules(),
) -> datetime:
    """When an automated message to this patient may go: `now` if it may go now."""
    if in_conversation or not rules.enabled:
        return now
    candidate = now
    for _ in range(16):  # caps and quiet hours push each other forward; a few rounds settle it
        moved = outside_quiet_hours(after_caps(candidate, sent, rules), zone, rules)
        if moved == candidate:
            return candidate
        candidate = moved
    return candidate


def latest_useful(appointment_start: datetime, zone: str, rules: ContactRules = ContactRules()) -> datetime:
    """The last moment news about an appointment still helps: `news_margin_seconds` before its start, or,
    when that falls in the patient's quiet hours, the last waking minute before it (20:59 the evening
    before an appointment at 09:00, with a margin of three hours)."""
    limit = appointment_start - timedelta(seconds=rules.news_margin_seconds)
    local = _local(limit, zone)
    clock = local.timetz().replace(tzinfo=None)
    if not rules.enabled or rules.quiet_end <= clock < rules.quiet_start:
        return limit
    day = local.date() if clock >= rules.quiet_start else local.date() - timedelta(days=1)
    closing = datetime.combine(day, rules.quiet_start, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return closing - timedelta(minutes=1)


def next_allowed_for_news(
    now: datetime,
    zone: str,
    appointment_start: datetime,
    sent: Sequence[datetime] = (),
    in_conversation: bool = False,
    rules: ContactRules = ContactRules(),
) -> datetime:
    """When news about the patient's own appointment (a booking conflict's offer) may go: as
    `next_allowed`, unless the caps would hold it past `latest_useful`. Then the caps do not hold it at
    all: it goes as soon as the quiet hours allow, because news that will break the day's cap either way
    helps most at once (the patient gave their number for this booking; see the README). The quiet
    hours always apply (a conversation under way aside)."""
    allowed = next_allowed(now, zone, sent, in_conversation, rules)
    if allowed <= now or allowed <= latest_useful(appointment_start, zone, rules):
        return allowed
    return outside_quiet_hours(now, zone, rules)
