"""Secrets derived from CODEC_KEYS for a purpose of their own (HKDF-SHA256, one `info` per purpose), so a
deployment that sets CODEC_KEYS, which every process that talks to Temporal already shares, needs no further
secret to sign escalation actors or key the local gift cards; a setting of its own still overrides each."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from encryption.codec import KeyRing


def derived(key: bytes, purpose: str) -> str:
    """A 32-byte secret for `purpose`, hex, from one codec key: the same on every process with that key."""
    info = f"makeright {purpose} v1".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key).hex()


def derived_all(ring: KeyRing, purpose: str) -> tuple[str, ...]:
    """One per codec key, the encrypting key's first: the first signs, all verify (a key rotation keeps
    what was signed under the old key valid while the old key stays in CODEC_KEYS)."""
    return tuple(derived(key, purpose) for _, key in ring.keys)
