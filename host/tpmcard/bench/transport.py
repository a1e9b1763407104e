"""ECHO round trips: tpmcard's transports against raw calls on the same path.

Paths (issue "Foundation", benchmark):
  (a) raw jCardSim through JPype, no tpmcard code       vs (b) tpmcard's in-process transport
  (c) raw pyscard SCardTransmit over pcscd + vpcd       vs (d) tpmcard's PC/SC transport
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tpmcard import constants as C
from tpmcard import manifest
from tpmcard.apdu import SHORT_CASE4_MAX_DATA, ApduSession, CommandApdu
from tpmcard.bench import interleaved
from tpmcard.errors import TpmcardError

SIZES = (0, 255, 1024, 4096)


def echo_apdu(data: bytes) -> bytes:
    """Exactly the bytes ApduSession sends for ECHO of ``data`` on an extended-length link."""
    command = CommandApdu(C.CLA_PROPRIETARY, C.INS_ECHO, 0, 0, data, 0)
    return command.encode(extended=len(data) > SHORT_CASE4_MAX_DATA)


def _compare(
    raw_transmit: Callable[[bytes], bytes],
    session: ApduSession,
    sizes: tuple[int, ...],
    rounds: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tpmcard_echo = partial(session.send_apdu, C.CLA_PROPRIETARY, C.INS_ECHO, 0, 0)
    for size in sizes:
        data = bytes((i * 13) & 0xFF for i in range(size))
        apdu = echo_apdu(data)
        expected = data + b"\x90\x00"
        if raw_transmit(apdu) != expected:
            raise TpmcardError(f"raw ECHO of {size} bytes came back altered")
        if session.send_apdu(C.CLA_PROPRIETARY, C.INS_ECHO, 0, 0, data) != data:
            raise TpmcardError(f"tpmcard ECHO of {size} bytes came back altered")
        samples = interleaved(
            {"raw": partial(raw_transmit, apdu), "tpmcard": partial(tpmcard_echo, data)}, rounds
        )
        raw, ours = samples["raw"].median, samples["tpmcard"].median
        out[str(size)] = {
            "raw_us": round(raw * 1e6, 1),
            "tpmcard_us": round(ours * 1e6, 1),
            "ratio": round(ours / raw, 3),
        }
    return out


def measure_jcardsim(sizes: tuple[int, ...] = SIZES, rounds: int = 400) -> dict[str, Any]:
    """(a) against (b): a bare simulator against the persistent in-process card."""
    from tpmcard.transport.jcardsim import JCardSimConnection
    from tpmcard.transport.raw import RawJCardSim

    raw = RawJCardSim().transmit_function()
    core_aid = manifest.applet_aid("core")
    raw(bytes.fromhex("00A40400") + bytes([len(core_aid)]) + core_aid)
    with tempfile.TemporaryDirectory(prefix="tpmcard-bench-") as tmp:
        with JCardSimConnection(Path(tmp) / "card", purpose="tpmcard bench") as connection:
            session = ApduSession(connection)
            from tpmcard.services.core import CoreSession

            CoreSession(session.send_apdu).select()
            return {"path": "in-process jCardSim", "sizes": _compare(raw, session, sizes, rounds)}


def measure_pcsc(
    sizes: tuple[int, ...] = SIZES, rounds: int = 300, reader: str | None = None
) -> dict[str, Any]:
    """(c) against (d). Without ``reader``, serve a simulated card on the second vpcd reader."""
    from tpmcard.services.core import CoreSession
    from tpmcard.transport.pcsc import PcscConnection
    from tpmcard.transport.raw import RawPcsc

    stack = None
    with tempfile.TemporaryDirectory(prefix="tpmcard-bench-") as tmp:
        if reader is None:
            from tpmcard.bench.suite import served_card

            stack = served_card(Path(tmp) / "card")
            reader = stack.reader
        try:
            with PcscConnection(reader) as connection, RawPcsc(reader) as raw_card:
                session = ApduSession(connection)
                CoreSession(session.send_apdu).select()
                raw = raw_card.transmit_function()
                return {"path": f"PC/SC: {reader}", "sizes": _compare(raw, session, sizes, rounds)}
        finally:
            if stack is not None:
                stack.stop()
