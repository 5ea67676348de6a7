"""`GET /metrics` over real HTTP, on SQLite and PostgreSQL: the system's counts from the database, the same
on every replica, behind METRICS_TOKEN when set, and without contact details."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from domain.base import CaseKind
from domain.cases import CaseStatus, CaseUpdate, Outcome
from domain.escalation import EscalationRecord, EscalationState
from domain.messaging import Channel, OutboundMessage
from store import cases, escalations, outbox
from store.db import Store
from store.models import LedgerEntry
from tests.support.http import LiveServer, free_port, offline_web, post_event
from tests.support.settings import example_event, make_settings
from web.app import create_app

Web = tuple[LiveServer, Settings]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: LiveServer, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/metrics", headers=headers, timeout=30)


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


CONFLICT = "booking.slot_cancelled_by_practice"


def test_event_counters_move_with_every_result(web: Web) -> None:
    server, settings = web
    before = samples(scrape(server).text)

    event = example_event()
    assert post_event(server, settings, event).status_code == 202
    assert post_event(server, settings, event).status_code == 200  # the same event id again
    same_conflict = dict(event, id="evt-other-report-of-it")
    assert post_event(server, settings, same_conflict).status_code == 200  # the same conflict, new id
    assert post_event(server, settings, event, secret="not-the-secret").status_code == 401
    bad = example_event()
    bad["data"]["slot"] = "tomorrow"
    assert post_event(server, settings, bad).status_code == 422
    assert post_event(server, settings, b"{not json").status_code == 422
    wrong_media = post_event(server, settings, event, content_type="text/plain")
    assert wrong_media.status_code == 415

    after = samples(scrape(server).text)

    def moved(result: str, event_type: str = CONFLICT) -> float:
        name = "makeright_events_received_total"
        return value(after, name, type=event_type, result=result) - value(
            before, name, type=event_type, result=result
        )

    assert moved("accepted") == 1
    assert moved("duplicate") == 2  # a repeated id and a second report of the same conflict
    assert moved("unauthorized") == 1
    assert moved("invalid") == 1  # by the type it claimed
    assert moved("invalid", "unknown") == 2  # not JSON, and the wrong media type
    opened = "makeright_cases_opened_total"
    assert value(after, opened, kind="booking_conflict") - value(before, opened, kind="booking_conflict") == 1


def test_a_case_closing_moves_the_case_message_and_compensation_counters(web: Web) -> None:
    server, settings = web
    event = example_event()
    case_id = post_event(server, settings, event).json()["case_id"]
    before = samples(scrape(server).text)
    assert value(before, "makeright_cases_closed_total", kind="booking_conflict", status="resolved",
                 outcome="rebooked") == 0  # fmt: skip

    # what the case's workflow does through its activities: a text to the patient, a gift card, resolved
    store = Store(settings.database_url)
    patient = event["data"]["patient"]
    sms = OutboundMessage(case_id=case_id, key="offer-1", channel=Channel.SMS, to=patient["phone"], body="Hi")
    intent = outbox.begin(store, sms)
    outbox.finish(store, intent.id, "sent", provider_id="SM-local-1")
    with store.session() as s:
        s.add(LedgerEntry(case_id=case_id, patient_id=patient["id"], idempotency_key=f"comp:{case_id}",
                          amount=Decimal("10.00"), currency="USD", status="issued"))  # fmt: skip
    # nobody claimed the escalation in time: it moved up to the supervisor
    state = EscalationState(
        escalation_id=f"esc-{case_id}", case_id=case_id, appointment_id=event["data"]["appointment_id"],
        kind=CaseKind.BOOKING_CONFLICT, reason="patient_asked_for_a_person", level_name="reps",
        sla_deadline=datetime.now(UTC) + timedelta(minutes=15), opened_at=datetime.now(UTC),
    )  # fmt: skip
    escalations.record(store, EscalationRecord(state=state, what="escalation_opened", seq=1))
    moved_up = state.model_copy(update={"level": 1, "level_name": "supervisor", "breached": True})
    breached = EscalationRecord(
        state=moved_up, what="escalation_breached", seq=2, detail={"to_level": "supervisor"}
    )
    escalations.record(store, breached)
    escalations.record(store, breached)  # a retried activity: still one breach
    cases.update_case(
        store,
        CaseUpdate(case_id=case_id, status=CaseStatus.RESOLVED, outcome=Outcome.REBOOKED, what="resolved"),
    )

    after = samples(scrape(server).text)
    closed = dict(kind="booking_conflict", status="resolved", outcome="rebooked")
    assert value(after, "makeright_cases_closed_total", **closed) == 1
    assert value(after, "makeright_messages_sent_total", channel="sms", result="sent") == 1
    issued = "makeright_compensation_issued_total"
    assert value(after, issued, currency="USD") - value(before, issued, currency="USD") == 10.0
    breach = dict(kind="booking_conflict", level="supervisor")
    assert value(after, "makeright_escalation_breaches_total", **breach) == 1
    first = dict(kind="booking_conflict", channel="sms")
    assert value(after, "makeright_first_contact_seconds_count", **first) == 1
    assert value(after, "makeright_first_contact_seconds_bucket", le="+Inf", **first) == 1
    assert value(after, "makeright_first_contact_seconds_sum", **first) < 600

    text = scrape(server).text
    # the families CONTRACT.md names are all there, feedback too (no samples until feedback exists)
    for family in ("escalation_breaches_total", "feedback_total", "first_contact_seconds"):
        assert f"# TYPE makeright_{family.removesuffix('_total')}" in text
    # no contact details and no names, whatever the cases hold
    data = event["data"]
    for secret in (data["patient"]["phone"], data["patient"]["email"], data["patient"]["name"],
                   data["practice"]["phone"], data["provider"]["name"], "example.com", "+316"):  # fmt: skip
        assert secret not in text


@pytest.fixture
def two_replicas(any_db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer, Settings]]:
    """Two web apps on one database, as two replicas behind a load balancer."""
    temporal = f"127.0.0.1:{free_port()}"
    servers = []
    for n in range(2):
        port = free_port()
        settings = make_settings(
            any_db_url,
            tmp_path / f"web{n}",
            public_base_url=f"http://127.0.0.1:{port}",
            temporal_address=temporal,
        )
        servers.append(LiveServer(create_app(settings, relay=False), port))
    with servers[0] as first, servers[1] as second:
        yield first, second, settings


def test_two_replicas_on_one_database_report_the_same_numbers(
    two_replicas: tuple[LiveServer, LiveServer, Settings],
) -> None:
    first, second, settings = two_replicas
    # each replica receives different traffic
    assert post_event(first, settings, example_event()).status_code == 202
    assert post_event(second, settings, example_event()).status_code == 202
    assert post_event(second, settings, example_event(), secret="wrong").status_code == 401
    assert post_event(first, settings, b"[]").status_code == 422
    one, two = scrape(first), scrape(second)
    assert one.status_code == two.status_code == 200
    assert one.text == two.text
    found = samples(one.text)
    name = "makeright_events_received_total"
    assert value(found, name, type=CONFLICT, result="accepted") == 2
    assert value(found, name, type=CONFLICT, result="unauthorized") == 1
    assert value(found, name, type="unknown", result="invalid") == 1
    assert value(found, "makeright_cases_opened_total", kind="booking_conflict") == 2


def test_metrics_token_is_enforced_when_set(sqlite_url: str, tmp_path: Path) -> None:
    settings, port = offline_web(
        sqlite_url,
        tmp_path,
        metrics_token="scrape-me",
    )
    with LiveServer(create_app(settings, relay=False), port) as server:
        for token in (None, "wrong", "dev-engineer-token"):
            refused = scrape(server, token)
            assert refused.status_code == 401, token
            assert json.loads(refused.text)["error"]
            assert refused.headers["www-authenticate"] == "Bearer"
        allowed = scrape(server, "scrape-me")
        assert allowed.status_code == 200
        assert allowed.headers["content-type"].startswith("text/plain")
        assert (
            "makeright_events_received_total" in allowed.text or "makeright_events_received" in allowed.text
        )


def test_metrics_are_open_without_a_token(web: Web) -> None:
    server, _ = web
    answer = scrape(server)
    assert answer.status_code == 200
    assert "# TYPE makeright_cases_opened_total counter" in answer.text


def test_patients_emails_are_counted_by_what_they_needed_and_timed_to_their_first_reply(web: Web) -> None:
    from datetime import UTC, datetime, timedelta

    from store.models import InboundEmail

    server, settings = web
    store = Store(settings.database_url)
    now = datetime.now(UTC)
    with store.session() as s:
        s.add(InboundEmail(email_id="em-1", from_address="a@x.test", status="understood", received_at=now))
        s.add(
            InboundEmail(
                email_id="em-2",
                from_address="b@x.test",
                status="answered",
                received_at=now - timedelta(minutes=20),
                answered_at=now,
            )
        )
        s.add(InboundEmail(email_id="em-3", from_address="c@x.test", status="waiting", received_at=now))
        s.add(InboundEmail(email_id="em-4", from_address="d@x.test", status="ignored", received_at=now))
    text = scrape(server).text
    found = samples(text)
    assert value(found, "makeright_emails_in_total", result="understood") == 1
    assert value(found, "makeright_emails_in_total", result="to_person") == 2
    assert value(found, "makeright_email_first_reply_seconds_count") == 2
    assert value(found, "makeright_email_first_reply_seconds_sum") == 1200
    assert "x.test" not in text  # no patient data in metrics
