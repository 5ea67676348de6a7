"""TwiML for offer calls (placeholder until the phone branch lands)."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, VoiceResponse


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text, language="en-US")
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
    del language
    response = VoiceResponse()
    response.say("Connecting you to the patient.", language="en-US")
    dial = Dial(
        caller_id=caller_id,
        timeout=30,
        action=f"{callback_base}/webhooks/twilio/voice/offer/dialed?{urlencode({'offer': offer_id})}",
    )
    query = urlencode({"ref": f"{case_id}:{key}", "leg": "patient", "offer": offer_id})
    dial.number(
        patient_phone,
        status_callback=f"{callback_base}/webhooks/twilio/voice/status?{query}",
        status_callback_event="initiated ringing answered completed",
        status_callback_method="POST",
    )
    response.append(dial)
    return str(response)
