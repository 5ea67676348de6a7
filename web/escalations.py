"""The escalation API (CONTRACT.md): the console's actions, for integrations and tests."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from config import ApiToken
from domain.escalation import ACTIONS, Actor, EscalationStatus
from domain.jsonload import BadJson, load_json
from store import escalations
from web import api_schema as schema
from web.deps import caller, only_filters, services
from web.escalation_actions import Refused, act, load

router = APIRouter(prefix="/api/escalations")


@router.get("", dependencies=[Depends(only_filters("status", "limit"))])
async def list_escalations(
    request: Request,
    status: EscalationStatus | None = None,
    limit: int = Query(default=200, ge=1, le=1000),
    who: ApiToken = Depends(caller),
) -> list[dict[str, Any]]:
    svc = services(request)
    rows = await asyncio.to_thread(
        escalations.list_escalations, svc.store, status.value if status else None, limit
    )
    return [escalations.view(row) for row in rows]


@router.get("/{escalation_id}")
async def get_escalation(
    escalation_id: str, request: Request, who: ApiToken = Depends(caller)
) -> dict[str, Any]:
    try:
        row = await load(services(request), escalation_id)
    except Refused as refused:
        raise HTTPException(refused.status, refused.message) from None
    return escalations.view(row)


def _documented_action(action: str) -> None:
    """`POST /api/escalations/{id}/<action>`, one route per action so /openapi.json shows each with its
    body and refusals; each does exactly what the generic route below does."""

    async def endpoint(escalation_id: str, request: Request, who: ApiToken = Depends(caller)) -> JSONResponse:
        return await take_action(escalation_id, action, request, who)

    _, _, summary = schema.ACTIONS[action]
    router.add_api_route(
        f"/{{escalation_id}}/{action}",
        endpoint,
        methods=["POST"],
        name=f"escalation_{action}",
        summary=summary,
        openapi_extra=schema.action_openapi(action),
        responses=schema.ACTION_RESPONSES,
        response_class=JSONResponse,
    )


for _action in ACTIONS:  # matched before the generic route, which answers the rest (an unknown action: 404)
    _documented_action(_action)


@router.post("/{escalation_id}/{action}", include_in_schema=False)
async def take_action(
    escalation_id: str, action: str, request: Request, who: ApiToken = Depends(caller)
) -> JSONResponse:
    if action not in ACTIONS:
        raise HTTPException(404, f"no action {action!r}; actions: {', '.join(ACTIONS)}")
    body = await _json_body(request)
    actor = Actor(user=who.user, role=who.role)
    try:
        row = await act(services(request), escalation_id, action, actor, body)
    except Refused as refused:
        retry = {"Retry-After": "5"} if refused.status == 503 else None
        return JSONResponse({"error": refused.message}, status_code=refused.status, headers=retry)
    return JSONResponse(escalations.view(row))


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = load_json(raw)
    except BadJson as exc:
        raise HTTPException(422, f"body: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "body: must be a JSON object")
    return body
