"""`/`: where a person who opened the web app's address starts. A static page (no patient data) that
links what this deployment serves and repeats the README's first steps."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web import api_docs
from web.console import SECURITY_HEADERS, templates
from web.deps import services

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    settings = services(request).settings
    base = settings.public_base_url
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "base": base,
            "phone": settings.local_phone()[0],
            "temporal_ui": f"http://127.0.0.1:{settings.temporal_ui_port}"
            if settings.embedded_temporal
            else None,
            "codec": f"{base}/codec",
            "docs": api_docs.served(settings),
        },
        headers=SECURITY_HEADERS,
    )
