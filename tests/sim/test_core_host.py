"""The host stack (APDU layer + core session) against the real core applet, over both
transports: in-process jCardSim and PC/SC through pcscd + vpcd."""

from __future__ import annotations

import hashlib

import pytest
from tpmcard import constants as C
from tpmcard.apdu import SW, ApduSession
from tpmcard.errors import ApduError
from tpmcard.services.core import CoreSession, point_bytes
from tpmcard.transport.base import Connection

SIZES = [0, 1, 254, 255, 256, 257, 1024, 4095, 4096]


def pattern(size: int) -> bytes:
    return bytes((i * 31 + 7) & 0xFF for i in range(size))


@pytest.fixture
def session(connection: Connection) -> ApduSession:
    return ApduSession(connection)


@pytest.fixture
def core(session: ApduSession) -> CoreSession:
    core = CoreSession(session.send_apdu)
    core.select()
    return core


def assert_card_works(core: CoreSession) -> None:
    assert core.echo(b"still alive") == b"still alive"


def test_info(core: CoreSession) -> None:
    info = core.info
    assert info is not None
    assert info.version == (C.VERSION_MAJOR, C.VERSION_MINOR)
    assert info.extended_length and info.command_chaining and info.response_chaining
    assert info.max_command == C.MAX_COMMAND_DATA
    assert info.max_response == C.MAX_RESPONSE_DATA
    # jCardSim's short APDU buffer (260 bytes, the SELECT's).
    assert info.service_window == 260


def test_identity_key_matches_card_id(core: CoreSession) -> None:
    key = core.identity_key()
    assert core.info is not None
    assert hashlib.sha256(point_bytes(key)).digest()[:16] == core.info.card_id


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("extended", [None, False], ids=["extended", "chained"])
def test_echo_every_size(connection: Connection, size: int, extended: bool | None) -> None:
    session = ApduSession(connection, extended=extended)
    core = CoreSession(session.send_apdu)
    core.select()
    before = session.exchanges
    assert core.echo(pattern(size)) == pattern(size)
    used = session.exchanges - before
    if extended is False and size > 254:
        # command chaining out, response chaining (61xx + GET RESPONSE) back
        assert used >= 2
    if extended is None:
        assert used == 1


def test_oversized_data_is_wrong_length(core: CoreSession, session: ApduSession) -> None:
    with pytest.raises(ApduError) as info:
        core.echo(pattern(C.MAX_PLAIN_DATA + 1))
    assert info.value.sw == SW.WRONG_LENGTH
    assert_card_works(core)


def test_oversized_chain_is_wrong_length(connection: Connection) -> None:
    session = ApduSession(connection, extended=False)
    core = CoreSession(session.send_apdu)
    core.select()
    with pytest.raises(ApduError) as info:
        core.echo(pattern(C.MAX_PLAIN_DATA + 300))
    assert info.value.sw == SW.WRONG_LENGTH
    assert_card_works(core)


@pytest.mark.parametrize(
    ("cla", "ins", "p1", "p2", "sw"),
    [
        (0xB0, C.INS_ECHO, 0, 0, SW.CLA_NOT_SUPPORTED),
        (C.CLA_PROPRIETARY, 0x42, 0, 0, SW.INS_NOT_SUPPORTED),
        (C.CLA_PROPRIETARY, C.INS_ECHO, 1, 0, SW.INCORRECT_P1P2),
        (C.CLA_ISO, C.INS_GET_DATA, 0x12, 0x34, SW.REFERENCED_DATA_NOT_FOUND),
        (C.CLA_ISO, C.INS_GET_RESPONSE, 0, 0, SW.CONDITIONS_NOT_SATISFIED),
    ],
    ids=["cla", "ins", "p1p2", "get-data-tag", "get-response-nothing-pending"],
)
def test_bad_commands_get_their_status_word(
    core: CoreSession, session: ApduSession, cla: int, ins: int, p1: int, p2: int, sw: int
) -> None:
    with pytest.raises(ApduError) as info:
        session.send_apdu(cla, ins, p1, p2, b"")
    assert info.value.sw == sw
    assert_card_works(core)


@pytest.mark.parametrize(
    "raw",
    [
        "80EE00000501",  # Lc 5, one byte follows
        "80EE0000050102030405060708",  # Lc 5, eight bytes follow (more than Lc + Le)
        "80EE00000000",  # extended marker without a length
    ],
    ids=["truncated", "too-long-for-lc", "empty-extended"],
)
def test_malformed_apdu_is_wrong_length(
    connection: Connection, core: CoreSession, raw: str
) -> None:
    response = connection.transmit(bytes.fromhex(raw))
    assert response[-2:] == bytes.fromhex("6700")
    assert_card_works(core)


def test_interleaved_command_breaks_the_chain(connection: Connection, core: CoreSession) -> None:
    first = bytes([C.CLA_PROPRIETARY | C.CLA_CHAINING_BIT, C.INS_ECHO, 0, 0, 10]) + b"A" * 10
    assert connection.transmit(first)[-2:] == b"\x90\x00"
    interleaved = bytes([C.CLA_ISO, C.INS_GET_DATA, 0x7F, 0x49, 0])
    assert connection.transmit(interleaved)[-2:] == C.SW_LAST_COMMAND_EXPECTED.to_bytes(2, "big")
    # the chain was discarded: the last segment alone is echoed, nothing of the first
    last = bytes([C.CLA_PROPRIETARY, C.INS_ECHO, 0, 0, 3]) + b"xyz" + b"\x00"
    assert connection.transmit(last) == b"xyz\x90\x00"
    assert_card_works(core)


def test_response_chaining_with_short_le(connection: Connection, core: CoreSession) -> None:
    session = ApduSession(connection, extended=False)
    data = pattern(1000)
    assert session.send_apdu(C.CLA_PROPRIETARY, C.INS_ECHO, 0, 0, data) == data
