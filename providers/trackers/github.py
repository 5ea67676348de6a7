"""GitHub Issues over REST (TRACKER_MODE=github)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from providers.errors import ProviderNotProcessed, ProviderRejected
from providers.trackers import ExternalIssue, Hooks
from providers.trackers.http import Http


class GitHubTracker:
    """GitHub Issues over REST: a bearer token; the issue found among all (open and closed) with the
    label; reopening is `state=open`."""

    name = "github"

    def __init__(self, base_url: str, token: str, repository: str, hooks: Hooks | None = None) -> None:
        self.http = Http(
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
