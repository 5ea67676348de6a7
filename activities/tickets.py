"""Root-cause tickets: cases with the same cause and practice link to one problem ticket that counts
occurrences; a recurrence after the ticket was marked fixed reopens it. Tickets live in the case store
(the system of record); with TRACKER_MODE jira or github each ticket is also one issue in that tracker,
found by its label (`domain.tracker.tracker_label`), created if none, commented once per occurrence and
reopened when the cause comes back after it was closed.

The tracker is told by its own activity (`sync_external_ticket`, run by the TicketSync workflow each
case starts without waiting for it), so a tracker that is down delays the issue, never the case."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import ProviderNotProcessed, ProviderRejected
from domain.jsonload import ascii_int
from domain.models import TicketRequest, TicketResult, TicketSyncRequest, TimelineEntry
from domain.root_causes import RootCause, description_of, label_of
from domain.tracker import adf, issue_description, issue_title, occurrence_comment, tracker_label
from store import cases, tickets
from store.db import Store
from store.models import Ticket, TicketLink

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# a sync that claimed the creation of an issue and then died: another case's sync takes over after this
CLAIM_STALE_AFTER = timedelta(minutes=10)
# refusals no retry can change (a malformed request, a project or repository that is not there)
_FINAL = {400, 404, 405, 410, 422}
# httpx event hooks (tests read Prism's verdict on each answer)
Hooks = dict[str, list[Callable[..., Any]]]


@dataclass(frozen=True)
class ExternalIssue:
    ref: str  # Jira issue key (OPS-12) or GitHub issue number
    url: str  # where a person opens it
    closed: bool


class ExternalTracker(Protocol):
    """One problem tracker. Every method raises ProviderNotProcessed (try again later: down, 429, 5xx,
    credentials) or ProviderRejected (final)."""

    name: str

    def get(self, ref: str) -> ExternalIssue | None: ...

    def find(self, label: str) -> ExternalIssue | None:
        """The issue carrying `label`: an open one if any, else the latest closed one."""
        ...

    def create(self, label: str, title: str, description: str) -> ExternalIssue: ...

    def comment(self, issue: ExternalIssue, text: str) -> None: ...

    def reopen(self, issue: ExternalIssue) -> str | None:
        """Reopen a closed issue; None when done, else why it could not be (the comment still goes)."""
        ...


class _Http:
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


class JiraTracker:
    """Jira Cloud REST v3: basic auth with an account's email and API token; descriptions and comments in
    Atlassian Document Format; reopening through the first of the configured transitions that exists."""

    name = "jira"

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        project_key: str,
        issue_type: str = "Bug",
        reopen_transitions: Sequence[str] = ("Reopen", "To Do"),
        hooks: Hooks | None = None,
    ) -> None:
        auth = base64.b64encode(f"{email}:{api_token}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "Accept": "application/json"}
        self.http = _Http(base_url, headers, "jira", hooks)
        self.browse = base_url.rstrip("/") + "/browse/"
        self.project_key = project_key
        self.issue_type = issue_type
        self.reopen_transitions = list(reopen_transitions)

    def _issue(self, data: Any) -> ExternalIssue:
        if not isinstance(data, dict) or not data.get("key"):
            raise ProviderNotProcessed("jira: an answer without an issue key")
        key = str(data["key"])
        status = (data.get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        return ExternalIssue(ref=key, url=self.browse + key, closed=category == "done")

    def get(self, ref: str) -> ExternalIssue | None:
        try:
            data = self.http.json("GET", f"/rest/api/3/issue/{quote(ref)}", params={"fields": "status"})
        except ProviderRejected as exc:
            if exc.status == 404:
                return None  # deleted, or moved out of our reach: find it again by label
            raise
        return self._issue(data)

    def find(self, label: str) -> ExternalIssue | None:
        jql = f'project = "{self.project_key}" AND labels = "{label}" ORDER BY created DESC'
        data = self.http.json(
            "POST", "/rest/api/3/search/jql", json={"jql": jql, "fields": ["status"], "maxResults": 20}
        )
        found = [
            self._issue(d) for d in (data or {}).get("issues") or [] if isinstance(d, dict) and d.get("key")
        ]
        return next((i for i in found if not i.closed), found[0] if found else None)

    def create(self, label: str, title: str, description: str) -> ExternalIssue:
        fields = {
            "project": {"key": self.project_key},
            "issuetype": {"name": self.issue_type},
            "summary": title,
            "description": adf(description),
            "labels": [label],
        }
        data = self.http.json("POST", "/rest/api/3/issue", json={"fields": fields})
        return self._issue({"key": (data or {}).get("key")})

    def comment(self, issue: ExternalIssue, text: str) -> None:
        self.http.call("POST", f"/rest/api/3/issue/{quote(issue.ref)}/comment", json={"body": adf(text)})

    def reopen(self, issue: ExternalIssue) -> str | None:
        path = f"/rest/api/3/issue/{quote(issue.ref)}/transitions"
        data = self.http.json("GET", path)
        available = [t for t in (data or {}).get("transitions") or [] if isinstance(t, dict) and t.get("id")]
        for wanted in self.reopen_transitions:
            for transition in available:
                names = {str(transition.get("name", "")), str((transition.get("to") or {}).get("name", ""))}
                if wanted.lower() in {n.lower() for n in names}:
                    self.http.call("POST", path, json={"transition": {"id": str(transition["id"])}})
                    return None
        offered = ", ".join(str(t.get("name")) for t in available) or "none"
        return f"no transition named {' or '.join(self.reopen_transitions)} (offered: {offered})"


class GitHubTracker:
    """GitHub Issues over REST: a bearer token; the issue found among all (open and closed) with the
    label; reopening is `state=open`."""

    name = "github"

    def __init__(self, base_url: str, token: str, repository: str, hooks: Hooks | None = None) -> None:
        self.http = _Http(
            base_url,
            {
                "Authorization": f"Bearer {token}",
                # GitHub's media type; plain JSON (what its OpenAPI description declares) as the fallback
                "Accept": "application/vnd.github+json, application/json;q=0.9",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "makeright",
            },
            "github",
            hooks,
        )
        self.repo = f"/repos/{repository}"

    @staticmethod
    def _issue(data: Any) -> ExternalIssue:
        if not isinstance(data, dict) or not isinstance(data.get("number"), int):
            raise ProviderNotProcessed("github: an answer without an issue number")
        return ExternalIssue(
            ref=str(data["number"]), url=str(data.get("html_url") or ""), closed=data.get("state") == "closed"
        )

    def get(self, ref: str) -> ExternalIssue | None:
        try:
            return self._issue(self.http.json("GET", f"{self.repo}/issues/{quote(ref)}"))
        except ProviderRejected as exc:
            if exc.status in (404, 410):
                return None
            raise

    def find(self, label: str) -> ExternalIssue | None:
        data = self.http.json(
            "GET",
            f"{self.repo}/issues",
            params={"labels": label, "state": "all", "sort": "created", "direction": "desc", "per_page": 30},
        )
        found = [
            self._issue(d)
            for d in data or []
            if isinstance(d, dict) and "number" in d and "pull_request" not in d
        ]
        return next((i for i in found if not i.closed), found[0] if found else None)

    def create(self, label: str, title: str, description: str) -> ExternalIssue:
        data = self.http.json(
            "POST", f"{self.repo}/issues", json={"title": title, "body": description, "labels": [label]}
        )
        return self._issue(data)

    def comment(self, issue: ExternalIssue, text: str) -> None:
        self.http.call("POST", f"{self.repo}/issues/{quote(issue.ref)}/comments", json={"body": text})

    def reopen(self, issue: ExternalIssue) -> str | None:
        self.http.call(
            "PATCH",
            f"{self.repo}/issues/{quote(issue.ref)}",
            json={"state": "open", "state_reason": "reopened"},
        )
        return None


class TicketActivities:
    def __init__(
        self,
        store: Store,
        tracker: ExternalTracker | None = None,
        catalogue: Sequence[RootCause] = (),
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.catalogue = tuple(catalogue)

    @activity.defn
    async def link_root_cause(self, req: TicketRequest) -> TicketResult:
        result = await asyncio.to_thread(self._link, req)
        await asyncio.to_thread(
            cases.add_timeline,
            self.store,
            TimelineEntry(
                case_id=req.case_id,
                what="ticket_linked",
                key="ticket",
                detail={"ticket_id": result.ticket_id, "cause": req.cause, "occurrences": result.occurrences},
            ),
        )
        if self.tracker is not None:
            result = result.model_copy(update={"sync": True})
        return result

    def _link(self, req: TicketRequest) -> TicketResult:
        for _ in range(3):
            try:
                return self._link_once(req)
            except IntegrityError:
                continue  # another case opened the same ticket at the same moment: link to it
        raise RuntimeError("could not link root-cause ticket")

    def _link_once(self, req: TicketRequest) -> TicketResult:
        with self.store.session() as s:
            ticket = s.scalars(
                select(Ticket)
                .where(Ticket.cause == req.cause, Ticket.practice_id == req.practice_id)
                .with_for_update()
            ).first()
            if ticket is None:
                ticket = Ticket(
                    ticket_id="PRB-" + uuid.uuid4().hex[:8].upper(),
                    cause=req.cause,
                    practice_id=req.practice_id,
                    title=f"{req.cause} at {req.practice_name}",
                    status="open",
                    occurrences=0,
                    reopened_count=0,
                )
                s.add(ticket)
                s.flush()
            link = s.scalars(select(TicketLink).where(TicketLink.case_id == req.case_id)).first()
            reopened = False
            if link is None:  # a retried or replayed case counts once
                s.add(TicketLink(ticket_id=ticket.ticket_id, case_id=req.case_id))
                ticket.occurrences += 1
                if ticket.status == "fixed":
                    ticket.status = "open"
                    ticket.reopened_count += 1
                    reopened = True
            return TicketResult(ticket_id=ticket.ticket_id, occurrences=ticket.occurrences, reopened=reopened)

    @activity.defn
    async def sync_external_ticket(self, req: TicketSyncRequest) -> None:
        """Tell the external tracker about one case's occurrence: find the ticket's issue (by the key kept
        from before, else by label), create it if there is none, reopen it if it was closed, comment once.
        Raises ProviderNotProcessed to be tried again later; the case has long moved on."""
        detail = await asyncio.to_thread(self._sync, req)
        if detail is not None:
            await asyncio.to_thread(
                cases.add_timeline,
                self.store,
                TimelineEntry(case_id=req.case_id, what="ticket_synced", key="ticket_sync", detail=detail),
            )

    def _sync(self, req: TicketSyncRequest) -> dict[str, Any] | None:
        tracker = self.tracker
        if tracker is None:
            return None  # TRACKER_MODE went back to local since the case started this
        occ = tickets.occurrence(self.store, req.case_id)
        if occ is None or occ.synced:
            return None
        label = tracker_label(occ.cause, occ.practice_id)
        issue = tracker.get(occ.external_ref) if occ.external_ref else None
        created = False
        if issue is None:
            issue = tracker.find(label)
            if issue is None:
                if not tickets.claim_creation(self.store, occ.ticket_id, req.case_id, CLAIM_STALE_AFTER):
                    raise ProviderNotProcessed(f"{tracker.name}: another case's sync is creating {label}")
                cause_label = label_of(self.catalogue, occ.cause)
                practice = occ.title.removeprefix(f"{occ.cause} at ")
                issue = tracker.create(
                    label,
                    issue_title(cause_label, practice),
                    issue_description(
                        occ.cause, cause_label, description_of(self.catalogue, occ.cause), occ.practice_id
                    ),
                )
                created = True
            tickets.record_external(self.store, occ.ticket_id, issue.ref, issue.url)
        reopened = False
        reopen_problem = None
        if issue.closed:
            reopen_problem = tracker.reopen(issue)
            reopened = reopen_problem is None
        tracker.comment(
            issue, occurrence_comment(occ.case_id, occ.linked_at, occ.event_type, occ.number, reopened)
        )
        tickets.mark_synced(self.store, req.case_id)
        detail: dict[str, Any] = {
            "tracker": tracker.name,
            "ref": issue.ref,
            "url": issue.url,
            "created": created,
            "reopened": reopened,
        }
        if reopen_problem:
            detail["reopen_failed"] = reopen_problem
            log.warning("%s issue %s left closed: %s", tracker.name, issue.ref, reopen_problem)
        return detail
