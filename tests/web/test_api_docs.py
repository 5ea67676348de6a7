"""`/docs` works offline (Swagger UI's files come from this app, not a CDN), ReDoc is off, every page
names the site's icon and `/favicon.ico` answers, and `/openapi.json` describes the API as it behaves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import LiveServer, free_port, offline_web
from web.app import create_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from store.db import migrate

    tmp_path = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{tmp_path / 'makeright.db'}"
    migrate(url)
    # the embedded mode (no TEMPORAL_ADDRESS): the only one that serves /docs and /openapi.json
    settings, port = offline_web(url, tmp_path, temporal_address=None, temporal_port=free_port())
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


def test_openapi_names_bearer_auth_on_every_api_route(server: LiveServer) -> None:
    doc = openapi(server)
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    api = {path: ops for path, ops in doc["paths"].items() if path.startswith("/api/")}
    assert {"/api/cases", "/api/cases/{case_id}", "/api/escalations", "/api/wall"} <= set(api)
    for path, ops in api.items():
        for method, op in ops.items():
            assert {"bearer": []} in op.get("security", []), (method, path)
    assert "security" not in doc["paths"]["/events"]["post"]  # signed, not a bearer's


def test_openapi_describes_post_events(server: LiveServer) -> None:
    doc = openapi(server)
    op = doc["paths"]["/events"]["post"]
    body = op["requestBody"]["content"]
    assert set(body) == {"application/cloudevents+json", "application/json"}
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/BookingEvent"}
    example = body["application/cloudevents+json"]["example"]
    assert example["specversion"] == "1.0" and example["data"]["patient"]["phone"] == "+31612345678"
    schemas = doc["components"]["schemas"]
    event = schemas["BookingEvent"]
    assert {"specversion", "id", "source", "type", "time", "data"} <= set(event["properties"])
    data = schemas["BookingEventData"]["properties"]
    assert {"appointment_id", "patient", "practice", "provider", "slot", "cause"} <= set(data)
    for ref in _refs(doc):  # every $ref resolves in this document
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    [signature] = [p for p in op["parameters"] if p["name"] == "X-Makeright-Signature"]
    assert signature["in"] == "header" and signature["required"] is True
    answers = op["responses"]
    assert {"200", "202", "401", "415", "422"} <= set(answers)
    for status in ["200", "202", "401", "415", "422"]:
        assert answers[status]["content"]["application/json"]["schema"]["$ref"], status
    assert answers["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/InvalidEvent")
    assert answers["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_openapi_describes_each_escalation_action(server: LiveServer) -> None:
    doc = openapi(server)
    assert "/api/escalations/{escalation_id}/{action}" not in doc["paths"]
    bodies = {
        "resolve": "ResolveBody",
        "approve": "ApproveBody",
        "deny": "DenyBody",
        "reassign": "ReassignBody",
    }
    for action in ["claim", "release", "resolve", "approve", "deny", "reassign"]:
        op = doc["paths"][f"/api/escalations/{{escalation_id}}/{action}"]["post"]
        assert {"403", "409", "422"} <= set(op["responses"]), action
        for status in ["403", "409", "422"]:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (action, status)
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/EscalationView"
        )
        if action in bodies:
            content = op["requestBody"]["content"]["application/json"]
            assert content["schema"] == {"$ref": f"#/components/schemas/{bodies[action]}"}
            assert content["example"]
        else:
            assert "requestBody" not in op, action
    schemas = doc["components"]["schemas"]
    assert set(schemas["ApproveBody"]["properties"]) == {"amount", "currency"}
    assert {"notes", "root_cause", "root_cause_other", "compensation"} <= set(
        schemas["ResolveBody"]["properties"]
    )


def test_the_documented_action_routes_behave_as_before(server: LiveServer) -> None:
    """Only described: no token is still 401, an unknown escalation 404, an unknown action 404, a bad
    body 422, each `{"error": ...}`."""
    url = f"{server.url}/api/escalations/esc-none"
    assert httpx.post(f"{url}/claim").json() == {"error": "missing bearer token"}
    auth = {"Authorization": "Bearer dev-rep-token"}
    missing = httpx.post(f"{url}/claim", headers=auth)
    assert (missing.status_code, missing.json()) == (404, {"error": "no escalation esc-none"})
    unknown = httpx.post(f"{url}/dance", headers=auth)
    assert unknown.status_code == 404 and "no action 'dance'" in unknown.json()["error"]
    bad = httpx.post(f"{url}/approve", headers=auth, content=b"[1]")
    assert (bad.status_code, bad.json()) == (422, {"error": "body: must be a JSON object"})


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@pytest.mark.parametrize(
    "production",
    [{"temporal_address": "temporal.internal:7233"}, {"twilio_mode": "live"}],
    ids=["temporal_address", "twilio_live"],
)
def test_production_serves_no_docs_and_no_openapi_document(
    tmp_path: Path, production: dict[str, str]
) -> None:
    """The API's map is for a laptop: in production /docs, its assets and /openapi.json are 404."""
    from store.db import migrate

    url = f"sqlite:///{tmp_path / 'makeright.db'}"
    migrate(url)
    settings, port = offline_web(url, tmp_path, **production)
    assert settings.production
    with LiveServer(create_app(settings, relay=False), port) as live:
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/redoc"):
            assert httpx.get(f"{live.url}{path}").status_code == 404, path
        assert httpx.get(f"{live.url}/favicon.ico").status_code == 200  # the icon stays
