"""Jira Cloud REST v3 (TRACKER_MODE=jira)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from domain.tracker import adf
from providers.errors import ProviderNotProcessed, ProviderRejected
from providers.trackers import ExternalIssue, Hooks
from providers.trackers.http import Http


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
        self.http = Http(base_url, headers, "jira", hooks)
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
