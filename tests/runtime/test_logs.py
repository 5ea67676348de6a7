"""Logs: LOG_FORMAT=json writes JSON lines, and a filter on the root handlers masks phone numbers and email
addresses in every line and every format, whatever the call site passed in."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import logs
from domain.messaging import Channel, OutboundMessage
from providers.phone.twilio import LiveTwilio
from tests.support.settings import ROOT, TEST_CODEC_KEYS

PHONES = {
    "+31612345678": "+316****5678",
    "+31 6 12345678": "+316****5678",
    "+1 (212) 555-0100": "+121****0100",
    "(212) 555-0100": "******0100",
    "212-555-0100": "******0100",
    "212.555.0100": "******0100",
    "06-12345678": "******5678",
    "0031612345678": "+316****5678",
    "%2B31612345678": "+316****5678",
}
LEFT_ALONE = [
    "2026-11-24 10:00:00",
    "2026-11-24T10:00:00-05:00",
    "appt-0612345678",
    "evt 1763942400",
    "10.0.0.1:8000",
    "10.00 USD",
    "case-9f8e7d6c5b4a",
]


def record_through(handler: logging.Handler, msg: str, *args: object, exc: bool = False) -> str:
    logger = logging.getLogger(f"test.masking.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [handler]
    if exc:
        try:
            raise ValueError(*args)
        except ValueError:
            logger.exception(msg)
    else:
        logger.info(msg, *args)
    return handler.stream.getvalue()  # type: ignore[attr-defined]


def handler_with(formatter: logging.Formatter) -> logging.StreamHandler:
    import io

    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(formatter)
    logs.install_masking([handler])
    return handler


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize(("phone", "masked"), PHONES.items())
def test_the_filter_masks_phones_in_every_common_format(log_format: str, phone: str, masked: str) -> None:
    line = record_through(handler_with(logs.formatter_for(log_format)), "texted %s about %s", phone, "case-1")
    assert phone not in line
    assert masked in line
    assert "case-1" in line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_filter_masks_emails_in_message_args_and_exceptions(log_format: str) -> None:
    handler = handler_with(logs.formatter_for(log_format))
    line = record_through(handler, "mail to ada.jansen@example.com and %s", {"to": "kim@clinic.example"})
    assert "ada.jansen" not in line and "kim@" not in line
    assert "a*********@example.com" in line and "k**@clinic.example" in line
    failed = record_through(
        handler_with(logs.formatter_for(log_format)), "send failed", "+31612345678", exc=True
    )
    assert "ValueError" in failed and "Traceback" in failed
    assert "+31612345678" not in failed and "+316****5678" in failed


def test_the_filter_leaves_dates_times_ids_and_amounts_alone() -> None:
    text = " | ".join(LEFT_ALONE)
    assert record_through(handler_with(logs.formatter_for("text")), "%s", text).rstrip("\n").endswith(text)


def test_a_real_line_from_a_provider_sdk_is_masked_on_the_root_handlers(
    prism_twilio: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Twilio SDK logs every request's URL and query at INFO: a look-up of what we sent a patient names
    the patient's number. With the filter on the root handlers (as every process installs it), the line
    reaches the log masked."""
    logs.configure("text", level=None)  # what the web app and worker do at start-up
    caplog.set_level(logging.INFO, logger="twilio.http_client")
    gateway = LiveTwilio("AC" + "0123456789abcdef" * 2, "auth-token", "+15005550006", prism_twilio)
    msg = OutboundMessage(case_id="case-1", key="offer", channel=Channel.SMS, to="+31612345678", body="Hi")
    gateway.find_sent(msg, datetime.now(UTC) - timedelta(minutes=5))
    sdk_lines = [r.getMessage() for r in caplog.records if r.name == "twilio.http_client"]
    assert any("Request:" in line and "To=" in line for line in sdk_lines), sdk_lines
    assert any("+316****5678" in line for line in sdk_lines), sdk_lines
    assert "31612345678" not in caplog.text


@pytest.mark.e2e
def web_process(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python (logging as a web process sets it up, nothing left over from this
    one) with a database and codec key of its own; it must succeed. What it wrote is on `.stderr`."""
    environ = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'makeright.db'}",
        "CODEC_KEYS": TEST_CODEC_KEYS,
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


def test_log_format_json_gives_json_lines_from_the_app(tmp_path: Path) -> None:
    """The web app configured with LOG_FORMAT=json: its start-up line and any later line are JSON objects,
    one a line, with contact details masked."""
    code = (
        "import logging\n"
        "from web.app import create_app\n"
        "create_app()\n"
        "log = logging.getLogger('makeright.web')\n"
        "log.warning('texted %s, mailed %s', '+31612345678', 'ada@example.com')\n"
    )
    done = web_process(code, tmp_path, LOG_FORMAT="json")
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines, done.stderr
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"] == "makeright.web" and "local phone" in line["message"] for line in lines)
    texted = [line for line in lines if line["message"].startswith("texted")]
    assert texted == [texted[0]] and texted[0]["level"] == "WARNING"
    assert texted[0]["message"] == "texted +316****5678, mailed a**@example.com"


ENGINEER_TOKEN = "engineer-token-0123456789abcdef"
SECRET_PATHS = {
    f"/codec/t/{ENGINEER_TOKEN}/decode": "/codec/t/[redacted]/decode",
    f"/wall?token={ENGINEER_TOKEN}&since=2026-01-01": "/wall?token=[redacted]&since=2026-01-01",
    f"/feedback/case-1/5?t={ENGINEER_TOKEN}": "/feedback/case-1/5?t=[redacted]",
    f"/choose/case-1/2?lang=nl&T={ENGINEER_TOKEN}": "/choose/case-1/2?lang=nl&T=[redacted]",
    f"/gift/{ENGINEER_TOKEN}": "/gift/[redacted]",
    f"/x?next=%2Fwall%3Ftoken%3D{ENGINEER_TOKEN}": "/x?next=%2Fwall%3Ftoken%3D[redacted]",
}


def uvicorn_access_log(log_format: str) -> tuple[logging.Logger, io.StringIO]:
    """uvicorn's own logging set-up (what `uvicorn …` does before it builds the app), then ours (what
    `create_app` does), with the access log's handler writing to a buffer."""
    import logging.config

    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    logs.configure(log_format, level=None)
    access = logging.getLogger("uvicorn.access")
    buffer = io.StringIO()
    for handler in access.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    return access, buffer


@pytest.fixture
def restore_uvicorn_loggers() -> Iterator[None]:
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in logs.OWN_HANDLER_LOGGERS
    }
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers = handlers
        logging.getLogger(name).propagate = propagate


@pytest.mark.usefixtures("restore_uvicorn_loggers")
@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize(("path", "redacted"), SECRET_PATHS.items())
def test_the_access_log_redacts_tokens_in_paths_and_queries(
    log_format: str, path: str, redacted: str
) -> None:
    """A record as uvicorn's HTTP protocol emits it (h11_impl.py: the format and its five arguments), through
    the handler uvicorn configured: the line is written (its formatter unpacks the arguments) without the
    token."""
    access, buffer = uvicorn_access_log(log_format)
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:51234", "POST", path, "1.1", 200)
    line = buffer.getvalue()
    assert ENGINEER_TOKEN not in line
    assert redacted in line
    assert "127.0.0.1:51234" in line and "200" in line
    assert "Logging error" not in line


@pytest.mark.usefixtures("restore_uvicorn_loggers")
def test_the_access_log_cuts_a_huge_path_and_masks_contacts_in_it() -> None:
    access, buffer = uvicorn_access_log("text")
    path = "/wall?email=ada@example.com&x=" + "a" * 100_000
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:51234", "GET", path, "1.1", 404)
    line = buffer.getvalue()
    assert "ada@" not in line and "**@example.com" in line
    assert len(line) < 9 * 1024 and "more characters]" in line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_any_log_line_loses_secrets_in_urls(log_format: str) -> None:
    """httpx and our own lines name URLs too."""
    line = record_through(
        handler_with(logs.formatter_for(log_format)),
        "HTTP Request: GET %s %s",
        f"http://127.0.0.1:8000/codec/t/{ENGINEER_TOKEN}/encode",
        f"http://127.0.0.1:8000/wall?token={ENGINEER_TOKEN}",
    )
    assert ENGINEER_TOKEN not in line
    assert "/codec/t/[redacted]/encode" in line and "/wall?token=[redacted]" in line


def test_a_100_kb_log_line_is_scrubbed_in_under_50_ms() -> None:
    import time

    handler = handler_with(logs.formatter_for("text"))
    best = float("inf")
    for shape in ("a" * 100_000, "a." * 50_000, "a@" * 50_000):
        for _ in range(3):
            start = time.perf_counter()
            record = logging.makeLogRecord({"msg": "GET %s", "args": ("/" + shape,), "levelno": logging.INFO})
            handler.filter(record)
            best = min(best, time.perf_counter() - start)
        assert best < 0.05
        assert len(record.getMessage()) < 9 * 1024
        best = float("inf")


def test_the_codec_audit_line_reaches_the_web_apps_log(tmp_path: Path) -> None:
    """Who read encrypted payloads is logged at INFO by `makeright.codec`: in a fresh web process (root at
    Python's WARNING, as uvicorn --log-level warning leaves it) the line must still be written."""
    code = (
        "from fastapi.testclient import TestClient\n"
        "from web.app import create_app\n"
        "client = TestClient(create_app(relay=False))\n"
        "answer = client.post('/codec/decode', content='{\"payloads\": []}',\n"
        "                     headers={'Authorization': 'Bearer dev-engineer-token'})\n"
        "assert answer.status_code == 200, answer.text\n"
    )
    done = web_process(code, tmp_path)
    audit = [line for line in done.stderr.splitlines() if "makeright.codec" in line]
    assert audit and audit[0].endswith("INFO makeright.codec codec decode of 0 payloads by engineer"), (
        done.stderr
    )
