"""TwiML of the calls that offer work to a rep (domain.routing): the offer itself (a whisper and one key),
what the rep's call does once they took it (dial the patient in), and the short goodbyes. Pure: the live
provider uses them to place the call, the web hooks to answer Twilio's requests during it.

Every URL here is absolute (PUBLIC_BASE_URL first): Twilio resolves a relative one against the URL of the
document it fetched, which for a call created with inline `Twiml` is none.
"""

from __future__ import annotations

from urllib.parse import urlencode

from domain.messaging import OutboundMessage
from providers.phone.twilio import BRIDGE_EVENTS, VOICE_LANGUAGE

# the rep's phone hears the whisper in English (domain.routing.whisper)
WHISPER_LANGUAGE = "en-US"
# seconds Twilio waits for the key once the whisper has been said (the offer itself may end sooner: the
# router hangs the call up when the offer's time is over)
OFFER_KEY_SECONDS = 10
NOTHING_PRESSED = "Nothing was pressed. Goodbye."
# how long the patient's phone rings before the <Dial> gives up (Twilio's default)
DIAL_PATIENT_SECONDS = 30
CONNECTING = {
    "en": "Connecting you to the patient.",
    "nl": "U wordt verbonden met de patiënt.",
}
# every call progress event Twilio reports (`initiated ringing answered completed`)
CALL_EVENTS = tuple(BRIDGE_EVENTS)


def _status_url(callback_base: str, case_id: str, key: str, leg: str, offer_id: str) -> str:
    query = urlencode({"ref": f"{case_id}:{key}", "leg": leg, "offer": offer_id})
    return f"{callback_base.rstrip('/')}/webhooks/twilio/voice/status?{query}"


def offer_status_url(callback_base: str, msg: OutboundMessage) -> str:
    """Where Twilio reports the progress of the rep's offer call: the URL names the case and the message
    (`ref`, found before the call's sid is recorded), the leg (`rep`) and the offer."""
    assert msg.offer_id is not None
    return _status_url(callback_base, msg.case_id, msg.key, "rep", msg.offer_id)


def dialed_url(callback_base: str, offer_id: str) -> str:
    """The <Dial action> of an accepted offer: Twilio asks it what next once the patient's leg is over."""
    return f"{callback_base.rstrip('/')}/webhooks/twilio/voice/offer/dialed?{urlencode({'offer': offer_id})}"


def offer_twiml(msg: OutboundMessage) -> str:
    """The offer: the whisper, said inside a one-key <Gather> that posts the key to `gather_action_url`;
    with no key pressed, a goodbye and the call ends."""
    from twilio.twiml.voice_response import Gather, VoiceResponse

    assert msg.offer_id is not None and msg.gather_action_url is not None
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=msg.gather_action_url, method="POST", timeout=OFFER_KEY_SECONDS)
    gather.say(msg.body, language=WHISPER_LANGUAGE)
    response.append(gather)
    response.say(NOTHING_PRESSED, language=WHISPER_LANGUAGE)
    response.hangup()
    return str(response)


def connect_twiml(
    patient_phone: str,
    caller_id: str,
    callback_base: str,
    case_id: str,
    key: str,
    offer_id: str,
    language: str = "en",
) -> str:
    """The answer to the rep's 1: tell the rep, then dial the patient in from `caller_id` (our number,
    TWILIO_FROM_NUMBER; never the rep's). The patient's leg reports every progress event (`leg=patient`,
    with Twilio's ParentCallSid naming the rep's call), and the <Dial action> hears how it ended.
    `language`: the one the rep hears the announcement in."""
    from twilio.twiml.voice_response import Dial, VoiceResponse

    response = VoiceResponse()
    response.say(CONNECTING.get(language, CONNECTING["en"]), language=VOICE_LANGUAGE.get(language, "en-US"))
    dial = Dial(
        caller_id=caller_id,
        timeout=DIAL_PATIENT_SECONDS,
        action=dialed_url(callback_base, offer_id),
        method="POST",
    )
    dial.number(
        patient_phone,
        status_callback=_status_url(callback_base, case_id, key, "patient", offer_id),
        status_callback_event=" ".join(CALL_EVENTS),
        status_callback_method="POST",
    )
    response.append(dial)
    return str(response)


def say_and_hang_up(text: str, language: str = "en") -> str:
    """Say `text`, then end the call (an offer no longer open, a key that declines, the patient gone)."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    response.say(text, language=VOICE_LANGUAGE.get(language, "en-US"))
    response.hangup()
    return str(response)


# ---------------------------------------------------------------------- the support line (callers)

# how long the greeting's keypad listens for a booking choice before the caller is held for a rep
LINE_CHOICE_SECONDS = 3
# how long a waiting caller hears silence between two hold messages (Twilio asks the waitUrl again when
# its document runs out)
HOLD_PAUSE_SECONDS = 10
CALLBACK_KEY_SECONDS = 5
CONNECTING_CALLER = "Connecting you to the caller."


def line_url(callback_base: str, what: str, call_sid: str) -> str:
    """/webhooks/twilio/voice/incoming/<what>?call=<CallSid>: the support line's own callbacks."""
    query = urlencode({"call": call_sid})
    return f"{callback_base.rstrip('/')}/webhooks/twilio/voice/incoming/{what}?{query}"


def line_greeting_twiml(
    callback_base: str,
    call_sid: str,
    queue: str,
    greeting: str,
    language: str = "en",
    choices: str | None = None,
) -> str:
    """A caller's first answer: the greeting in their language, then the caller waits in `queue` (the
    work id the router offers reps) with `waitUrl` for hold and `action` once they leave it. With `choices`
    (an open booking-conflict offer), the greeting sits in a one-key <Gather> whose key is their choice;
    nothing pressed falls through to the queue."""
    from twilio.twiml.voice_response import Gather, VoiceResponse

    voice = VOICE_LANGUAGE.get(language, "en-US")
    response = VoiceResponse()
    if choices is not None:
        gather = Gather(
            num_digits=1,
            action=line_url(callback_base, "keys", call_sid),
            method="POST",
            timeout=LINE_CHOICE_SECONDS,
        )
        gather.say(greeting, language=voice)
        gather.say(choices, language=voice)
        response.append(gather)
    else:
        response.say(greeting, language=voice)
    response.enqueue(
        queue,
        wait_url=line_url(callback_base, "wait", call_sid),
        wait_url_method="POST",
        action=line_url(callback_base, "left", call_sid),
        method="POST",
    )
    return str(response)


def line_hold_twiml(
    hold: str, language: str = "en", callback_offer: str | None = None, callback_action: str | None = None
) -> str:
    """The waitUrl's answer: the hold message, then a pause (Twilio asks again when it runs out). With a
    callback offer: the offer in a one-key <Gather> posting to `callback_action`."""
    from twilio.twiml.voice_response import Gather, VoiceResponse

    voice = VOICE_LANGUAGE.get(language, "en-US")
    response = VoiceResponse()
    if callback_offer is not None and callback_action is not None:
        gather = Gather(num_digits=1, action=callback_action, method="POST", timeout=CALLBACK_KEY_SECONDS)
        gather.say(hold, language=voice)
        gather.say(callback_offer, language=voice)
        response.append(gather)
    else:
        response.say(hold, language=voice)
    response.pause(length=HOLD_PAUSE_SECONDS)
    return str(response)


def line_leave_twiml(said: str, language: str = "en") -> str:
    """Say `said`, then take the caller out of the queue (<Leave/>: the Enqueue's action is asked next)."""
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    response.say(said, language=VOICE_LANGUAGE.get(language, "en-US"))
    response.leave()
    return str(response)


def caller_connect_twiml(queue: str, callback_base: str, offer_id: str) -> str:
    """The rep's 1 on a caller's offer: tell the rep, then take the caller waiting in `queue`
    (<Dial><Queue>); the <Dial action> tells the rep how it went."""
    from twilio.twiml.voice_response import Dial, VoiceResponse

    response = VoiceResponse()
    response.say(CONNECTING_CALLER, language="en-US")
    dial = Dial(action=dialed_url(callback_base, offer_id), method="POST")
    dial.queue(queue)
    response.append(dial)
    return str(response)


def hang_up() -> str:
    from twilio.twiml.voice_response import VoiceResponse

    response = VoiceResponse()
    response.hangup()
    return str(response)
