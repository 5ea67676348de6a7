"""`GET /metrics`: Prometheus text format (CONTRACT.md, "Operations"). The counts are the system's, read
from the database at scrape time (store/metrics.py), so every web replica reports the same numbers.
Bearer METRICS_TOKEN when it is set."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from store import inbound_email, metrics, reps, support_calls
from store.db import Store
from web.deps import services

router = APIRouter()

# first contact, in seconds: the SLA's neighbourhood (600 s by default) in some detail, then hours
FIRST_CONTACT_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
# a call's wait for a rep: the first ring (6 s) in detail, then the callback offer's neighbourhood (60 s)
CALL_ANSWER_BUCKETS = (2, 4, 6, 10, 20, 30, 60, 120, 300)
# a first reply: makeright at once, a rep within minutes to hours (the wall's goal: within the hour)
EMAIL_REPLY_BUCKETS = (1, 60, 300, 900, 1800, 3600, 7200, 14400, 86400)


class SystemCollector(Collector):
    """Builds every makeright_* family from one database snapshot per scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        snap = metrics.snapshot(self.store)

        events = CounterMetricFamily(
            "makeright_events_received",
            "Booking events received, by type and result",
            labels=["type", "result"],
        )
        for (event_type, result), n in sorted(snap.events.items()):
            events.add_metric([event_type, result], n)
        yield events

        opened = CounterMetricFamily("makeright_cases_opened", "Cases opened, by kind", labels=["kind"])
        for kind, n in sorted(snap.cases_opened.items()):
            opened.add_metric([kind], n)
        yield opened

        closed = CounterMetricFamily(
            "makeright_cases_closed",
            "Cases closed (resolved or failed), by kind, status and outcome",
            labels=["kind", "status", "outcome"],
        )
        for (kind, status, outcome), n in sorted(snap.cases_closed.items()):
            closed.add_metric([kind, status, outcome], n)
        yield closed

        first = HistogramMetricFamily(
            "makeright_first_contact_seconds",
            "From the event's arrival to the first message to the patient that reached the provider",
            labels=["kind", "channel"],
        )
        for (kind, channel), values in sorted(snap.first_contact.items()):
            buckets = [(str(float(b)), sum(1 for v in values if v <= b)) for b in FIRST_CONTACT_BUCKETS]
            buckets.append(("+Inf", len(values)))
            first.add_metric([kind, channel], buckets, sum_value=sum(values))
        yield first

        messages = CounterMetricFamily(
            "makeright_messages_sent",
            "Messages to patients and staff, by channel and result (sent, rejected, unknown, ...)",
            labels=["channel", "result"],
        )
        for (channel, result), n in sorted(snap.messages.items()):
            messages.add_metric([channel, result], n)
        yield messages

        breaches = CounterMetricFamily(
            "makeright_escalation_breaches",
            "Escalation SLAs that ran out, by kind and the level the escalation stood at afterwards",
            labels=["kind", "level"],
        )
        for (kind, level), n in sorted(snap.breaches.items()):
            breaches.add_metric([kind, level], n)
        yield breaches

        compensation = CounterMetricFamily(
            "makeright_compensation_issued",
            "Compensation issued to patients (amount), by currency",
            labels=["currency"],
        )
        for currency, amount in sorted(snap.compensation.items()):
            compensation.add_metric([currency], float(amount))
        yield compensation

        feedback = CounterMetricFamily(
            "makeright_feedback", "Patient feedback received, by score", labels=["score"]
        )
        for score, n in sorted(snap.feedback.items()):
            feedback.add_metric([score], n)
        yield feedback
        yield from people(self.store)


def people(store: Store) -> Iterator[Metric]:
    """The support line's calls by outcome, how long answered calls waited for a rep, and the reps on
    duty by status: counts and durations only, nothing about a patient."""
    calls = CounterMetricFamily(
        "makeright_calls", "Calls to the support line, by outcome", labels=["outcome"]
    )
    for outcome, n in sorted(support_calls.outcome_totals(store).items()):
        calls.add_metric([outcome], n)
    yield calls
    waits = support_calls.answer_seconds_all(store)
    answer = HistogramMetricFamily(
        "makeright_call_answer_seconds", "From a call's arrival to a rep accepting it (answered calls)"
    )
    buckets = [(str(float(b)), sum(1 for v in waits if v <= b)) for b in CALL_ANSWER_BUCKETS]
    buckets.append(("+Inf", len(waits)))
    answer.add_metric([], buckets, sum_value=sum(waits))
    yield answer
    emails = CounterMetricFamily(
        "makeright_emails_in", "Patients' emails, by what they needed", labels=["result"]
    )
    for result, n in sorted(inbound_email.result_totals(store).items()):
        emails.add_metric([result], n)
    yield emails
    replies = inbound_email.first_reply_seconds_all(store)
    first_reply = HistogramMetricFamily(
        "makeright_email_first_reply_seconds",
        "From a patient's email to its first reply (makeright's own act, or a rep's answer)",
    )
    buckets = [(str(float(b)), sum(1 for v in replies if v <= b)) for b in EMAIL_REPLY_BUCKETS]
    buckets.append(("+Inf", len(replies)))
    first_reply.add_metric([], buckets, sum_value=sum(replies))
    yield first_reply
    on_duty = GaugeMetricFamily("makeright_reps", "Reps on duty, by status", labels=["status"])
    for status, n in sorted(reps.counts(store).items()):
        on_duty.add_metric([status], n)
    yield on_duty


def registry_for(store: Store) -> CollectorRegistry:
    """A registry of this app's own (two apps in one process do not share one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(store))
    return registry


def _authorised(request: Request) -> None:
    expected = services(request).settings.metrics_token
    if not expected:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(
            401, "metrics need the METRICS_TOKEN bearer token", {"WWW-Authenticate": "Bearer"}
        )


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    _authorised(request)
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = request.app.state.metrics_registry = registry_for(services(request).store)
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
