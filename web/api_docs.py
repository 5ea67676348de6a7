"""`/docs` (Swagger UI) served from this app, so it works offline: FastAPI's default page loads Swagger
UI's script and stylesheet from a CDN. The files come from the `fastapi-swagger` package (Swagger UI 5,
which reads the OpenAPI 3.1 document FastAPI writes), served at `/docs/assets`. ReDoc, CDN-only too, is
off. `/docs` and `/openapi.json` are served in the embedded mode only: in production
(config.Settings.production) both are 404, so the API's map is not handed to whoever reaches the app.
And the site's icon (`/favicon.svg`, also at `/favicon.ico`), so no page's console shows a 404."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from config import Settings

ASSETS = "/docs/assets"
FAVICON = "/favicon.svg"

# a white tick on the console's blue: small, no external font or file
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="#1d5fd6"/>'
    '<path d="M8.5 16.5l5 5 10-11" fill="none" stroke="#fff" stroke-width="3.6" '
    'stroke-linecap="round" stroke-linejoin="round"/></svg>'
)
FAVICON_HEADERS = {"Cache-Control": "public, max-age=86400"}


def served(settings: Settings) -> bool:
    """Whether this app serves `/docs` and `/openapi.json`: in the embedded mode only."""
    return not settings.production


def install(app: FastAPI, settings: Settings) -> None:
    """Mount Swagger UI's files and the page at `/docs` (the app is made with docs_url=None,
    redoc_url=None, and openapi_url=None unless `served`), and the icon."""
    _icon(app)
    if not served(settings):
        return
    folder = resources.files("fastapi_swagger") / "resources"
    app.mount(ASSETS, StaticFiles(directory=str(folder)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} · API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
        )


def _icon(app: FastAPI) -> None:
    @app.get(FAVICON, include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(FAVICON_SVG, media_type="image/svg+xml", headers=FAVICON_HEADERS)
