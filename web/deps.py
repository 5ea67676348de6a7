"""What every route needs: settings, the store, the starter, and who is calling."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from config import ApiToken, Settings
from starter import Starter
from store.db import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    starter: Starter


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def caller(request: Request) -> ApiToken:
    """The bearer token's role and user; 401 without a known token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    found: ApiToken | None = None
    for known, who in services(request).settings.tokens().items():
        if hmac.compare_digest(known.encode(), token.strip().encode()):
            found = who
    if found is None:
        raise HTTPException(401, "unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
    return found
