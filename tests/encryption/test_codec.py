"""encryption.codec: AES-256-GCM payloads with the key id in metadata, key rotation, CODEC_KEYS parsing; and
the whole data converter every process uses (temporal_client.data_converter_for)."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from dispatch.connection import data_converter_for
from encryption.codec import (
    ENCODING,
    KEY_ID,
    PLAIN_ENCODING,
    REFUSED,
    CodecKeyError,
    EncryptionCodec,
    PlainPayloadRefused,
    new_key_spec,
    parse_keys,
)

OLD_KEY = os.urandom(32)
NEW_KEY = os.urandom(32)
OLD = f"old:{base64.b64encode(OLD_KEY).decode()}"
NEW = f"new:{base64.b64encode(NEW_KEY).decode()}"
PHONE = "+31612345678"


def plain(text: str = '{"phone": "+31612345678"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def roundtrip(codec: EncryptionCodec, payload: Payload) -> Payload:
    (encoded,) = await codec.encode([payload])
    (decoded,) = await codec.decode([encoded])
    return decoded


# ---------------------------------------------------------------- the codec


async def test_round_trip_keeps_data_and_metadata() -> None:
    codec = EncryptionCodec(parse_keys(OLD))
    original = plain()
    original.metadata["messageType"] = b"some.Type"
    assert await roundtrip(codec, original) == original


async def test_ciphertext_is_fresh_each_time_and_names_its_key() -> None:
    codec = EncryptionCodec(parse_keys(OLD))
    first, second = await codec.encode([plain(), plain()])
    for encoded in (first, second):
        assert encoded.metadata["encoding"] == ENCODING == b"binary/encrypted"
        assert encoded.metadata[KEY_ID] == b"old"
        assert set(encoded.metadata) == {"encoding", KEY_ID}  # the original metadata is sealed too
        assert PHONE.encode() not in encoded.data
        assert b"json/plain" not in encoded.data
    assert first.data != second.data  # a random nonce per payload
    assert first.data[:12] != second.data[:12]


async def test_rotation_old_payloads_still_decrypt_new_ones_use_the_new_key() -> None:
    before = EncryptionCodec(parse_keys(OLD))
    (written_before,) = await before.encode([plain()])

    after = EncryptionCodec(parse_keys(f"{NEW},{OLD}"))
    assert (await after.decode([written_before]))[0] == plain()
    (written_after,) = await after.encode([plain()])
    assert written_after.metadata[KEY_ID] == b"new"
    # the old ring cannot read what the new key wrote
    with pytest.raises(CodecKeyError):
        await before.decode([written_after])


async def test_unknown_key_id_raises_without_key_material() -> None:
    (encoded,) = await EncryptionCodec(parse_keys(OLD)).encode([plain()])
    reader = EncryptionCodec(parse_keys(NEW))
    with pytest.raises(CodecKeyError) as caught:
        await reader.decode([encoded])
    message = str(caught.value)
    assert "old" in message
    for material in (OLD_KEY, NEW_KEY):
        assert base64.b64encode(material).decode() not in message
        assert material.hex() not in message


async def test_tampered_ciphertext_does_not_decrypt() -> None:
    codec = EncryptionCodec(parse_keys(OLD))
    (encoded,) = await codec.encode([plain()])
    for position in (0, 12, len(encoded.data) - 1):  # nonce, ciphertext, tag
        tampered = Payload()
        tampered.CopyFrom(encoded)
        data = bytearray(encoded.data)
        data[position] ^= 0x01
        tampered.data = bytes(data)
        with pytest.raises(InvalidTag):
            await codec.decode([tampered])


async def test_swapped_key_id_does_not_decrypt() -> None:
    """The key id is bound as associated data: even a ring holding the same key under two ids refuses a
    payload relabelled from one to the other."""
    same = base64.b64encode(OLD_KEY).decode()
    codec = EncryptionCodec(parse_keys(f"a:{same},b:{same},{NEW}"))
    (encoded,) = await codec.encode([plain()])
    assert encoded.metadata[KEY_ID] == b"a"
    for other in (b"b", b"new"):
        relabelled = Payload()
        relabelled.CopyFrom(encoded)
        relabelled.metadata[KEY_ID] = other
        with pytest.raises(InvalidTag):
            await codec.decode([relabelled])


async def test_unencrypted_payloads_pass_through_decode_for_display() -> None:
    """The codec server shows plain payloads (the SDK's patch markers) as they are."""
    codec = EncryptionCodec(parse_keys(OLD), refuse_plain=False)
    untouched = [plain(), Payload(metadata={"encoding": b"binary/null"}), Payload()]
    assert await codec.decode(untouched) == untouched


async def test_unencrypted_payloads_decode_refused_and_cannot_be_read() -> None:
    """What every client and worker runs with: a plain payload keeps nothing but its encoding's name, and
    reading it raises (so the SDK rejects an Update made of it, rather than failing the workflow task)."""
    codec = EncryptionCodec(parse_keys(OLD))
    decoded = await codec.decode([plain(), Payload(metadata={"encoding": b"binary/null"}), Payload()])
    assert [p.metadata["encoding"] for p in decoded] == [REFUSED] * 3
    assert [p.metadata[PLAIN_ENCODING] for p in decoded] == [b"json/plain", b"binary/null", b""]
    assert all(p.data == b"" for p in decoded)
    (encrypted,) = await codec.encode([plain()])
    assert await codec.decode([encrypted]) == [plain()]  # an encrypted one decodes as before

    converter = data_converter_for(parse_keys(OLD))
    with pytest.raises(PlainPayloadRefused) as caught:
        await converter.decode([plain()], [Reply])
    assert caught.value.type == "PlainPayloadRefused" and caught.value.non_retryable
    assert "json/plain" in caught.value.message and PHONE not in caught.value.message


# ---------------------------------------------------------------- CODEC_KEYS


def test_parse_keys_keeps_the_order_first_encrypts() -> None:
    ring = parse_keys(f" {NEW} , {OLD} ,")
    assert ring.ids == ["new", "old"]
    assert ring.current == ("new", NEW_KEY)
    assert ring.get("old") == OLD_KEY
    assert ring.get("gone") is None


def test_new_key_spec_parses() -> None:
    ring = parse_keys(new_key_spec("k2"))
    assert ring.ids == ["k2"]
    assert len(ring.current[1]) == 32


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (base64.b64encode(OLD_KEY).decode(), "KEY_ID:BASE64_32_BYTES"),  # missing colon
        (f":{base64.b64encode(OLD_KEY).decode()}", "KEY_ID:BASE64_32_BYTES"),  # missing id
        ("k1:not*base64!", "not valid base64"),
        (f"k1:{base64.b64encode(os.urandom(16)).decode()}", "32 bytes"),
        (f"k1:{base64.b64encode(os.urandom(33)).decode()}", "32 bytes"),
        ("k1:", "32 bytes"),
        (f"{OLD},old:{base64.b64encode(NEW_KEY).decode()}", "twice"),
        ("", "no keys"),
        (" , ", "no keys"),
    ],
)
def test_parse_keys_rejects_malformed_entries_with_one_line(spec: str, says: str) -> None:
    with pytest.raises(CodecKeyError) as caught:
        parse_keys(spec)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    for material in (OLD_KEY, NEW_KEY):
        assert base64.b64encode(material).decode() not in message


# ---------------------------------------------------------------- the data converter, end to end


class Reply(BaseModel):
    case_id: str
    phone: str


async def test_data_converter_encrypts_pydantic_models() -> None:
    converter = data_converter_for(parse_keys(f"{NEW},{OLD}"))
    reply = Reply(case_id="case-1", phone=PHONE)
    (payload,) = await converter.encode([reply])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == b"new"
    assert PHONE.encode() not in payload.SerializeToString()
    assert await converter.decode([payload], [Reply]) == [reply]


async def test_data_converter_hides_failure_messages_and_decodes_them_back() -> None:
    converter = data_converter_for(parse_keys(OLD))
    error = ApplicationError(f"could not text {PHONE}", {"phone": PHONE}, type="Unreachable")
    failure = Failure()
    await converter.encode_failure(error, failure)

    # what history would hold: no readable message, details or stack trace
    stored = failure.SerializeToString()
    assert PHONE.encode() not in stored
    assert failure.message == "Encoded failure"
    assert failure.stack_trace == ""
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert failure.application_failure_info.type == "Unreachable"
    for detail in failure.application_failure_info.details.payloads:
        assert detail.metadata["encoding"] == ENCODING

    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert decoded.message == f"could not text {PHONE}"
    assert decoded.type == "Unreachable"
    assert list(decoded.details) == [{"phone": PHONE}]


async def test_data_converter_without_the_key_cannot_read_a_failure() -> None:
    writer = data_converter_for(parse_keys(OLD))
    failure = Failure()
    await writer.encode_failure(ApplicationError(f"call {PHONE}"), failure)
    with pytest.raises(CodecKeyError):
        await data_converter_for(parse_keys(NEW)).decode_failure(failure)
