"""Production refuses the embedded dev defaults; the embedded mode makes its codec key once; a malformed
CODEC_KEYS stops every process with one line."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from config import ConfigError, Settings, load_settings
from config.settings import local_codec_key
from encryption.codec import parse_keys
from tests.support.config_env import clean_environ
from tests.support.settings import ROOT

DEV_DEFAULTS = ("EVENTS_SIGNING_SECRET", "API_TOKENS", "TWILIO_AUTH_TOKEN", "CODEC_KEYS")
KEY = base64.b64encode(os.urandom(32)).decode()
REAL = {
    "EVENTS_SIGNING_SECRET": "a-real-signing-secret",
    "UPDATE_SIGNING_SECRET": "a-real-update-signing-secret",
    "API_TOKENS": "engineer:a-real-engineer-token,rep:rita:a-real-rep-token",
    "TWILIO_AUTH_TOKEN": "a-real-twilio-token",
    "CODEC_KEYS": f"k1:{KEY}",
    "GIFT_CARD_SECRET": "a-real-gift-card-secret",
    "METRICS_TOKEN": "a-real-metrics-token",
}


def one_line(error: ConfigError) -> str:
    message = str(error)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- dev defaults refused


@pytest.mark.parametrize(
    "production",
    [
        {"TEMPORAL_ADDRESS": "temporal.internal:7233"},
        {"TWILIO_MODE": "live", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32},
        {"SENDGRID_MODE": "live", "SENDGRID_API_KEY": "SG.real"},
        # real money and real tickets count as production too, each alone
        {"GIFT_CARD_MODE": "tango"},
        {"TRACKER_MODE": "jira"},
        {"TRACKER_MODE": "github"},
    ],
    ids=[
        "temporal_address",
        "twilio_live",
        "sendgrid_live",
        "gift_cards_tango",
        "tracker_jira",
        "tracker_github",
    ],
)
def test_production_refuses_every_dev_default_in_one_line(
    monkeypatch: pytest.MonkeyPatch, production: dict[str, str]
) -> None:
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    assert Settings().production
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = one_line(caught.value)
    for name in DEV_DEFAULTS:
        assert name in message
    # the line says why this is not the embedded mode
    [(reason, mode)] = [
        (n, v) for n, v in production.items() if n.endswith("_MODE") or n == "TEMPORAL_ADDRESS"
    ]
    assert (f"{reason}={mode}" if reason.endswith("_MODE") else "TEMPORAL_ADDRESS is set") in message
    # naming them, never showing them
    assert "embedded-dev-signing-secret" not in message
    assert "embedded-dev-update-signing-secret" not in message
    assert "dev-engineer-token" not in message
    assert "embedded-dev-gift-card-secret" not in message


def test_the_actor_and_gift_card_keys_come_from_codec_keys_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """UPDATE_SIGNING_SECRET and GIFT_CARD_SECRET need no value of their own: unset, each is derived from
    CODEC_KEYS (for its own purpose), which a deployment already sets and keeps secret; set, they win."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("UPDATE_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("GIFT_CARD_SECRET", raising=False)
    settings = load_settings()  # starts: nothing more to set
    (actor_key,) = settings.update_signing_secrets()
    gift_key = settings.gift_card_key()
    assert len({actor_key, gift_key, KEY}) == 3 and len(actor_key) == 64  # one key per purpose
    monkeypatch.setenv("CODEC_KEYS", f"k2:{base64.b64encode(os.urandom(32)).decode()},k1:{KEY}")
    rotated = load_settings().update_signing_secrets()
    assert rotated[1] == actor_key and rotated[0] != actor_key  # the new key signs, the old still verifies
    monkeypatch.setenv("UPDATE_SIGNING_SECRET", "own-secret")
    monkeypatch.setenv("GIFT_CARD_SECRET", "own-gift-secret")
    assert load_settings().update_signing_secrets() == ("own-secret",)
    assert load_settings().gift_card_key() == "own-gift-secret"


def test_production_names_only_what_is_still_a_dev_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("EVENTS_SIGNING_SECRET", REAL["EVENTS_SIGNING_SECRET"])
    monkeypatch.setenv("CODEC_KEYS", REAL["CODEC_KEYS"])
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = one_line(caught.value)
    assert "API_TOKENS" in message and "TWILIO_AUTH_TOKEN" in message
    assert "EVENTS_SIGNING_SECRET" not in message and "CODEC_KEYS" not in message


def test_one_dev_token_among_real_ones_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("API_TOKENS", REAL["API_TOKENS"] + ",auditor:dev-auditor-token")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "API_TOKENS" in one_line(caught.value)


def test_production_refuses_to_start_without_a_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without METRICS_TOKEN, GET /metrics is open to whoever reaches the web app: fine on a laptop only."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("METRICS_TOKEN")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert one_line(caught.value) == "missing setting METRICS_TOKEN (needed outside the embedded mode)"
    monkeypatch.delenv("TEMPORAL_ADDRESS")
    assert load_settings().metrics_token == ""  # the embedded mode: open, as before


def test_production_with_every_setting_of_its_own_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.production
    assert settings.dev_defaults_in_use() == []
    assert settings.key_ring().ids == ["k1"]
    assert not (tmp_path / "var" / "codec.key").exists()  # production never makes a key of its own


def test_production_without_codec_keys_never_falls_back_to_a_local_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    settings = Settings()
    with pytest.raises(ConfigError) as caught:
        settings.key_ring()
    assert "CODEC_KEYS" in one_line(caught.value)
    assert not (tmp_path / "var" / "codec.key").exists()


def test_the_embedded_mode_keeps_its_dev_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert not settings.production
    assert set(settings.dev_defaults_in_use()) == set(DEV_DEFAULTS)  # allowed on a laptop


# ---------------------------------------------------------------- the embedded mode's key


def test_embedded_mode_makes_a_key_once_owner_only_and_reuses_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "state"))
    first = load_settings().key_ring()
    path = tmp_path / "state" / "codec.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert parse_keys(path.read_text()) == first
    assert first.ids == ["local-1"]
    assert load_settings().key_ring() == first
    assert [p.name for p in path.parent.iterdir()] == ["codec.key"]  # no temporary file left


def test_threads_starting_at_once_end_with_one_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    specs: list[str] = []

    def start() -> None:
        barrier.wait()
        specs.append(local_codec_key(tmp_path / "var"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(specs) == 8
    assert len(set(specs)) == 1
    assert (tmp_path / "var" / "codec.key").read_text().strip() == specs[0]


@pytest.mark.e2e
def test_processes_starting_at_once_end_with_one_key(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from config.settings import local_codec_key\n"
        "while time.time() < float(sys.argv[2]):\n"
        "    pass\n"
        "print(local_codec_key(Path(sys.argv[1])))\n"
    )
    import time

    at = str(time.time() + 3)  # all of them imported and spinning by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(var_dir), at],
            cwd=ROOT,
            env=clean_environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    assert len({out.strip() for out, _ in outputs}) == 1
    assert (var_dir / "codec.key").read_text().strip() == outputs[0][0].strip()


def test_a_start_that_dies_while_writing_the_key_does_not_block_the_next(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Regression: the key file used to be created empty and written afterwards; a process that died in
    between (or a full disk) left an empty codec.key that stopped every later start."""
    var_dir = tmp_path / "var"

    def dies(fd: int, *args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fdopen", dies)
        with pytest.raises(OSError):
            local_codec_key(var_dir)
    assert not (var_dir / "codec.key").exists()
    assert list(var_dir.iterdir()) == []
    spec = local_codec_key(var_dir)
    assert parse_keys(spec).ids == ["local-1"]


def test_an_empty_key_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "codec.key").write_text("")
    with pytest.raises(ConfigError) as caught:
        local_codec_key(tmp_path / "var")
    assert "codec.key" in one_line(caught.value)


# ---------------------------------------------------------------- malformed CODEC_KEYS


MALFORMED = [
    KEY,  # no id
    "k1:not-base64!",
    f"k1:{base64.b64encode(os.urandom(16)).decode()}",
    f"k1:{KEY},k1:{KEY}",
]


@pytest.mark.parametrize("spec", MALFORMED)
@pytest.mark.parametrize("temporal_address", ["", "temporal.internal:7233"])
def test_malformed_codec_keys_stops_startup_with_one_line(
    monkeypatch: pytest.MonkeyPatch, spec: str, temporal_address: str
) -> None:
    if temporal_address:
        for name, value in REAL.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    monkeypatch.setenv("CODEC_KEYS", spec)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = one_line(caught.value)
    assert message.startswith("invalid setting CODEC_KEYS: ")
    assert KEY not in message


@pytest.mark.e2e
@pytest.mark.parametrize("program", ["run.py", "worker.py"])
def test_processes_print_a_malformed_codec_keys_as_one_line_and_exit_2(program: str, tmp_path: Path) -> None:
    env = clean_environ() | {"CODEC_KEYS": f"k1:{KEY[:20]}", "VAR_DIR": str(tmp_path / "var")}
    done = subprocess.run(
        [sys.executable, str(ROOT / program)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("makeright: invalid setting CODEC_KEYS: ")
    assert KEY[:20] not in lines[0]
    assert not (tmp_path / "var" / "makeright.db").exists()  # stopped before migrating anything


def test_update_signing_secrets_rotate_first_signs_all_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UPDATE_SIGNING_SECRET", "a-new-one, a-real-update-signing-secret")
    assert load_settings().update_signing_secrets() == ("a-new-one", "a-real-update-signing-secret")
