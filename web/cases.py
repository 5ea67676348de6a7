"""The case API: `GET /api/cases/{case_id}` and `GET /api/cases?appointment_id=…&status=…&kind=…`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from config import ApiToken
from domain.base import CaseKind
from domain.cases import CaseStatus
from store import escalations, tickets
from store.views import case_view, load_cases
from web.deps import caller, only_filters, services

router = APIRouter(prefix="/api")


@router.get("/cases/{case_id}")
async def get_case(case_id: str, request: Request, who: ApiToken = Depends(caller)) -> dict[str, Any]:
    svc = services(request)
    found = await asyncio.to_thread(load_cases, svc.store, case_id=case_id)
    if not found:
        raise HTTPException(404, f"no case {case_id}")
    case, ledger, timeline = found[0]
    visible = await asyncio.to_thread(escalations.contact_details_visible, svc.store, who.role, who.user)
    view = case_view(case, ledger, timeline, visible(case_id), svc.settings.policy.compensation.currency)
    urls = await asyncio.to_thread(tickets.external_urls, svc.store, [case.ticket_id or ""])
    # the issue in Jira or GitHub (TRACKER_MODE), once the tracker has it; null while it is local only
    view["ticket_url"] = urls.get(case.ticket_id or "")
    rows = await asyncio.to_thread(escalations.for_case, svc.store, case_id)
    view["escalations"] = [escalations.view(row) for row in rows]
    return view


@router.get("/cases", dependencies=[Depends(only_filters("appointment_id", "status", "kind", "limit"))])
async def list_cases(
    request: Request,
    appointment_id: str | None = None,
    status: CaseStatus | None = None,
    kind: CaseKind | None = None,
    limit: int = Query(default=100, ge=1, le=500),
    who: ApiToken = Depends(caller),
) -> list[dict[str, Any]]:
    svc = services(request)
    found = await asyncio.to_thread(
        load_cases,
        svc.store,
        appointment_id=appointment_id,
        status=status.value if status else None,
        kind=kind.value if kind else None,
        limit=limit,
    )
    currency = svc.settings.policy.compensation.currency
    visible = await asyncio.to_thread(escalations.contact_details_visible, svc.store, who.role, who.user)
    urls = await asyncio.to_thread(tickets.external_urls, svc.store, [c.ticket_id or "" for c, _, _ in found])
    views = [case_view(c, ledger, tl, visible(c.case_id), currency) for c, ledger, tl in found]
    for case, view in zip((c for c, _, _ in found), views, strict=True):
        view["ticket_url"] = urls.get(case.ticket_id or "")
    return views
