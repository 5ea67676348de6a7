"""The `live` gateways' error paths against a scripted stub provider (Prism only answers the spec's happy
examples): how each answer maps to refused / not processed / ambiguous, and what send-once does with it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

import cli
from activities.outbound import UNVERIFIABLE
from activities.sendgrid_email import SendGridActivities
from activities.twilio_phone import TwilioActivities
from domain.messaging import Channel, OutboundMessage
from providers.errors import ProviderAmbiguous, ProviderNotProcessed, ProviderRejected
from providers.mail.sendgrid import LiveSendGrid
from providers.phone.twilio import LiveTwilio
from store import outbox
from store.db import Store
from store.models import OutboundMessageRow, TimelineItem
from tests.support.prism import add_case, free_port

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM_NUMBER = "+15005550006"
PATIENT = "+31612345678"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
MAIL_SEND = "/v3/mail/send"


# ------------------------------------------------------------------------------------------ the stub


@dataclass
class Answer:
    status: int | None  # None: read the request, then close the connection without answering
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes


class StubProvider:
    """An HTTP server answering each (method, path) with the answer the test set last."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        # answers given in turn, one a request, before `answers` (a route asked twice in one call)
        self.scripts: dict[tuple[str, str], list[Answer]] = {}
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                stub.seen.append(
                    Seen(self.command, parts.path, parse_qs(parts.query), self.rfile.read(length))
                )
                script = stub.scripts.get((self.command, parts.path))
                answer = (
                    script.pop(0)
                    if script
                    else stub.answers.get((self.command, parts.path), Answer(404, {"message": "no route"}))
                )
                time.sleep(answer.delay)
                if answer.status is None:
                    self.close_connection = True
                    return
                body = answer.body(parse_qs(parts.query)) if callable(answer.body) else answer.body
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def answer(self, method: str, path: str, status: int | None, body: Any = None, **kw: Any) -> None:
        self.answers[(method, path)] = Answer(status, body, **kw)

    def script(self, method: str, path: str, answers: list[Answer]) -> None:
        self.scripts[(method, path)] = list(answers)

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if (s.method, s.path) == (method, path))


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    server = StubProvider()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def unreachable_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def row_of(store: Store, case_id: str) -> OutboundMessageRow:
    with store.session() as s:
        return s.scalars(select(OutboundMessageRow).where(OutboundMessageRow.case_id == case_id)).one()


def timeline_of(store: Store, case_id: str) -> list[str]:
    """What the sends wrote on the case's timeline (after intake's case_opened)."""
    with store.session() as s:
        whats = s.scalars(
            select(TimelineItem.what).where(TimelineItem.case_id == case_id).order_by(TimelineItem.id)
        )
        return [what for what in whats if what != "case_opened"]


# ------------------------------------------------------------------------------------------ Twilio


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=False)


def twilio_message(
    sid: str, body: str, created: datetime | None = None, sent: datetime | None = None
) -> dict[str, Any]:
    """A message as Twilio lists it; `sent=None`: still queued (Twilio has not sent it, no date_sent)."""
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "to": PATIENT,
        "from": FROM_NUMBER,
        "body": body,
        "status": "queued" if sent is None else "sent",
        "direction": "outbound-api",
        "date_created": rfc2822(created or datetime.now(UTC)),
        "date_sent": rfc2822(sent) if sent is not None else None,
    }


def twilio_call(sid: str, created: datetime | None = None, started: datetime | None = None) -> dict[str, Any]:
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "to": PATIENT,
        "from": FROM_NUMBER,
        "status": "queued" if started is None else "in-progress",
        "date_created": rfc2822(created or datetime.now(UTC)),
        "start_time": rfc2822(started) if started is not None else None,
    }


def _twilio_date(value: str) -> datetime:
    """A DateSent filter value: `YYYY-MM-DD` as documented, or the SDK's `YYYY-MM-DDTHH:MM:SSZ`."""
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def twilio_listing(key: str, records: list[dict[str, Any]]) -> Callable[[dict[str, list[str]]], Any]:
    """A list endpoint that applies Twilio's documented filters (To, From, DateSent>, StartTime>) the way
    Twilio does: a record without the date (a message still queued, a call not yet dialled) is left out."""
    date_field = {"messages": ("DateSent>", "date_sent"), "calls": ("StartTime>", "start_time")}[key]

    def answer(query: dict[str, list[str]]) -> dict[str, Any]:
        found = [r for r in records if r["to"] == query.get("To", [r["to"]])[0]]
        found = [r for r in found if r["from"] == query.get("From", [r["from"]])[0]]
        after = query.get(date_field[0])
        if after:
            found = [
                r
                for r in found
                if r.get(date_field[1]) and parsedate_to_datetime(r[date_field[1]]) >= _twilio_date(after[0])
            ]
        return twilio_page(key, found)

    return answer


def twilio_page(key: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: records,
        "page": 0,
        "page_size": 50,
        "start": 0,
        "end": len(records),
        "first_page_uri": MESSAGES,
        "next_page_uri": None,
        "previous_page_uri": None,
        "uri": MESSAGES,
    }


INVALID_TO = twilio_error(400, 21211, f"The 'To' number {PATIENT} is not a valid phone number.")
TOO_MANY = twilio_error(429, 20429, "Too Many Requests")
SERVER_ERROR = twilio_error(500, 20500, "Internal Server Error")


def twilio(base_url: str) -> LiveTwilio:
    return LiveTwilio(ACCOUNT_SID, "auth-token", FROM_NUMBER, base_url)


def text_message(case_id: str, body: str = "Your appointment moved. Reply 1 or 2.") -> OutboundMessage:
    return OutboundMessage(case_id=case_id, key="offer-sms", channel=Channel.SMS, to=PATIENT, body=body)


def test_twilio_400_is_a_refusal_without_the_number_in_it(stub: StubProvider) -> None:
    stub.answer("POST", MESSAGES, 400, INVALID_TO)

    with pytest.raises(ProviderRejected) as refused:
        twilio(stub.url).send_sms(text_message("case-1"))

    assert refused.value.status == 400
    assert "21211" in refused.value.reason
    assert PATIENT not in refused.value.reason and "+316****5678" in refused.value.reason


def test_twilio_problem_details_400_is_a_refusal(stub: StubProvider) -> None:
    """Newer Twilio APIs answer RFC 9457 bodies, which the SDK raises as TwilioServiceException."""
    stub.answer(
        "POST",
        MESSAGES,
        400,
        {
            "type": "https://www.twilio.com/docs/errors/21211",
            "title": "Invalid 'To' Phone Number",
            "status": 400,
            "code": 21211,
        },
    )

    with pytest.raises(ProviderRejected) as refused:
        twilio(stub.url).send_sms(text_message("case-1"))

    assert refused.value.status == 400 and "21211" in refused.value.reason


async def test_twilio_400_through_send_once_is_rejected_for_good(stub: StubProvider, store: Store) -> None:
    case_id = add_case(store)
    activities = TwilioActivities(store, twilio(stub.url))
    stub.answer("POST", MESSAGES, 400, INVALID_TO)

    result = await activities.send_sms(text_message(case_id))
    again = await activities.send_sms(text_message(case_id))

    assert (result.status, result.provider_id) == ("rejected", None)
    assert result.reason is not None and "21211" in result.reason
    assert again.status == "rejected"
    assert stub.count("POST", MESSAGES) == 1
    assert row_of(store, case_id).status == "rejected"
    assert timeline_of(store, case_id) == ["sms_failed"]


async def test_twilio_429_is_retried_and_then_sent_once(stub: StubProvider, store: Store) -> None:
    case_id = add_case(store)
    gateway = twilio(stub.url)
    activities = TwilioActivities(store, gateway)
    stub.answer("POST", MESSAGES, 429, TOO_MANY)

    with pytest.raises(ProviderNotProcessed):
        gateway.send_sms(text_message(case_id))
    with pytest.raises(ApplicationError) as retry:
        await activities.send_sms(text_message(case_id))

    assert retry.value.non_retryable is False
    assert row_of(store, case_id).status == "failed_retryable"

    sid = "SM" + uuid.uuid4().hex
    stub.answer("POST", MESSAGES, 201, twilio_message(sid, text_message(case_id).body))
    result = await activities.send_sms(text_message(case_id))
    again = await activities.send_sms(text_message(case_id))

    assert (result.status, result.provider_id) == ("sent", sid)
    assert (again.status, again.provider_id) == ("already_sent", sid)
    assert stub.count("POST", MESSAGES) == 3  # the gateway's 429, the activity's 429, the one that sent
    assert stub.count("GET", MESSAGES) == 0  # a 429 was never processed: nothing to look for
    row = row_of(store, case_id)
    assert (row.status, row.provider_id, row.attempts) == ("sent", sid, 2)


def test_twilio_500_is_ambiguous(stub: StubProvider) -> None:
    stub.answer("POST", MESSAGES, 500, SERVER_ERROR)

    with pytest.raises(ProviderAmbiguous):
        twilio(stub.url).send_sms(text_message("case-1"))


async def test_twilio_500_then_the_retry_finds_the_message_and_does_not_send_again(
    stub: StubProvider, store: Store
) -> None:
    case_id = add_case(store)
    activities = TwilioActivities(store, twilio(stub.url))
    msg = text_message(case_id)
    stub.answer("POST", MESSAGES, 500, SERVER_ERROR)

    with pytest.raises(ApplicationError) as retry:
        await activities.send_sms(msg)

    assert retry.value.non_retryable is False
    assert row_of(store, case_id).status == "unknown"

    # Twilio did send it after all: the list shows it (beside another message to the same patient)
    listed = "SM" + uuid.uuid4().hex
    now = datetime.now(UTC)
    stub.answer(
        "GET",
        MESSAGES,
        200,
        twilio_listing(
            "messages",
            [
                twilio_message("SM" + "b" * 32, "another text", sent=now),
                twilio_message(listed, msg.body, sent=now),
            ],
        ),
    )
    stub.answer("POST", MESSAGES, 201, twilio_message("SM" + "c" * 32, msg.body))
    result = await activities.send_sms(msg)

    assert (result.status, result.provider_id) == ("already_sent", listed)
    assert stub.count("POST", MESSAGES) == 1
    [lookup] = [s for s in stub.seen if s.method == "GET"]
    assert lookup.query["To"] == [PATIENT] and lookup.query["From"] == [FROM_NUMBER]
    row = row_of(store, case_id)
    assert (row.status, row.provider_id) == ("sent", listed)
    assert timeline_of(store, case_id) == ["sms_sent"]


async def test_twilio_500_then_nothing_listed_sends_again(stub: StubProvider, store: Store) -> None:
    case_id = add_case(store)
    activities = TwilioActivities(store, twilio(stub.url))
    msg = text_message(case_id)
    stub.answer("POST", MESSAGES, 500, SERVER_ERROR)
    with pytest.raises(ApplicationError):
        await activities.send_sms(msg)

    stub.answer(
        "GET", MESSAGES, 200, twilio_listing("messages", [twilio_message("SM" + "b" * 32, "another text")])
    )
    sid = "SM" + uuid.uuid4().hex
    stub.answer("POST", MESSAGES, 201, twilio_message(sid, msg.body))
    result = await activities.send_sms(msg)

    assert (result.status, result.provider_id) == ("sent", sid)
    assert stub.count("POST", MESSAGES) == 2
    assert stub.count("GET", MESSAGES) == 1


async def test_twilio_call_500_then_the_retry_finds_the_call(stub: StubProvider, store: Store) -> None:
    case_id = add_case(store)
    activities = TwilioActivities(store, twilio(stub.url))
    msg = OutboundMessage(
        case_id=case_id,
        key="offer-call",
        channel=Channel.VOICE,
        to=PATIENT,
        body="Press 1 to accept.",
        gather_action_url="https://makeright.example/gather",
    )
    stub.answer("POST", CALLS, 500, SERVER_ERROR)
    with pytest.raises(ApplicationError):
        await activities.place_call(msg)

    # Twilio did place it, and has not dialled it yet: a call still queued has no start_time
    listed = "CA" + uuid.uuid4().hex
    stub.answer("GET", CALLS, 200, twilio_listing("calls", [twilio_call(listed)]))
    result = await activities.place_call(msg)

    assert (result.status, result.provider_id) == ("already_sent", listed)
    assert stub.count("POST", CALLS) == 1


async def test_twilio_retry_finds_a_message_still_queued_and_does_not_send_again(
    stub: StubProvider, store: Store
) -> None:
    """The worker died after Twilio took the message and before the sid was recorded; Twilio has not sent
    it yet (queued: no date_sent). The retry must find it by To, From, body and creation time."""
    case_id = add_case(store)
    activities = TwilioActivities(store, twilio(stub.url))
    msg = text_message(case_id)
    outbox.begin(store, msg)  # the dead worker's attempt: recorded `sending`, its answer never recorded
    queued = "SM" + uuid.uuid4().hex
    stub.answer("GET", MESSAGES, 200, twilio_listing("messages", [twilio_message(queued, msg.body)]))
    stub.answer("POST", MESSAGES, 201, twilio_message("SM" + "c" * 32, msg.body))

    result = await activities.send_sms(msg)

    assert (result.status, result.provider_id) == ("already_sent", queued)
    assert stub.count("POST", MESSAGES) == 0  # the patient gets the text once
    [lookup] = [s for s in stub.seen if s.method == "GET"]
    assert lookup.query["To"] == [PATIENT] and lookup.query["From"] == [FROM_NUMBER]
    assert not any(name.startswith("DateSent") for name in lookup.query)
    assert (row_of(store, case_id).status, row_of(store, case_id).provider_id) == ("sent", queued)


async def test_twilio_retry_matches_on_creation_time_allowing_clock_skew(
    stub: StubProvider, store: Store
) -> None:
    """The same text to the same patient days ago (an earlier case) is not ours; one Twilio created 30 s
    before our clock recorded the attempt is (Twilio's clock and ours differ a little)."""
    case_id = add_case(store)
    activities = TwilioActivities(store, twilio(stub.url))
    msg = text_message(case_id)
    intent = outbox.begin(store, msg)
    recorded = intent.created_at if intent.created_at.tzinfo else intent.created_at.replace(tzinfo=UTC)
    older = twilio_message("SM" + "e" * 32, msg.body, created=recorded - timedelta(days=2))
    older["date_sent"] = older["date_created"]
    stub.answer("GET", MESSAGES, 200, twilio_listing("messages", [older]))
    sid = "SM" + uuid.uuid4().hex
    stub.answer("POST", MESSAGES, 201, twilio_message(sid, msg.body))

    assert (await activities.send_sms(msg)).status == "sent"  # not taken for ours: sent
    assert stub.count("POST", MESSAGES) == 1

    other = text_message(add_case(store))
    outbox.begin(store, other)
    skewed = twilio_message("SM" + "f" * 32, other.body, created=datetime.now(UTC) - timedelta(seconds=30))
    stub.answer("GET", MESSAGES, 200, twilio_listing("messages", [skewed]))

    found = await activities.send_sms(other)

    assert (found.status, found.provider_id) == ("already_sent", "SM" + "f" * 32)
    assert stub.count("POST", MESSAGES) == 1


def test_twilio_lookup_429_is_not_processed(stub: StubProvider) -> None:
    """A list page that fails raises the SDK's plain TwilioException: still mapped by its status."""
    stub.answer("GET", MESSAGES, 429, TOO_MANY)

    with pytest.raises(ProviderNotProcessed):
        twilio(stub.url).find_sent(text_message("case-1"), since=_an_hour_ago())


def test_twilio_unreachable_is_not_processed() -> None:
    with pytest.raises(ProviderNotProcessed):
        twilio(unreachable_url()).send_sms(text_message("case-1"))


def test_twilio_connection_dropped_after_the_request_is_ambiguous(stub: StubProvider) -> None:
    stub.answer("POST", MESSAGES, None)

    with pytest.raises(ProviderAmbiguous):
        twilio(stub.url).send_sms(text_message("case-1"))

    assert stub.count("POST", MESSAGES) == 1


def test_twilio_read_timeout_is_ambiguous(stub: StubProvider) -> None:
    gateway = twilio(stub.url)
    gateway.client.http_client.timeout = 0.2
    stub.answer("POST", MESSAGES, 201, twilio_message("SM" + "d" * 32, "x"), delay=0.6)

    with pytest.raises(ProviderAmbiguous):
        gateway.send_sms(text_message("case-1"))


def _an_hour_ago() -> Any:
    return datetime.now(UTC) - timedelta(hours=1)


# end_call: Twilio documents that `canceled` hangs up a queued or ringing call and leaves one in progress
# alone, and `completed` hangs up even one in progress; an update that does not fit the call's state is a 400
CALL_SID = "CA" + "e" * 32
CALL = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"
NOT_IN_PROGRESS = twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")


def call_in(status: str) -> dict[str, Any]:
    return twilio_call(CALL_SID) | {"status": status}


def statuses_sent(stub: StubProvider) -> list[str]:
    return [parse_qs(s.body.decode())["Status"][0] for s in stub.seen if s.path == CALL]


def test_end_call_cancels_a_ringing_call(stub: StubProvider) -> None:
    stub.script("POST", CALL, [Answer(200, call_in("canceled"))])

    twilio(stub.url).end_call(CALL_SID)

    assert statuses_sent(stub) == ["canceled"]


def test_end_call_completes_a_call_that_canceling_left_in_progress(stub: StubProvider) -> None:
    """The rep answered the whisper but pressed nothing yet: `canceled` does not touch the call."""
    stub.script("POST", CALL, [Answer(200, call_in("in-progress")), Answer(200, call_in("completed"))])

    twilio(stub.url).end_call(CALL_SID)

    assert statuses_sent(stub) == ["canceled", "completed"]


def test_end_call_completes_a_call_when_canceling_is_refused(stub: StubProvider) -> None:
    stub.script("POST", CALL, [Answer(400, NOT_IN_PROGRESS), Answer(200, call_in("completed"))])

    twilio(stub.url).end_call(CALL_SID)

    assert statuses_sent(stub) == ["canceled", "completed"]


def test_end_call_leaves_a_call_that_is_over_already(stub: StubProvider) -> None:
    """Both updates refused (the call ended on its own: completed, no-answer, busy): nothing to do, and no
    error for the router, which only wanted the phone to stop ringing."""
    stub.script("POST", CALL, [Answer(400, NOT_IN_PROGRESS), Answer(400, NOT_IN_PROGRESS)])

    twilio(stub.url).end_call(CALL_SID)

    assert statuses_sent(stub) == ["canceled", "completed"]


def test_end_call_keeps_other_failures_for_the_retry(stub: StubProvider) -> None:
    """A 5xx is not "over already": the activity's retry hangs up again (an update is safe to repeat)."""
    stub.script("POST", CALL, [Answer(500, SERVER_ERROR)])
    with pytest.raises(ProviderAmbiguous):
        twilio(stub.url).end_call(CALL_SID)
    stub.script("POST", CALL, [Answer(429, TOO_MANY)])
    with pytest.raises(ProviderNotProcessed):
        twilio(stub.url).end_call(CALL_SID)


# ------------------------------------------------------------------------------------------ SendGrid


def sendgrid(base_url: str) -> LiveSendGrid:
    return LiveSendGrid("SG.test-key", "noreply@makeright.example", base_url)


def mail(case_id: str) -> OutboundMessage:
    return OutboundMessage(
        case_id=case_id,
        key="offer-mail",
        channel=Channel.EMAIL,
        to="patient@example.com",
        subject="Your appointment",
        body="Your appointment moved.",
    )


SG_INVALID = {
    "errors": [
        {
            "message": "The to email does not contain a valid address.",
            "field": "personalizations.0.to.0.email",
            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html",
        }
    ]
}
SG_TOO_MANY = {"errors": [{"message": "too many requests", "field": None, "help": None}]}
SG_SERVER_ERROR = {"errors": [{"message": "internal error", "field": None, "help": None}]}


def test_sendgrid_400_is_a_refusal(stub: StubProvider) -> None:
    stub.answer("POST", MAIL_SEND, 400, SG_INVALID)

    with pytest.raises(ProviderRejected) as refused:
        sendgrid(stub.url).send_email(mail("case-1"))

    assert refused.value.status == 400
    assert refused.value.reason == "sendgrid refused the mail: The to email does not contain a valid address."


async def test_sendgrid_400_through_send_once_is_rejected(stub: StubProvider, store: Store) -> None:
    case_id = add_case(store)
    stub.answer("POST", MAIL_SEND, 400, SG_INVALID)

    result = await SendGridActivities(store, sendgrid(stub.url)).send_email(mail(case_id))

    assert (result.status, result.provider_id) == ("rejected", None)
    assert row_of(store, case_id).status == "rejected"
    assert timeline_of(store, case_id) == ["email_failed"]


@pytest.mark.parametrize(("status", "body"), [(429, SG_TOO_MANY), (500, SG_SERVER_ERROR)])
async def test_sendgrid_429_and_500_are_retried_and_then_sent_once(
    stub: StubProvider, store: Store, status: int, body: dict[str, Any]
) -> None:
    case_id = add_case(store)
    gateway = sendgrid(stub.url)
    activities = SendGridActivities(store, gateway)
    stub.answer("POST", MAIL_SEND, status, body)

    with pytest.raises(ProviderNotProcessed):
        gateway.send_email(mail(case_id))
    with pytest.raises(ApplicationError) as retry:
        await activities.send_email(mail(case_id))

    assert retry.value.non_retryable is False
    assert row_of(store, case_id).status == "failed_retryable"

    stub.answer("POST", MAIL_SEND, 202, None, headers={"X-Message-Id": "sg-msg-1"})
    result = await activities.send_email(mail(case_id))
    again = await activities.send_email(mail(case_id))

    assert (result.status, result.provider_id) == ("sent", "sg-msg-1")
    assert (again.status, again.provider_id) == ("already_sent", "sg-msg-1")
    assert stub.count("POST", MAIL_SEND) == 3
    sent = json.loads(stub.seen[-1].body)
    assert sent["personalizations"][0]["custom_args"] == {"makeright_ref": f"{case_id}:offer-mail"}


def test_sendgrid_unreachable_is_not_processed() -> None:
    with pytest.raises(ProviderNotProcessed):
        sendgrid(unreachable_url()).send_email(mail("case-1"))


async def test_sendgrid_connection_dropped_is_sent_again_once_and_marked(
    stub: StubProvider, store: Store
) -> None:
    """SendGrid cannot be asked what it sent, and a lost mail is worse than a duplicate one: an answer lost
    after the request means one more mail, marked as resent on the row and the timeline; never a third."""
    case_id = add_case(store)
    gateway = sendgrid(stub.url)
    activities = SendGridActivities(store, gateway)
    stub.answer("POST", MAIL_SEND, None)

    with pytest.raises(ProviderAmbiguous):
        gateway.send_email(mail("case-1"))
    with pytest.raises(ApplicationError):
        await activities.send_email(mail(case_id))
    assert row_of(store, case_id).status == "unknown"

    stub.answer("POST", MAIL_SEND, 202, None, headers={"X-Message-Id": "sg-msg-2"})
    result = await activities.send_email(mail(case_id))
    again = await activities.send_email(mail(case_id))

    assert (result.status, result.provider_id) == ("sent", "sg-msg-2")
    assert (again.status, again.provider_id) == ("already_sent", "sg-msg-2")
    assert stub.count("POST", MAIL_SEND) == 3  # the gateway's own, the activity's lost one, the resend
    row = row_of(store, case_id)
    assert row.status == "sent" and row.resent_reason is not None
    assert row.resent_reason.startswith("resent: outcome of the first attempt unknown")
    assert "answer was lost" in row.resent_reason
    assert timeline_of(store, case_id) == ["email_resent", "email_sent"]


async def test_sendgrid_worker_died_before_the_request_is_sent_again_once_and_marked(
    stub: StubProvider, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The crash window: the intent was recorded `sending`, then the worker died before SendGrid got the
    request. The retry cannot ask SendGrid, so it sends: the mail goes out once, marked resent."""
    case_id = add_case(store)
    activities = SendGridActivities(store, sendgrid(stub.url))
    outbox.begin(store, mail(case_id))  # what the dead worker did before it called SendGrid
    assert row_of(store, case_id).status == "sending" and stub.count("POST", MAIL_SEND) == 0
    stub.answer("POST", MAIL_SEND, 202, None, headers={"X-Message-Id": "sg-msg-3"})

    result = await activities.send_email(mail(case_id))
    again = await activities.send_email(mail(case_id))

    assert (result.status, result.provider_id) == ("sent", "sg-msg-3")
    assert (again.status, again.provider_id) == ("already_sent", "sg-msg-3")
    assert stub.count("POST", MAIL_SEND) == 1
    row = row_of(store, case_id)
    assert (row.status, row.provider_id, row.attempts) == ("sent", "sg-msg-3", 2)
    assert row.resent_reason == (
        "resent: outcome of the first attempt unknown; the attempt stopped before its outcome was recorded"
    )
    assert timeline_of(store, case_id) == ["email_resent", "email_sent"]

    # an engineer looking at the case sees why the patient may have the mail twice
    monkeypatch.setenv("DATABASE_URL", store.url)
    assert cli.main(["case", case_id]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "email_resent" in shown and "outcome of the first attempt unknown" in shown


async def test_sendgrid_resent_once_then_unknown_again_is_not_sent_a_third_time(
    stub: StubProvider, store: Store
) -> None:
    case_id = add_case(store)
    activities = SendGridActivities(store, sendgrid(stub.url))
    stub.answer("POST", MAIL_SEND, None)
    for _ in range(2):  # the first attempt's answer is lost, and so is the resend's
        with pytest.raises(ApplicationError):
            await activities.send_email(mail(case_id))

    result = await activities.send_email(mail(case_id))

    assert (result.status, result.provider_id) == ("already_sent", UNVERIFIABLE)
    assert stub.count("POST", MAIL_SEND) == 2
    assert row_of(store, case_id).resent_reason is not None
    assert timeline_of(store, case_id) == ["email_resent", "email_sent"]


async def test_sendgrid_retry_after_a_known_success_never_sends_again(
    stub: StubProvider, store: Store
) -> None:
    case_id = add_case(store)
    activities = SendGridActivities(store, sendgrid(stub.url))
    stub.answer("POST", MAIL_SEND, 202, None, headers={"X-Message-Id": "sg-msg-4"})

    first = await activities.send_email(mail(case_id))
    retries = [await activities.send_email(mail(case_id)) for _ in range(3)]

    assert (first.status, first.provider_id) == ("sent", "sg-msg-4")
    assert {(r.status, r.provider_id) for r in retries} == {("already_sent", "sg-msg-4")}
    assert stub.count("POST", MAIL_SEND) == 1
    row = row_of(store, case_id)
    assert row.resent_reason is None
    assert timeline_of(store, case_id) == ["email_sent"]


def test_sendgrid_read_timeout_is_ambiguous(stub: StubProvider) -> None:
    gateway = sendgrid(stub.url)
    assert gateway.client.client.timeout == 15  # the SDK's default is to wait forever
    gateway.client.client.timeout = 0.2
    stub.answer("POST", MAIL_SEND, 202, None, delay=0.6)

    with pytest.raises(ProviderAmbiguous):
        gateway.send_email(mail("case-1"))
