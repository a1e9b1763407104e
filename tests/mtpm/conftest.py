"""A simulated card with the core applet and the mobile TPM, reached like INS_INVOKE will reach it.

Until the core applet's INVOKE lands, ``invoke`` stands in for it: with the core applet selected
(so the service sees it as the client) it looks the service up through its Shareable interface
(``SimulatorRuntime.getSharedObject``, what JCSystem.getAppletShareableInterfaceObject does),
calls ``SuiteService.invoke`` with the host PCRs of the test's choosing, aborts any open
transaction on an error and raises ApduError with the service's status word, as the core will.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from tpmcard.errors import ApduError
from tpmcard.mtpm import MTPM_AID, MtpmSession

CORE_AID = "F074706D63010001"


class SimulatedMtpmCard:
    def __init__(self, entropy: bytes) -> None:
        import jpype

        self._jp = jpype
        simulator_class = jpype.JClass("com.licel.jcardsim.base.Simulator")
        self.runtime = jpype.JClass("com.licel.jcardsim.base.SimulatorRuntime")()
        self.simulator = simulator_class(self.runtime)
        aid_util = jpype.JClass("com.licel.jcardsim.utils.AIDUtil")
        self.core_aid = aid_util.create(CORE_AID)
        self.mtpm_aid = aid_util.create(MTPM_AID.hex().upper())
        for aid, cls in (
            (self.core_aid, "tpmcard.core.CoreApplet"),
            (self.mtpm_aid, "tpmcard.mtpm.MtpmApplet"),
        ):
            aid_bytes = bytes.fromhex(CORE_AID if aid is self.core_aid else MTPM_AID.hex())
            params = bytes([len(aid_bytes)]) + aid_bytes + b"\x00" + bytes([len(entropy)]) + entropy
            self.simulator.installApplet(
                aid, jpype.JClass(cls), jpype.JArray(jpype.JByte)(params), 0, len(params)
            )
        self.host_pcrs = bytearray(9 * 32)
        self.session_id = 1
        self._jcsystem = jpype.JClass("javacard.framework.JCSystem")
        self._iso = jpype.JClass("javacard.framework.ISOException")

    def reset(self) -> None:
        self.simulator.reset()
        self.session_id += 1

    def invoke(self, ins: int, p1: int, p2: int, data: bytes) -> bytes:
        jp = self._jp
        self.simulator.selectApplet(self.core_aid)  # activates this card's runtime, too
        service = self.runtime.getSharedObject(self.mtpm_aid, 0x53)
        byte_array = jp.JArray(jp.JByte)
        inp = byte_array(b"\x00" * 5 + data)
        out = byte_array(4096)
        try:
            n = service.invoke(
                jp.JByte(ins if ins < 128 else ins - 256),
                jp.JByte(p1 if p1 < 128 else p1 - 256),
                jp.JByte(p2 if p2 < 128 else p2 - 256),
                inp,
                5,
                len(data),
                out,
                0,
                byte_array(bytes(self.host_pcrs)),
                0,
                self.session_id,
            )
        except jp.JException as exc:
            if self._jcsystem.getTransactionDepth() != 0:
                self._jcsystem.abortTransaction()
            if isinstance(exc, self._iso):
                raise ApduError(int(exc.getReason()) & 0xFFFF) from None
            raise ApduError(0x6F00) from None
        return bytes(bytearray(out[0 : int(n)]))

    def session(self) -> MtpmSession:
        return MtpmSession(self.invoke)


@pytest.fixture
def make_card(jvm: None) -> Callable[..., SimulatedMtpmCard]:
    def make(entropy: bytes | None = None) -> SimulatedMtpmCard:
        return SimulatedMtpmCard(entropy if entropy is not None else os.urandom(32))

    return make


@pytest.fixture
def card(make_card: Callable[..., SimulatedMtpmCard]) -> SimulatedMtpmCard:
    return make_card()


@pytest.fixture
def mtpm(card: SimulatedMtpmCard) -> MtpmSession:
    return card.session()
