"""The web app. Run with `uvicorn --factory web.app:create_app` (see run.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from config import Settings, load_settings
from starter import Starter
from store.db import Store
from web import (
    cases,
    codec,
    console,
    dev_phone,
    escalations,
    events,
    patient_links,
    sendgrid_hooks,
    twilio_hooks,
)
from web.deps import Services

log = logging.getLogger("makeright.web")


def create_app(settings: Settings | None = None, relay: bool = True) -> FastAPI:
    settings = settings or load_settings()
    store = Store(settings.database_url)
    svc = Services(settings=settings, store=store, starter=Starter(settings, store))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(svc.starter.relay_forever()) if relay else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="makeright", version="0.1.0", lifespan=lifespan)
    app.state.services = svc

    @app.exception_handler(HTTPException)
    async def _error_json(request: Request, exc: HTTPException) -> JSONResponse:
        # every refusal is {"error": "..."} (CONTRACT.md), with the headers it needs
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

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
        return {"status": "ok"}

    app.include_router(events.router)
    app.include_router(twilio_hooks.router)
    app.include_router(sendgrid_hooks.router)
    app.include_router(cases.router)
    app.include_router(codec.router)
    app.include_router(escalations.router)
    app.include_router(patient_links.router)
    console.install(app)
    if settings.twilio_mode == "local" or settings.sendgrid_mode == "local":
        app.include_router(dev_phone.router)
    return app
