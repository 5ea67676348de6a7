"""config.Settings: environment over config/defaults.toml; one clear line when something is missing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config import ApiToken, ConfigError, Settings, load_settings

# ---------------------------------------------------------------- defaults


def test_defaults_come_from_defaults_toml() -> None:
    settings = Settings()
    assert settings.twilio_mode == "local"
    assert settings.sendgrid_mode == "local"
    assert settings.gift_card_mode == "local"
    assert settings.embedded_temporal is True
    assert settings.temporal_target == "127.0.0.1:7233"
    assert settings.temporal_namespace == "default"
    assert settings.temporal_ui_port == 8233
    assert settings.web_port == 8000
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.sendgrid_api_base_url == "https://api.sendgrid.com"
    # values only the toml file holds (the class defaults are empty)
    assert settings.events_signing_secret == "embedded-dev-signing-secret"
    assert settings.twilio_from_number == "+15005550006"
    assert settings.sendgrid_from_email == "care@makeright.local"
    assert settings.checkin_prompt_lead_minutes == 0
    assert settings.checkin_listen_minutes == 60
    assert settings.policy.reply_deadline_seconds == 900
    assert settings.policy.call_answer_deadline_seconds == 600
    assert settings.policy.max_alternatives == 3
    assert settings.policy.compensation.auto_approve_up_to == Decimal("10.00")
    assert {rule.kind.value for rule in settings.policy.compensation.rules} == {
        "booking_conflict",
        "checkin_trouble",
    }
    assert settings.calendar.opens == "09:00"


def test_database_is_a_sqlite_file_under_var_dir() -> None:
    settings = Settings()
    assert settings.var_dir == Path("var")
    expected = Path("var").resolve() / "makeright.db"
    assert settings.database_url == f"sqlite:///{expected}"


def test_database_follows_var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "state"))
    settings = Settings()
    assert settings.var_dir == tmp_path / "state"
    assert settings.database_url == f"sqlite:///{tmp_path / 'state' / 'makeright.db'}"


def test_default_tokens_parse() -> None:
    tokens = Settings().tokens()
    assert tokens["dev-engineer-token"] == ApiToken(role="engineer", user="engineer")
    assert tokens["dev-rep-token"] == ApiToken(role="rep", user="rep")
    assert {t.role for t in tokens.values()} == {"engineer", "supervisor", "rep", "auditor"}


def test_defaults_pass_the_startup_check() -> None:
    settings = load_settings()
    assert settings.missing() == []


# ---------------------------------------------------------------- environment overrides


def test_bare_environment_names_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "9001")
    monkeypatch.setenv("TWILIO_MODE", "live")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:4010")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db/makeright")
    settings = Settings()
    assert settings.web_port == 9001
    assert settings.public_base_url == "http://127.0.0.1:9001"  # derived from WEB_PORT
    assert settings.twilio_mode == "live"
    assert settings.embedded_temporal is False
    assert settings.temporal_target == "temporal.internal:7233"
    assert settings.twilio_api_base_url == "http://127.0.0.1:4010"
    assert settings.database_url == "postgresql+psycopg://u@db/makeright"


def test_lowercase_names_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("web_port", "9002")
    assert Settings().web_port == 9002


def test_explicit_public_base_url_wins_and_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "9001")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://makeright.example.com/")
    assert Settings().public_base_url == "https://makeright.example.com"


def test_prefixed_names_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAKERIGHT_WEB_PORT", "9003")
    monkeypatch.setenv("MAKERIGHT_SENDGRID_MODE", "live")
    monkeypatch.setenv("MAKERIGHT_POLICY__MAX_ALTERNATIVES", "2")
    settings = Settings()
    assert settings.web_port == 9003
    assert settings.sendgrid_mode == "live"
    assert settings.policy.max_alternatives == 2


def test_bare_names_win_over_prefixed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAKERIGHT_WEB_PORT", "9003")
    monkeypatch.setenv("WEB_PORT", "9004")
    assert Settings().web_port == 9004


def test_nested_policy_override_keeps_the_other_policy_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY__REPLY_DEADLINE_SECONDS", "30")
    settings = Settings()
    assert settings.policy.reply_deadline_seconds == 30
    assert settings.policy.call_answer_deadline_seconds == 600
    assert settings.policy.max_alternatives == 3
    assert settings.policy.compensation.auto_approve_up_to == Decimal("10.00")


def test_worker_limits_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = Settings().worker
    assert limits.max_cached_workflows == 500  # bench/memory.py: 10,000 open cases under 500 MB
    assert limits.max_concurrent_workflow_tasks <= limits.max_cached_workflows
    monkeypatch.setenv("WORKER__MAX_CACHED_WORKFLOWS", "200")
    monkeypatch.setenv("WORKER_METRICS_PORT", "9464")  # the flat name beside the nested ones
    settings = Settings()
    assert settings.worker.max_cached_workflows == 200
    assert settings.worker.max_concurrent_activities == 100
    assert settings.worker_metrics_port == 9464


def test_worker_tasks_may_not_outnumber_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER__MAX_CACHED_WORKFLOWS", "50")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert_one_line(error.value, "WORKER")
    assert "must not exceed max_cached_workflows (50)" in str(error.value)


def test_checkin_minutes_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKIN_PROMPT_LEAD_MINUTES", "15")
    monkeypatch.setenv("CHECKIN_LISTEN_MINUTES", "90")
    settings = Settings()
    assert (settings.checkin_prompt_lead_minutes, settings.checkin_listen_minutes) == (15, 90)


# ---------------------------------------------------------------- start-up check


def assert_one_line(error: ConfigError, names: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert names in message


def test_live_twilio_without_account_sid_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_MODE", "live")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real-token")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "TWILIO_ACCOUNT_SID")
    assert "TWILIO_AUTH_TOKEN" not in str(caught.value)


def test_live_twilio_with_only_the_embedded_stand_ins_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_MODE", "live")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "TWILIO_ACCOUNT_SID")


def test_live_twilio_with_real_credentials_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_MODE", "live")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0123456789abcdef" * 2)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "real-token")
    # live providers mean real patients: no dev default may remain
    monkeypatch.setenv("EVENTS_SIGNING_SECRET", "a-real-secret")
    monkeypatch.setenv("UPDATE_SIGNING_SECRET", "a-real-update-secret")
    monkeypatch.setenv("API_TOKENS", "engineer:a-real-token")
    monkeypatch.setenv("CODEC_KEYS", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("GIFT_CARD_SECRET", "a-real-gift-card-secret")
    monkeypatch.setenv("METRICS_TOKEN", "a-real-metrics-token")
    settings = load_settings()
    assert settings.twilio_mode == "live"
    assert settings.twilio_account_sid == "AC" + "0123456789abcdef" * 2


def test_live_sendgrid_without_api_key_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_MODE", "live")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "SENDGRID_API_KEY")


def test_empty_signing_secret_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS_SIGNING_SECRET", "")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "EVENTS_SIGNING_SECRET")


def test_invalid_value_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_MODE", "sandbox")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "TWILIO_MODE")


def test_invalid_nested_value_names_the_nested_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY__REPLY_DEADLINE_SECONDS", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "POLICY__REPLY_DEADLINE_SECONDS")


# ---------------------------------------------------------------- API_TOKENS


def test_api_tokens_role_token_and_role_user_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS", "engineer:eng-secret, rep:alice:alice-secret,supervisor:sam:sup-secret")
    tokens = load_settings().tokens()
    assert tokens == {
        "eng-secret": ApiToken(role="engineer", user="engineer"),
        "alice-secret": ApiToken(role="rep", user="alice"),
        "sup-secret": ApiToken(role="supervisor", user="sam"),
    }


@pytest.mark.parametrize("role", ["rep", "supervisor"])
def test_a_rep_or_supervisor_token_without_its_user_stops_startup_outside_the_embedded_mode(
    monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    """`rep:token` would make every holder the same user `rep`: one person's claims, approvals and the
    contact details a claim reveals, shared. Engineers and auditors act as no one, so theirs may be plain."""
    monkeypatch.setenv("API_TOKENS", f"engineer:eng-secret,auditor:aud-secret,{role}:shared-secret")
    assert load_settings().tokens()["shared-secret"].user == role  # on a laptop: CONTRACT.md's default user
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")  # anywhere else: refused
    with pytest.raises(ConfigError) as caught:
        Settings().tokens()
    assert_one_line(caught.value, "API_TOKENS")
    assert f"a {role} entry must name its user" in str(caught.value)
    assert "shared-secret" not in str(caught.value) and "eng-secret" not in str(caught.value)


def test_the_shipped_dev_tokens_name_their_rep_and_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = load_settings().tokens()
    assert tokens["dev-supervisor-token"] == ApiToken(role="supervisor", user="supervisor")
    assert tokens["dev-rep-token"] == ApiToken(role="rep", user="rep")


def test_api_tokens_empty_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS", "")
    assert load_settings().tokens() == {}


def test_api_tokens_unknown_role_stops_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKENS", "engineer:eng-secret,admin:root-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "API_TOKENS")
    assert "admin" in str(caught.value)
    assert "root-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "entry", ["rep", "rep:a:b:c", "rep:", "rep:alice:", "rep::token", "engineer:e, rep: "]
)
def test_api_tokens_malformed_entry_stops_startup(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setenv("API_TOKENS", entry)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert_one_line(caught.value, "API_TOKENS")


def test_escalation_levels_and_approval_limits_come_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from decimal import Decimal

    settings = load_settings()
    assert settings.policy.escalation.limit_for("rep") == Decimal("25.00")
    assert settings.policy.escalation.limit_for("supervisor") == Decimal("200.00")
    assert settings.policy.escalation.limit_for("auditor") == Decimal(0)
    assert [level.name for level in settings.policy.escalation.levels] == ["reps", "supervisor", "on_call"]
    assert settings.policy.urgent_escalation.levels[0].claim_sla_seconds == 300
    monkeypatch.setenv("POLICY__ESCALATION__APPROVAL_LIMITS", '{"rep": "30.00", "supervisor": "250.00"}')
    assert load_settings().policy.escalation.limit_for("rep") == Decimal("30.00")
