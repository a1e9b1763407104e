"""The Connection contract, over both transports (in-process jCardSim and PC/SC via vpcd)."""

from __future__ import annotations

import pytest
from tpmcard import manifest
from tpmcard.transport.base import Connection

CORE_AID = manifest.load().applet("core").aid
SELECT_CORE = bytes([0x00, 0xA4, 0x04, 0x00, len(CORE_AID)]) + CORE_AID + b"\x00"


def echo_command(data: bytes) -> bytes:
    if not data:
        return bytes.fromhex("80EE000000")
    if len(data) < 255:
        return bytes([0x80, 0xEE, 0, 0, len(data)]) + data + b"\x00"
    return bytes([0x80, 0xEE, 0, 0, 0]) + len(data).to_bytes(2, "big") + data + b"\x00\x00"


def test_select_core(connection: Connection) -> None:
    response = connection.transmit(SELECT_CORE)
    assert response[-2:] == b"\x90\x00"
    assert response[0] == 0xA1


@pytest.mark.parametrize("size", [0, 1, 200, 254, 255, 256, 1000, 4096])
def test_echo(connection: Connection, size: int) -> None:
    assert connection.transmit(SELECT_CORE)[-2:] == b"\x90\x00"
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert connection.transmit(echo_command(data)) == data + b"\x90\x00"


def test_identity_key_is_stable_across_reset(connection: Connection) -> None:
    connection.transmit(SELECT_CORE)
    key = connection.transmit(bytes.fromhex("00CA7F4900"))
    assert key[-2:] == b"\x90\x00" and len(key) == 2 + 5 + 65
    connection.reset()
    assert connection.transmit(bytes.fromhex("00CA7F4900")) == bytes.fromhex(
        "6986"
    )  # none selected
    connection.transmit(SELECT_CORE)
    assert connection.transmit(bytes.fromhex("00CA7F4900")) == key


def test_link_properties(connection: Connection) -> None:
    assert connection.atr == bytes.fromhex("3B858131FE4580738001C03C")
    assert connection.supports_extended
    assert connection.name
