"""What the local Twilio (/dev/phone) makes of a TwiML answer during a call: what the call says, and where
it goes next. Pure; the page carries it out.

The local phone plays the verbs makeright's calls use: <Say> (and <Play>, <Pause>, passed over), <Gather>
(the keypad waits for a key again), <Dial><Number> (a second leg rings), <Dial><Queue> (the rep takes the
caller waiting in a queue), <Enqueue> (a caller waits in a queue: `read_line`), <Leave> (the caller leaves
it), <Hangup> and <Reject> (the call ends); a document that runs out ends the call too, as on Twilio.
Anything else is told back as a problem, the way Twilio's debugger would report it, and the call ends.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # the TwiML comes from makeright's own webhooks
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin

# Twilio's defaults (the <Number statusCallbackEvent> default is `completed` alone)
DEFAULT_EVENTS = ("completed",)
DEFAULT_DIAL_SECONDS = 30
PASSED_OVER = ("Play", "Pause")


@dataclass(frozen=True)
class DialNumber:
    number: str
    caller_id: str | None  # None: the caller's own (the call's From)
    timeout: int
    action: str | None  # the <Dial action>: asked (by POST) what next once the dialled leg is over
    status_callback: str | None
    status_events: tuple[str, ...]


@dataclass(frozen=True)
class Next:
    said: tuple[str, ...] = ()
    # gather: the keypad listens again (for `action`); dial: `dial` rings; hang_up: the call ends
    then: Literal["gather", "dial", "dial_queue", "enqueue", "leave", "hang_up"] = "hang_up"
    action: str | None = None
    dial: DialNumber | None = None
    problem: str | None = None
    queue: str | None = None  # dial_queue: the queue whose caller is taken; enqueue: the one joined
    wait_url: str | None = None  # enqueue: the waitUrl


@dataclass(frozen=True)
class Line:
    """A caller's first answer on the support line, as the local phone plays it: what was said, the
    keypad's action if the greeting listens for a key (nothing pressed falls through), then the queue."""

    said: tuple[str, ...] = ()
    keys_action: str | None = None
    enqueue: Next | None = None
    problem: str | None = None


def read_line(twiml: str, document_url: str) -> Line:
    """The greeting of a call to the support line: <Say>s, an optional one-key <Gather> around them, then
    <Enqueue>. Nothing pressed: the local phone goes on past the <Gather>, as Twilio does."""
    try:
        root = ET.fromstring(twiml)  # noqa: S314 (our own webhook's answer)
    except ET.ParseError as exc:
        return Line(problem=f"Twilio error 12100: the webhook's answer is not TwiML ({exc})")
    said: list[str] = []
    keys = None
    for verb in root:
        if verb.tag == "Say":
            said.append((verb.text or "").strip())
        elif verb.tag == "Gather":
            said.extend((inner.text or "").strip() for inner in verb if inner.tag == "Say")
            keys = urljoin(document_url, verb.get("action") or document_url)
        elif verb.tag == "Enqueue":
            return Line(tuple(said), keys, _enqueue(verb, document_url, ()))
        elif verb.tag in PASSED_OVER:
            continue
        else:
            return Line(tuple(said), keys, problem=f"the local phone does not play <{verb.tag}> here")
    return Line(tuple(said), keys)


def _enqueue(verb: ET.Element, document_url: str, said: tuple[str, ...]) -> Next:
    action, wait_url = verb.get("action"), verb.get("waitUrl")
    return Next(
        said,
        "enqueue",
        queue=(verb.text or "").strip(),
        action=urljoin(document_url, action) if action else None,
        wait_url=urljoin(document_url, wait_url) if wait_url else None,
    )


def read(twiml: str, document_url: str) -> Next:
    """The next step of a call whose webhook at `document_url` answered `twiml`. Relative URLs in it are
    resolved against `document_url`, as Twilio does."""
    try:
        root = ET.fromstring(twiml)  # noqa: S314 (our own webhook's answer; expat resolves no external entities)
    except ET.ParseError as exc:
        return Next(problem=f"Twilio error 12100: the webhook's answer is not TwiML ({exc})")
    if root.tag != "Response":
        return Next(problem=f"Twilio error 12100: the TwiML's root is <{root.tag}>, not <Response>")
    said: list[str] = []
    for verb in root:
        if verb.tag == "Say":
            said.append((verb.text or "").strip())
        elif verb.tag in PASSED_OVER:
            continue
        elif verb.tag == "Gather":
            said.extend((inner.text or "").strip() for inner in verb if inner.tag == "Say")
            action = urljoin(document_url, verb.get("action") or document_url)
            return Next(tuple(said), "gather", action=action)
        elif verb.tag == "Dial" and [noun for noun in verb if noun.tag == "Queue"]:
            dial_action = verb.get("action")
            queue = (verb.findtext("Queue") or "").strip()
            return Next(
                tuple(said),
                "dial_queue",
                action=urljoin(document_url, dial_action) if dial_action else None,
                queue=queue,
            )
        elif verb.tag == "Enqueue":
            return _enqueue(verb, document_url, tuple(said))
        elif verb.tag == "Leave":
            return Next(tuple(said), "leave")
        elif verb.tag == "Dial":
            dial = _dial(verb, document_url)
            if isinstance(dial, str):
                return Next(tuple(said), problem=dial)
            return Next(tuple(said), "dial", action=dial.action, dial=dial)
        elif verb.tag in ("Hangup", "Reject"):
            return Next(tuple(said))
        else:
            return Next(
                tuple(said), problem=f"the local phone does not play <{verb.tag}>: the call ends here"
            )
    return Next(tuple(said))  # the document ran out: Twilio ends the call


def _dial(verb: ET.Element, document_url: str) -> DialNumber | str:
    nouns = list(verb)
    numbers = [noun for noun in nouns if noun.tag == "Number"]
    if [noun for noun in nouns if noun.tag != "Number"]:
        others = ", ".join(sorted({f"<{noun.tag}>" for noun in nouns if noun.tag != "Number"}))
        return f"the local phone dials only <Number>, not {others}: the call ends here"
    if len(numbers) > 1:
        return "the local phone dials one <Number> at a time: the call ends here"
    if numbers:
        number = (numbers[0].text or "").strip()
        callback = numbers[0].get("statusCallback")
        events = tuple((numbers[0].get("statusCallbackEvent") or "").split()) or DEFAULT_EVENTS
    else:
        number, callback, events = (verb.text or "").strip(), None, DEFAULT_EVENTS
    if not number:
        return "Twilio error 13223: <Dial> has no number to dial"
    timeout = verb.get("timeout", str(DEFAULT_DIAL_SECONDS))
    action = verb.get("action")
    return DialNumber(
        number=number,
        caller_id=verb.get("callerId"),
        timeout=int(timeout) if timeout.isdigit() else DEFAULT_DIAL_SECONDS,
        action=urljoin(document_url, action) if action else None,
        status_callback=urljoin(document_url, callback) if callback else None,
        status_events=events,
    )
