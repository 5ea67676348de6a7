"""Logs: LOG_FORMAT=json writes JSON lines, and a filter on the root handlers masks phone numbers and email
addresses in every line and every format, whatever the call site passed in."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
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
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'makeright.db'}",
        "CODEC_KEYS": TEST_CODEC_KEYS,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines, done.stderr
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"] == "makeright.web" and "local phone" in line["message"] for line in lines)
    texted = [line for line in lines if line["message"].startswith("texted")]
    assert texted == [texted[0]] and texted[0]["level"] == "WARNING"
    assert texted[0]["message"] == "texted +316****5678, mailed a**@example.com"


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
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'makeright.db'}",
        "CODEC_KEYS": TEST_CODEC_KEYS,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    audit = [line for line in done.stderr.splitlines() if "makeright.codec" in line]
    assert audit and audit[0].endswith("INFO makeright.codec codec decode of 0 payloads by engineer"), (
        done.stderr
    )
