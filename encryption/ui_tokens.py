"""Short-lived tokens for the codec server's path form (`/codec/t/<ui-token>/decode`), which the Temporal UI
calls (it cannot send a header of its own, so the token sits in the address, where browser history and logs
keep it). An engineer mints one with `cli.py codec ui-token --hours 8`; it names who minted it and when it
expires, and is never an API token.

`ui1.<payload>.<signature>`: the payload is base64url JSON `{"k": key id, "u": user, "exp": unix seconds}`,
the signature base64url HMAC-SHA256 of the payload under a key derived (HKDF-SHA256, its own `info`) from
the first CODEC_KEYS key, the one that encrypts. So minting takes CODEC_KEYS, which already reads every
payload (no new secret, no new power); a token stops working when it expires or when a new key goes first in
CODEC_KEYS (rotation, `docs/deploy.md`: the old key still decrypts histories, but signs no ui-token)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from encryption.codec import KeyRing

PREFIX = "ui1"
_INFO = b"makeright codec ui-token v1"
MAX_HOURS = 24.0


class UiTokenError(ValueError):
    """Why a ui-token was refused (safe to show: names no secret)."""


@dataclass(frozen=True)
class UiToken:
    user: str
    expires_at: int
    key_id: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(codec_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(codec_key)


def _signature(codec_key: bytes, payload: str) -> str:
    return _b64(hmac.new(_signing_key(codec_key), payload.encode(), hashlib.sha256).digest())


def mint(ring: KeyRing, user: str, expires_at: int) -> str:
    """A ui-token for `user`, valid until `expires_at` (unix seconds), signed under the current key."""
    key_id, key = ring.current
    body = json.dumps({"k": key_id, "u": user, "exp": int(expires_at)}, separators=(",", ":"))
    payload = _b64(body.encode())
    return f"{PREFIX}.{payload}.{_signature(key, payload)}"


def verify(ring: KeyRing, token: str, now: float) -> UiToken:
    """The token's holder; UiTokenError unless it is a ui-token signed under a key in `ring`, unexpired."""
    prefix, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if prefix != PREFIX or not payload or not signature or len(token) > 1024:
        raise UiTokenError("not a ui-token (mint one with: cli.py codec ui-token)")
    try:
        claims = json.loads(_unb64(payload))
        key_id, user, expires_at = claims["k"], claims["u"], claims["exp"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise UiTokenError("not a ui-token (mint one with: cli.py codec ui-token)") from None
    if not (isinstance(key_id, str) and isinstance(user, str) and type(expires_at) is int):
        raise UiTokenError("not a ui-token (mint one with: cli.py codec ui-token)")
    current_id, key = ring.current
    # the signature is checked before anything else the payload says is believed
    if not hmac.compare_digest(_signature(key, payload).encode(), signature.encode()):
        if key_id != current_id:
            raise UiTokenError("ui-token signed under a key that no longer encrypts (mint a new one)")
        raise UiTokenError("ui-token signature does not verify")
    if expires_at <= now:
        raise UiTokenError("ui-token expired (mint a new one with: cli.py codec ui-token)")
    return UiToken(user=user, expires_at=expires_at, key_id=key_id)
