"""`/docs` works offline (Swagger UI's files come from this app, not a CDN), ReDoc is off, every page
names the site's icon and `/favicon.ico` answers, and `/openapi.json` describes the API as it behaves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import LiveServer, offline_web
from web.app import create_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from store.db import migrate

    tmp_path = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{tmp_path / 'makeright.db'}"
    migrate(url)
    settings, port = offline_web(url, tmp_path)
    with LiveServer(create_app(settings, relay=False), port) as live:
        yield live


def test_docs_load_everything_from_this_app(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    for source in sources:
        assert source.startswith("/"), f"{source} is not served by the app: /docs would need the internet"
        assert httpx.get(f"{server.url}{source}").status_code == 200, source
    assert "cdn" not in page.text and "https://" not in page.text
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text
    bundle = httpx.get(f"{server.url}/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert httpx.get(f"{server.url}/redoc").status_code == 404  # ReDoc (CDN only) is off


def test_every_page_names_the_icon_and_favicon_ico_answers(server: LiveServer) -> None:
    icon = httpx.get(f"{server.url}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert httpx.get(f"{server.url}/favicon.svg").text.startswith("<svg")
    for path in ["/", "/console/login", "/wall", "/dev/phone", "/gift/nonexistent"]:
        page = httpx.get(f"{server.url}{path}", follow_redirects=True)
        assert '<link rel="icon" href="/favicon.svg"' in page.text, path
    # and every page template, opened above or not
    templates = Path(__file__).resolve().parents[2] / "web" / "templates"
    for template in templates.rglob("*.html"):
        text = template.read_text()
        if "<head>" in text:
            assert 'rel="icon"' in text, template


def openapi(server: LiveServer) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{server.url}/openapi.json").json()
    return doc
