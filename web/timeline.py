"""A case's timeline and facts in plain words for the console: what happened, not the internal keys the
store keeps (`rep-will-call`, `checkin_trouble`), and every moment in one format with its time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# ---------------------------------------------------------------------- moments


def moment(value: str | datetime | None, timezone: str = "UTC") -> str:
    """`Tue 24 Nov 10:00 EST`: the one date format of the console, always with its zone (the page's script
    shows the same format in the reader's own zone; slots stay in the practice's)."""
    if value is None or value == "":
        return "—"
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else value
        zone = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname() or timezone}"


def seconds_text(value: Any) -> str:
    """`2 min 10 s`, `45 s`, `1 h 02 min`."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# ---------------------------------------------------------------------- the words for internal names

LANGUAGES = {
    "nl": "Dutch",
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "pl": "Polish",
    "tr": "Turkish",
    "ar": "Arabic",
    "zh": "Chinese",
}

REASONS = {
    "checkin_trouble": "trouble at check-in",
    "patient_inquiry": "the patient wrote in with a question",
    "patient_person": "the patient asked for a person",
    "patient_asked_for_a_person": "the patient asked for a person",
    "patient_unknown": "the patient's answer was not understood",
    "patient_trouble": "the patient reported a problem",
    "patient_decline": "the patient declined the new times",
    "patient_opt_out": "the patient asked us to stop texting",
    "unreachable": "the patient could not be reached",
    "no_alternatives": "no other times were free",
    "no_slot_booked": "no new time could be booked",
    "provider_outage": "our text and call providers were down",
    "compensation_approval": "a compensation needs approval",
    "low_feedback": "the patient rated the help poorly",
    "patient_unhappy": "the patient rated the help poorly (1 or 2 of 5)",
    "patient_wrote": "the patient wrote something no open question could take: read the conversation",
}

OUTCOMES = {
    "rebooked": "rebooked",
    "patient_declined": "the patient declined",
    "resolved_by_rep": "resolved by a rep",
    "unreachable": "the patient could not be reached",
}

INTENTS = {
    "person": "asked for a person",
    "decline": "declined",
    "opt_out": "asked us to stop",
    "opt_in": "opted back in",
    "all_good": "said all is well",
    "trouble": "reported a problem",
    "unknown": "wrote something we could not read as an answer",
}

CHANNELS = {"sms": "text", "voice": "call", "email": "email"}

# how a case that no booking event opened came to be
OPENED_BY_KIND = {
    "checkin_trouble": "the patient reported trouble at check-in",
    "inquiry": "the patient wrote in about something new",
}

EVENT_TYPES = {
    "booking.slot_cancelled_by_practice": "the practice cancelled the slot",
    "booking.slot_double_booked": "the slot was double-booked",
    "booking.appointment_moved_by_practice": "the practice moved the appointment",
    "booking.appointment_booked": "booked appointment",
}

_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^offer-\d+-call$"), "a call with the new times"),
    (re.compile(r"^offer-\d+$"), "the new times"),
    (re.compile(r"^confirmation$"), "the booking confirmation"),
    (re.compile(r"^rep-will-call$"), "“a colleague will call you”"),
    (re.compile(r"^acknowledged$"), "“we got your message, a person will answer”"),
    (re.compile(r"^compensation$"), "the gift card"),
    (re.compile(r"^resolved$"), "“your problem is solved”"),
    (re.compile(r"^checkin-prompt-"), "the check-in question"),
    (re.compile(r"^checkin-thanks-"), "“thanks, see you soon”"),
    (re.compile(r"^feedback"), "the request to rate our help"),
    (re.compile(r"^bridge-"), "the rep's call"),
    (re.compile(r"^email-reply:"), "a rep's answer to their email"),
    (re.compile(r"-(opened|breached|expired)-\d+$"), "a staff alert"),
)


FEEDBACK_WAITS = {
    "case_in_progress": "another case of the patient's is in progress",
    "rated_today": "the patient was asked to rate another case today",
    "contact_rules": "quiet hours or the day's and week's limits",
}


def words(value: Any) -> str:
    return str(value or "").replace("_", " ").replace("checkin", "check-in")


def reason(value: str | None) -> str:
    return REASONS.get(value or "", words(value))


def language(locale: str | None) -> str:
    code = (locale or "en").split("-")[0].lower()
    return f"{LANGUAGES.get(code, code)} ({locale})"


def message(key: Any) -> str:
    text = str(key or "")
    for pattern, said in _MESSAGES:
        if pattern.search(text):
            return said
    return "a message"


# ---------------------------------------------------------------------- timeline entries


@dataclass(frozen=True)
class Line:
    at: str  # ISO, for <time datetime>
    title: str
    detail: str
    alert: bool


def _money(detail: dict[str, Any]) -> str:
    amount = detail.get("amount")
    if amount is None:
        return ""
    return f"{amount} {detail.get('currency') or ''}".strip()


def _slot(value: Any, timezone: str) -> str:
    if isinstance(value, dict) and value.get("start"):
        return moment(value["start"], timezone)
    return ""


# why an offer passed a rep by
MISSED_WHY = {
    "timed_out": "nobody pressed 1 in time; offered to the next rep",
    "rang_out": "their phone rang out or was busy; offered to the next rep",
    "declined": "they passed it on",
}
# an email is offered in the console, not on the phone
EMAIL_MISSED_WHY = {
    "timed_out": "the patient's email was not accepted in time; offered to the next rep",
    "declined": "they passed the patient's email on",
}


def describe(what: str, d: dict[str, Any], timezone: str = "UTC") -> tuple[str, str]:
    """(title, detail) of one timeline entry in plain words. `timezone` is the practice's, for slots."""
    by = d.get("by")
    to = d.get("to")
    channel = CHANNELS.get(str(d.get("channel")), "message")
    sent_to = f"to {to}" if to else ""
    simple: dict[str, tuple[str, str]] = {
        "case_opened": (
            "Case opened",
            OPENED_BY_KIND.get(str(d.get("kind")), "") or EVENT_TYPES.get(str(d.get("type")), ""),
        ),
        "needs_rep": ("Handed to a rep", reason(d.get("reason"))),
        "unreachable": ("Handed to a rep: the patient could not be reached", ""),
        "waiting_patient": ("Waiting for the patient's answer", ""),
        "awaiting_approval": ("Compensation waits for approval", _money(d)),
        "case_closed": ("Case closed", OUTCOMES.get(str(d.get("outcome")), words(d.get("outcome")))),
        "escalation_opened": ("Escalation opened", f"for {words(d.get('level'))}: {reason(d.get('reason'))}"),
        "escalation_claimed": (
            f"Claimed by {by}",
            "they pressed 1 on the automatic call" if d.get("via") == "call" else "",
        ),
        "escalation_released": (f"Released by {by}", "back in the queue"),
        "escalation_reassigned": (f"Handed over by {by} to {d.get('to')}", ""),
        "escalation_breached": (
            f"Time ran out: moved up to {words(d.get('to_level'))}",
            f"{d['claim_lapsed']} had claimed it" if d.get("claim_lapsed") else "nobody had claimed it",
        ),
        "escalation_expired": ("Escalation expired without an owner", "people were alerted"),
        "escalation_resolved": (
            f"Resolved by {by}",
            "; ".join(
                p
                for p in (
                    f"root cause: {words(d['root_cause'])}" if d.get("root_cause") else "",
                    f"compensation {d['compensation']}" if d.get("compensation") else "",
                )
                if p
            ),
        ),
        "compensation_approved": (f"Compensation approved by {by}", _money(d)),
        "compensation_denial_decided": (f"Compensation denied by {by}", str(d.get("reason") or "")),
        "compensation_pending_approval": (
            "Compensation waits for approval",
            " · ".join(p for p in (_money(d), str(d.get("reason") or "")) if p),
        ),
        "compensation_issued": ("Gift card issued", _money(d)),
        "compensation_denied": ("No compensation", str(d.get("reason") or "")),
        "compensation_failed": (
            "The gift card could not be issued",
            f"the provider refused it: {d['refused']}" if d.get("refused") else "the provider did not answer",
        ),
        "sms_skipped": ("No texts: the patient's number is a landline", ""),
        "sms_resent": ("Text sent again: the first attempt's outcome was unknown", message(d.get("message"))),
        "email_resent": (
            "Email sent again: the first attempt's outcome was unknown",
            message(d.get("message")),
        ),
        "voice_resent": ("Call placed again: the first attempt's outcome was unknown", ""),
        "staff_notification_failed": ("Staff could not be alerted", f"for {words(d.get('level'))}"),
        "sms_sent": ("Text sent to the patient", f"{message(d.get('message'))} {sent_to}".strip()),
        "email_sent": ("Email sent to the patient", f"{message(d.get('message'))} {sent_to}".strip()),
        "call_placed": ("Called the patient with keypad choices", sent_to),
        "sms_withheld": ("Text not sent: the patient opted out", message(d.get("message"))),
        "voice_withheld": ("Call not made: the patient opted out", ""),
        "email_withheld": ("Email not sent: the patient opted out of email", message(d.get("message"))),
        "email_received": (
            "The patient wrote an email",
            f"{words(d.get('status'))}: {d.get('why') or ''}".strip(": "),
        ),
        "sms_failed": ("The text could not be sent", str(d.get("reason") or "")),
        "voice_failed": ("The call could not be made", str(d.get("reason") or "")),
        "email_failed": ("The email could not be sent", str(d.get("reason") or "")),
        "delivery_failed": (
            f"The {channel} did not reach the patient",
            f"{message(d.get('message'))}: {words(d.get('status'))}",
        ),
        "provider_unavailable": (f"Could not send the {channel}: the provider was down", ""),
        "outreach_deferred": (
            "First message held back: quiet hours for the patient",
            f"until {moment(d.get('until'), str(d.get('patient_timezone') or 'UTC'))}",
        ),
        "feedback_received": (
            f"The patient rated our help {d.get('score')} of 5",
            "with a comment" if d.get("with_comment") else "",
        ),
        "feedback_deferred": (
            "The request to rate our help waits",
            f"{FEEDBACK_WAITS.get(str(d.get('reason')), 'quiet hours')}, until {moment(d.get('until'))}",
        ),
        "feedback_not_asked": (
            "No request to rate our help",
            f"the patient's later case {d['superseded_by']} asks instead"
            if d.get("superseded_by")
            else "it could not go within the reply window",
        ),
        "alternatives_found": (f"{d.get('count', 0)} new times found", ""),
        "rebooked": ("Rebooked", f"{_slot(d.get('slot'), timezone)} with {d.get('provider')}"),
        "slot_taken_meanwhile": ("The chosen time was taken meanwhile", _slot(d.get("slot"), timezone)),
        "ticket_linked": ("Linked to a problem ticket", str(d.get("ticket_id") or "")),
        "ticket_synced": _ticket_synced(d),
        "case_failed": ("Case failed", words(d.get("failure"))),
        "case_retried": (f"Case re-run by {by}", ""),
        "case_retry_failed": ("The re-run could not start", str(d.get("reason") or "")),
        # the console's "Call patient", then what Twilio reported about each leg of the call
        "rep_call_placed": ("Calling the rep", sent_to),
        "bridge_rep_ringing": ("The rep's phone is ringing", ""),
        "bridge_rep_answered": ("Rep answered, calling the patient", ""),
        "bridge_rep_missed": ("The rep did not answer", words(d.get("status"))),
        "bridge_patient_ringing": ("The patient's phone is ringing", ""),
        "bridge_patient_answered": ("Patient answered: connected", ""),
        "bridge_patient_missed": ("Patient did not answer", words(d.get("status"))),
        # the floor: the next free rep's phone rings with an offer (workflows/rep_router.py)
        "rep_rung": ("Ringing the next free rep", sent_to),
        "offer_missed": (
            f"The offer passed {d.get('rep')} by",
            "; ".join(
                p
                for p in (
                    (EMAIL_MISSED_WHY if d.get("work") == "email" else MISSED_WHY).get(
                        str(d.get("why")), words(d.get("why"))
                    ),
                    "set away after too many missed offers" if d.get("rep_set_away") else "",
                )
                if p
            ),
        ),
        "offer_accepted": (
            (f"Taken by {by} in the console", "the patient's email: they answer it")
            if d.get("work") == "email"
            else (f"Taken by {by} on the automatic call", "they pressed 1; the patient is dialled in")
        ),
        "patient_not_reached": (
            "The patient did not answer the rep's call",
            "texted them that we tried; back in the queue",
        ),
        "patient_text_failed": ("The patient could not be texted", ""),
        "bridge_ended": (
            f"Call ended ({seconds_text(d.get('duration'))})"
            if d.get("duration") is not None
            else "Call ended",
            "",
        ),
    }
    if what in simple:
        return simple[what]
    if what == "reply_received":
        intent = str(d.get("intent"))
        said = f"chose option {d.get('choice')}" if intent == "choice" else INTENTS.get(intent, words(intent))
        return f"The patient replied by {channel}", said
    return words(what).capitalize(), ", ".join(
        f"{words(k)}: {v}" for k, v in sorted(d.items()) if k not in ("escalation_id", "alert") and v
    )


# said by another entry: pressing "Call patient" is the call to the rep ("Calling the rep"), written first
UNSHOWN = ("call_requested", "rep_call_bridged")


def lines(timeline: list[dict[str, Any]], timezone: str = "UTC") -> list[Line]:
    """Newest first, as the console shows them."""
    shown = []
    for item in reversed(timeline):
        detail = item.get("detail") or {}
        what = str(item.get("what"))
        if what in UNSHOWN:
            continue
        title, text = describe(what, detail, timezone)
        alert = bool(detail.get("alert")) or "breach" in what or "expired" in what or "failed" in what
        shown.append(Line(at=str(item.get("at")), title=title, detail=text, alert=alert))
    return shown


_TRACKERS = {"jira": "Jira", "github": "GitHub"}


def _ticket_synced(d: dict[str, Any]) -> tuple[str, str]:
    """The external tracker heard of this case (TRACKER_MODE jira|github)."""
    tracker = _TRACKERS.get(str(d.get("tracker")), "the tracker")
    ref = str(d.get("ref") or "")
    if d.get("created"):
        title = f"Problem issue opened in {tracker}"
    elif d.get("reopened"):
        title = f"Problem issue reopened in {tracker}: the cause came back"
    else:
        title = f"Noted on the problem issue in {tracker}"
    said = f"#{ref}" if ref.isdigit() else ref
    if d.get("reopen_failed"):
        said += f" (left closed: {d.get('reopen_failed')})"
    return title, said


@dataclass(frozen=True)
class LiveCall:
    """A call on the case that has not ended, as its timeline tells it (for the escalation page)."""

    state: str
    since: str
    rep: str | None = None


# what each step of a call means for "is a call live, and where is it"
_CALL_STEPS = {
    "rep_rung": "ringing a rep",
    "rep_call_placed": "ringing the rep",
    "bridge_rep_ringing": "the rep's phone is ringing",
    "bridge_rep_answered": "the rep answered; calling the patient",
    "offer_accepted": "the rep pressed 1; calling the patient",
    "bridge_patient_ringing": "the patient's phone is ringing",
    "bridge_patient_answered": "connected: the rep and the patient are talking",
}
_CALL_ENDS = (
    "bridge_ended",
    "patient_not_reached",
    "offer_missed",
    "bridge_rep_missed",
    "bridge_patient_missed",
)


def live_call(timeline: list[dict[str, Any]]) -> LiveCall | None:
    """The call going on now, if the newest call step is not an end (oldest first in `timeline`)."""
    live: LiveCall | None = None
    for item in timeline:
        what = str(item.get("what"))
        detail = item.get("detail") or {}
        if detail.get("work") == "email":
            continue  # an email taken in the console: no call
        if what in _CALL_ENDS:
            live = None
        elif what in _CALL_STEPS:
            rep = detail.get("by") or (live.rep if live else None)
            live = LiveCall(state=_CALL_STEPS[what], since=str(item.get("at")), rep=rep)
    return live
