"""Temporal payload encryption: the codec every client uses, and its key ring (CODEC_KEYS)."""

from encryption.codec import (
    EncryptionCodec,
    KeyRing,
    PlainPayloadRefused,
    RefusedPayloadConverter,
    parse_keys,
)

__all__ = ["EncryptionCodec", "KeyRing", "PlainPayloadRefused", "RefusedPayloadConverter", "parse_keys"]
