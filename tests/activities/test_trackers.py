"""Problem tickets in Jira or GitHub (TRACKER_MODE): the label that finds a cause's issue, the recurrence
story against a tracker that keeps state, the vendors' own contracts (Prism), and a tracker outage that
delays the issue but not the case."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.tickets import TicketActivities
from domain.cases import CaseStatus
from domain.events import EventType
from domain.tickets import TicketRequest, TicketSyncRequest
from domain.tracker import adf, tracker_label
from providers.errors import ProviderNotProcessed
from providers.trackers import ExternalTracker
from providers.trackers.github import GitHubTracker
from providers.trackers.jira import JiraTracker
from store.db import Store
from store.models import Ticket, TicketLink, TimelineItem
from tests.support.cases import open_case
from tests.support.escalations import start
from tests.support.http import LiveServer, free_port
from tests.support.prism import SPECS, prism_mock, request_violations
from tests.support.settings import example_event, make_settings
from tests.support.tracker_stub import TrackerStub, serve
from tests.support.workflow_harness import Harness, running
from workflows.ticket_sync import ticket_sync_id

JIRA_SPEC = SPECS / "jira_cloud_platform_v3.json"
GITHUB_SPEC = SPECS / "github_issues_subset.json"
PHONE = "+31612345678"
PATIENT = {"phone": "+31612345678", "email": "ada@example.com", "id": "patient-ada", "name": "Ada"}


# ---------------------------------------------------------------------- the label (CONTRACT.md)


def test_label_is_makeright_cause_practice_lower_cased_with_dashes() -> None:
    assert (
        tracker_label("practice_calendar_out_of_sync", "p1") == "makeright-practice-calendar-out-of-sync-p1"
    )
    assert (
        tracker_label("double_booking", "Practice.42 Ëindhoven")
        == "makeright-double-booking-practice-42--indhoven"
    )
    assert tracker_label("kiosk_fault", "uptown") == "makeright-kiosk-fault-uptown"


def test_a_label_over_50_characters_keeps_41_then_a_dash_and_8_hex_of_its_sha256() -> None:
    whole = "makeright-practice-calendar-out-of-sync-practice-uptown-orthopedics"
    assert len(whole) > 50
    label = tracker_label("practice_calendar_out_of_sync", "practice-uptown-orthopedics")
    assert label == whole[:41] + "-" + hashlib.sha256(whole.encode()).hexdigest()[:8]
    assert len(label) == 50
    # two practices whose labels share the first 41 characters still get two issues
    other = tracker_label("practice_calendar_out_of_sync", "practice-uptown-orthopedics-east")
    assert other != label and other[:41] == label[:41]
    # exactly 50 stays as it is
    fifty = tracker_label("c", "x" * (50 - len("makeright-c-")))
    assert len(fifty) == 50 and fifty.endswith("x")


# ---------------------------------------------------------------------- the recurrence story


def new_case(store: Store) -> str:
    """A double booking of Ada's through the real intake (tests/support/cases.py); its case id."""
    patient = {f"data__patient__{key}": value for key, value in PATIENT.items()}
    return open_case(store, type=EventType.SLOT_DOUBLE_BOOKED.value, **patient).case_id


def tracker_for(stub: TrackerStub) -> ExternalTracker:
    if stub.system == "jira":
        return JiraTracker(stub.base_url, "ops@example.com", "jira-token", "OPS", "Bug", ["Reopen", "To Do"])
    return GitHubTracker(stub.base_url, "gh-token", "acme/problems")


@pytest.fixture(params=["jira", "github"])
def stub(request: pytest.FixtureRequest) -> Iterator[TrackerStub]:
    with serve(TrackerStub(request.param)) as running:
        yield running


async def occurrence(acts: TicketActivities, case_id: str) -> None:
    """What a case does: file the local ticket (at once), then the sync its TicketSync child runs."""
    result = await acts.link_root_cause(
        TicketRequest(
            case_id=case_id,
            cause="double_booking",
            practice_id="uptown",
            practice_name="Uptown Orthopedics",
            summary="booking conflict",
        )
    )
    assert result.sync
    await acts.sync_external_ticket(TicketSyncRequest(case_id=case_id, ticket_id=result.ticket_id))


async def test_recurrence_creates_then_comments_then_reopens_what_a_person_closed(
    stub: TrackerStub, store: Store
) -> None:
    acts = TicketActivities(store, tracker_for(stub))
    one, two, three = (new_case(store) for _ in range(3))

    await occurrence(acts, one)
    assert len(stub.issues) == 1
    issue = stub.issues[0]
    assert issue.labels == ["makeright-double-booking-uptown"]
    assert issue.title == "double booking at Uptown Orthopedics"
    first = stub.comment_texts(issue.ref)
    assert len(first) == 1 and f"case {one}" in first[0] and "booking.slot_double_booked" in first[0]

    await occurrence(acts, two)
    assert len(stub.issues) == 1 and len(stub.comment_texts(issue.ref)) == 2
    assert f"Occurrence 2: case {two}" in stub.comment_texts(issue.ref)[1]

    stub.close(issue.ref)  # a person fixed it
    await occurrence(acts, three)
    assert len(stub.issues) == 1, "a recurrence reopens the issue, it does not open a second one"
    assert issue.state == "open"
    third = stub.comment_texts(issue.ref)
    assert len(third) == 3 and f"case {three}" in third[2] and "Reopened" in third[2]

    # a retried or re-run sync comments once
    await acts.sync_external_ticket(TicketSyncRequest(case_id=two, ticket_id="x"))
    assert len(stub.comment_texts(issue.ref)) == 3

    # the local ticket keeps the external key and address; the case's timeline says so
    with store.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.occurrences == 3 and ticket.external_ref == issue.ref
        expected_url = (
            f"{stub.base_url}/browse/{issue.ref}"
            if stub.system == "jira"
            else f"https://github.test/acme/problems/issues/{issue.ref}"
        )
        assert ticket.external_url == expected_url
        synced = s.scalars(select(TimelineItem).where(TimelineItem.what == "ticket_synced")).all()
        assert [(t.case_id, t.detail["created"], t.detail["reopened"]) for t in synced] == [
            (one, True, False),
            (two, False, False),
            (three, False, True),
        ]

    # no patient data went to the tracker, and every request carried the credentials
    sent = json.dumps([issue.title, issue.body, *third])
    for value in PATIENT.values():
        assert value not in sent
    for _method, _path, headers in stub.requests:
        auth = headers.get("Authorization", "")
        assert auth.startswith("Basic " if stub.system == "jira" else "Bearer gh-token")
    if stub.system == "jira":
        transitions = [p for m, p, _ in stub.requests if m == "POST" and p.endswith("/transitions")]
        assert len(transitions) == 1  # "Reopen" does not exist in this project: "To Do" was used
        assert isinstance(issue.body, dict) and issue.body["type"] == "doc"  # ADF


async def test_an_issue_found_by_its_label_is_used_not_duplicated(stub: TrackerStub, store: Store) -> None:
    """A store that lost the key (or a first sync whose answer was lost after the issue was made): the
    issue is found by its label, closed ones too, and reopened."""
    tracker = tracker_for(stub)
    made = tracker.create("makeright-double-booking-uptown", "made before", "by an earlier sync")
    stub.close(made.ref)
    one = new_case(store)
    await occurrence(TicketActivities(store, tracker), one)
    assert len(stub.issues) == 1 and stub.issues[0].state == "open"
    assert len(stub.comment_texts(made.ref)) == 1


async def test_a_tracker_outage_raises_to_be_retried_and_leaves_the_local_ticket(
    stub: TrackerStub, store: Store
) -> None:
    acts = TicketActivities(store, tracker_for(stub))
    one = new_case(store)
    stub.down = True
    result = await acts.link_root_cause(
        TicketRequest(
            case_id=one, cause="double_booking", practice_id="uptown", practice_name="U", summary="s"
        )
    )
    with pytest.raises(ProviderNotProcessed):
        await acts.sync_external_ticket(TicketSyncRequest(case_id=one, ticket_id=result.ticket_id))
    with store.session() as s:
        assert s.scalars(select(TicketLink)).one().external_synced_at is None
    stub.down = False
    await acts.sync_external_ticket(TicketSyncRequest(case_id=one, ticket_id=result.ticket_id))
    assert len(stub.issues) == 1 and len(stub.issues[0].comments) == 1


async def test_a_429_waits_as_long_as_retry_after_says(stub: TrackerStub, store: Store) -> None:
    acts = TicketActivities(store, tracker_for(stub))
    one = new_case(store)
    result = await acts.link_root_cause(
        TicketRequest(
            case_id=one, cause="double_booking", practice_id="uptown", practice_name="U", summary="s"
        )
    )
    stub.busy_for = 42
    with pytest.raises(ApplicationError) as caught:
        await acts.sync_external_ticket(TicketSyncRequest(case_id=one, ticket_id=result.ticket_id))
    assert caught.value.next_retry_delay == timedelta(seconds=42)
    assert not caught.value.non_retryable and stub.issues == []


async def test_local_mode_asks_for_no_sync(store: Store) -> None:
    one = new_case(store)
    result = await TicketActivities(store).link_root_cause(
        TicketRequest(case_id=one, cause="c", practice_id="p", practice_name="P", summary="s")
    )
    assert result.sync is False


# ---------------------------------------------------------------------- the vendors' contracts (Prism)


@pytest.fixture(scope="module")
def prism_jira(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Jira Cloud REST v3 (dynamic answers: its examples are JSON strings, FIELD-NOTES)."""
    with prism_mock(JIRA_SPEC, tmp_path_factory.mktemp("prism") / "jira.log", ("-d",)) as url:
        yield url


@pytest.fixture(scope="module")
def prism_github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """GitHub Issues (dynamic answers too: the example for `GET …/issues/{n}` is a versioned-patch
    wrapper, `{"value": {...}, "patch": [...]}`, not an issue)."""
    with prism_mock(GITHUB_SPEC, tmp_path_factory.mktemp("prism") / "github.log", ("-d",)) as url:
        yield url


class Verdicts:
    """Prism's verdict on every request a tracker made: status and the request violations."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int, list[dict[str, Any]]]] = []

    def hook(self, response: httpx.Response) -> None:
        request = response.request
        self.seen.append(
            (request.method, request.url.path, response.status_code, request_violations(response.headers))
        )

    def hooks(self) -> dict[str, list[Any]]:
        return {"response": [self.hook]}

    def assert_clean(self) -> None:
        assert self.seen
        bad = [(m, p, status, v) for m, p, status, v in self.seen if status >= 400 or v]
        assert bad == [], bad


def test_jira_requests_meet_the_jira_cloud_v3_contract(prism_jira: str) -> None:
    verdicts = Verdicts()
    jira = JiraTracker(
        prism_jira, "ops@example.com", "token", "OPS", "Bug", ["Reopen", "To Do"], verdicts.hooks()
    )
    label = tracker_label("practice_calendar_out_of_sync", "uptown")
    issue = jira.create(label, "Practice calendar out of sync at Uptown", "Problem: …\n\nMore.")
    assert issue.ref and issue.url.endswith("/browse/" + issue.ref)
    jira.find(label)
    jira.get(issue.ref)
    jira.comment(issue, "Occurrence 2: case c-1 at 2026-01-05T09:00:00+00:00, event slot.double_booked.")
    jira.reopen(issue)
    verdicts.assert_clean()
    paths = {(m, p.replace(issue.ref, "{key}")) for m, p, _, _ in verdicts.seen}
    assert {
        ("POST", "/rest/api/3/issue"),
        ("POST", "/rest/api/3/search/jql"),
        ("GET", "/rest/api/3/issue/{key}"),
        ("POST", "/rest/api/3/issue/{key}/comment"),
        ("GET", "/rest/api/3/issue/{key}/transitions"),
    } <= paths


def test_a_body_jira_would_refuse_is_refused_by_the_mock(prism_jira: str) -> None:
    """The check above is not empty: Prism validates Jira's request bodies (no `fields` is a 422)."""
    answer = httpx.post(f"{prism_jira}/rest/api/3/issue", json={"update": "nope"})
    assert answer.status_code == 422


def test_jira_transition_request_meets_the_contract(prism_jira: str) -> None:
    verdicts = Verdicts()
    jira = JiraTracker(prism_jira, "e", "t", "OPS", "Bug", ["Reopen"], verdicts.hooks())
    jira.http.call("POST", "/rest/api/3/issue/OPS-1/transitions", json={"transition": {"id": "11"}})
    verdicts.assert_clean()


def test_github_requests_meet_the_github_issues_contract(prism_github: str) -> None:
    verdicts = Verdicts()
    github = GitHubTracker(prism_github, "gh-token", "acme/problems", verdicts.hooks())
    label = tracker_label("double_booking", "uptown")
    issue = github.create(label, "Double booking at Uptown", "Problem: …")
    assert issue.ref.lstrip("-").isdigit() and issue.url  # generated from the schema: any integer
    github.find(label)
    github.get(issue.ref)
    github.comment(issue, "Occurrence 2: case c-1 at 2026-01-05T09:00:00+00:00, event slot.double_booked.")
    github.reopen(issue)
    verdicts.assert_clean()
    methods = {m for m, _, _, _ in verdicts.seen}
    assert methods == {"GET", "POST", "PATCH"}
    listing = next(p for m, p, _, _ in verdicts.seen if m == "GET" and p.endswith("/issues"))
    assert listing == "/repos/acme/problems/issues"


def test_a_github_body_it_would_refuse_is_refused_by_the_mock(prism_github: str) -> None:
    answer = httpx.post(f"{prism_github}/repos/acme/problems/issues", json={"body": "no title"})
    assert answer.status_code == 422


def test_adf_is_a_doc_of_paragraphs() -> None:
    assert adf("one\n\ntwo") == {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "two"}]},
        ],
    }


# ---------------------------------------------------------------------- a tracker outage and the case


async def test_a_tracker_down_delays_the_issue_but_not_the_case(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    """GitHub answers 503: the case still resolves (rebooked, paid, ticketed locally) at once; its
    TicketSync keeps trying on its own and files the issue once GitHub is back. On a server of its own: the
    sync's retried activity keeps the shared server from skipping time for the tests after it."""
    settings = make_settings(sqlite_url, tmp_path)
    with serve(TrackerStub("github")) as stub:
        stub.down = True
        async with running(settings, own_time_skipping_env, tracker=tracker_for(stub)) as h:
            accepted, handle = await h.open_case(example_event())
            await h.wait_for(lambda: h.deliveries("sms", PHONE))
            await h.sms_reply(PHONE, "2")
            result = await h.result(handle)
            assert result.status is CaseStatus.RESOLVED and result.ticket_id
            assert accepted.case_id is not None

            sync = h.client.get_workflow_handle(ticket_sync_id(accepted.case_id))
            assert (await sync.describe()).status is WorkflowExecutionStatus.RUNNING
            await h.wait_for(lambda: stub.requests)  # it tries, and will again
            assert not stub.issues
            assert (await sync.describe()).status is WorkflowExecutionStatus.RUNNING

            stub.down = False
            await h.result(sync)
        assert len(stub.issues) == 1 and len(stub.issues[0].comments) == 1
        assert accepted.case_id in stub.issues[0].comments[0]
    with h.store.session() as s:
        ticket = s.get(Ticket, result.ticket_id)
        assert ticket is not None and ticket.external_url == "https://github.test/acme/problems/issues/1"


# ---------------------------------------------------------------------- over HTTP: resolve and ticket_url


@pytest.fixture
async def api(
    own_time_skipping_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Harness, httpx.AsyncClient, TrackerStub]]:
    """The web app over real HTTP, a worker whose tracker is a GitHub of our own (on a time-skipping server
    of its own: a sync's retried activity keeps the shared one from skipping time for later tests)."""
    from web.app import create_app

    port = free_port()
    settings = make_settings(
        sqlite_url,
        tmp_path,
        api_tokens="rep:ann:tok-ann,supervisor:sue:tok-sue",
        temporal_address=own_time_skipping_env.client.service_client.config.target_host,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    with serve(TrackerStub("github")) as stub:
        async with running(settings, own_time_skipping_env, tracker=tracker_for(stub)) as h:
            with LiveServer(create_app(settings, relay=False), port) as server:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                    yield h, http, stub


ANN = {"Authorization": "Bearer tok-ann"}


async def test_resolve_takes_a_catalogue_cause_or_other_with_words_and_refuses_a_typo(
    api: tuple[Harness, httpx.AsyncClient, TrackerStub],
) -> None:
    h, http, _ = api
    escalation_id, handle = await start(h)
    path = f"/api/escalations/{escalation_id}"
    assert (await http.post(f"{path}/claim", headers=ANN)).status_code == 200

    typo = await http.post(
        f"{path}/resolve",
        headers=ANN,
        json={"notes": "Rebooked.", "root_cause": "practice_calender_out_of_sync"},
    )
    assert typo.status_code == 422
    assert "unknown cause 'practice_calender_out_of_sync'" in typo.json()["error"]
    assert "practice_calendar_out_of_sync" in typo.json()["error"]  # the choices are named
    no_words = await http.post(
        f"{path}/resolve", headers=ANN, json={"notes": "Rebooked.", "root_cause": "other"}
    )
    assert no_words.status_code == 422 and "root_cause_other" in no_words.json()["error"]
    still = (await http.get(path, headers=ANN)).json()
    assert still["status"] == "claimed"  # nothing was resolved by a refused request

    resolved = await http.post(
        f"{path}/resolve",
        headers=ANN,
        json={"notes": "Rebooked.", "root_cause": "other", "root_cause_other": "Fax machine out of paper"},
    )
    assert resolved.status_code == 200, resolved.text
    final = await h.result(handle)
    assert final.root_cause == "other" and final.notes and "Fax machine out of paper" in final.notes


async def test_the_case_api_shows_the_ticket_url_once_the_tracker_holds_the_ticket(
    api: tuple[Harness, httpx.AsyncClient, TrackerStub],
) -> None:
    h, http, stub = api
    stub.down = True  # the tracker is down when the case closes
    accepted, handle = await h.open_case(example_event())
    await h.wait_for(lambda: h.deliveries("sms", PHONE))
    await h.sms_reply(PHONE, "2")
    await h.result(handle)
    assert accepted.case_id is not None
    before = (await http.get(f"/api/cases/{accepted.case_id}", headers=ANN)).json()
    assert before["status"] == "resolved" and before["ticket_id"] and before["ticket_url"] is None

    stub.down = False
    await h.result(h.client.get_workflow_handle(ticket_sync_id(accepted.case_id)))
    after = (await http.get(f"/api/cases/{accepted.case_id}", headers=ANN)).json()
    assert after["ticket_url"] == "https://github.test/acme/problems/issues/1"
    listed = (await http.get(f"/api/cases?appointment_id={after['appointment_id']}", headers=ANN)).json()
    assert [c["ticket_url"] for c in listed] == [after["ticket_url"]]


async def test_two_cases_syncing_a_new_ticket_at_once_make_one_issue(stub: TrackerStub, store: Store) -> None:
    """The second case's sync finds the first one creating the issue: it waits (retried later) instead of
    making a second issue; the first one's own retry keeps its claim."""
    from store import tickets

    acts = TicketActivities(store, tracker_for(stub))
    one, two = new_case(store), new_case(store)
    for case_id in (one, two):
        await acts.link_root_cause(
            TicketRequest(
                case_id=case_id, cause="double_booking", practice_id="uptown", practice_name="U", summary="s"
            )
        )
    with store.session() as s:
        ticket_id = s.scalars(select(Ticket.ticket_id)).one()
    assert tickets.claim_creation(store, ticket_id, one, timedelta(minutes=10))  # case one is creating
    with pytest.raises(ProviderNotProcessed, match="another case's sync is creating"):
        await acts.sync_external_ticket(TicketSyncRequest(case_id=two, ticket_id=ticket_id))
    assert stub.issues == []
    await acts.sync_external_ticket(TicketSyncRequest(case_id=one, ticket_id=ticket_id))
    await acts.sync_external_ticket(TicketSyncRequest(case_id=two, ticket_id=ticket_id))
    assert len(stub.issues) == 1 and len(stub.issues[0].comments) == 2
    # a claim left by a sync that died is taken over once stale
    three = new_case(store)
    other = await acts.link_root_cause(
        TicketRequest(
            case_id=three, cause="kiosk_fault", practice_id="uptown", practice_name="U", summary="s"
        )
    )
    assert tickets.claim_creation(store, other.ticket_id, "case-dead", timedelta(minutes=10))
    assert not tickets.claim_creation(store, other.ticket_id, three, timedelta(minutes=10))
    assert tickets.claim_creation(store, other.ticket_id, three, timedelta(0))


def test_the_console_timeline_tells_the_sync_in_words() -> None:
    from web.timeline import describe

    assert describe("ticket_synced", {"tracker": "github", "ref": "12", "created": True}) == (
        "Problem issue opened in GitHub",
        "#12",
    )
    assert describe("ticket_synced", {"tracker": "jira", "ref": "OPS-3", "reopened": True})[0] == (
        "Problem issue reopened in Jira: the cause came back"
    )
    title, said = describe(
        "ticket_synced", {"tracker": "jira", "ref": "OPS-3", "reopen_failed": "no transition"}
    )
    assert title == "Noted on the problem issue in Jira" and said == "OPS-3 (left closed: no transition)"
