"""Phone numbers are parsed once where they enter (libphonenumber's data): validated, normalised to E.164,
and judged able to receive a text or not. A landline gets no SMS: the offer goes by email or straight to a
call."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from config import Settings
from domain.cases import CaseStatus
from domain.events import BookingEvent
from domain.phones import PhoneError, parse
from store.db import Store
from store.models import Case, DeadLetter, InboundMessage, ReceivedEvent, TimelineItem
from tests.support.http import LiveServer, post_event
from tests.support.settings import example_event, make_settings
from tests.support.workflow_harness import running

Web = tuple[LiveServer, Settings]

AMSTERDAM_LANDLINE = "+31 20 123 4567"  # 020: Amsterdam, a fixed line


# ---------------------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("written", "e164", "sms"),
    [
        ("+31612345678", "+31612345678", True),  # as CONTRACT.md's example: E.164 stays as it is
        ("+31 6 1234 5678", "+31612345678", True),
        ("+31 (0)6 12345678", "+31612345678", True),  # the Dutch national 0 in brackets
        ("+1 (212) 555-0100", "+12125550100", True),  # North America: fixed line or mobile, try a text
        (AMSTERDAM_LANDLINE, "+31201234567", False),
        ("+44 20 7946 0958", "+442079460958", False),  # London
        ("+٣١٦١٢٣٤٥٦٧٨", "+31612345678", True),  # Arabic-Indic digits
    ],
)
def test_numbers_are_normalised_to_e164_and_judged_for_texts(written: str, e164: str, sms: bool) -> None:
    phone = parse(written)
    assert (phone.e164, phone.sms_capable) == (e164, sms)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("0612345678", "must be in international format, + and the country code (e.g. +31612345678)"),
        ("phone", "is not a phone number (e.g. +31612345678)"),
        ("+31 6 123", "is too short for a number in NL"),
        ("+31 99 1234567", "is not a number in use in NL (no such range)"),  # the right length, no range
        ("+31612345678 ext. 12", "must not carry an extension: a text or a call cannot reach one"),
    ],
)
def test_an_unusable_number_says_why(written: str, reason: str) -> None:
    with pytest.raises(PhoneError) as caught:
        parse(written)
    assert str(caught.value) == reason


def test_only_the_ingress_parses_a_stored_event_is_trusted_as_it_is() -> None:
    """The starter re-reads stored events and workflows read their input: neither parses again, so a
    number-plan update can neither refuse an accepted case nor change a replayed one."""
    body = example_event(data__patient__phone=AMSTERDAM_LANDLINE)
    received = BookingEvent.received(body)
    assert (received.data.patient.phone, received.data.patient.sms_capable) == ("+31201234567", False)
    stored = received.model_dump(mode="json")
    again = BookingEvent.model_validate(stored)
    assert (again.data.patient.phone, again.data.patient.sms_capable) == ("+31201234567", False)
    # a client cannot claim a mobile number is a landline (or the reverse): judged at ingress
    claimed = example_event(data__patient__sms_capable=False)
    assert BookingEvent.received(claimed).data.patient.sms_capable is True


# ---------------------------------------------------------------------------------------- over HTTP


def test_a_number_in_any_international_format_is_stored_as_e164_and_routes_replies(web: Web) -> None:
    server, settings = web
    event = example_event(data__patient__phone="+31 6 1234 5678", data__practice__phone="+1 (212) 555-0100")
    response = post_event(server, settings, event)
    assert response.status_code == 202, response.text
    case_id = response.json()["case_id"]
    with Store(settings.database_url).session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.patient_phone == "+31612345678"
        row = s.scalars(select(ReceivedEvent).where(ReceivedEvent.external_id == event["id"])).one()
        assert row.parsed["data"]["patient"]["phone"] == "+31612345678"
        assert row.parsed["data"]["patient"]["sms_capable"] is True
        assert row.parsed["data"]["practice"]["phone"] == "+12125550100"
    # Twilio posts the patient's reply From in E.164: it finds the case
    params = {
        "MessageSid": "SM" + "2" * 32,
        "From": "+31612345678",
        "To": settings.twilio_from_number,
        "Body": "1",
    }
    url = f"{settings.public_base_url}/webhooks/twilio/sms"
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, params)
    reply = httpx.post(
        f"{server.url}/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert reply.status_code == 200
    with Store(settings.database_url).session() as s:
        assert [m.case_id for m in s.scalars(select(InboundMessage))] == [case_id]


def test_an_invalid_number_is_a_422_naming_the_field_and_the_reason_and_is_kept(web: Web) -> None:
    server, settings = web
    unassigned = example_event(data__patient__phone="+31991234567")  # E.164 in form, but no such range
    response = post_event(server, settings, unassigned)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"field": "data.patient.phone", "reason": "is not a number in use in NL (no such range)"}
    ]
    short = example_event(data__practice__phone="+1 212 555")
    response = post_event(server, settings, short)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "data.practice.phone", "reason": "is too short for a number in country code +1"}
    ]
    with Store(settings.database_url).session() as s:
        letters = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        assert [json.loads(letter.raw)["id"] for letter in letters] == [unassigned["id"], short["id"]]
        assert letters[0].errors[0]["field"] == "data.patient.phone"
        assert s.scalars(select(ReceivedEvent)).all() == []  # never acted on


# ---------------------------------------------------------------------------------------- the case


def entries(store: Store, case_id: str) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(TimelineItem.what).where(TimelineItem.case_id == case_id)))


async def test_a_dutch_landline_gets_no_text_the_offer_goes_by_email_at_once(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        accepted, handle = await h.open_case(example_event(data__patient__phone=AMSTERDAM_LANDLINE))
        emails = await h.wait_for(lambda: h.deliveries("email", "ada@example.com"))
        assert "Uptown Orthopedics" in (emails[0].subject or "")
        assert h.deliveries("sms") == []  # nothing was sent to the landline as a text
        assert "sms_skipped" in entries(h.store, accepted.case_id or "")
        await h.end(handle)
    with h.store.session() as s:
        case = s.get(Case, accepted.case_id)
        assert case is not None and case.patient_phone == "+31201234567"


async def test_a_landline_without_email_is_called_with_the_choices_at_once(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        event = example_event(data__patient__phone=AMSTERDAM_LANDLINE)
        del event["data"]["patient"]["email"]
        _, handle = await h.open_case(event)
        call = (await h.wait_for(lambda: h.deliveries("voice", "+31201234567")))[0]
        assert "1" in call.body
        assert h.deliveries("sms") == []
        status = await handle.query("status")
        assert status == CaseStatus.WAITING_PATIENT.value
        await h.end(handle)


# ---------------------------------------------------------------------------------------- staff numbers


def test_the_on_call_numbers_in_config_are_parsed_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import ConfigError, load_settings

    levels = [{"name": "reps", "claim_sla_seconds": 900, "notify_sms": "+1 (212) 555-0101"}]
    monkeypatch.setenv("POLICY__ESCALATION__LEVELS", json.dumps(levels))
    assert load_settings().policy.escalation.levels[0].notify_sms == "+12125550101"
    levels[0]["notify_sms"] = "+31 20 12"
    monkeypatch.setenv("POLICY__ESCALATION__LEVELS", json.dumps(levels))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid setting POLICY: escalation level reps notify_sms '+31 20 12' is too short for a number in NL"
    )


def test_cli_users_phone_is_parsed_like_every_number(sqlite_url: str, tmp_path: Path) -> None:
    from store import users
    from tests.support.cli_in_process import run_cli
    from tests.support.cli_process import env_for

    env = env_for(sqlite_url, tmp_path)
    made = run_cli(
        env, "users", "add", "rita", "--role", "rep", "--phone", "+1 (212) 555-0101", "--password-stdin",
        stdin="first password 1\n",
    )  # fmt: skip
    assert made.code == 0, made.err
    rita = users.get(Store(sqlite_url), "rita")
    assert rita is not None and rita.phone == "+12125550101"
    bad = run_cli(env, "users", "set", "rita", "--phone", "+31991234567")
    assert bad.code == 2 and "is not a number in use in NL" in bad.err


async def test_a_landline_gets_no_check_in_prompt(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """The check-in watch speaks by text only: for a landline it ends at once instead of texting it."""
    import asyncio
    from datetime import timedelta

    from domain import ids
    from domain.checkin import WatchResult
    from store import inbox

    settings = make_settings(sqlite_url, tmp_path)
    async with running(settings, own_time_skipping_env) as h:
        start = await own_time_skipping_env.get_current_time() + timedelta(days=2)
        event = example_event("appointment_booked.json", data__patient__phone=AMSTERDAM_LANDLINE)
        event["data"]["slot"] = {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
        }
        accepted = await asyncio.to_thread(
            inbox.accept_booking_event, h.store, json.dumps(event).encode(), BookingEvent.received(event)
        )
        await h.dispatcher.dispatch(accepted.event_row_id)
        watch_id = ids.checkin_watch_workflow_id(event["data"]["appointment_id"])
        handle = h.client.get_workflow_handle(watch_id, result_type=WatchResult)
        result = await h.result(handle)
    assert (result.ended_because, result.prompts_sent) == ("landline", 0)
    assert h.deliveries("sms") == []
