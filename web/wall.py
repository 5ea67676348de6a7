"""`GET /wall` and `GET /api/wall` (CONTRACT.md, "Operations"): the SLA wall, for a monitor across the room.
The numbers are the database's (store/wall.py), so every web replica shows the same. Console users and
API_TOKENS holders of any role may look (a bearer header); a kiosk passes an `auditor` token (read-only) as
`?token=`, never a token that can act: an address ends up in a browser's history, a kiosk's screen and
access logs. Nothing here shows a name, a phone number or an email address.

The console's session cookie is scoped to /console, so a signed-in browser is sent from /wall to
/console/wall (the same page under the cookie's path); without a session that asks for a login."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Security
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from config import ApiToken
from domain.root_causes import label_of
from store import sessions
from store import wall as wall_store
from web.api_schema import bearer
from web.console import SECURITY_HEADERS, SESSION_COOKIE, current_login, templates
from web.deps import services, token_holder

router = APIRouter()

REFRESH_SECONDS = 30
WALL_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer"}  # a ?token= never leaves in a Referer


# the one role whose token may sit in an address (`?token=`): it reads, and acts on nothing
KIOSK_ROLES = ("auditor",)


def _token_holder(request: Request) -> ApiToken | bool | None:
    """Who the request's token names: the bearer header's (any role), else `?token=`'s (an auditor only:
    403 for a token that can act). None: no token; False: a token nobody holds."""
    settings = services(request).settings
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token_holder(settings, token.strip()) or False
    in_address = request.query_params.get("token")
    if not in_address:
        return None
    who = token_holder(settings, in_address)
    if who is None:
        return False
    if who.role not in KIOSK_ROLES:
        raise HTTPException(
            403,
            f"?token= takes only an auditor token (read-only), not a {who.role}'s: send it as "
            "'Authorization: Bearer', or sign in to the console",
        )
    return who


async def _allowed(request: Request) -> bool:
    """An API token of any role in the header, an auditor's as ?token=, or a console session."""
    svc = services(request)
    who = _token_holder(request)
    if who is not None:
        return who is not False
    login = await asyncio.to_thread(sessions.find, svc.store, request.cookies.get(SESSION_COOKIE))
    return login is not None


def _since(request: Request, now: datetime) -> datetime:
    raw = request.query_params.get("since")
    if not raw:
        return wall_store.start_of_day(now)
    try:
        since = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise HTTPException(422, f"since is not an ISO time: {raw!r}") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since.astimezone(UTC)


async def _numbers(request: Request) -> wall_store.Wall:
    svc = services(request)
    now = datetime.now(UTC)
    since = _since(request, now)
    comp = svc.settings.policy.compensation
    return await asyncio.to_thread(
        wall_store.wall,
        svc.store,
        since=since,
        now=now,
        sla_seconds=svc.settings.first_contact_sla_seconds,
        currency=comp.currency,
        daily_budget=comp.daily_budget,
        offer_seconds=svc.settings.routing.offer_seconds,
    )


@router.get("/api/wall", dependencies=[Security(bearer)])
async def api_wall(request: Request) -> JSONResponse:
    if not await _allowed(request):
        raise HTTPException(
            401, "the wall needs a console login or an API token", {"WWW-Authenticate": "Bearer"}
        )
    numbers = await _numbers(request)
    return JSONResponse(numbers.as_json(), headers={"Cache-Control": "no-store"})


@router.get("/wall", response_class=HTMLResponse, include_in_schema=False)
async def wall_page(request: Request) -> Response:
    if not await _allowed(request):
        target = "/console/wall"
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(target, status_code=303)
    return await _page(request)


@router.get("/console/wall", response_class=HTMLResponse, include_in_schema=False)
async def console_wall_page(request: Request) -> Response:
    who = _token_holder(request)
    if who is None or who is False:
        await current_login(request)  # LoginRequired: to the login page, and back here
    return await _page(request)


async def _page(request: Request) -> HTMLResponse:
    numbers = await _numbers(request)
    data = numbers.as_json()
    catalogue = services(request).settings.root_causes
    for cause in data["top_root_causes"]:
        cause["label"] = label_of(catalogue, cause["cause"])
    context = {
        "w": data,
        "chart": chart(data["hourly"], data["first_contact_sla_seconds"]),
        "people": people_chart(data["hourly"]),
        "refresh_seconds": REFRESH_SECONDS,
        "updated": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        "today": numbers.since == wall_store.start_of_day(datetime.now(UTC)),
    }
    return templates.TemplateResponse(request, "wall.html", context, headers=WALL_HEADERS)


# ---------------------------------------------------------------------- the chart (server-rendered SVG)


@dataclass
class Bar:
    x: float
    y: float
    height: float
    label: str
    count: int


@dataclass
class Chart:
    width: int
    height: int
    top: int
    bottom: int
    bars: list[Bar]
    bar_width: float
    line: str  # polyline points of first contact p90, in the right-hand scale
    dots: list[tuple[float, float, bool]]  # x, y, over the SLA
    sla_y: float
    max_cases: int
    max_seconds: float


# both charts share the hours' x positions (one column per hour, the same width)
CHART_LEFT, CHART_RIGHT = 56, 1100
CASES_HEIGHT = 200  # its hours are labelled under the people chart, in the same columns


def chart(hourly: list[dict[str, Any]], sla_seconds: int) -> Chart:
    """Cases opened per hour (bars) and that hour's first contact p90 (line) against the SLA (dashed)."""
    width, height, top, bottom, left, right = (
        1160,
        CASES_HEIGHT,
        20,
        CASES_HEIGHT - 40,
        CHART_LEFT,
        CHART_RIGHT,
    )
    n = max(len(hourly), 1)
    step = (right - left) / n
    max_cases = max([h["cases_opened"] for h in hourly] + [4])
    p90s = [h["first_contact_p90_seconds"] for h in hourly if h["first_contact_p90_seconds"] is not None]
    max_seconds = max([*p90s, sla_seconds * 1.5])
    span = bottom - top
    bars = []
    points = []
    dots = []
    for i, h in enumerate(hourly):
        x = left + i * step
        bar_height = span * h["cases_opened"] / max_cases
        label = h["hour"][11:13] if i % 3 == 0 or i == n - 1 else ""
        bars.append(Bar(x + step * 0.15, bottom - bar_height, bar_height, label, h["cases_opened"]))
        value = h["first_contact_p90_seconds"]
        if value is not None:
            cx, cy = x + step / 2, bottom - span * value / max_seconds
            points.append(f"{cx:.1f},{cy:.1f}")
            dots.append((cx, cy, value > sla_seconds))
    return Chart(
        width=width,
        height=height,
        top=top,
        bottom=bottom,
        bars=bars,
        bar_width=step * 0.7,
        line=" ".join(points),
        dots=dots,
        sla_y=bottom - span * sla_seconds / max_seconds,
        max_cases=max_cases,
        max_seconds=max_seconds,
    )


@dataclass
class Series:
    """One percentage per hour as a line: broken where an hour had nothing to count."""

    key: str  # calls | emails
    segments: list[str]  # polyline points, one string per unbroken run of hours
    dots: list[tuple[float, float, str]]  # x, y, the hour's words (a tooltip)


@dataclass
class PeopleChart:
    width: int
    height: int
    top: int
    bottom: int
    series: list[Series]
    grid: list[tuple[float, int]]  # y, percent
    goal_y: float
    goal_pct: int
    labels: list[tuple[float, str]]  # x, hour


PEOPLE_HEIGHT = 170
CALLS_GOAL_PCT = 90  # the goal for a staffed day: ≥ 90 % at the first ring (≥ 99 % of emails)


def people_chart(hourly: list[dict[str, Any]]) -> PeopleChart:
    """Calls answered at the first ring (%) and emails answered within the hour (%), per hour, on one
    0-100 % scale under the cases chart, its hours in the same columns."""
    top, bottom = 14, PEOPLE_HEIGHT - 34
    n = max(len(hourly), 1)
    step = (CHART_RIGHT - CHART_LEFT) / n

    def y(pct: float) -> float:
        return bottom - (bottom - top) * pct / 100

    series = []
    for key, value_key, count_key, noun in (
        ("calls", "calls_answered_first_ring_pct", "calls_in", "call"),
        ("emails", "emails_answered_within_hour_pct", "emails_in", "email"),
    ):
        segments: list[str] = []
        run: list[str] = []
        dots = []
        for i, h in enumerate(hourly):
            value = h.get(value_key)
            if value is None:
                if run:
                    segments.append(" ".join(run))
                run = []
                continue
            cx, cy = CHART_LEFT + i * step + step / 2, y(value)
            run.append(f"{cx:.1f},{cy:.1f}")
            count = h.get(count_key, 0)
            dots.append(
                (
                    cx,
                    cy,
                    f"{h['hour'][11:16]} UTC: {value:.0f} % of {count} {noun}{'' if count == 1 else 's'}",
                )
            )
        if run:
            segments.append(" ".join(run))
        series.append(Series(key, segments, dots))
    labels = [
        (CHART_LEFT + i * step + step / 2, h["hour"][11:13])
        for i, h in enumerate(hourly)
        if i % 3 == 0 or i == n - 1
    ]
    return PeopleChart(
        width=1160,
        height=PEOPLE_HEIGHT,
        top=top,
        bottom=bottom,
        series=series,
        grid=[(y(pct), pct) for pct in (0, 50, 100)],
        goal_y=y(CALLS_GOAL_PCT),
        goal_pct=CALLS_GOAL_PCT,
        labels=labels,
    )


def clock(seconds: float | None) -> str:
    """`42 s`, `4 min 10 s`, `2 h 05 min`; `—` when there is nothing to show."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s" if s % 60 and s < 600 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


templates.env.filters["clock"] = clock
templates.env.filters["pct"] = pct
templates.env.globals["quote"] = quote
