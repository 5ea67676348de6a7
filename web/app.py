"""The web app. Run with `uvicorn --factory web.app:create_app` (see run.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Scope
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from config import Settings, load_settings, logs, tracing
from dispatch.dispatcher import Dispatcher
from encryption import EncryptionCodec
from store import inbox
from store.db import DATABASE_ERRORS, Store, database_unavailable
from web import (
    api_docs,
    api_schema,
    body_limit,
    cases,
    codec,
    console,
    console_emails,
    dev_mailbox,
    dev_phone,
    emails,
    escalations,
    events,
    gift_cards,
    home,
    metrics,
    patient_links,
    reps,
    sendgrid_hooks,
    sendgrid_inbound,
    support_line,
    twilio_hooks,
    wall,
)
from web.deps import Services

log = logging.getLogger("makeright.web")

# a refused body's headers as kept in its dead letter: never its credentials, each value cut short
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
KEPT_HEADERS, KEPT_HEADER_CHARS = 50, 300


def what_came(
    scope: Scope, row: body_limit.Limit, declared: int | None, received: int
) -> tuple[bytes, str | None]:
    """A body refused as too large, as its dead letter keeps it: the request's headers (credentials left
    out: only their scheme) and sizes, never the body (JSON), and the Content-Type it came with."""
    headers: dict[str, str] = {}
    content_type = None
    for name, value in list(scope.get("headers", ()))[:KEPT_HEADERS]:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key == "content-type":
            content_type = text[:KEPT_HEADER_CHARS]
        if key in SECRET_HEADERS:
            text = text.split(" ", 1)[0] + " (not kept)"
        headers.setdefault(key, text[:KEPT_HEADER_CHARS])
    client = scope.get("client")
    summary = {
        "refused": "request body too large",
        "limit": row.limit,
        "content_length": declared,
        "received_bytes": received,
        "client": client[0] if client else None,
        "method": scope.get("method"),
        "headers": headers,
    }
    return json.dumps(summary, indent=1).encode(), content_type


# what a client is told to wait before trying again while the database (or Temporal) is away
RETRY_AFTER_SECONDS = 5
READINESS_TIMEOUT_SECONDS = 2.0
UNAVAILABLE_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


def unavailable(request: Request, error: str) -> Response:
    """503 with Retry-After: `{"error": ...}` for the API and webhooks, a plain page in the console."""
    headers = UNAVAILABLE_HEADERS
    if request.url.path.startswith("/console"):
        page = f"{error}. Please try again in a moment."
        return PlainTextResponse(page, status_code=503, headers=headers)
    return JSONResponse({"error": error}, status_code=503, headers=headers)


async def database_status(store: Store) -> str:
    """ "ok", or why not (an exception type: no connection details)."""
    try:
        await asyncio.wait_for(asyncio.to_thread(store.ping), READINESS_TIMEOUT_SECONDS)
    except TimeoutError:
        return "down: no answer"
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


async def temporal_status(dispatcher: Dispatcher) -> str:
    """ "ok" when Temporal answers a trivial call (the Dispatcher's client, connected if need be)."""

    async def ask() -> None:
        client = await dispatcher.client()
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=READINESS_TIMEOUT_SECONDS)
        )

    try:
        await asyncio.wait_for(ask(), READINESS_TIMEOUT_SECONDS)
    except TimeoutError:
        return "down: no answer"
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


def create_app(settings: Settings | None = None, relay: bool = True) -> FastAPI:
    settings = settings or load_settings()
    # text or JSON lines (LOG_FORMAT), contact details masked in every line; the level stays uvicorn's
    logs.configure(settings.log_format, level=None)
    store = Store(settings.database_url)
    svc = Services(
        settings=settings,
        store=store,
        dispatcher=Dispatcher(settings, store),
        codec=EncryptionCodec(settings.key_ring(), refuse_plain=False),  # for display: markers as they are
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(svc.dispatcher.relay_forever()) if relay else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # /docs is served offline by api_docs (FastAPI's own pages load Swagger UI and ReDoc from a CDN);
    # it and /openapi.json in the embedded mode only
    app = FastAPI(
        title="makeright",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if api_docs.served(settings) else None,
    )
    app.state.services = svc
    # traces (OTEL_EXPORTER_OTLP_ENDPOINT; off and not instrumented at all otherwise)
    tracing.configure(settings.otel_exporter_otlp_endpoint, "makeright-web")
    tracing.instrument_web(app)

    @app.exception_handler(HTTPException)
    async def _error_json(request: Request, exc: HTTPException) -> JSONResponse:
        # every refusal is {"error": "..."} (CONTRACT.md), with the headers it needs
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def _database_away(request: Request, exc: Exception) -> Response:
        # One place for every route: an outage is a 503 with Retry-After, never a 500. A DBAPIError that
        # is not a lost connection is a bug, and stays one.
        if not database_unavailable(exc):
            raise exc
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return unavailable(request, "database unavailable, try again shortly")

    for exc_class in DATABASE_ERRORS:
        app.add_exception_handler(exc_class, _database_away)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # a bad query parameter or path part (`?limit=²`): 422 naming each field and why
        errors = [
            {"field": ".".join(str(part) for part in error["loc"]), "reason": str(error["msg"])}
            for error in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return JSONResponse({"error": f"invalid request: {summary}", "errors": errors}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. It checks nothing else (see /readyz)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """Readiness, for a load balancer: the database answers a trivial query (503 when it does not).
        Temporal is checked and reported too, but a replica whose Temporal is away stays in service:
        events are stored and the relay acts on them once it is back, so taking every replica out would
        only refuse what can be kept ("status": "degraded")."""
        database, temporal = await asyncio.gather(database_status(store), temporal_status(svc.dispatcher))
        parts = {"database": database, "temporal": temporal}
        if database != "ok":
            body = {"status": "not_ready", **parts, "error": "not ready: database unavailable"}
            return JSONResponse(body, status_code=503, headers=UNAVAILABLE_HEADERS)
        return JSONResponse({"status": "ready" if temporal == "ok" else "degraded", **parts})

    app.include_router(events.router)
    app.include_router(twilio_hooks.router)
    app.include_router(support_line.router)
    app.include_router(sendgrid_hooks.router)
    app.include_router(sendgrid_inbound.router)
    app.include_router(emails.router)
    app.include_router(cases.router)
    app.include_router(codec.router)
    app.include_router(escalations.router)
    app.include_router(reps.router)
    app.include_router(patient_links.router)
    app.include_router(gift_cards.router)
    app.include_router(home.router)
    app.include_router(metrics.router)
    app.include_router(wall.router)
    app.include_router(console_emails.router)
    console.install(app)
    api_docs.install(app, settings)
    api_schema.install(app)
    # outermost: a body over its limit is refused before any route (or other middleware) reads it
    limits = settings.body_limits
    rows, default = body_limit.limit_table(
        events=limits.events,
        webhooks=limits.webhooks,
        forms=limits.forms,
        codec=limits.codec,
        default=limits.default,
        inbound_email=limits.inbound_email,
    )

    async def keep_refused(scope: Scope, row: body_limit.Limit, declared: int | None, received: int) -> int:
        raw, content_type = what_came(scope, row, declared, received)
        errors = [{"field": "body", "reason": f"over the limit of {row.limit} bytes"}]
        return await asyncio.to_thread(
            inbox.keep_dead_letter, store, scope["path"], content_type, raw, 413, errors
        )

    app.add_middleware(
        body_limit.BodyLimitMiddleware, limits=rows, default=default, keep_refused=keep_refused
    )
    phone, why = settings.local_phone()
    if phone:
        app.include_router(dev_phone.router)
        app.include_router(dev_mailbox.router)
        # it signs Twilio webhooks for anyone who can reach this app: say so where start-up is read
        log.warning("local phone mounted at /dev/phone: %s", why)
    else:
        log.info("local phone not mounted: %s", why)
    return app
