"""LiveSendGrid against SendGrid's own OpenAPI document for v3 mail send (Prism)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from activities.sendgrid_email import SendGridActivities
from domain.messaging import Channel, OutboundMessage
from providers.errors import ProviderRejected
from providers.mail.sendgrid import LiveSendGrid
from store.db import Store
from store.models import OutboundMessageRow
from tests.support.prism import add_case, request_violations, violations


class Recorder:
    """Wraps the SDK client's `send` to keep what went out and what came back (status, headers)."""

    def __init__(self, gateway: LiveSendGrid) -> None:
        self.sent: list[dict[str, Any]] = []
        self.answers: list[tuple[int, Any]] = []
        send = gateway.client.send

        def recording_send(message: Any) -> Any:
            self.sent.append(message if isinstance(message, dict) else message.get())
            try:
                response = send(message)
            except Exception as exc:
                self.answers.append((getattr(exc, "status_code", 0), getattr(exc, "headers", None)))
                raise
            self.answers.append((response.status_code, response.headers))
            return response

        gateway.client.send = recording_send


@pytest.fixture
def gateway(prism_sendgrid: str) -> LiveSendGrid:
    return LiveSendGrid("SG.any-key-works-with-prism", "noreply@makeright.example", prism_sendgrid)


def email(case_id: str = "case-1", key: str = "offer-mail") -> OutboundMessage:
    return OutboundMessage(
        case_id=case_id,
        key=key,
        channel=Channel.EMAIL,
        to="patient@example.com",
        subject="Your appointment",
        body="Your appointment moved. Choose a new time: https://makeright.example/r/abc",
    )


def test_send_email_meets_the_contract(gateway: LiveSendGrid) -> None:
    recorder = Recorder(gateway)

    provider_id = gateway.send_email(email())

    # the spec documents no X-Message-Id header, so Prism sends none and the gateway makes its own id
    assert provider_id.startswith("sg-") and len(provider_id) > 10
    [(status, headers)] = recorder.answers
    assert status == 202
    assert violations(headers) == []
    [mail] = recorder.sent
    assert mail["personalizations"] == [
        {"to": [{"email": "patient@example.com"}], "custom_args": {"makeright_ref": "case-1:offer-mail"}}
    ]
    assert mail["from"] == {"email": "noreply@makeright.example"}
    assert mail["content"] == [{"type": "text/plain", "value": email().body}]


def test_a_mail_that_breaks_the_contract_is_rejected(gateway: LiveSendGrid) -> None:
    """The control: a mail-level `custom_args` object (a string in the spec) is caught by Prism, which
    answers with the spec's 400 example, and the gateway maps that to a refusal."""
    recorder = Recorder(gateway)
    real_send = gateway.client.send

    def send_with_mail_level_args(message: Any) -> Any:
        body = message.get()
        body["custom_args"] = {"makeright_ref": "case-1:offer-mail"}
        return real_send(json.loads(json.dumps(body)))

    gateway.client.send = send_with_mail_level_args

    with pytest.raises(ProviderRejected) as refused:
        gateway.send_email(email())

    assert refused.value.status == 400
    assert refused.value.reason == "sendgrid refused the mail: error message"  # the spec's example
    [(status, headers)] = recorder.answers
    assert status == 400
    assert [v["location"] for v in request_violations(headers)] == [["request", "body", "custom_args"]]


async def test_send_once_through_the_activity(gateway: LiveSendGrid, store: Store) -> None:
    recorder = Recorder(gateway)
    case_id = add_case(store)
    activities = SendGridActivities(store, gateway)
    msg = email(case_id=case_id)

    first = await activities.send_email(msg)
    second = await activities.send_email(msg)

    assert first.status == "sent" and first.provider_id and first.provider_id.startswith("sg-")
    assert (second.status, second.provider_id) == ("already_sent", first.provider_id)
    assert len(recorder.sent) == 1
    with store.session() as s:
        row = s.scalars(select(OutboundMessageRow).where(OutboundMessageRow.case_id == case_id)).one()
    assert (row.status, row.provider_id) == ("sent", first.provider_id)


def test_reply_to_and_thread_headers_meet_the_contract(gateway: LiveSendGrid) -> None:
    """An email to a patient names its case in `reply_to`; a rep's answer to the patient's email carries
    In-Reply-To and References: SendGrid's document takes both."""
    recorder = Recorder(gateway)
    msg = email().model_copy(
        update={"reply_to": "care+0123456789abcdef0123@reply.example.com", "in_reply_to": "<m1@mail.example>"}
    )

    gateway.send_email(msg)

    [(status, headers)] = recorder.answers
    assert status == 202 and violations(headers) == [] and request_violations(headers) == []
    [mail] = recorder.sent
    assert mail["reply_to"] == {"email": "care+0123456789abcdef0123@reply.example.com"}
    assert mail["headers"] == {"In-Reply-To": "<m1@mail.example>", "References": "<m1@mail.example>"}


async def test_every_email_to_the_patient_has_the_cases_reply_to(gateway: LiveSendGrid, store: Store) -> None:
    from store.models import Case

    recorder = Recorder(gateway)
    case_id = add_case(store)
    with store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.patient_email
        patient_email = case.patient_email
    activities = SendGridActivities(store, gateway, "care@reply.example.com")

    await activities.send_email(email(case_id=case_id).model_copy(update={"to": patient_email}))
    await activities.send_email(
        email(case_id=case_id, key="alert").model_copy(update={"to": "oncall@x.example"})
    )

    with store.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.email_token
        token = case.email_token
    to_patient, to_staff = recorder.sent
    assert to_patient["reply_to"] == {"email": f"care+{token}@reply.example.com"}
    assert "reply_to" not in to_staff  # a staff alert is not a patient's conversation
    assert token not in patient_email and len(token) == 20
