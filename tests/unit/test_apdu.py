"""The APDU codec and the chaining processor, without a card."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tpmcard.apdu import (
    SW,
    ApduSession,
    CommandApdu,
    ResponseApdu,
    check_status,
    describe_sw,
    register_sensitive,
    sw_family,
)
from tpmcard.errors import ApduError, ProtocolError
from tpmcard.transport.base import Connection

byte = st.integers(0, 255)
le_values = st.one_of(st.none(), st.integers(1, 65536))


@given(byte, byte, byte, byte, st.binary(max_size=600), le_values)
def test_encode_decode_round_trip(cla: int, ins: int, p1: int, p2: int, data: bytes, le) -> None:
    cmd = CommandApdu(cla, ins, p1, p2, data, le)
    for extended in (None, True):
        assert CommandApdu.decode(cmd.encode(extended)) == cmd


@given(st.binary(max_size=255), st.one_of(st.none(), st.integers(1, 256)))
def test_short_encoding_layout(data: bytes, le) -> None:
    raw = CommandApdu(0x80, 0xEE, 1, 2, data, le).encode()
    expected_len = 4 + (1 + len(data) if data else 0) + (1 if le is not None else 0)
    assert len(raw) == expected_len
    if data:
        assert raw[4] == len(data)


def test_extended_layouts() -> None:
    assert CommandApdu(0, 1, 2, 3, b"", 65536).encode(True) == bytes.fromhex("00010203000000")
    assert CommandApdu(0, 1, 2, 3, b"\xaa" * 2).encode(True) == bytes.fromhex("00010203000002aaaa")
    assert CommandApdu(0, 1, 2, 3, b"\xaa", 65536).encode(True) == bytes.fromhex(
        "00010203000001aa0000"
    )
    with pytest.raises(ValueError):
        CommandApdu(0, 1, 2, 3, b"\x00" * 256).encode(False)


@pytest.mark.parametrize(
    "raw",
    [
        "000102",  # shorter than a header
        "0001020305aabb",  # Lc 5 but two bytes
        "000102030000",  # extended, truncated
        "0001020300000501",  # extended Lc 5, one byte
        "00010203000000aa",  # extended Lc of zero followed by data
    ],
)
def test_decode_rejects_malformed(raw: str) -> None:
    with pytest.raises(ValueError):
        CommandApdu.decode(bytes.fromhex(raw))


@given(st.binary(max_size=300))
def test_decode_never_crashes(raw: bytes) -> None:
    try:
        CommandApdu.decode(raw)
    except ValueError:
        pass


def test_field_ranges() -> None:
    with pytest.raises(ValueError):
        CommandApdu(256, 0, 0, 0)
    with pytest.raises(ValueError):
        CommandApdu(0, 0, 0, 0, le=65537)
    with pytest.raises(ValueError):
        CommandApdu(0, 0, 0, 0, b"\x00" * 65536)


def test_response_decode() -> None:
    assert ResponseApdu.decode(bytes.fromhex("aabb9000")) == ResponseApdu(b"\xaa\xbb", 0x9000)
    with pytest.raises(ProtocolError):
        ResponseApdu.decode(b"\x90")


def test_status_words() -> None:
    assert sw_family(0x63C2) is SW.VERIFY_FAILED
    assert sw_family(0x6110) is SW.BYTES_REMAINING
    assert sw_family(0x6C05) is SW.CORRECT_LENGTH
    assert sw_family(0x1234) is None
    assert "2 tries left" in describe_sw(0x63C2)
    check_status(0x9000)
    with pytest.raises(ApduError) as info:
        check_status(0x6D00, b"")
    assert info.value.sw == SW.INS_NOT_SUPPORTED
    assert "6D00" in str(info.value) and "instruction not supported" in str(info.value)


class ScriptedCard(Connection):
    """A minimal card model: ECHO with command chaining, 61xx response chaining, 6Cxx."""

    name = "scripted"

    def __init__(self, extended: bool = True, chunk: int = 256, wrong_le: bool = False) -> None:
        self._extended = extended
        self.chunk = chunk
        self.wrong_le = wrong_le
        self.chain = bytearray()
        self.pending = b""
        self.sent: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return b"\x3b\x00"

    @property
    def supports_extended(self) -> bool:
        return self._extended

    def reset(self) -> None:
        self.chain.clear()
        self.pending = b""

    def close(self) -> None:
        pass

    def _respond(self, data: bytes) -> bytes:
        first, self.pending = data[: self.chunk], data[self.chunk :]
        if self.pending:
            return first + bytes((0x61, min(len(self.pending), 256) & 0xFF))
        return first + b"\x90\x00"

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        cmd = CommandApdu.decode(apdu)
        if cmd.ins == 0xC0:
            if not self.pending:
                return b"\x69\x85"
            return self._respond(self.pending)
        self.pending = b""
        if cmd.ins != 0xEE:
            return b"\x6d\x00"
        if self.wrong_le and cmd.le != len(cmd.data) and cmd.data:
            return bytes((0x6C, len(cmd.data) & 0xFF))
        self.chain += cmd.data
        if cmd.cla & 0x10:
            return b"\x90\x00"
        data, self.chain = bytes(self.chain), bytearray()
        return self._respond(data)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 1000, 4096])
@pytest.mark.parametrize("extended", [True, False])
def test_echo_chaining(size: int, extended: bool) -> None:
    card = ScriptedCard(extended=extended)
    session = ApduSession(card)
    data = bytes(i & 0xFF for i in range(size))
    assert session.send_apdu(0x80, 0xEE, 0, 0, data) == data
    if not extended and size > 255:
        chained = [a for a in card.sent if a[0] == 0x90]
        assert all(len(a) <= 5 + 255 for a in card.sent)
        assert len(chained) == -(-(size - 254) // 255)
    if extended and size > 255:
        assert card.sent[0][4] == 0  # extended Lc


def test_wrong_le_is_resent() -> None:
    card = ScriptedCard(wrong_le=True)
    session = ApduSession(card)
    assert session.send_apdu(0x80, 0xEE, 0, 0, b"abc", le=10) == b"abc"
    assert CommandApdu.decode(card.sent[-1]).le == 3


def test_error_status_raises_with_sw() -> None:
    session = ApduSession(ScriptedCard())
    with pytest.raises(ApduError) as info:
        session.send_apdu(0x80, 0x01, 0, 0)
    assert info.value.sw == 0x6D00


def test_sensitive_data_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_sensitive(0x80, 0x20)
    session = ApduSession(ScriptedCard())
    with caplog.at_level(logging.DEBUG, logger="tpmcard.apdu"):
        with pytest.raises(ApduError):
            session.send_apdu(0x80, 0x20, 0, 0, b"123456")
    text = caplog.text
    assert "313233343536" not in text
    assert "redacted" in text
