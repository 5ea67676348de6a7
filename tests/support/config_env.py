"""What a test of config.Settings needs to know about the environment: which variables are settings, and
os.environ without them (for subprocesses). The autouse fixtures that clean the environment for every test in
tests/config/ are in tests/config/conftest.py."""

from __future__ import annotations

import os

from config import Settings

FIELDS = set(Settings.model_fields)


def is_setting(name: str) -> bool:
    bare = name.lower().removeprefix("makeright_")
    return bare in FIELDS or bare.split("__", 1)[0] in FIELDS


def clean_environ() -> dict[str, str]:
    """os.environ without any setting: for subprocesses."""
    return {name: value for name, value in os.environ.items() if not is_setting(name)}


# settings of its own for every embedded dev default: what production (a real provider, a Temporal cluster)
# must be given before it starts
OWN_SECRETS = {
    "EVENTS_SIGNING_SECRET": "a-real-signing-secret",
    "API_TOKENS": "engineer:a-real-engineer-token,rep:rita:a-real-rep-token",
    "TWILIO_AUTH_TOKEN": "a-real-twilio-token",
    "CODEC_KEYS": "k1:YS1yZWFsLWtleS0zMi1ieXRlcy1sb25nLTAwMDAwMDA=",
    "UPDATE_SIGNING_SECRET": "a-real-update-signing-secret",
    "GIFT_CARD_SECRET": "a-real-gift-card-secret",
    "METRICS_TOKEN": "a-real-metrics-token",
}
