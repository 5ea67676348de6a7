"""Problem trackers: one open issue per cause and practice in Jira or GitHub (TRACKER_MODE), found by its
label, commented once per occurrence, reopened when the cause comes back. `ExternalTracker` is the
interface; `jira` and `github` are the plugins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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
