"""The trackers' HTTP: httpx with the answers sorted into retry-later and final."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from domain.jsonload import ascii_int
from providers.errors import ProviderNotProcessed, ProviderRejected
from providers.trackers import Hooks

TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# refusals no retry can change (a malformed request, a project or repository that is not there)
_FINAL = {400, 404, 405, 410, 422}


class Http:
    """httpx with the answers sorted into retry-later and final."""

    def __init__(self, base_url: str, headers: dict[str, str], system: str, hooks: Hooks | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.system = system
        self.hooks = hooks or {}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with httpx.Client(
                base_url=self.base_url, headers=self.headers, timeout=TIMEOUT, event_hooks=self.hooks
            ) as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderNotProcessed(f"{self.system} unreachable: {type(exc).__name__}") from None
        if response.status_code < 400:
            return response
        if response.status_code in _FINAL:
            raise ProviderRejected(
                response.status_code, f"{self.system} {method} {path}: {_reason(response)}"
            )
        if response.status_code == 429:
            raise _rate_limited(self.system, response)
        # 401/403 (credentials being fixed), 409, 5xx: the issue waits, the case does not
        raise ProviderNotProcessed(f"{self.system} {method} {path} answered {response.status_code}")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ProviderNotProcessed(f"{self.system} {method} {path}: not JSON") from None


def _rate_limited(system: str, response: httpx.Response) -> ApplicationError:
    """429: the next attempt waits as long as the tracker's Retry-After says (Jira and GitHub send it),
    not the retry policy's shorter backoff."""
    seconds = ascii_int(response.headers.get("Retry-After", ""))
    seconds = 60 if seconds is None else seconds
    return ApplicationError(
        f"{system} answered 429: retry after {seconds} s",
        type="ProviderNotProcessed",
        next_retry_delay=timedelta(seconds=min(max(seconds, 1), 3600)),
    )


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("errorMessages", "errors", "message"):
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]
