"""What `/openapi.json` says beyond what FastAPI reads off the routes: bearer auth on the `/api/...`
routes, `POST /events`'s CloudEvents body, signature header and answers, and the escalation actions'
bodies and refusals. Descriptions only: the routes read and check their input themselves, as before
(a bad body is a 422 naming the field, in the app's `{"error": ...}` shape, not FastAPI's)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from domain.events import BookingEvent

# the security scheme of every /api route: it documents the header, the route's own check (web.deps.caller)
# decides (auto_error=False: no answer of its own, so a refusal stays {"error": ...} as before)
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from API_TOKENS (`role:token` or `role:user:token`): "
    "`Authorization: Bearer <token>`",
)


class ErrorBody(BaseModel):
    error: str = Field(examples=["the escalation is already claimed by ann"])


class FieldError(BaseModel):
    field: str = Field(examples=["data.patient.phone"])
    reason: str = Field(examples=["not a phone number in E.164 form"])


class InvalidEvent(BaseModel):
    """422: the body was kept as a dead letter (`cli.py dead-letters`) and is never acted on."""

    error: str = Field(examples=["invalid event"])
    errors: list[FieldError]
    dead_letter_id: int | None = None


class EventAccepted(BaseModel):
    case_id: str | None = Field(
        description="null for booking.appointment_booked: a case opens only on trouble"
    )
    workflow_id: str
    duplicate: bool


class MoneyBody(BaseModel):
    amount: str = Field(pattern=r"^[0-9]+(\.[0-9]{1,2})?$", examples=["25.00"])
    currency: str = Field(default="USD", examples=["USD"])


class ResolveBody(BaseModel):
    notes: str = Field(default="", examples=["Rebooked by phone; she keeps the new slot."])
    root_cause: str | None = Field(
        default=None,
        description="a code from ROOT_CAUSES, or `other` with root_cause_other; an unknown code is a 422 "
        "naming the choices",
        examples=["practice_calendar_out_of_sync"],
    )
    root_cause_other: str | None = Field(default=None, description="the words, with root_cause `other`")
    compensation: MoneyBody | None = Field(
        default=None, description="granted to the patient, within the caller's approval limit (403 above it)"
    )


class ApproveBody(MoneyBody):
    """Approves what is pending, or grants this amount when nothing is; within the caller's limit."""


class DenyBody(BaseModel):
    reason: str = Field(examples=["already compensated by the practice"])


class ReassignBody(BaseModel):
    to: str = Field(description="a console user or an API token's user", examples=["sam"])


class PendingApproval(BaseModel):
    amount: str
    currency: str


class EscalationView(BaseModel):
    escalation_id: str
    case_id: str
    appointment_id: str | None
    kind: str
    level: str
    status: str = Field(examples=["open", "claimed", "resolved", "expired"])
    claimed_by: str | None
    sla_deadline: str | None
    breached: bool
    pending_approval: PendingApproval | None


EVENT_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-7f3a",
    "source": "booking-system",
    "type": "booking.slot_cancelled_by_practice",
    "time": "2026-11-22T14:03:00Z",
    "data": {
        "appointment_id": "appt-123",
        "patient": {
            "id": "pat-1", "name": "Ada Jansen", "phone": "+31612345678", "email": "ada@example.com",
            "locale": "nl", "timezone": "Europe/Amsterdam",
        },
        "practice": {
            "id": "prac-9", "name": "Uptown Orthopedics", "phone": "+12125550100",
            "timezone": "America/New_York",
        },
        "provider": {"id": "prov-7", "name": "Dr. Kim", "specialty": "orthopedics"},
        "slot": {"start": "2026-11-24T10:00:00-05:00", "end": "2026-11-24T10:30:00-05:00"},
        "cause": "practice_calendar_out_of_sync",
    },
}  # fmt: skip


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def json_body(
    model: type[BaseModel], example: Any, *, required: bool = True, media: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An operation's requestBody, for openapi_extra (the schema lands in components: see install)."""
    types = media or ("application/json",)
    return {
        "requestBody": {
            "required": required,
            "content": {t: {"schema": ref(model), "example": example} for t in types},
        }
    }


EVENTS_OPENAPI: dict[str, Any] = {
    **json_body(BookingEvent, EVENT_EXAMPLE, media=("application/cloudevents+json", "application/json")),
    "parameters": [
        {
            "name": "X-Makeright-Signature",
            "in": "header",
            "required": True,
            "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with '
            "EVENTS_SIGNING_SECRET; a timestamp more than 5 minutes off is refused (401)",
            "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
            "example": "t=1795442580,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
        }
    ],
}
EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": EventAccepted, "description": "stored, and acted on"},
    200: {
        "model": EventAccepted,
        "description": "the same id, or the same conflict for the same appointment, again: "
        '"duplicate": true, nothing new is started',
    },
    401: {"model": ErrorBody, "description": "bad or missing X-Makeright-Signature"},
    413: {
        "model": ErrorBody,
        "description": "body larger than 256 KiB (BODY_LIMITS__EVENTS), refused as it streams in",
    },
    415: {"model": ErrorBody, "description": "not application/cloudevents+json or application/json"},
    422: {"model": InvalidEvent, "description": "invalid body: each bad field named; kept as a dead letter"},
}

# the escalation actions (CONTRACT.md), each with its body (None: no body) and what it does
ACTIONS: dict[str, tuple[type[BaseModel] | None, Any, str]] = {
    "claim": (None, None, "Claim the escalation for the caller (409 when someone holds it)."),
    "release": (None, None, "Let go of a claim; the level's clock keeps running."),
    "resolve": (
        ResolveBody,
        {
            "notes": "Rebooked by phone.",
            "root_cause": "practice_calendar_out_of_sync",
            "compensation": {"amount": "20.00", "currency": "USD"},
        },
        "Resolve a claimed escalation with notes, a root cause and optionally compensation.",
    ),
    "approve": (
        ApproveBody,
        {"amount": "25.00", "currency": "USD"},
        "Approve pending compensation, or grant this amount when nothing is pending.",
    ),
    "deny": (DenyBody, {"reason": "already compensated by the practice"}, "Deny pending compensation."),
    "reassign": (ReassignBody, {"to": "sam"}, "Hand the escalation to another user."),
    "call": (None, None, "Ring the caller's phone, then dial the patient in (the caller's phone on record)."),
}
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": EscalationView, "description": "the escalation once the action is recorded"},
    401: {"model": ErrorBody, "description": "no or an unknown bearer token"},
    403: {
        "model": ErrorBody,
        "description": "a role that may not act, or an amount above the caller's limit",
    },
    404: {"model": ErrorBody, "description": "no such escalation"},
    409: {
        "model": ErrorBody,
        "description": "the wrong state: a second claim, resolving what is not claimed",
    },
    422: {
        "model": ErrorBody,
        "description": "a bad body: the field named (an unknown root cause: the choices)",
    },
    503: {"model": ErrorBody, "description": "Temporal did not answer in time; try again (Retry-After)"},
}


def action_openapi(action: str) -> dict[str, Any]:
    model, example, _ = ACTIONS[action]
    return json_body(model, example, required=action != "resolve") if model is not None else {}


def install(app: FastAPI) -> None:
    """The document FastAPI builds, plus the schemas the request bodies above refer to."""
    models: list[type[BaseModel]] = [BookingEvent, *(m for m, _, _ in ACTIONS.values() if m is not None)]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas.setdefault(model.__name__, schema)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
