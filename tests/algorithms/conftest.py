"""A simulated card with the algorithm providers and a stand-in for the core applet's INVOKE.

The core applet's INVOKE (secure session only) is being wired in parallel; until then
``tpmcard.algorithms.InvokeBridgeApplet`` (applets/src/test/java, never on a card) hosts the
same :class:`Registry` at the core applet's AID and takes INVOKE in clear, so these tests
exercise the registry and the providers exactly as the core will call them. ``card.invoke`` has
the signature of the bound session's ``invoke``. When ``tpmcard.connect()`` offers it, add the
session as a second parametrisation of ``card``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jpype
import pytest
from tpmcard import algorithms as A
from tpmcard import manifest
from tpmcard.errors import ApduError

ROOT = Path(__file__).resolve().parents[2]
TEST_CLASSES = ROOT / "applets" / "build" / "classes" / "java" / "test"
BRIDGE = "tpmcard.algorithms.InvokeBridgeApplet"


class BridgeCard:
    """jCardSim with the suite's provider applets and the bridge at the core applet's AID."""

    def __init__(self, loader: Any) -> None:
        Simulator = jpype.JClass("com.licel.jcardsim.base.Simulator")
        Runtime = jpype.JClass("com.licel.jcardsim.base.SimulatorRuntime")
        self._aid = jpype.JClass("com.licel.jcardsim.utils.AIDUtil")
        self._loader = loader
        self.sim = Simulator(Runtime())
        self.session_id = 1
        self.install(A.CORE_AID.hex(), BRIDGE)
        for applet in manifest.load().applets():
            if applet.class_name.startswith("tpmcard.alg."):
                self.install(applet.aid.hex(), applet.class_name, entropy=True)
        self.sim.selectApplet(self._aid.create(A.CORE_AID.hex()))

    def install(self, aid_hex: str, class_name: str, entropy: bool = False) -> None:
        import os

        cls = jpype.JClass("java.lang.Class").forName(class_name, True, self._loader)
        aid = bytes.fromhex(aid_hex)
        params = os.urandom(32) if entropy else b""
        install = bytes([len(aid)]) + aid + b"\x01\x00" + bytes([len(params)]) + params
        self.sim.installApplet(
            self._aid.create(aid_hex), cls, jpype.JArray(jpype.JByte)(install), 0, len(install)
        )

    def delete(self, aid: bytes) -> None:
        self.sim.deleteApplet(self._aid.create(aid.hex()))

    def create(self, aid: bytes) -> None:
        """A new instance of a deleted applet (jCardSim keeps the load file, as a card keeps a CAP)."""
        import os

        params = os.urandom(32)
        install = bytes([len(aid)]) + aid + b"\x01\x00" + bytes([len(params)]) + params
        self.sim.createApplet(
            self._aid.create(aid.hex()), jpype.JArray(jpype.JByte)(install), 0, len(install)
        )
        self.sim.selectApplet(self._aid.create(A.CORE_AID.hex()))

    def invoke(self, aid: bytes, ins: int, p1: int, p2: int, data: bytes = b"") -> bytes:
        body = bytes([len(aid)]) + aid + bytes([ins, p1, p2]) + data
        sid = self.session_id.to_bytes(2, "big")
        apdu = b"\x80\x70" + sid + b"\x00" + len(body).to_bytes(2, "big") + body + b"\x00\x00"
        r = bytes(self.sim.transmitCommand(jpype.JArray(jpype.JByte)(apdu)))
        sw = int.from_bytes(r[-2:], "big")
        if sw != 0x9000:
            raise ApduError(sw, r[:-2])
        return r[:-2]


def _loader() -> Any:
    if not (TEST_CLASSES / "tpmcard" / "algorithms" / "InvokeBridgeApplet.class").exists():
        subprocess.run(["gradle", "-q", "testClasses"], cwd=ROOT, check=True)
    url = jpype.JClass("java.io.File")(str(TEST_CLASSES)).toURI().toURL()
    URLClassLoader = jpype.JClass("java.net.URLClassLoader")
    return URLClassLoader([url], jpype.JClass("java.lang.ClassLoader").getSystemClassLoader())


@pytest.fixture(scope="session")
def bridge_loader(jvm: None) -> Any:
    return _loader()


@pytest.fixture
def card(bridge_loader: Any) -> Iterator[BridgeCard]:
    yield BridgeCard(bridge_loader)


@pytest.fixture
def alg(card: BridgeCard) -> A.Algorithms:
    return A.Algorithms(card)
