"""TRACKER_MODE and the root-cause catalogue in config."""

from __future__ import annotations

import json

import pytest

from config import ConfigError, load_settings
from domain.policy import _CAUSE_FROM_TYPE
from providers.trackers.github import GitHubTracker
from providers.trackers.jira import JiraTracker
from runtime.providers import problem_tracker
from tests.support.config_env import OWN_SECRETS
from workflows.checkin_trouble import DEFAULT_CAUSE


def test_jira_mode_without_its_settings_stops_startup_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_MODE", "jira")
    monkeypatch.setenv("JIRA_BASE_URL", "https://acme.atlassian.net")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and "TRACKER_MODE=jira" in message
    assert "JIRA_EMAIL, JIRA_API_TOKEN, JIRA_PROJECT_KEY" in message and "JIRA_BASE_URL" not in message


def test_github_mode_needs_owner_slash_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_MODE", "github")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-x")
    monkeypatch.setenv("GITHUB_REPOSITORY", "just-a-name")
    for name, value in OWN_SECRETS.items():  # a real tracker: no dev default either
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "GITHUB_REPOSITORY" in str(caught.value) and "owner/name" in str(caught.value)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/problems")
    assert isinstance(problem_tracker(load_settings()), GitHubTracker)


def test_each_mode_builds_its_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problem_tracker(load_settings()) is None  # local: the case store only
    for name, value in {
        "TRACKER_MODE": "jira",
        "JIRA_BASE_URL": "https://acme.atlassian.net",
        "JIRA_EMAIL": "ops@acme.test",
        "JIRA_API_TOKEN": "t",
        "JIRA_PROJECT_KEY": "OPS",
        "JIRA_REOPEN_TRANSITIONS": "Back to work, To Do",
        **OWN_SECRETS,  # a real tracker: no dev default either
    }.items():
        monkeypatch.setenv(name, value)
    jira = problem_tracker(load_settings())
    assert isinstance(jira, JiraTracker)
    assert jira.reopen_transitions == ["Back to work", "To Do"] and jira.issue_type == "Bug"


def test_the_default_catalogue_covers_the_causes_the_stories_use() -> None:
    codes = {cause.code for cause in load_settings().root_causes}
    assert (
        set(_CAUSE_FROM_TYPE.values()) | {DEFAULT_CAUSE, "unknown", "practice_calendar_out_of_sync"} <= codes
    )
    assert "other" not in codes  # always offered, with words, beside the catalogue


def test_the_catalogue_can_be_replaced_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    causes = [{"code": "fax_down", "label": "Fax down", "description": "The practice's fax is down."}]
    monkeypatch.setenv("ROOT_CAUSES", json.dumps(causes))
    assert [c.code for c in load_settings().root_causes] == ["fax_down"]
    monkeypatch.setenv("ROOT_CAUSES", json.dumps([{"code": "Has Spaces", "label": "x"}]))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "ROOT_CAUSES" in str(caught.value)
