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


@router.post("/{escalation_id}/{action}")
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
