"""Problem tickets in an external tracker (Jira, GitHub): the label that finds a cause's open issue, and
what one occurrence says there. Pure: no I/O, and no patient data in anything made here."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

LABEL_MAX = 50  # GitHub's limit for a label's name
_OUTSIDE = re.compile(r"[^a-z0-9-]")


def tracker_label(cause: str, practice_id: str) -> str:
    """`makeright-<cause>-<practice id>`, lower-cased, every character outside `[a-z0-9-]` made `-`; over
    50 characters it keeps its first 41, then `-` and the first 8 hex digits of the SHA-256 of the whole
    label (CONTRACT.md), so two long labels that share a start still differ."""
    label = _OUTSIDE.sub("-", f"makeright-{cause}-{practice_id}".lower())
    if len(label) <= LABEL_MAX:
        return label
    digest = hashlib.sha256(label.encode()).hexdigest()[:8]
    return f"{label[:41]}-{digest}"


def issue_title(cause_label: str, practice_name: str) -> str:
    return f"{cause_label} at {practice_name}"[:250]


def issue_description(cause: str, cause_label: str, description: str, practice_id: str) -> str:
    lines = [
        f"Problem: {cause_label} ({cause}) at practice {practice_id}.",
        description,
        "Opened by makeright: every case with this cause at this practice adds a comment here. "
        "A case after this issue is closed reopens it.",
    ]
    return "\n\n".join(line for line in lines if line)


def occurrence_comment(case_id: str, at: datetime, event_type: str, occurrence: int, reopened: bool) -> str:
    """One comment per case: which case, when and what kind of event (nothing about the patient)."""
    text = (
        f"Occurrence {occurrence}: case {case_id} at {at.isoformat(timespec='seconds')}, event {event_type}."
    )
    if reopened:
        text += " Reopened: the cause came back after this issue was closed."
    return text


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document (Jira REST v3 descriptions and comments):
    one paragraph per blank-line-separated block."""
    blocks = [block for block in text.split("\n\n") if block.strip()]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": block}]} for block in blocks],
    }
