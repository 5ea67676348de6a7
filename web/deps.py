"""What every route needs: settings, the store, the dispatcher, and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials

from config import ApiToken, Settings
from dispatch.dispatcher import Dispatcher
from encryption import EncryptionCodec
from providers.mail import MailGateway
from store.db import Store
from web.api_schema import bearer


@dataclass
class Services:
    settings: Settings
    store: Store
    # acts on stored events (dispatch/dispatcher.py)
    dispatcher: Dispatcher
    # the payload codec the codec server answers with (keys read once, at start-up)
    codec: EncryptionCodec
    # a rep's answer to a patient's email goes out through it (web/emails.py); None: the one SENDGRID_MODE
    # chooses, made when first needed
    mail: MailGateway | None = None

    def mail_gateway(self) -> MailGateway:
        if self.mail is None:
            from providers.mail import gateway_for

            self.mail = gateway_for(self.settings, self.store)
        return self.mail


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def caller(request: Request, _documented: HTTPAuthorizationCredentials | None = Security(bearer)) -> ApiToken:
    """The bearer token's role and user; 401 without a known token. (`bearer` only puts the scheme in
    /openapi.json: the header is read and checked here.)"""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    found = token_holder(services(request).settings, token.strip())
    if found is None:
        raise HTTPException(401, "unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
    return found


def token_holder(settings: Settings, token: str) -> ApiToken | None:
    """Who holds this API token (compared in constant time against every known one); None: nobody."""
    found: ApiToken | None = None
    for known, who in settings.tokens().items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = who
    return found


def only_filters(*known: str) -> Callable[[Request], None]:
    """A dependency for a listing: a query parameter it does not know is a 422 naming it, as a bad value
    is (`{"error", "errors": [{"field": "query.NAME", "reason": "unknown filter"}]}`), instead of a list
    that silently ignored the filter the caller meant."""

    def check(request: Request) -> None:
        unknown = sorted({name for name in request.query_params if name not in known})
        if unknown:
            raise RequestValidationError(
                [
                    {"loc": ("query", name), "msg": "unknown filter", "type": "unknown_filter"}
                    for name in unknown
                ]
            )

    return check
