"""Traces: OpenTelemetry across web → Temporal → activities, exported over OTLP when
OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard OTEL_* variables apply); off otherwise, and then nothing
is instrumented at all (no overhead).

One tracer provider per process, chosen at start-up (`configure`) or handed in by a test (`use`). The
Temporal client gets the TracingInterceptor (so every worker built on it traces too), the web app FastAPI's
instrumentation, and the store's engines SQLAlchemy's (`store.db.trace`, once tracing is on). Span
attributes carry no patient data: URLs lose their query string and capability tokens, and any phone
number or email address left in a string attribute is masked."""

from __future__ import annotations

import re
from typing import Any

from domain.masking import mask_contacts_everywhere

_provider: Any = None  # opentelemetry.sdk.trace.TracerProvider, when tracing is on

# attributes that hold a URL or a path (old and new HTTP semantic conventions)
URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.path", "url.query", "http.route")
# path segments that are capabilities (patient choice links, gift card codes): long random tokens
_TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-]{16,}(?=/|$)")


def scrub_url(value: str) -> str:
    """A URL or path as a span may keep it: no query string, no long tokens, no contact details."""
    value = value.split("?", 1)[0]
    return mask_contacts_everywhere(_TOKEN_SEGMENT.sub("{token}", value))


def _redacting_processor() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class Redacting(SpanProcessor):
        """Rewrites a starting span's URL attributes and masks contact details in its string attributes
        (spans are read-only once ended, so this runs first, at the start)."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            for key, value in dict(span.attributes or {}).items():
                if not isinstance(value, str):
                    continue
                clean = "" if key == "url.query" else scrub_url(value) if key in URL_ATTRIBUTES else None
                if clean is None:
                    clean = mask_contacts_everywhere(value)
                if clean != value:
                    span.set_attribute(key, clean)

    return Redacting()


def new_provider(service_name: str, *processors: Any) -> Any:
    """A tracer provider that redacts span attributes first, then hands spans to `processors`."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(_redacting_processor())
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def configure(endpoint: str, service_name: str) -> bool:
    """Tracing on for this process when `endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT) is set: spans batched to
    its OTLP/HTTP traces endpoint. Returns whether tracing is on."""
    global _provider
    if not endpoint:
        return _provider is not None
    if _provider is not None:
        return True
    import os

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or endpoint.rstrip("/") + "/v1/traces"
    service = os.environ.get("OTEL_SERVICE_NAME") or service_name
    _provider = new_provider(service, BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
    trace.set_tracer_provider(_provider)
    return True


def use(provider: Any) -> None:
    """Trace with this provider from now on (None: off again). For tests, with an in-memory exporter."""
    global _provider
    _provider = provider


def enabled() -> bool:
    return _provider is not None


def provider() -> Any:
    """The tracer provider, or None when tracing is off."""
    return _provider


def client_interceptors() -> list[Any]:
    """What Client.connect gets: the Temporal TracingInterceptor when tracing is on (workers built on the
    client trace their workflows and activities with it too)."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("makeright.temporal"))]


def instrument_web(app: Any) -> None:
    """FastAPI instrumentation for one web app, when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider)
