"""Shared fixtures: the simulated card, in process and behind PC/SC.

``jvm``          session: this process's JVM, started with the simulator's class path (JPype
                 allows one JVM per process; use this fixture before any ``jpype.JClass``).
``sim_connection`` a fresh simulated card per test (its own state directory under tmp_path),
                 in-process, in ``verify`` save mode: every command also checks that the card
                 store's change watch saw every change.
``pcsc_stack``   session: pcscd with the vpcd driver, and one simulated card (tpmcard.sim.VpcdCard,
                 a child JVM) behind the reader ``pcsc_stack.reader``. Marked tests only (``pcsc``).
``pcsc_connection`` a PcscConnection to that card, cold-reset first. The card is the session's:
                 its persistent state carries over between tests.
``connection``   parametrised over ``sim`` and ``pcsc``: host tests that take it run over both.
``swtpm``        session: one swtpm (state in a temporary directory) for every TPM test.
``tpm``          a :class:`~tpmcard.tpm.adapter.Tpm` connected to it; after the test, the fixture
                 fails the test if any transient object or session is left loaded in the TPM.

The PC/SC stack is private by default: its own pcscd (own mount namespace, own socket, own vpcd
ports), so that other users' cards on this machine's pcscd never answer our tests. Set
``TPMCARD_TEST_PCSCD=system`` to use the system pcscd instead (started with ``pcscd
--foreground`` when none answers). If the stack cannot start, the tests fail; they never skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard.transport import vpcd
from tpmcard.transport.base import Connection
from tpmcard.transport.jcardsim import JCardSimConnection, start_jvm
from tpmcard.transport.pcsc import PcscConnection

if TYPE_CHECKING:
    from tpmcard.tpm.adapter import Tpm
    from tpmcard.tpm.swtpm import Swtpm

PCSCD_MODE_ENV = "TPMCARD_TEST_PCSCD"
_private_pcscd_dir: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point libpcsclite at the private pcscd before anything in this process uses PC/SC:
    it reads PCSCLITE_CSOCK_NAME once, on its first call."""
    global _private_pcscd_dir
    mode = os.environ.get(PCSCD_MODE_ENV, "private")
    if mode not in ("private", "system"):
        raise pytest.UsageError(f"{PCSCD_MODE_ENV} must be 'private' or 'system', not {mode!r}")
    if mode == "private" and vpcd.SOCKET_ENV not in os.environ:
        _private_pcscd_dir = Path(tempfile.mkdtemp(prefix="tpmcard-pcscd-"))
        os.environ[vpcd.SOCKET_ENV] = str(_private_pcscd_dir / "run" / "pcscd.comm")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _private_pcscd_dir is not None:
        shutil.rmtree(_private_pcscd_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def jvm() -> None:
    start_jvm()


@pytest.fixture
def sim_state_dir(tmp_path: Path) -> Path:
    """An empty state directory for a simulated card."""
    return tmp_path / "card"


@pytest.fixture
def sim_connection(jvm: None, sim_state_dir: Path) -> Iterator[JCardSimConnection]:
    connection = JCardSimConnection(
        sim_state_dir, save_mode="verify", purpose="pytest sim_connection"
    )
    try:
        yield connection
    finally:
        connection.close()


class PcscStack:
    """The session's PC/SC stack (see the module docstring)."""

    def __init__(self, pcscd: vpcd.PcscdProcess, card_dir: Path) -> None:
        self.pcscd = pcscd
        self.card_dir = card_dir
        self.reader = vpcd.vpcd_reader_name(0)
        #: The second vpcd reader: no card is served there unless a test starts one.
        self.spare_reader = vpcd.vpcd_reader_name(1)
        self.spare_port = pcscd.base_port + 1
        self.card: vpcd.VpcdCardProcess | None = None

    def start_card(self) -> None:
        self.card = vpcd.VpcdCardProcess(
            self.card_dir,
            port=self.pcscd.base_port,
            purpose="pytest pcsc_stack",
            env={"TPMCARD_SIM_SAVE_MODE": "verify"},  # the change watch is checked here too
        )
        vpcd.wait_for_card(self.reader)

    def restart_card(self, *, fresh: bool = False) -> None:
        """Restart the card's JVM (state kept), or with ``fresh`` a new card (state wiped)."""
        if self.card is not None:
            status = self.card.stop()
            assert status == 0, f"VpcdCard exited with {status}"
            vpcd.wait_for_card(self.reader, present=False)
        if fresh:
            shutil.rmtree(self.card_dir, ignore_errors=True)
        self.start_card()

    def stop(self) -> None:
        try:
            if self.card is not None:
                status = self.card.stop()
                assert status == 0, f"VpcdCard exited with {status}"
        finally:
            self.pcscd.stop()


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    if _private_pcscd_dir is not None:
        pcscd = vpcd.start_private_pcscd(_private_pcscd_dir)
        vpcd.wait_for_readers(pcscd.readers, 10)
    else:
        pcscd = vpcd.ensure_pcscd(log=tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    stack = PcscStack(pcscd, tmp_path_factory.mktemp("vpcd-card"))
    try:
        stack.start_card()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def pcsc_connection(pcsc_stack: PcscStack) -> Iterator[PcscConnection]:
    if pcsc_stack.card is None or not pcsc_stack.card.alive():
        pcsc_stack.restart_card()
    connection = PcscConnection(pcsc_stack.reader)
    try:
        connection.reset()
        yield connection
    finally:
        connection.close()


@pytest.fixture(params=["sim", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def connection(request: pytest.FixtureRequest) -> Connection:
    """A card over each transport: the in-process simulator and PC/SC (pcscd + vpcd)."""
    name = "sim_connection" if request.param == "sim" else "pcsc_connection"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


# --- the TPM (shared by tests/tpm and the binding tests over both transports) -------------------


@pytest.fixture(scope="session")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swtpm]:
    from tpmcard.tpm.swtpm import Swtpm

    with Swtpm(tmp_path_factory.mktemp("swtpm-state")) as instance:
        yield instance


@pytest.fixture
def tpm(swtpm: Swtpm) -> Iterator[Tpm]:
    from tpmcard.tpm.adapter import Tpm

    with Tpm.open(swtpm.tcti) as connection:
        yield connection
    with Tpm.open(swtpm.tcti) as check:
        leaked = check.transient_handles(), check.session_handles()
    assert leaked == ([], []), f"objects/sessions left loaded in the TPM: {leaked}"
