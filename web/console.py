"""The rep console: server-rendered pages under `/console` for reps, supervisors, engineers and auditors.

Logins are console users (`cli.py users add`), checked with scrypt; the session lives on the server
(`console_sessions`, only a SHA-256 of the cookie's token) and carries a CSRF token that every form posts
back. Every action goes through `web.escalation_actions.act`, the same service layer as the JSON API, so
the rules (and the workflow's validators behind them) decide on the server; the pages only show what the
rules allow.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import math
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from domain.escalation import ACTIONS, REPLY_FOR_A_PERSON, UNPAID_REASONS, Action, Actor, allowed_actions
from domain.inbound_email import email_id_of
from domain.masking import mask_phone
from domain.routing import LANGUAGES, RepStatus, RepView
from store import conversation, escalations, inbound_email, login_throttle, reps, sessions, users, views
from store.escalations import OPEN_STATUSES
from store.sessions import Login
from store.views import case_view, load_cases
from web import timeline
from web.deps import Services, services
from web.escalation_actions import Refused, act, load
from web.reps import ON_DUTY_ROLES, PresenceError, change_presence, set_away

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

SESSION_COOKIE = "makeright_console"
LOGIN_CSRF_COOKIE = "makeright_login_csrf"
STATUS_FILTERS = ("active", "open", "claimed", "resolved", "expired", "all")
DONE = {
    "claim": "You claimed the escalation. The SLA clock now counts down your time to resolve it.",
    "release": "You released the escalation: it is back in the queue.",
    "approve": "Compensation approved.",
    "deny": "Compensation denied.",
    "resolve": "Escalation resolved. Thank you!",
    "reassign": "Escalation handed over.",
    "call": "Calling: your phone rings first, then the patient is dialled in.",
}
ACTION_LABELS = {
    "claim": "Claim",
    "release": "Release",
    "approve": "Approve",
    "deny": "Deny",
    "resolve": "Resolve",
    "reassign": "Reassign",
    "call": "Call patient",
}
# after the primary action: deciding and closing first, handing back last
SHOWN_ORDER: tuple[Action, ...] = ("claim", "approve", "deny", "resolve", "call", "reassign", "release")
SECURITY_HEADERS = {
    # pages carry patient data: not cached, not framed, no referrer to elsewhere
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class LoginRequired(Exception):
    """No (valid) session: the browser is sent to the login page, and back afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def install(app: FastAPI) -> None:
    app.include_router(router)

    async def _to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        target = "/console/login"
        if exc.next_path not in ("/console", "/console/"):
            target += "?next=" + quote(exc.next_path, safe="/")
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    app.add_exception_handler(LoginRequired, _to_login)


# ---------------------------------------------------------------------- formatting helpers


def time_left(seconds: int | None) -> str:
    """`14:05 left`, `2 h 05 min left`, `overdue 3 min`: the same text the countdown script writes."""
    if seconds is None:
        return "—"
    if seconds < 0:
        late = -seconds
        if late < 60:
            return f"overdue {late} s"
        if late < 3600:
            return f"overdue {late // 60} min"
        return f"overdue {late // 3600} h {late % 3600 // 60:02d} min"
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d} left"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min left"


def duration(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes:02d} min"
    return f"{hours} hours" if hours > 1 else "1 hour" if hours else f"{minutes} minutes"


def words(value: str | None) -> str:
    return (value or "").replace("_", " ").replace("checkin", "check-in")


def utc_text(value: str | datetime | None) -> str:
    """The console's one date format, in UTC (the page's script shows it in the reader's own zone)."""
    return timeline.moment(value)


templates.env.filters["time_left"] = time_left
templates.env.filters["words"] = words
templates.env.filters["reason"] = timeline.reason
templates.env.filters["moment"] = timeline.moment
templates.env.filters["duration"] = duration
templates.env.filters["utc"] = utc_text
templates.env.globals["ACTION_LABELS"] = ACTION_LABELS
templates.env.globals["ALL_LANGUAGES"] = LANGUAGES
templates.env.globals["LANGUAGE_NAMES"] = timeline.LANGUAGES


def _secure(svc: Services) -> bool:
    return svc.settings.public_base_url.startswith("https://")


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    # the presence switch in the layout: the signed-in rep's own state, read with their login
    context.setdefault("presence", getattr(request.state, "presence", None))
    return templates.TemplateResponse(
        request, f"console/{name}", context, status_code=status_code, headers=SECURITY_HEADERS
    )


def _safe_next(value: str | None) -> str:
    """Only back into the console: never an open redirect."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console"


async def current_login(request: Request) -> Login:
    """The session's login (LoginRequired without one); for a rep or supervisor, their presence too, for
    the switch every page shows."""
    svc = services(request)
    login, presence = await asyncio.to_thread(_login_and_presence, svc, request.cookies.get(SESSION_COOKIE))
    if login is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else "/console")
    request.state.presence = presence
    return login


def _login_and_presence(svc: Services, token: str | None) -> tuple[Login | None, Presence | None]:
    login = sessions.find(svc.store, token)
    if login is None or login.role not in ON_DUTY_ROLES:
        return login, None
    return login, presence_of(svc, login)


# ---------------------------------------------------------------------- reps on duty


@dataclass
class Work:
    """What a rep is offered or works on, as the console names it (no patient data)."""

    work_id: str
    what: str
    link: str | None  # the escalation's (or the email's) page, when it is one
    in_console: bool = False  # an email: offered here (Accept, Pass), not on the rep's phone


def work_named(svc: Services, work_id: str | None) -> Work | None:
    if work_id is None:
        return None
    email_id = email_id_of(work_id)
    if email_id is not None:
        kind = inbound_email.case_kind_of(svc.store, email_id)
        about = f" about a {words(kind)}" if kind else ""
        if kind == "inquiry":
            about = ": a new inquiry"  # (not "about a inquiry": they wrote about something new)
        return Work(work_id, f"A patient's email{about}", f"/console/emails/{email_id}", in_console=True)
    row = escalations.get(svc.store, work_id)
    if row is None:
        return Work(work_id=work_id, what=words(work_id), link=None)
    what = f"{words(row.kind).capitalize()}: {timeline.reason(row.reason)}"
    return Work(work_id=work_id, what=what, link=f"/console/escalations/{row.escalation_id}")


@dataclass
class Presence:
    """The presence switch: the signed-in rep as the router last saved them (None: never on duty), what
    they are offered or working on, and the phone on record, masked, as the form's hint."""

    rep: RepView | None
    work: Work | None
    phone_hint: str | None
    languages: tuple[str, ...]

    @property
    def status(self) -> str:
        return self.rep.status.value if self.rep else RepStatus.AWAY.value

    @property
    def taking_work(self) -> bool:
        return self.status != RepStatus.AWAY.value


def presence_of(svc: Services, login: Login) -> Presence:
    rep = reps.get(svc.store, login.username)
    return Presence(
        rep=rep,
        work=work_named(svc, rep.work_id if rep else None),
        phone_hint=mask_phone(login.phone),
        languages=rep.languages if rep else LANGUAGES,
    )


PRESENCE_DONE = {
    "available": "You are available: calls and urgent work ring your phone; emails are offered here.",
    "away": "You are away: no work is offered to you.",
}
templates.env.globals["PRESENCE_DONE"] = PRESENCE_DONE


@router.post("/presence")
async def presence(request: Request) -> Response:
    """The presence switch's form: the same change as `POST /api/reps/me/presence`."""
    svc = services(request)
    login = await current_login(request)
    form = await request.form()
    if not csrf_ok(login, form):
        return _refused_page(
            request,
            login,
            403,
            "Presence not changed",
            "The form was missing its security token or came from an old page. Reload the page and retry.",
        )
    body: dict[str, Any] = {"status": str(form.get("status") or "")}
    if (phone := str(form.get("phone") or "").strip()) != "":
        body["phone"] = phone
    if body["status"] == "available":
        body["languages"] = [str(x) for x in form.getlist("languages")]
    try:
        await change_presence(svc, login.username, login.role, body)
    except PresenceError as error:
        title = "You are still available" if body["status"] == "away" else "You are not available yet"
        reasons = [f"{e['field']}: {e['reason']}" for e in error.errors] or [error.message]
        return _refused_page(request, login, error.status, title, "; ".join(reasons))
    back = _safe_next(str(form.get("next") or ""))
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}presence={body['status']}", status_code=303)


@router.post("/reps/{user}/away")
async def set_rep_away(user: str, request: Request) -> Response:
    """The supervisor page's "Set away": the same change as `POST /api/reps/{user}/presence`."""
    svc = services(request)
    login = await current_login(request)
    if not csrf_ok(login, await request.form()):
        return _refused_page(
            request,
            login,
            403,
            "Rep not set away",
            "The form was missing its security token or came from an old page. Reload the page and retry.",
        )
    try:
        await set_away(svc, login.username, login.role, user, {"status": "away"})
    except PresenceError as error:
        return _refused_page(request, login, error.status, f"{user} was not set away", error.message)
    return RedirectResponse("/console/supervisor?set_away=" + quote(user, safe=""), status_code=303)


def actor_of(login: Login) -> Actor:
    return Actor.model_validate({"user": login.username, "role": login.role})


def csrf_ok(login: Login, form: FormData) -> bool:
    sent = form.get("csrf_token")
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), login.csrf_token.encode())


def _page(login: Login, nav: str, **context: Any) -> dict[str, Any]:
    return {"login": login, "csrf_token": login.csrf_token, "nav": nav, **context}


def _refused_page(
    request: Request, login: Login | None, status: int, title: str, message: str
) -> HTMLResponse:
    context = {"title": title, "message": message, "status": status, "nav": ""}
    if login is not None:
        context.update(login=login, csrf_token=login.csrf_token)
    return _render(request, "refused.html", context, status_code=status)


# ---------------------------------------------------------------------- login and logout


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None, bye: int = 0) -> Response:
    svc = services(request)
    if await asyncio.to_thread(sessions.find, svc.store, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, svc, next, None, 200, bye=bool(bye))


def _login_form(
    request: Request, svc: Services, next: str | None, error: str | None, status: int, **extra: Any
) -> HTMLResponse:
    # login CSRF: a random value in a cookie and in the form (double submit); there is no session yet
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _render(
        request,
        "login.html",
        {"next": _safe_next(next), "error": error, "csrf_token": token, "nav": "", **extra},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/console/login",
        httponly=True,
        samesite="lax",
        secure=_secure(svc),
    )
    return response


T = TypeVar("T")


class HashingBusy(Exception):
    """More sign-ins wait for a password check than the gate queues."""


class HashingGate:
    """Password checks (scrypt at 128 MiB each) on a pool of their own, `at_once` at a time per process,
    never on the default thread pool that serves webhooks and pages; at most `queue` more wait for one,
    the rest are told to come back (503 with Retry-After)."""

    def __init__(self, at_once: int, queue: int) -> None:
        self.at_once = at_once
        self.queue = queue
        self.pool = ThreadPoolExecutor(at_once, thread_name_prefix="password-check")
        self.pending = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.pending >= self.at_once + self.queue:
            raise HashingBusy
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args))
        finally:
            self.pending -= 1


# 2 checks at once: 256 MiB and two cores' worth of scrypt at most, per web process
HASHING = HashingGate(at_once=2, queue=16)


@router.post("/login")
async def login(request: Request) -> Response:
    svc = services(request)
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_path = str(form.get("next") or "")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    sent = form.get("csrf_token")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), cookie.encode()):
        return _refused_page(
            request,
            None,
            403,
            "The login form expired",
            "Open the login page again and sign in from there.",
        )
    # the peer, or the client a trusted proxy names (uvicorn's --forwarded-allow-ips, FORWARDED_ALLOW_IPS)
    address = request.client.host if request.client else "unknown"
    # the attempt is counted before the password is looked at, with the same answer for names that do not
    # exist; one that must wait for its back-off is not looked at at all
    wait = await asyncio.to_thread(login_throttle.reserve, svc.store, username, address)
    if wait is not None:
        n = login_throttle.minutes(wait)
        message = f"Too many failed sign-ins; try again in {n} minute{'s' if n != 1 else ''}."
        throttled = _login_form(request, svc, next_path, message, 429, username=username)
        throttled.headers["Retry-After"] = str(math.ceil(wait))
        return throttled
    try:
        user = await HASHING.run(users.authenticate, svc.store, username, password) if username else None
    except HashingBusy:
        await asyncio.to_thread(login_throttle.not_tried, svc.store, username, address)
        busy = _login_form(
            request, svc, next_path, "Too many sign-ins at once; try again.", 503, username=username
        )
        busy.headers["Retry-After"] = "1"
        return busy
    if user is None:
        return _login_form(request, svc, next_path, "Wrong username or password.", 401, username=username)
    await asyncio.to_thread(login_throttle.succeeded, svc.store, user.username, address)
    token = await asyncio.to_thread(
        sessions.start, svc.store, user.username, svc.settings.console_session_minutes
    )
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=svc.settings.console_session_minutes * 60,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=_secure(svc),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    svc = services(request)
    login = await current_login(request)
    if not csrf_ok(login, await request.form()):
        return _refused_page(request, login, 403, "Not signed out", "The form was stale: try again.")
    await asyncio.to_thread(sessions.end, svc.store, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/console/login?bye=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# ---------------------------------------------------------------------- the queue


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
@router.get("/queue", response_class=HTMLResponse)
async def queue(request: Request, status: str = "active") -> Response:
    svc = services(request)
    login = await current_login(request)
    if status not in STATUS_FILTERS:
        status = "active"
    rows, holders = await asyncio.to_thread(_queue_rows, svc, status)
    now = datetime.now(UTC)
    items = [escalations.view(row, now) for row in rows]
    for item in items:
        item["rep"] = holders.get(item["escalation_id"])
    counts = {
        "open": sum(1 for i in items if i["status"] == "open"),
        "claimed": sum(1 for i in items if i["status"] == "claimed"),
        "breached": sum(1 for i in items if i["breached"] and i["status"] in OPEN_STATUSES),
        "mine": sum(1 for i in items if i["claimed_by"] == login.username and i["status"] == "claimed"),
    }
    return _render(
        request,
        "queue.html",
        _page(login, "queue", items=items, status=status, filters=STATUS_FILTERS, counts=counts),
    )


def _queue_rows(svc: Services, status: str) -> tuple[list[Any], dict[str, RepView]]:
    """The escalations to show, and who each is offered to or worked on by (store/reps.py)."""
    if status == "active":
        rows = [r for s in OPEN_STATUSES for r in escalations.list_escalations(svc.store, s)]
        rows = sorted(rows, key=lambda r: (r.sla_deadline, r.opened_at))
    else:
        rows = escalations.list_escalations(svc.store, None if status == "all" else status)
    return rows, reps.by_work(svc.store)


# ---------------------------------------------------------------------- one escalation


@dataclass
class ActionForm:
    action: Action
    primary: bool


def _primary(allowed: list[Action], status: str, pending: bool) -> Action | None:
    """The one thing to do next: claim an open escalation; decide a pending compensation; resolve."""
    for candidate in ("claim", "approve" if pending else "resolve", "resolve"):
        if candidate in allowed:
            return candidate
    return None


def _escalation_context(svc: Services, login: Login, escalation_id: str) -> dict[str, Any] | None:
    row = escalations.get(svc.store, escalation_id)
    if row is None:
        return None
    view = escalations.view(row)
    state = escalations.state_of(row)
    policy = escalations.policy_of(row)
    found = load_cases(svc.store, case_id=row.case_id)
    case = None
    patient_phone = None
    if found:
        case_row, ledger, items = found[0]
        patient_phone = case_row.patient_phone
        unmasked = escalations.contact_details_visible(svc.store, login.role, login.username)(row.case_id)
        case = case_view(case_row, ledger, items, unmasked, svc.settings.policy.compensation.currency)
        case["unmasked"] = unmasked
        # what the patient wrote is health information: only for those who see the contact details
        case["messages"] = views.patient_messages(svc.store, case_row) if unmasked else None
        # a reply that fitted no open question is read with the patient's whole conversation (what else
        # is open, where each message went); other escalations show this case's messages alone
        phone = case_row.patient_phone
        wrote = row.reason == REPLY_FOR_A_PERSON and unmasked and phone
        case["conversation"] = conversation.for_phone(svc.store, phone) if wrote and phone else None
        # who and what the case is about, as the booking system sent it (names, language, practice)
        case["booking"] = views.booking_data(svc.store, case_row)
        zone = case["booking"].practice.timezone if case["booking"] else "UTC"
        case["zone"] = zone
        case["lines"] = timeline.lines(case["timeline"], zone)
        case["live_call"] = timeline.live_call(case["timeline"])
    allowed = allowed_actions(state, policy, actor_of(login), has_patient_phone=patient_phone is not None)
    primary = _primary(allowed, row.status, state.pending_approval is not None)
    ordered = sorted(allowed, key=lambda a: (a != primary, SHOWN_ORDER.index(a)))
    level = policy.levels[min(state.level, len(policy.levels) - 1)]
    targets = []
    if "reassign" in allowed:
        targets = [
            u
            for u in users.all_users(svc.store)
            if u.active and u.role in level.claim_roles and u.username != row.claimed_by
        ]
    return {
        "esc": view,
        # a closed escalation shows no contact details to anyone who held it: the work is done
        "closed": row.status in ("resolved", "expired"),
        "language": timeline.language,
        "state": state,
        "case": case,
        # a follow-up after the case closed pays nothing: no compensation field at resolve
        "can_pay": state.reason not in UNPAID_REASONS,
        "actions": [ActionForm(action=a, primary=a == primary) for a in ordered],
        "limit": policy.limit_for(login.role),
        "targets": targets,
        "level": level,
        "levels": policy.levels,
        "work_sla": policy.work_sla_seconds,
        "root_causes": svc.settings.root_causes,
    }


async def _escalation_page(
    request: Request,
    login: Login,
    escalation_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    failed_action: str | None = None,
) -> HTMLResponse:
    svc = services(request)
    context = await asyncio.to_thread(_escalation_context, svc, login, escalation_id)
    if context is None:
        return _refused_page(
            request, login, 404, "No such escalation", f"There is no escalation {escalation_id}."
        )
    done = request.query_params.get("done")
    return _render(
        request,
        "escalation.html",
        _page(
            login,
            "queue",
            **context,
            error=error,
            flash=DONE.get(done or "") if error is None else None,
            values=values or {},
            failed_action=failed_action,
        ),
        status_code=status_code,
    )


@router.get("/escalations/{escalation_id}", response_class=HTMLResponse)
async def escalation_page(escalation_id: str, request: Request) -> Response:
    login = await current_login(request)
    return await _escalation_page(request, login, escalation_id)


@router.post("/escalations/{escalation_id}/{action}")
async def take_action(escalation_id: str, action: str, request: Request) -> Response:
    svc = services(request)
    login = await current_login(request)
    form = await request.form()
    if not csrf_ok(login, form):
        return _refused_page(
            request,
            login,
            403,
            "Action not taken",
            "The form was missing its security token or came from an old page. "
            "Open the escalation again and retry.",
        )
    if action not in ACTIONS:
        return _refused_page(request, login, 404, "No such action", f"There is no action {action!r}.")
    fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    try:
        await act(svc, escalation_id, action, actor_of(login), fields)
    except Refused as refused:
        if refused.status == 404:
            try:
                await load(svc, escalation_id)
            except Refused:
                return _refused_page(request, login, 404, "No such escalation", refused.message)
        return await _escalation_page(
            request,
            login,
            escalation_id,
            error=refused.message,
            status_code=refused.status,
            values=fields,
            failed_action=action,
        )
    return RedirectResponse(f"/console/escalations/{escalation_id}?done={action}", status_code=303)


# ---------------------------------------------------------------------- supervisors


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor(request: Request) -> Response:
    svc = services(request)
    login = await current_login(request)
    if login.role != "supervisor":
        return _refused_page(
            request,
            login,
            403,
            "Supervisors only",
            f"The supervisor view shows breaches and everybody's work; you are signed in as "
            f"{login.username} ({login.role}).",
        )
    return _render(
        request, "supervisor.html", _page(login, "supervisor", **await asyncio.to_thread(_team, svc))
    )


def _team(svc: Services) -> dict[str, Any]:
    now = datetime.now(UTC)
    since = datetime.combine(now.date(), time(0), tzinfo=UTC)
    work = escalations.workload(svc.store, since)
    people = {u.username: u for u in users.all_users(svc.store)}
    for user in people.values():
        if user.active and user.role in ("rep", "supervisor"):
            work.setdefault(user.username, escalations.Workload(user=user.username))
    rows = sorted(work.values(), key=lambda w: (-w.claimed_now, -w.resolved_today, -w.resolved_total, w.user))
    breached = [escalations.view(r, now) for r in escalations.breaches(svc.store)]
    overdue = [escalations.view(r, now) for r in escalations.overdue(svc.store, now)]
    waiting = escalations.list_escalations(svc.store, "open")
    floor = [(rep, people.get(rep.user), work_named(svc, rep.work_id)) for rep in reps.list_reps(svc.store)]
    return {
        "floor": floor,
        "floor_counts": reps.counts(svc.store),
        "breaches": overdue + breached,
        "work": [(w, people.get(w.user)) for w in rows],
        "open_count": len(waiting),
        "claimed_count": sum(w.claimed_now for w in rows),
        "resolved_today": sum(w.resolved_today for w in rows),
    }
