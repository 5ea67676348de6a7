"""Traces: OpenTelemetry across web → Temporal → activities, exported over OTLP when
OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard OTEL_* variables apply); off otherwise, and then nothing
is instrumented at all (no overhead).

One tracer provider per process, chosen at start-up (`configure`) or handed in by a test (`use`). The
Temporal client gets the TracingInterceptor (so every worker built on it traces too), the web app FastAPI's
instrumentation, and the store's engines SQLAlchemy's (`store.db.trace`, once tracing is on). Span
names and attributes carry no ids and no patient data: a request's path is kept as its route template
(`/gift/{token}`, `/api/cases/{case_id}`), other URLs lose their query string and long tokens, and any phone
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
    """A URL or path as a span may keep it when no route template is known: no query string, no long
    tokens, no contact details."""
    value = value.split("?", 1)[0]
    return mask_contacts_everywhere(_TOKEN_SEGMENT.sub("{token}", value))


# what a request span keeps of a path its app did not route (a 404): nothing of the path itself
UNROUTED = "{unrouted}"
_PATH_ATTRIBUTES = ("http.target", "url.path")
_FULL_URL_ATTRIBUTES = ("http.url", "url.full")


def _templated(key: str, value: str, route: str) -> str:
    """A request span's URL attribute with its path replaced by the route template
    (`/api/cases/{case_id}`), whatever the ids in the path look like; no query string."""
    if key == "url.query":
        return ""
    if key in _PATH_ATTRIBUTES:
        return route
    if key in _FULL_URL_ATTRIBUTES:
        scheme, sep, rest = value.partition("://")
        host = rest.split("/", 1)[0] if sep else ""
        return f"{scheme}://{host}{route}" if sep else route
    return value


def scrub_span(span: Any) -> None:
    """Rewrite a recording span's name and attributes so they carry no ids and no patient data: a server
    span's path becomes its route template (the ids in a path, short or long, are never kept), any other
    URL loses its query string and long tokens, and contact details in any string attribute are masked."""
    attributes = dict(span.attributes or {})
    route = attributes.get("http.route")
    # no import here: this also runs inside Temporal's workflow sandbox (a workflow's spans)
    server = getattr(getattr(span, "kind", None), "name", None) == "SERVER"
    template = route if isinstance(route, str) and route else (UNROUTED if server else None)
    for key, value in attributes.items():
        if not isinstance(value, str):
            continue
        if template is not None and key in URL_ATTRIBUTES and key != "http.route":
            clean = _templated(key, value, template)
        elif key == "url.query":
            clean = ""
        elif key in URL_ATTRIBUTES:
            clean = scrub_url(value)
        else:
            clean = mask_contacts_everywhere(value)
        if clean != value:
            span.set_attribute(key, clean)
    name = getattr(span, "name", "")
    if template is not None and isinstance(name, str) and " /" in name:
        # "GET /gift/abc" → "GET /gift/{token}" (FastAPI names its spans by the route already)
        method, _, rest = name.partition(" ")
        suffix = rest.split(" ", 1)[1] if " " in rest else ""
        span.update_name(" ".join(p for p in (method, template, suffix) if p))


def _redacting_processor() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class Redacting(SpanProcessor):
        """Scrubs a starting span (spans are read-only once ended, so this runs first, at the start)."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            scrub_span(span)

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

    # the ASGI middleware sets the request's raw attributes again after the span started: the hook, run
    # after that, scrubs them once more by the route template
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, server_request_hook=lambda span, _scope: scrub_span(span)
    )
