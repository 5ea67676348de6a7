"""A TwiML checker for the voice documents makeright builds: what Twilio documents for Voice TwiML, so a
typo'd attribute or a noun in the wrong verb fails a test instead of a live call (Twilio ignores unknown
attributes silently, and answers a misplaced noun with error 12200 in the middle of a call).

Checked: the root is <Response>; every element is a Voice verb or noun (<Sms> and <Message> are
Messaging TwiML, not Voice); each sits in a parent Twilio allows; the verbs and nouns makeright uses carry
only attributes documented for them, with values of the documented kind.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

# verb or noun → the parents it may have (twilio.com/docs/voice/twiml)
PARENTS: dict[str, set[str]] = {
    "Say": {"Response", "Gather"},
    "Play": {"Response", "Gather"},
    "Pause": {"Response", "Gather"},
    "Gather": {"Response"},
    "Dial": {"Response"},
    "Number": {"Dial"},
    "Client": {"Dial"},
    "Conference": {"Dial"},
    "Queue": {"Dial"},
    "Sip": {"Dial", "Refer"},  # <Refer><Sip> transfers a SIP call
    "Enqueue": {"Response"},
    "Leave": {"Response"},
    "Hangup": {"Response"},
    "Redirect": {"Response"},
    "Reject": {"Response"},
    "Record": {"Response"},
    "Connect": {"Response"},
    "Stream": {"Connect"},
    "Refer": {"Response"},
}

# the documented attributes of the verbs and nouns makeright's calls use
ATTRIBUTES: dict[str, set[str]] = {
    "Response": set(),
    "Gather": {
        "action",
        "method",
        "numDigits",
        "timeout",
        "finishOnKey",
        "input",
        "language",
        "hints",
        "actionOnEmptyResult",
    },
    "Dial": {
        "action",
        "method",
        "callerId",
        "timeout",
        "record",
        "hangupOnStar",
        "timeLimit",
        "answerOnBridge",
        "ringTone",
    },
    "Number": {
        "statusCallback",
        "statusCallbackEvent",
        "statusCallbackMethod",
        "url",
        "method",
        "sendDigits",
    },
    "Say": {"voice", "language", "loop"},
    "Conference": {
        "muted",
        "beep",
        "startConferenceOnEnter",
        "endConferenceOnExit",
        "waitUrl",
        "waitMethod",
        "maxParticipants",
        "record",
        "region",
        "trim",
        "coach",
        "statusCallback",
        "statusCallbackEvent",
        "statusCallbackMethod",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "eventCallbackUrl",
        "jitterBufferSize",
        "participantLabel",
    },
    "Hangup": set(),
    "Pause": {"length"},
    # twilio.com/docs/voice/twiml/enqueue, /leave, /dial/queue
    "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid"},
    "Leave": set(),
    "Queue": {"url", "method", "reservationSid", "postWorkActivitySid"},
}

NUMBER_EVENTS = {"initiated", "ringing", "answered", "completed"}
CONFERENCE_EVENTS = {"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"}
E164 = re.compile(r"\+[1-9]\d{6,14}")
METHODS = {"GET", "POST"}
URL_ATTRIBUTES = {"action", "statusCallback", "url", "waitUrl", "recordingStatusCallback", "eventCallbackUrl"}
SAY_LANGUAGES = re.compile(r"[a-z]{2,3}-[A-Z]{2}")


class InvalidTwiML(AssertionError):
    pass


def assert_valid_twiml(xml: str) -> ET.Element:
    """Parse `xml` and check it against what Twilio documents for Voice TwiML; the root element."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise InvalidTwiML(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise InvalidTwiML(f"the root is <{root.tag}>, not <Response>")
    if root.attrib:
        raise InvalidTwiML(f"<Response> takes no attributes, got {sorted(root.attrib)}")
    _check_children(root)
    return root


def _check_children(parent: ET.Element) -> None:
    for element in parent:
        tag = element.tag
        if tag not in PARENTS:
            raise InvalidTwiML(f"<{tag}> is not a Voice TwiML verb or noun")
        if parent.tag not in PARENTS[tag]:
            raise InvalidTwiML(f"<{tag}> may not be inside <{parent.tag}> (only {sorted(PARENTS[tag])})")
        _check_attributes(element)
        _check_content(element)
        _check_children(element)


def _check_attributes(element: ET.Element) -> None:
    allowed = ATTRIBUTES.get(element.tag)
    if allowed is None:
        return  # a verb makeright does not use: its place is checked, not its attributes
    unknown = set(element.attrib) - allowed
    if unknown:
        raise InvalidTwiML(f"<{element.tag}> has undocumented attributes {sorted(unknown)}")
    for name, value in element.attrib.items():
        where = f"<{element.tag} {name}={value!r}>"
        if name in URL_ATTRIBUTES:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidTwiML(f"{where}: not an absolute http(s) URL")
        elif name.endswith("ethod"):  # method, statusCallbackMethod, waitMethod, ...
            if value not in METHODS:
                raise InvalidTwiML(f"{where}: not GET or POST")
        elif name in ("numDigits", "timeout", "timeLimit", "maxParticipants", "loop", "length"):
            if not value.isdigit() or (name != "loop" and int(value) == 0):
                raise InvalidTwiML(f"{where}: not a positive integer")
        elif name == "statusCallbackEvent":
            events = value.split()
            documented = NUMBER_EVENTS if element.tag == "Number" else CONFERENCE_EVENTS
            if not events or set(events) - documented:
                raise InvalidTwiML(f"{where}: events are space-separated, of {sorted(documented)}")
        elif name == "callerId":
            if not E164.fullmatch(value):
                raise InvalidTwiML(f"{where}: not an E.164 number")
        elif name == "language" and element.tag == "Say":
            if not SAY_LANGUAGES.fullmatch(value):
                raise InvalidTwiML(f"{where}: not a language tag like en-US")


def _check_content(element: ET.Element) -> None:
    text = (element.text or "").strip()
    if element.tag == "Say" and not text:
        raise InvalidTwiML("<Say> says nothing")
    if element.tag == "Number" and not E164.fullmatch(text):
        raise InvalidTwiML(f"<Number>{text}</Number>: not an E.164 number")
    if element.tag in ("Enqueue", "Queue") and not 0 < len(text) <= 64:
        raise InvalidTwiML(f"<{element.tag}>{text}</{element.tag}>: a queue name of 1 to 64 characters")
    if element.tag in ("Gather", "Hangup", "Response", "Pause", "Leave") and text:
        raise InvalidTwiML(f"<{element.tag}> holds text {text!r}")
    if element.tag == "Dial" and not text and not len(element):
        raise InvalidTwiML("<Dial> dials nothing")
