"""Twilio (TWILIO_MODE=live): SMS and calls through the official SDK, and the TwiML of every call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from domain.masking import mask_text
from domain.messages import voice_goodbye
from domain.messaging import OutboundMessage
from providers.errors import ProviderAmbiguous, ProviderNotProcessed, ProviderRejected

VOICE_LANGUAGE = {"en": "en-US", "nl": "nl-NL"}


def gather_twiml(msg: OutboundMessage) -> str:
    """A call that speaks the offer and collects one keypad digit at the case's callback URL."""
    from twilio.twiml.voice_response import Gather, VoiceResponse

    language = VOICE_LANGUAGE.get(msg.language, "en-US")
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=msg.gather_action_url, method="POST", timeout=10)
    gather.say(msg.body, language=language)
    response.append(gather)
    response.say(voice_goodbye(msg.language), language=language)
    return str(response)


# every progress event of a bridge's two legs: the case's timeline shows what really happened
BRIDGE_EVENTS = ["initiated", "ringing", "answered", "completed"]


def bridge_status_url(callback_base: str, msg: OutboundMessage, leg: str) -> str:
    """Where Twilio reports a bridge leg's progress: the URL names the call, so a report that arrives
    before the call's sid is recorded still finds its case."""
    from urllib.parse import urlencode

    query = urlencode({"ref": f"{msg.case_id}:{msg.key}", "leg": leg})
    return f"{callback_base}/webhooks/twilio/voice/status?{query}"


def bridge_twiml(msg: OutboundMessage, caller_id: str, callback_base: str | None = None) -> str:
    """A call to the rep that says whom they are about to speak to, then dials the patient in. The
    patient sees our number (`caller_id`), never the rep's. The patient's leg reports its progress."""
    from twilio.twiml.voice_response import Dial, VoiceResponse

    assert msg.dial is not None
    language = VOICE_LANGUAGE.get(msg.language, "en-US")
    response = VoiceResponse()
    response.say(msg.body, language=language)
    dial = Dial(caller_id=caller_id, timeout=30)
    if callback_base:
        dial.number(
            msg.dial,
            status_callback=bridge_status_url(callback_base, msg, "patient"),
            status_callback_event=" ".join(BRIDGE_EVENTS),
            status_callback_method="POST",
        )
    else:
        dial.number(msg.dial)
    response.append(dial)
    return str(response)


def call_twiml(msg: OutboundMessage, caller_id: str, callback_base: str | None = None) -> str:
    return bridge_twiml(msg, caller_id, callback_base) if msg.dial else gather_twiml(msg)


def _base_url_http_client(base_url: str) -> Any:
    """The SDK's own HTTP client, sending to `base_url` instead of api.twilio.com (edges, test doubles)."""
    from twilio.http.http_client import TwilioHttpClient

    base = urlsplit(base_url.rstrip("/"))

    class BaseUrlHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            parts = urlsplit(url)
            url = urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment))
            return super().request(method, url, *args, **kwargs)

    return BaseUrlHttpClient(timeout=15)


class LiveTwilio:
    """The real Twilio REST API through the official SDK."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str,
        callback_base: str | None = None,
    ) -> None:
        from twilio.rest import Client

        self.from_number = from_number
        # where Twilio reports delivery (PUBLIC_BASE_URL): undelivered texts and unanswered calls move the
        # case to the next channel
        self.callback_base = callback_base.rstrip("/") if callback_base else None
        self.client = Client(account_sid, auth_token, http_client=_base_url_http_client(base_url))

    def _call_api(self, fn: Any, **kwargs: Any) -> Any:
        import requests
        from twilio.base.exceptions import TwilioException

        try:
            return fn(**kwargs)
        except TwilioException as exc:
            # TwilioRestException (classic error body), TwilioServiceException (RFC 9457 body) and the
            # plain TwilioException a list page raises all carry the HTTP status somewhere
            status, code, message = _twilio_error(exc)
            if status == 429:
                raise ProviderNotProcessed(f"twilio 429 (code {code})") from None
            if status is not None and 400 <= status < 500:
                raise ProviderRejected(status, mask_text(f"twilio error {code}: {message}")) from None
            raise ProviderAmbiguous(f"twilio {status} (code {code})") from None
        except requests.exceptions.ConnectionError as exc:
            # only a connection that was never made is known not to have delivered the request; a
            # connection dropped after sending it (reset, closed without an answer) may have
            if _never_connected(exc):
                raise ProviderNotProcessed(f"twilio unreachable: {type(exc).__name__}") from None
            raise ProviderAmbiguous(f"twilio connection lost: {type(exc).__name__}") from None
        except requests.exceptions.RequestException as exc:  # read timeout, broken body
            raise ProviderAmbiguous(f"twilio answer lost: {type(exc).__name__}") from None

    def send_sms(self, msg: OutboundMessage) -> str:
        extra: dict[str, Any] = {}
        if self.callback_base:
            extra["status_callback"] = f"{self.callback_base}/webhooks/twilio/sms/status"
        message = self._call_api(
            self.client.messages.create, to=msg.to, from_=self.from_number, body=msg.body, **extra
        )
        return str(message.sid)

    def place_call(self, msg: OutboundMessage) -> str:
        if msg.offer_id is not None:
            return self._place_offer(msg)
        extra: dict[str, Any] = {}
        if self.callback_base and msg.dial:  # a bridge: the rep's leg reports every step
            extra["status_callback"] = bridge_status_url(self.callback_base, msg, "rep")
            extra["status_callback_event"] = BRIDGE_EVENTS
        elif self.callback_base:
            extra["status_callback"] = f"{self.callback_base}/webhooks/twilio/voice/status"
            extra["status_callback_event"] = ["completed"]
            extra["machine_detection"] = (
                "Enable"  # a machine cannot press keys: tell us, so the case moves on
            )
        call = self._call_api(
            self.client.calls.create,
            to=msg.to,
            from_=self.from_number,
            twiml=call_twiml(msg, self.from_number, self.callback_base),
            **extra,
        )
        return str(call.sid)

    def _place_offer(self, msg: OutboundMessage) -> str:
        """An offer of work to a rep: the whisper and one key (`offer_twiml`), ringing at most
        `ring_seconds` (Twilio's `Timeout`), every progress event reported to a URL that names the offer.
        No answering-machine detection: a rep's voicemail cannot press 1, and the ring time is short."""
        from providers.phone.twiml import CALL_EVENTS, offer_status_url, offer_twiml

        extra: dict[str, Any] = {}
        if msg.ring_seconds is not None:
            extra["timeout"] = msg.ring_seconds
        if self.callback_base:
            extra["status_callback"] = offer_status_url(self.callback_base, msg)
            extra["status_callback_event"] = list(CALL_EVENTS)
        call = self._call_api(
            self.client.calls.create, to=msg.to, from_=self.from_number, twiml=offer_twiml(msg), **extra
        )
        return str(call.sid)

    def end_call(self, provider_id: str) -> None:
        """Hang up a call we placed: `canceled` while it is queued or ringing, `completed` once answered.
        Twilio documents that `canceled` does not affect a call already in progress (the answer still says
        `in-progress`), and refuses an update that does not fit the call's state with a 400: either way,
        `completed` follows. A call already over is left as it is."""
        try:
            call = self._call_api(self.client.calls(provider_id).update, status="canceled")
        except ProviderRejected:
            call = None
        if call is not None and str(getattr(call, "status", "")) not in ("in-progress", "queued", "ringing"):
            return  # it stopped ringing (canceled), or was over already
        try:
            self._call_api(self.client.calls(provider_id).update, status="completed")
        except ProviderRejected:
            pass  # over already (completed, failed, no-answer): nothing rings

    def find_sent(self, msg: OutboundMessage, since: datetime) -> str | None:
        """Did an earlier attempt get through? Twilio lists what we sent this patient; ours has this exact
        body and was created at or after `since` (when the attempt was recorded, less clock skew).

        Twilio's documented list filters are To, From and DateSent (calls: StartTime): a message still
        queued has no date_sent, a call not yet dialled no start_time, so a date filter would hide the very
        one a retry must find and it would go out twice. The page is filtered on To and From only, and on
        creation time here. One page of the newest is enough; `list()` would follow `next_page_uri` until
        it had `limit` records, page after page."""
        if msg.channel.value == "voice":
            calls = self._call_api(self.client.calls.page, to=msg.to, from_=self.from_number, page_size=50)
            call = next((c for c in calls if _created_since(c.date_created, since)), None)
            return str(call.sid) if call is not None else None
        messages = self._call_api(self.client.messages.page, to=msg.to, from_=self.from_number, page_size=50)
        for message in messages:
            if message.body == msg.body and _created_since(message.date_created, since):
                return str(message.sid)
        return None


def _created_since(created: datetime | None, since: datetime) -> bool:
    """Twilio's date_created (RFC 2822, parsed by the SDK) at or after `since`; send-once passes `since`
    a minute before the attempt was recorded, for the clocks of our host and Twilio's."""
    if not isinstance(created, datetime):
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return created >= since


def _twilio_error(exc: Exception) -> tuple[int | None, Any, str]:
    """(HTTP status, Twilio error code, message) of any exception the Twilio SDK raises for an answer."""
    import json

    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    message = str(getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", ""))
    response = exc.args[1] if len(exc.args) > 1 else None  # TwilioException("Unable to fetch page", resp)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
        try:
            body = json.loads(response.text)
            code, message = body.get("code"), str(body.get("message", ""))
        except (ValueError, AttributeError):
            pass
    return (int(status) if status is not None else None), code, message


def _never_connected(exc: Exception) -> bool:
    """True when requests failed before a connection existed (refused, DNS, connect timeout)."""
    from urllib3.exceptions import ConnectTimeoutError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError and NameResolutionError included
