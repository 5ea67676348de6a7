"""A problem tracker of our own that keeps state, over real HTTP: the parts of Jira Cloud REST v3 and
GitHub Issues REST that makeright uses (create, find by label, comment, transition/close, reopen), so a
test can tell the recurrence story: a first occurrence creates, a second comments, a person closes the
issue, a third reopens it and comments. `down = True` answers 503 to everything (an outage)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JIRA_TRANSITIONS = [  # a project whose workflow has no "Reopen": the fallback "To Do" is used
    {"id": "11", "name": "To Do", "to": {"name": "To Do", "statusCategory": {"key": "new"}}},
    {
        "id": "21",
        "name": "In Progress",
        "to": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    },
    {"id": "31", "name": "Done", "to": {"name": "Done", "statusCategory": {"key": "done"}}},
]


@dataclass
class Issue:
    ref: str
    title: str
    labels: list[str]
    body: Any
    state: str = "open"  # open | closed
    comments: list[Any] = field(default_factory=list)


class TrackerStub:
    def __init__(self, system: str) -> None:
        self.system = system  # "jira" | "github"
        self.issues: list[Issue] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.down = False
        self.busy_for = 0  # > 0: answer 429 with this Retry-After
        self.lock = threading.Lock()
        self.base_url = ""

    # ------------------------------------------------------------------ what a person does

    def close(self, ref: str) -> None:
        self.issue(ref).state = "closed"

    def issue(self, ref: str) -> Issue:
        return next(i for i in self.issues if i.ref == ref)

    def comment_texts(self, ref: str) -> list[str]:
        return [adf_text(c) if isinstance(c, dict) else str(c) for c in self.issue(ref).comments]

    # ------------------------------------------------------------------ the API

    def handle(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        if self.down:
            return 503, {"message": "Service Unavailable"}
        if self.busy_for:
            return 429, {"message": "API rate limit exceeded", "retry_after": self.busy_for}
        path = urlsplit(url).path
        query = parse_qs(urlsplit(url).query)
        with self.lock:
            return (self._jira if self.system == "jira" else self._github)(method, path, query, body)

    def _jira_json(self, issue: Issue) -> dict[str, Any]:
        done = issue.state == "closed"
        status = {
            "name": "Done" if done else "To Do",
            "statusCategory": {"key": "done" if done else "new"},
        }
        return {
            "id": issue.ref.split("-")[1],
            "key": issue.ref,
            "fields": {"status": status, "labels": issue.labels},
        }

    def _jira(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if (method, path) == ("POST", "/rest/api/3/search/jql"):
            label = re.search(r'labels = "([^"]+)"', body["jql"])
            found = [i for i in reversed(self.issues) if label and label.group(1) in i.labels]
            return 200, {"issues": [self._jira_json(i) for i in found], "isLast": True}
        if (method, path) == ("POST", "/rest/api/3/issue"):
            issue = Issue(
                ref=f"OPS-{len(self.issues) + 1}",
                title=body["fields"]["summary"],
                labels=list(body["fields"].get("labels", [])),
                body=body["fields"].get("description"),
            )
            self.issues.append(issue)
            return 201, {
                "id": issue.ref.split("-")[1],
                "key": issue.ref,
                "self": f"{self.base_url}/rest/api/3/issue/{issue.ref}",
            }
        match = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)(/comment|/transitions)?", path)
        if not match or not any(i.ref == match.group(1) for i in self.issues):
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        issue = self.issue(match.group(1))
        tail = match.group(2)
        if method == "GET" and tail is None:
            return 200, self._jira_json(issue)
        if method == "POST" and tail == "/comment":
            issue.comments.append(body["body"])
            return 201, {"id": str(len(issue.comments))}
        if method == "GET" and tail == "/transitions":
            return 200, {"transitions": JIRA_TRANSITIONS}
        if method == "POST" and tail == "/transitions":
            to = next(t for t in JIRA_TRANSITIONS if t["id"] == body["transition"]["id"])
            issue.state = "closed" if to["name"] == "Done" else "open"
            return 204, None
        return 405, {"errorMessages": ["method not allowed"]}

    def _github_json(self, issue: Issue) -> dict[str, Any]:
        return {
            "number": int(issue.ref),
            "html_url": f"https://github.test/acme/problems/issues/{issue.ref}",
            "state": issue.state,
            "title": issue.title,
            "labels": [{"name": n} for n in issue.labels],
        }

    def _github(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if not path.startswith("/repos/acme/problems/issues"):
            return 404, {"message": "Not Found"}
        rest = path.removeprefix("/repos/acme/problems/issues")
        if rest == "" and method == "GET":
            label = query.get("labels", [""])[0]
            state = query.get("state", ["open"])[0]
            found = [
                i for i in reversed(self.issues) if label in i.labels and (state == "all" or i.state == state)
            ]
            return 200, [self._github_json(i) for i in found]
        if rest == "" and method == "POST":
            issue = Issue(
                ref=str(len(self.issues) + 1),
                title=body["title"],
                labels=list(body.get("labels", [])),
                body=body.get("body"),
            )
            self.issues.append(issue)
            return 201, self._github_json(issue)
        match = re.fullmatch(r"/(\d+)(/comments)?", rest)
        if not match or not any(i.ref == match.group(1) for i in self.issues):
            return 404, {"message": "Not Found"}
        issue = self.issue(match.group(1))
        if method == "GET" and not match.group(2):
            return 200, self._github_json(issue)
        if method == "POST" and match.group(2):
            issue.comments.append(body["body"])
            return 201, {"id": len(issue.comments), "body": body["body"]}
        if method == "PATCH" and not match.group(2):
            issue.state = body.get("state", issue.state)
            return 200, self._github_json(issue)
        return 404, {"message": "Not Found"}


def adf_text(doc: dict[str, Any]) -> str:
    """The text of an Atlassian Document Format document, paragraphs joined by blank lines."""
    return "\n\n".join(
        "".join(part.get("text", "") for part in block.get("content", [])) for block in doc.get("content", [])
    )


@contextmanager
def serve(stub: TrackerStub) -> Iterator[TrackerStub]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            stub.requests.append((method, self.path, dict(self.headers.items())))
            status, answer = stub.handle(method, self.path, body)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", str(stub.busy_for))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PATCH(self) -> None:
            self._answer("PATCH")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
