"""PC/SC: reader choice, typed errors, the vpcd card process (tpmcard.sim.VpcdCard)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tpmcard import manifest
from tpmcard.errors import (
    CardRemovedError,
    NoCardError,
    NoReaderError,
    SimulatorError,
    TransportError,
)
from tpmcard.sim import vpcd
from tpmcard.transport import list_readers, open_connection
from tpmcard.transport.base import Connection
from tpmcard.transport.jcardsim import JCardSimConnection
from tpmcard.transport.pcsc import (
    PcscConnection,
    atr_supports_extended,
    card_capabilities,
    choose_reader,
    parse_atr,
)

pytestmark = pytest.mark.pcsc

CORE_AID = manifest.load().applet("core").aid
SELECT_CORE = bytes([0x00, 0xA4, 0x04, 0x00, len(CORE_AID)]) + CORE_AID + b"\x00"
GET_IDENTITY = bytes.fromhex("00CA7F4900")


def identity(connection: Connection) -> bytes:
    assert connection.transmit(SELECT_CORE)[-2:] == b"\x90\x00"
    response = connection.transmit(GET_IDENTITY)
    assert response[-2:] == b"\x90\x00"
    return response


def reopen_until_answered(reader: str, timeout: float = 10.0) -> bytes:
    """The identity of the card in ``reader`` once pcscd has seen it leave and come back."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with PcscConnection(reader) as connection:
                return identity(connection)
        except (CardRemovedError, NoCardError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_readers_are_listed(pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    assert list_readers() == [pcsc_stack.reader, pcsc_stack.spare_reader]


@pytest.mark.parametrize("how", ["exact", "index", "substring"])
def test_reader_choice(pcsc_stack, how: str) -> None:  # type: ignore[no-untyped-def]
    wanted = {"exact": pcsc_stack.reader, "index": "0", "substring": "pcd 00 00"}[how]
    with open_connection(wanted) as connection:
        assert connection.name == pcsc_stack.reader
        assert connection.protocol == "T=1"


def test_wrong_reader_name_lists_the_readers(pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NoReaderError) as excinfo:
        PcscConnection("Acme Reader 9000")
    assert pcsc_stack.reader in str(excinfo.value) and pcsc_stack.spare_reader in str(excinfo.value)
    with pytest.raises(NoReaderError, match="index 7"):
        PcscConnection(7)
    with pytest.raises(NoReaderError, match="several"):
        PcscConnection("Virtual PCD")  # ambiguous substring


def test_empty_reader_is_no_card(pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NoCardError, match="no card"):
        PcscConnection(pcsc_stack.spare_reader)


def test_card_removed_mid_command(pcsc_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    card = vpcd.VpcdCardProcess(
        tmp_path / "card", port=pcsc_stack.spare_port, env={"TPMCARD_SIM_FAULT": "drop-after:3"}
    )
    try:
        vpcd.wait_for_card(pcsc_stack.spare_reader)
        with PcscConnection(pcsc_stack.spare_reader) as connection:
            key = identity(connection)  # APDUs 1 and 2
            with pytest.raises(CardRemovedError):
                connection.transmit(bytes.fromhex("80EE0000021234"))  # APDU 3: pulled out
            with pytest.raises(CardRemovedError):
                connection.transmit(SELECT_CORE)  # the session is gone for good
        assert reopen_until_answered(pcsc_stack.spare_reader) == key  # back, state intact
    finally:
        assert card.stop() == 0


def test_card_state_is_shared_with_the_in_process_simulator(pcsc_stack, jvm: None) -> None:  # type: ignore[no-untyped-def]
    with PcscConnection(pcsc_stack.reader) as connection:
        over_pcsc = identity(connection)
    with pytest.raises(SimulatorError) as excinfo:  # VpcdCard owns the store
        JCardSimConnection(pcsc_stack.card_dir)
    assert excinfo.value.kind == "locked"
    assert f"process {pcsc_stack.card.pid}" in str(excinfo.value)
    assert pcsc_stack.card.stop() == 0  # SIGTERM: saves and exits cleanly
    with JCardSimConnection(pcsc_stack.card_dir) as in_process:
        assert identity(in_process) == over_pcsc
    pcsc_stack.restart_card()
    with PcscConnection(pcsc_stack.reader) as connection:
        assert identity(connection) == over_pcsc


def test_card_reconnects_when_pcscd_restarts(pcsc_stack) -> None:  # type: ignore[no-untyped-def]
    if pcsc_stack.pcscd.process is None:
        pytest.fail(
            "this test restarts pcscd: it needs the private stack (TPMCARD_TEST_PCSCD=private)"
        )
    with PcscConnection(pcsc_stack.reader) as connection:
        before = identity(connection)
    workdir = pcsc_stack.pcscd.socket_path.parent.parent
    port = pcsc_stack.pcscd.base_port
    pcsc_stack.pcscd.stop()
    pcsc_stack.pcscd = vpcd.start_private_pcscd(workdir, base_port=port)
    vpcd.wait_for_card(pcsc_stack.reader)  # the same VpcdCard process found the new vpcd
    assert pcsc_stack.card.alive()
    with PcscConnection(pcsc_stack.reader) as connection:
        assert identity(connection) == before


def test_pcscd_not_running_is_a_transport_error(tmp_path: Path) -> None:
    code = """
        from tpmcard.errors import TransportError
        from tpmcard.transport import list_readers, open_connection
        for attempt in (list_readers, lambda: open_connection("0")):
            try:
                attempt()
            except TransportError as e:
                print(type(e).__name__, "|", e)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        kind, message = line.split(" | ")
        assert kind == "TransportError"
        assert "pcscd is not running" in message and "pcscd --foreground" in message


def test_atr_parsing() -> None:
    sim = bytes.fromhex("3B858131FE4580738001C03C")
    assert parse_atr(sim) == ({1}, bytes.fromhex("80738001C0"))
    assert card_capabilities(parse_atr(sim)[1]) == bytes.fromhex("8001C0")
    assert atr_supports_extended(sim)
    jcop = bytes.fromhex("3BFA1800008131FE454A434F5033315632333298")  # jCardSim's default
    assert parse_atr(jcop)[0] == {1}
    assert not atr_supports_extended(jcop)  # historical bytes are text, not compact-TLV
    assert parse_atr(bytes.fromhex("3B00")) == ({0}, b"")


def test_choose_reader_without_readers() -> None:
    with pytest.raises(NoReaderError, match="no readers"):
        choose_reader([], None)
    assert choose_reader(["A"], None) == "A"
    with pytest.raises(NoReaderError):
        choose_reader(["A", "B"], None)


def test_transport_error_types() -> None:
    assert issubclass(NoReaderError, TransportError)
    assert issubclass(NoCardError, TransportError)
    assert issubclass(CardRemovedError, TransportError)
