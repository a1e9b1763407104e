"""Baselines for ``tpmcard bench``: the card reached with no tpmcard code in the loop.

* :class:`RawJCardSim`: a bare jCardSim ``Simulator`` with the suite's applets installed, called
  the way any Python program would call it through JPype (bytes -> Java byte[] -> bytes).
* :class:`RawPcsc`: pyscard's low-level ``SCardTransmit`` on a connected card handle.

They live in the transport layer because they import JPype and pyscard.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tpmcard import manifest
from tpmcard.errors import NoReaderError, TransportError
from tpmcard.lifetime import Closeable
from tpmcard.transport import jcardsim


class RawJCardSim:
    """A jCardSim simulator of its own (not the persistent card), with the suite installed."""

    def __init__(self) -> None:
        jcardsim.start_jvm()
        import jpype

        simulator_class = jpype.JClass("com.licel.jcardsim.base.Simulator")
        runtime_class = jpype.JClass("com.licel.jcardsim.base.SimulatorRuntime")
        aid_util = jpype.JClass("com.licel.jcardsim.utils.AIDUtil")
        self._jbytes = jpype.JArray(jpype.JByte)
        # A runtime of its own: `new Simulator()` would share (and reset) jCardSim's static one.
        self._sim: Any = simulator_class(runtime_class())
        for applet in manifest.load().applets():
            aid = aid_util.create(applet.aid.hex())
            entropy = os.urandom(32)
            # GP install parameters: [len AID][AID][len control][control][len params][params].
            params = bytes([len(applet.aid)]) + applet.aid + b"\x00" + bytes([32]) + entropy
            self._sim.installApplet(
                aid, jpype.JClass(applet.class_name), self._jbytes(params), 0, len(params)
            )

    def transmit_function(self) -> Callable[[bytes], bytes]:
        """``f(apdu) -> response``: Python bytes in, Python bytes out, nothing else."""
        transmit = self._sim.transmitCommand
        jbytes = self._jbytes

        def f(apdu: bytes) -> bytes:
            return bytes(transmit(jbytes(apdu)))

        return f


class RawPcsc(Closeable):
    """A card handle in a PC/SC reader, through pyscard's SCard API only."""

    def __init__(self, reader: str) -> None:
        from smartcard import scard

        self._scard = scard
        hresult, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise TransportError(f"PC/SC: {scard.SCardGetErrorMessage(hresult)}")
        hresult, readers = scard.SCardListReaders(self._context, [])
        if reader not in (readers or []):
            scard.SCardReleaseContext(self._context)
            raise NoReaderError(f"no PC/SC reader named {reader!r} (have: {readers})")
        hresult, self._card, self._protocol = scard.SCardConnect(
            self._context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(self._context)
            raise TransportError(f"PC/SC connect: {scard.SCardGetErrorMessage(hresult)}")

    def transmit_function(self) -> Callable[[bytes], bytes]:
        scard = self._scard
        card, protocol = self._card, self._protocol

        def f(apdu: bytes) -> bytes:
            hresult, response = scard.SCardTransmit(card, protocol, list(apdu))
            if hresult != scard.SCARD_S_SUCCESS:
                raise TransportError(f"PC/SC transmit: {scard.SCardGetErrorMessage(hresult)}")
            return bytes(response)

        return f

    def close(self) -> None:
        scard = self._scard
        scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(self._context)
