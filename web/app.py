"""The web app. Run with `uvicorn --factory web.app:create_app` (see run.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException, Request
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
    home,
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
    app.include_router(home.router)
    console.install(app)
    phone, why = settings.local_phone()
    if phone:
        app.include_router(dev_phone.router)
        # it signs Twilio webhooks for anyone who can reach this app: say so where start-up is read
        log.warning("local phone mounted at /dev/phone: %s", why)
    else:
        log.info("local phone not mounted: %s", why)
    return app
