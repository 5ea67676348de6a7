"""Traces: one trace from `POST /events` through the workflow's start to its activities, with an in-memory
exporter, and no patient data in any span."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from config import tracing
from dispatch.connection import connect
from runtime.worker import build_worker
from store.db import Store
from tests.support.http import LiveServer, free_port, post_event
from tests.support.settings import example_event, make_settings
from web.app import create_app


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use(tracing.new_provider("makeright-test", SimpleSpanProcessor(exporter)))
    try:
        yield exporter
    finally:
        tracing.use(None)


def test_off_by_default_nothing_is_instrumented(sqlite_url: str, tmp_path: Path) -> None:
    assert not tracing.enabled()
    assert tracing.client_interceptors() == []
    app = create_app(make_settings(sqlite_url, tmp_path), relay=False)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


def test_urls_keep_no_query_tokens_or_contacts() -> None:
    assert tracing.scrub_url("/r/abcdefghijklmnopqrstuv/1?phone=%2B31612345678") == "/r/{token}/1"
    assert tracing.scrub_url("http://h/dev/phone/+31612345678") == "http://h/dev/phone/+316****5678"
    assert tracing.scrub_url("/events") == "/events"


async def test_one_trace_from_the_event_through_the_workflow_start_to_an_activity(
    spans: InMemorySpanExporter, time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    target = time_skipping_env.client.service_client.config.target_host
    settings = make_settings(
        sqlite_url, tmp_path, temporal_address=target, public_base_url=f"http://127.0.0.1:{port}"
    )
    client = await connect(settings)  # with the TracingInterceptor: the worker built on it traces too
    event = example_event()
    async with build_worker(client, settings, Store(settings.database_url)):
        with LiveServer(create_app(settings, relay=False), port) as server:
            answer = await asyncio.to_thread(post_event, server, settings, event)
            assert answer.status_code == 202, answer.text
            for _ in range(200):
                if any(s.name.startswith("RunActivity:") for s in spans.get_finished_spans()):
                    break
                await asyncio.sleep(0.05)
    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    posts = by_name.get("POST /events", [])
    assert len(posts) == 1, sorted(by_name)
    trace_id = posts[0].context.trace_id
    start = by_name.get("StartWorkflow:BookingConflictRecovery", [])
    run = by_name.get("RunWorkflow:BookingConflictRecovery", [])
    activities = [s for name, group in by_name.items() if name.startswith("RunActivity:") for s in group]
    assert start and run and activities, sorted(by_name)
    assert {s.context.trace_id for s in (*start, *run, *activities)} == {trace_id}
    # the database work of the request is in the same trace (SQLAlchemy instrumentation)
    assert any(s.context.trace_id == trace_id and (s.attributes or {}).get("db.system") for s in finished)

    # no patient data anywhere in any span: names, attributes, events
    data = event["data"]
    secrets = [data["patient"]["phone"], data["patient"]["email"], data["patient"]["name"],
               data["practice"]["phone"], data["provider"]["name"], "31612345678"]  # fmt: skip
    for span in finished:
        text = json.dumps(
            {"name": span.name, "attributes": dict(span.attributes or {}),
             "events": [dict(e.attributes or {}) for e in span.events]},
            default=str,
        )  # fmt: skip
        for secret in secrets:
            assert secret not in text, (span.name, text)


def test_request_spans_keep_the_route_template_not_the_ids_however_short(
    spans: InMemorySpanExporter, sqlite_url: str, tmp_path: Path
) -> None:
    """Ids in a path are scrubbed by the route they matched, not by how they look: a short gift token or
    case id is as much an id as a long one, and a path nothing routed keeps nothing of itself."""
    import httpx

    port = free_port()
    settings = make_settings(sqlite_url, tmp_path, public_base_url=f"http://127.0.0.1:{port}")
    with LiveServer(create_app(settings, relay=False), port) as server:
        for path in ("/gift/Gk7shortid?x=1", "/api/cases/case-Q9short", "/nowhere/Zz81sh0rt/+31612345678"):
            httpx.get(server.url + path, headers={"Authorization": "Bearer dev-engineer-token"})
    finished = spans.get_finished_spans()
    servers = [s for s in finished if (s.attributes or {}).get("http.method") or (s.attributes or {}).get(
        "http.request.method")]  # fmt: skip
    assert {s.name for s in servers} >= {"GET /gift/{link_token}", "GET /api/cases/{case_id}"}, [
        (s.name, dict(s.attributes or {})) for s in finished
    ]
    for span in finished:
        text = json.dumps({"name": span.name, "attributes": dict(span.attributes or {})}, default=str)
        for secret in ("Gk7shortid", "case-Q9short", "Zz81sh0rt", "31612345678", "x=1"):
            assert secret not in text, text
    gift = next(s for s in servers if s.name == "GET /gift/{link_token}")
    attributes = dict(gift.attributes or {})
    paths = [attributes[k] for k in ("http.target", "url.path") if k in attributes]
    assert paths and set(paths) == {"/gift/{link_token}"}, attributes
