"""The image format alone (no card): round trips at every size around chunk boundaries, and any
change to the content header, trailer or chunks fails authentication (hypothesis)."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tpmcard.services.env import format as fmt
from tpmcard.services.env.attestation import tpm2_tools_serialized_pcrs

CHUNK = fmt.MIN_CHUNK_SIZE
KEY = bytes(range(32))
POLICY = {"host_pcrs": [], "mtpm_pcrs": [10], "launcher_pcr": 8, "image_pcr": 9}


def packed(data: bytes, key: bytes = KEY) -> bytes:
    header = fmt.Header(
        fmt.new_content("file", POLICY, CHUNK), {"card_id": "aa", "sealed_key": "bb"}
    )
    out = io.BytesIO()
    fmt.encrypt_stream(io.BytesIO(data), out, header, key)
    return out.getvalue()


def unpacked(image: bytes, key: bytes = KEY) -> bytes:
    stream = io.BytesIO(image)
    header = fmt.Header.read(stream)
    return b"".join(fmt.decrypt_chunks(stream, header, key))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip_and_header(size: int) -> None:
    data = os.urandom(size)
    image = packed(data)
    assert unpacked(image) == data
    header = fmt.Header.read(io.BytesIO(image))
    assert header.size == size
    body = len(image) - header.length
    assert body == size + fmt.TAG_SIZE * max(1, -(-size // CHUNK))
    assert header.digest == fmt.image_digest(size, header.content_hash)


def test_two_packs_of_the_same_data_differ_but_measure_alike() -> None:
    data = os.urandom(2 * CHUNK)
    one, two = packed(data), packed(data)
    assert one[-100:] != two[-100:]  # fresh salt: fresh file key and nonces
    assert fmt.Header.read(io.BytesIO(one)).digest == fmt.Header.read(io.BytesIO(two)).digest


def test_wrong_key_fails_the_first_chunk() -> None:
    image = packed(os.urandom(3 * CHUNK))
    with pytest.raises(fmt.ImageIntegrityError) as refused:
        unpacked(image, bytes(32))
    assert refused.value.chunk == 0


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 3 * CHUNK + 5), where=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_any_flipped_bit_after_the_binding_is_refused(size: int, where: int, bit: int) -> None:
    image = bytearray(packed(os.urandom(size)))
    header = fmt.Header.read(io.BytesIO(bytes(image)))
    binding_end = header.length - fmt.TRAILER.size
    # Everything but the binding part (card id, sealed key: the card authenticates those).
    content_end = len(fmt.MAGIC) + 4 + len(header.content_bytes())
    positions = [*range(content_end), *range(binding_end, len(image))]
    position = positions[where % len(positions)]
    image[position] ^= 1 << bit
    with pytest.raises((fmt.ImageIntegrityError, fmt.ImageFormatError)):
        unpacked(bytes(image))


def test_not_an_image() -> None:
    with pytest.raises(fmt.ImageFormatError):
        fmt.Header.read(io.BytesIO(b"QFI\xfb" + bytes(100)))


def test_tpm2_tools_serialized_layout() -> None:
    values = {i: bytes([i]) * 32 for i in range(10)}
    blob = tpm2_tools_serialized_pcrs(values)
    assert len(blob) == 132 + 4 + 2 * (4 + 8 * 66)
    assert blob[:8] == bytes.fromhex("010000000b0003ff")
    assert blob[136:142] == bytes.fromhex("080000002000") and blob[142:174] == bytes(32)
