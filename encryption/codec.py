"""AES-256-GCM payload codec: every payload and failure message in Temporal history is ciphertext.

Keys come from CODEC_KEYS, `KEY_ID:BASE64_32_BYTES,…`: the first encrypts, all of them decrypt, so a key
can be rotated (put the new one first, keep the old ones until no history needs them). Each encrypted
payload names its key in the metadata (`encryption-key-id`); its nonce is the ciphertext's first 12
bytes and the key id is bound in as associated data, so a payload cannot be passed off under another id.

A payload that is not encrypted is refused where a process reads it (`refuse_plain`, what every Temporal
client and worker runs with: dispatch.connection): whoever can write to Temporal without CODEC_KEYS (the
`temporal` CLI, a script) cannot hand a workflow input, a signal or an Update of their own making. It is
not refused by raising in `decode`: the SDK decodes a whole workflow activation at once, so a raise there
fails the workflow task, which Temporal retries for ever while the Update waits unanswered. Instead the
payload decodes to a `REFUSED` one that names only its encoding, and the payload converter
(`RefusedPayloadConverter`) raises `PlainPayloadRefused` when the workflow would read it: the SDK rejects
that Update before its validator runs, drops that signal (logged), and fails a workflow whose input it is.
The SDK's own plain payloads never reach a codec's decode on a worker: patch markers, the
`TemporalChangeVersion` search attribute and a local activity's marker metadata are read by the SDK's core
(search attributes and headers are not decoded at all). The codec server (web/codec.py) decodes for
display, plain payloads passed through, so the Temporal UI shows those markers as they are.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import EncodingPayloadConverter, PayloadCodec
from temporalio.exceptions import ApplicationError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# what a refused plain payload decodes to; its original encoding is kept under PLAIN_ENCODING, its data not
REFUSED = b"binary/refused-unencrypted"
PLAIN_ENCODING = "refused-encoding"
_NONCE = 12


class CodecKeyError(ValueError):
    """CODEC_KEYS is malformed, or a payload names a key this process does not hold (no key material in
    the message)."""


@dataclass(frozen=True)
class KeyRing:
    """Ordered keys: `current` encrypts, every key decrypts."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[0]

    def get(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]


def parse_keys(spec: str) -> KeyRing:
    """`KEY_ID:BASE64_32_BYTES,…` → a key ring. Raises CodecKeyError naming the entry's position or id."""
    keys: list[tuple[str, bytes]] = []
    for position, entry in enumerate(filter(None, (e.strip() for e in spec.split(","))), start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise CodecKeyError(f"entry {position} must be KEY_ID:BASE64_32_BYTES")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise CodecKeyError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        if any(key_id == known for known, _ in keys):
            raise CodecKeyError(f"key id {key_id!r} appears twice")
        keys.append((key_id, key))
    if not keys:
        raise CodecKeyError("no keys given")
    return KeyRing(tuple(keys))


def new_key_spec(key_id: str) -> str:
    """A fresh `KEY_ID:BASE64` entry (for the embedded default and for `cli.py codec new-key`)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class PlainPayloadRefused(ApplicationError):
    """A payload that was not encrypted with a key in CODEC_KEYS was about to be read."""

    TYPE = "PlainPayloadRefused"

    def __init__(self, encoding: str) -> None:
        super().__init__(
            f"refused: a payload not encrypted with a key in CODEC_KEYS (encoding {encoding!r}); "
            "send it through the codec",
            type=self.TYPE,
            non_retryable=True,
        )


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads a REFUSED payload by raising PlainPayloadRefused; writes nothing."""

    @property
    def encoding(self) -> str:
        return REFUSED.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise PlainPayloadRefused(payload.metadata.get(PLAIN_ENCODING, b"").decode("utf-8", "replace")[:60])


class EncryptionCodec(PayloadCodec):
    """`refuse_plain=True` (every Temporal client and worker): a payload that is not encrypted decodes to a
    REFUSED one; False (the codec server, for display): it is passed through as it is."""

    def __init__(self, ring: KeyRing, *, refuse_plain: bool = True) -> None:
        super().__init__()
        self.ring = ring
        self.refuse_plain = refuse_plain

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id, key = self.ring.current
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(key).encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        encoding = payload.metadata.get("encoding", b"")
        if encoding != ENCODING:
            if not self.refuse_plain:
                return payload  # shown as it is (the SDK's plain markers, in the Temporal UI)
            return Payload(metadata={"encoding": REFUSED, PLAIN_ENCODING: encoding[:60]})
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        key = self.ring.get(key_id)
        if key is None:
            raise CodecKeyError(f"payload encrypted with key {key_id!r}, which CODEC_KEYS does not hold")
        nonce, sealed = payload.data[:_NONCE], payload.data[_NONCE:]
        return Payload.FromString(AESGCM(key).decrypt(nonce, sealed, key_id.encode()))


def encrypted(payloads: Iterable[Payload]) -> bool:
    return all(p.metadata.get("encoding", b"") == ENCODING for p in payloads)
