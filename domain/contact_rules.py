"""When automated outreach may reach a patient: quiet hours and frequency caps. Pure: no I/O, no clock.

TCPA's healthcare exemption (FIELD-NOTES): 08:00-21:00 in the called party's local time, at most one
message a day and three a week. A patient in an active conversation (they wrote to us recently, or
another case of theirs is in progress and has exchanged messages with them) is answered at once: the
limits are for outreach they did not ask for. A message that may not go now is deferred, never dropped:
these functions say until when, and a case that slept asks again when it wakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.base import Model

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class ContactRules(Model):
    enabled: bool = True  # off only where a test must not depend on the hour it runs at
    quiet_start: time = time(21, 0)  # from this local time…
    quiet_end: time = time(8, 0)  # …until this one, no automated outreach
    max_per_day: int = 1
    max_per_week: int = 3


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
