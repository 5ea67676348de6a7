"""Reps on duty over HTTP (CONTRACT.md, "Reps on duty and routing"): a rep says they take work now, or not;
supervisors, engineers and auditors read the floor as the router last saved it; a supervisor sets a rep
away. The console's presence switch (web/console.py) goes through `change_presence` too.

The router workflow holds the truth; a change is an Update on it (dispatch/reps.py), and the store's copy
(store/reps.py) follows once the router has saved its snapshot. Refusals: 403 `{"error"}` for a role that
may not, 422 `{"error", "errors": [{"field", "reason"}]}` naming each bad field, 409 for what the router
will not do now, 503 while Temporal is away."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from config import ApiToken
from dispatch import reps as router_client
from domain import phones
from domain.jsonload import BadJson, load_json
from domain.routing import LANGUAGES, PresenceChange, RepView
from store import reps, users
from web.deps import Services, caller, only_filters, services

router = APIRouter(prefix="/api/reps", tags=["reps"])

# who may say where they take work (their own presence), and who may read the floor
ON_DUTY_ROLES = ("rep", "supervisor")
READ_ROLES = ("supervisor", "engineer", "auditor")
FIELDS = ("status", "phone", "languages")
RETRY_AFTER = {"Retry-After": "5"}
# /openapi.json's word on the bodies (the routes read and check them themselves, as the other routes do)
PRESENCE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["available", "away"]},
                        "phone": {"type": "string", "example": "+31612345678"},
                        "languages": {"type": "array", "items": {"type": "string", "enum": list(LANGUAGES)}},
                    },
                }
            }
        },
    }
}
AWAY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["away"]}},
                }
            }
        },
    }
}


class PresenceError(Exception):
    """A change not made: `status` is the HTTP answer; `errors` name the fields at fault (422)."""

    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


def invalid(errors: Sequence[tuple[str, str]]) -> PresenceError:
    summary = "; ".join(f"{name}: {reason}" for name, reason in errors)
    return PresenceError(
        422,
        f"invalid request: {summary}",
        [{"field": name, "reason": reason} for name, reason in errors],
    )


def rep_json(view: RepView) -> dict[str, Any]:
    """One rep as the API shows them (CONTRACT.md): no phone number."""
    return {
        "user": view.user,
        "status": view.status.value,
        "since": view.since.isoformat(),
        "languages": list(view.languages),
        "missed_in_a_row": view.missed_in_a_row,
    }


def error_response(error: PresenceError) -> JSONResponse:
    body: dict[str, Any] = {"error": error.message}
    if error.errors:
        body["errors"] = error.errors
    headers = RETRY_AFTER if error.status == 503 else None
    return JSONResponse(body, status_code=error.status, headers=headers)


# ---------------------------------------------------------------------- reading and checking a change


def read_presence(
    body: dict[str, Any],
) -> tuple[Literal["available", "away"], str | None, tuple[str, ...] | None]:
    """(status, phone as E.164 or None when left out, languages or None when left out) from a JSON body or
    the console's form; PresenceError(422) naming every bad field."""
    errors: list[tuple[str, str]] = []
    for name in sorted(set(body) - set(FIELDS)):
        errors.append((name, f"unknown field (fields: {', '.join(FIELDS)})"))
    status = body.get("status")
    if status not in ("available", "away"):
        errors.append(("status", "required: available or away"))
    phone: str | None = None
    raw_phone = body.get("phone")
    if raw_phone is not None and not isinstance(raw_phone, str):
        errors.append(("phone", "must be a string: a phone number in international format (+E.164)"))
    elif raw_phone and raw_phone.strip():
        try:
            phone = phones.normalise(raw_phone.strip())
        except phones.PhoneError as exc:
            errors.append(("phone", str(exc)))
    languages: tuple[str, ...] | None = None
    raw_languages = body.get("languages")
    if raw_languages is not None:
        if not isinstance(raw_languages, list) or not all(isinstance(x, str) for x in raw_languages):
            errors.append(("languages", f"must be a list of language codes ({', '.join(LANGUAGES)})"))
        elif not raw_languages:
            errors.append(("languages", f"choose at least one of {', '.join(LANGUAGES)}"))
        elif unknown := sorted({x for x in raw_languages if x not in LANGUAGES}):
            errors.append(
                ("languages", f"unknown {', '.join(map(repr, unknown))}: choose from {', '.join(LANGUAGES)}")
            )
        else:
            languages = tuple(dict.fromkeys(raw_languages))
    if errors:
        raise invalid(errors)
    assert status in ("available", "away")
    return status, phone, languages


NO_PHONE = (
    'no phone known to ring you on: give one ("phone": "+E.164"), or have one put on record '
    "(cli.py users set --phone)"
)


def own_change(svc: Services, user: str, body: dict[str, Any]) -> PresenceChange:
    """The change a rep (or supervisor) asks for themselves. Going available without a phone uses the one
    on record; with neither, and the router never having had one from them, it is a 422 naming `phone`
    (the router refuses the same when it has none either). Languages left out: every one we speak."""
    status, phone, languages = read_presence(body)
    if status == "available":
        phone = phone or users.phone_of(svc.store, user)
        if phone is None and reps.get(svc.store, user) is None:
            raise invalid([("phone", NO_PHONE)])
        languages = languages or LANGUAGES
    return _change(user=user, status=status, phone=phone, languages=languages, by=user)


def _change(**values: Any) -> PresenceChange:
    try:
        return PresenceChange(**values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or "body"
        raise invalid([(name, str(first["msg"]))]) from None


# ---------------------------------------------------------------------- carrying it out


async def send(svc: Services, change: PresenceChange) -> RepView:
    """The change, through the router; PresenceError for a refusal (409, or 422 naming the field the
    router names) or while Temporal is away (503)."""
    try:
        client = await svc.dispatcher.client()
    except (RuntimeError, OSError):  # the SDK's "Failed client connect: …"
        raise PresenceError(503, "the workflow service is unreachable; try again shortly") from None
    try:
        return await router_client.set_presence(client, svc.settings, change)
    except router_client.RouterUnavailable as exc:
        raise PresenceError(503, f"{exc}; try again shortly") from None
    except router_client.PresenceRefused as refused:
        if refused.kind in FIELDS:
            raise invalid([(refused.kind, refused.message)]) from None
        raise PresenceError(409, refused.message) from None


async def change_presence(svc: Services, user: str, role: str, body: dict[str, Any]) -> RepView:
    """`POST /api/reps/me/presence` and the console's switch: the caller's own presence."""
    if role not in ON_DUTY_ROLES:
        raise PresenceError(403, f"only reps and supervisors take work; {user} is signed in as {role}")
    change = await asyncio.to_thread(own_change, svc, user, body)
    return await send(svc, change)


async def set_away(svc: Services, supervisor: str, role: str, user: str, body: dict[str, Any]) -> RepView:
    """`POST /api/reps/{user}/presence` `{"status": "away"}`: a supervisor takes a rep off the floor."""
    if role != "supervisor":
        raise PresenceError(403, "only a supervisor sets another rep's presence")
    errors = [(name, "unknown field (fields: status)") for name in sorted(set(body) - {"status"})]
    if body.get("status") != "away":
        errors.append(("status", "a supervisor can only set a rep away"))
    if errors:
        raise invalid(errors)
    change = _change(user=user, status="away", by=supervisor)
    if await asyncio.to_thread(reps.get, svc.store, user) is None:
        raise PresenceError(404, f"no rep {user!r} on the floor")
    return await send(svc, change)


# ---------------------------------------------------------------------- the routes


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = load_json(raw)
    except BadJson as exc:
        raise invalid([("body", str(exc))]) from None
    if not isinstance(body, dict):
        raise invalid([("body", "must be a JSON object")])
    return body


@router.post(
    "/me/presence",
    summary="Say whether you take work now, and where to ring you",
    openapi_extra=PRESENCE_BODY,
)
async def my_presence(request: Request, who: ApiToken = Depends(caller)) -> JSONResponse:
    """`{"status": "available"|"away", "phone": "+E164", "languages": ["en", "nl"]}` (a rep or supervisor):
    the rep as the router now has them."""
    try:
        if who.role not in ON_DUTY_ROLES:  # before the body: another role learns nothing from it
            raise PresenceError(403, f"only reps and supervisors take work; this token is {who.role}'s")
        view = await change_presence(services(request), who.user, who.role, await _json_body(request))
    except PresenceError as error:
        return error_response(error)
    return JSONResponse(rep_json(view))


@router.post("/{user}/presence", summary="Set a rep away (supervisors)", openapi_extra=AWAY_BODY)
async def rep_presence(user: str, request: Request, who: ApiToken = Depends(caller)) -> JSONResponse:
    """`{"status": "away"}`: a supervisor takes the rep off the floor (an offer they hold goes to the next
    rep)."""
    try:
        if who.role != "supervisor":
            raise PresenceError(403, "only a supervisor sets another rep's presence")
        view = await set_away(services(request), who.user, who.role, user, await _json_body(request))
    except PresenceError as error:
        return error_response(error)
    return JSONResponse(rep_json(view))


@router.get("", summary="Reps on duty, as the router last saved them", dependencies=[Depends(only_filters())])
async def list_reps(request: Request, who: ApiToken = Depends(caller)) -> JSONResponse:
    """`[{"user", "status", "since", "languages", "missed_in_a_row"}]`, no phone numbers (supervisors,
    engineers, auditors)."""
    if who.role not in READ_ROLES:
        return JSONResponse(
            {"error": f"the floor is for {', '.join(READ_ROLES)}; this token is {who.role}'s"},
            status_code=403,
        )
    found = await asyncio.to_thread(reps.list_reps, services(request).store)
    return JSONResponse([rep_json(view) for view in found])
