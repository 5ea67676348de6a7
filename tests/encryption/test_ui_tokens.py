"""encryption.ui_tokens: short-lived, signed tokens for the codec's path form."""

from __future__ import annotations

import pytest

from encryption import parse_keys, ui_tokens
from encryption.codec import new_key_spec

RING = parse_keys(new_key_spec("k1"))
NOW = 1_800_000_000


def test_a_minted_token_verifies_until_it_expires() -> None:
    token = ui_tokens.mint(RING, "erin", NOW + 3600)
    held = ui_tokens.verify(RING, token, NOW)
    assert (held.user, held.expires_at, held.key_id) == ("erin", NOW + 3600, "k1")
    assert ui_tokens.verify(RING, token, NOW + 3599).user == "erin"
    with pytest.raises(ui_tokens.UiTokenError, match="expired"):
        ui_tokens.verify(RING, token, NOW + 3600)
    # URL-safe: it sits in a path segment
    assert all(c.isalnum() or c in "._-" for c in token)


def test_a_new_first_key_ends_every_ui_token_though_the_old_key_still_decrypts() -> None:
    token = ui_tokens.mint(RING, "erin", NOW + 3600)
    rotated = parse_keys(new_key_spec("k2") + "," + ",".join(f"{k}:{_b64(v)}" for k, v in RING.keys))
    with pytest.raises(ui_tokens.UiTokenError, match="no longer encrypts"):
        ui_tokens.verify(rotated, token, NOW)


@pytest.mark.parametrize(
    "token",
    ["dev-engineer-token", "", "ui1", "ui1..", "ui1.e30.e30", "ui1.W10.e30", "ui1.bnVsbA.e30", "x" * 5000],
)
def test_anything_else_is_refused_with_one_line(token: str) -> None:
    with pytest.raises(ui_tokens.UiTokenError):
        ui_tokens.verify(RING, token, NOW)


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()
