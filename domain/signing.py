"""HMAC signatures of booking events: `X-Makeright-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>`."""

from __future__ import annotations

import hashlib
import hmac

MAX_SKEW_SECONDS = 300


class SignatureError(Exception):
    """The reason a signature was refused. Safe to show: names no secret."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str | None, now: float) -> None:
    """Raise SignatureError unless `header` signs `body` with `secret` within the allowed clock skew."""
    if not header:
        raise SignatureError("missing X-Makeright-Signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    # ASCII digits only: str.isdigit() also accepts e.g. "²", which int() then refuses
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()):
        raise SignatureError("signature header has no valid t= timestamp")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        raise SignatureError("signature timestamp is more than 5 minutes off")
    candidates = parts.get("v1", [])
    if not candidates:
        raise SignatureError("signature header has no v1= signature")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1].encode()
    # constant-time comparison against every v1 given (allows secret rotation on the sender's side);
    # as bytes, since compare_digest refuses non-ASCII str
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
        raise SignatureError("signature does not match the body")
