"""Parsing of the core applet's answers, without a card."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from tpmcard import tlv
from tpmcard.errors import ProtocolError
from tpmcard.services.core import CoreSession, parse_info, parse_public_key, point_bytes


def info_bytes(card_id: bytes = b"\x11" * 16, features: int = 7, extra: bytes = b"") -> bytes:
    body = (
        tlv.encode(0x80, card_id)
        + tlv.encode(0x81, b"\x01\x00")
        + tlv.encode(0x82, features.to_bytes(2, "big"))
        + tlv.encode(0x83, (4096).to_bytes(2, "big"))
        + tlv.encode(0x84, (4096).to_bytes(2, "big"))
        + tlv.encode(0x85, (228).to_bytes(2, "big"))
        + extra
    )
    return tlv.encode(0xA1, body)


def test_parse_info() -> None:
    info = parse_info(info_bytes())
    assert info.card_id == b"\x11" * 16
    assert info.version == (1, 0)
    assert info.feature_names() == ["extended-length", "command-chaining", "response-chaining"]
    assert info.max_command == info.max_response == 4096
    assert info.service_window == 228


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        info_bytes()[:-1],
        info_bytes(card_id=b"\x11" * 15),
        tlv.encode(0xA2, b""),
        info_bytes() + b"\x00",
    ],
)
def test_parse_info_rejects(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_info(raw)


@given(st.binary(max_size=120))
def test_parse_info_fuzz(raw: bytes) -> None:
    try:
        parse_info(raw)
    except ProtocolError:
        pass


def _key_do(point: bytes) -> bytes:
    return tlv.encode(0x7F49, tlv.encode(0x86, point))


def test_identity_key_checked_against_card_id() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = point_bytes(key)
    card_id = hashlib.sha256(point).digest()[:16]
    answers = {0xA4: info_bytes(card_id), 0xCA: _key_do(point)}

    def send(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0) -> bytes:
        return answers[ins]

    session = CoreSession(send)
    session.select()
    assert point_bytes(session.identity_key()) == point
    answers[0xA4] = info_bytes(b"\x00" * 16)
    session.select()
    with pytest.raises(ProtocolError, match="does not match"):
        session.identity_key()


@pytest.mark.parametrize("point", [b"\x04" + b"\x00" * 64, b"\x02" + b"\x00" * 64, b"\x04" * 10])
def test_bad_points(point: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_public_key(_key_do(point))
