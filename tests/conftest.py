"""Shared fixtures: the simulated card, in process and behind PC/SC.

``jvm``          session: this process's JVM, started with the simulator's class path (JPype
                 allows one JVM per process; use this fixture before any ``jpype.JClass``).
``sim_connection`` a fresh simulated card per test (its own state directory under tmp_path),
                 in-process, in ``verify`` save mode: every command also checks that the card
                 store's change watch saw every change.
``pcsc_stack``   session: pcscd with the vpcd driver, and one simulated card (tpmcard.sim.VpcdCard,
                 a child JVM) behind the reader ``pcsc_stack.reader``. Marked tests only (``pcsc``).
``pcsc_connection`` a PcscConnection to that reader's card, made fresh for the test (state
                 wiped, JVM restarted): no test's pass or fail depends on an earlier test's card.
``connection``   parametrised over ``sim`` and ``pcsc``: host tests that take it run over both.
``swtpm``        session: one swtpm (state in a temporary directory) for every TPM test.
``tpm``          a :class:`~tpmcard.tpm.adapter.Tpm` connected to it; after the test, the fixture
                 fails the test if any transient object or session is left loaded in the TPM.
``attestation``  session: the test attestation CA (its own key), the EK roots (the swtpm's private
                 swtpm-localca: the test "manufacturer") and that swtpm's enrolled AK
                 (:class:`TestAttestation`; ``personalise(card)`` installs the CA key on a card,
                 as every card needs before PAIR).
``bound_card``   module: a fresh card paired with that TPM, parametrised over ``sim`` and ``pcsc``
                 (:class:`BoundCard`: ``connect()`` opens a secured session, ``reset()``);
                 ``second_bound_card`` another one beside it, ``secure_session`` a session.

The PC/SC stack is private by default: its own pcscd (own mount namespace, own socket, own vpcd
ports), so that other users' cards on this machine's pcscd never answer our tests. Set
``TPMCARD_TEST_PCSCD=system`` to use the system pcscd instead (started with ``pcscd
--foreground`` when none answers). If the stack cannot start, the tests fail; they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard.sim import vpcd
from tpmcard.transport.base import Connection
from tpmcard.transport.jcardsim import JCardSimConnection, start_jvm
from tpmcard.transport.pcsc import PcscConnection

if TYPE_CHECKING:
    from attestation_support import TestAttestation
    from tpmcard.services.session import SecureCardSession
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


def pytest_report_header(config: pytest.Config) -> str:
    """Which simulated card the suite runs on: every new card takes $TPMCARD_SIM_PROFILE."""
    from tpmcard.transport.jcardsim import PROFILE_ENV, profile_names

    profile = os.environ.get(PROFILE_ENV) or profile_names()[0]
    if profile not in profile_names():
        raise pytest.UsageError(f"${PROFILE_ENV}={profile!r} is no profile of {profile_names()}")
    rules = os.environ.get("TPMCARD_SIM_ENFORCE", "the default (firewall)")
    return f"simulated cards: profile {profile}, rules {rules}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _private_pcscd_dir is not None:
        shutil.rmtree(_private_pcscd_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def jvm() -> None:
    start_jvm()


def read_java_constants(class_name: str) -> dict[str, int]:
    """Every public static final byte or short field of a compiled Java class, by name."""
    import jpype

    modifier = jpype.JClass("java.lang.reflect.Modifier")
    constants_class = jpype.JClass(class_name).class_
    out: dict[str, int] = {}
    for field in constants_class.getDeclaredFields():
        modifiers = field.getModifiers()
        if not (
            modifier.isPublic(modifiers)
            and modifier.isStatic(modifiers)
            and modifier.isFinal(modifiers)
        ):
            continue
        kind = str(field.getType().getName())
        if kind == "byte":
            out[str(field.getName())] = int(field.getByte(None)) & 0xFF
        elif kind == "short":
            out[str(field.getName())] = int(field.getShort(None)) & 0xFFFF
        elif kind in ("int", "boolean") or kind.startswith("["):
            continue  # not a protocol constant: the checks compare bytes and shorts
        else:
            raise AssertionError(f"{class_name}.{field.getName()} is a public {kind}")
    return out


@pytest.fixture(scope="session")
def java_constants(jvm: None) -> Callable[[str], dict[str, int]]:
    """``java_constants("pkg.Class")``: its public static final bytes and shorts (through JPype)."""
    return read_java_constants


@pytest.fixture
def tpmcard_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the ``tpmcard`` command line in its own process (tests/tpmcard_cli.py)."""
    from tpmcard_cli import run_tpmcard

    return run_tpmcard


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
    pcsc_stack.restart_card(fresh=True)  # tests pair, unpair and change PINs: a card of their own
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


# --- the attestation CA and the card's personalisation (docs/binding.md §8) ---------------------


@pytest.fixture(scope="session")
def attestation(swtpm: Swtpm, tmp_path_factory: pytest.TempPathFactory) -> TestAttestation:
    """The test attestation CA, the session swtpm's AK enrolled (tests/attestation_support.py)."""
    from attestation_support import make_attestation

    return make_attestation(swtpm, tmp_path_factory.mktemp("attestation"))


# --- a paired card and secured sessions (the suite's services: tests/mtpm, tests/algorithms) -----


#: The PIN and PUK that ``BoundCard`` sets on its card before pairing (a card refuses to pair
#: with the factory defaults).
TEST_PIN = "975310"
TEST_PUK = "97531086"


class BoundCard:
    """A card paired with the test TPM; :meth:`connect` opens a secured session with it, as
    ``tpmcard.connect()`` does (the same code), over ``transport`` ("sim" or "pcsc")."""

    def __init__(
        self,
        transport: str,
        connection: Connection,
        tpm: Tpm,
        store_dir: Path,
        tcti: str,
        attestation: TestAttestation,
    ) -> None:
        from tpmcard.services.binding import pair
        from tpmcard.services.client import Card
        from tpmcard.services.pairings import PairingStore
        from tpmcard.services.pins import personalise

        self.transport = transport
        self.connection = connection
        self.tpm = tpm
        self.tcti = tcti  # the test TPM, for tpm2-tools (TPM2TOOLS_TCTI)
        self.store = PairingStore(store_dir)
        # The attestation CA's key goes on first (with the factory PIN, or PUK on a card that kept
        # one); a new card pairs only once its PIN and PUK are no longer the factory defaults.
        attestation.personalise(Card(connection), store_dir)
        personalise(Card(connection), TEST_PIN, TEST_PUK, store=self.store)
        # Bound to PCR 7 only: tests extend PCR 8 and PCR 16 on the host TPM.
        self.record = pair(
            Card(connection),
            tpm,
            TEST_PIN,
            pcrs=(7,),
            store=self.store,
            enrollment=attestation.enrollment,
        ).record
        self.card_id = self.record.card_id

    def connect(self) -> SecureCardSession:
        from tpmcard.services.session import connect

        return connect(connection=self.connection, tpm=self.tpm, store=self.store)

    def reset(self) -> None:
        """Card reset (power cycle): RAM cleared, any session ended."""
        self.connection.reset()


@contextlib.contextmanager
def _bound_card(
    transport: str,
    request: pytest.FixtureRequest,
    directory: Path,
    *,
    second: bool = False,
) -> Iterator[BoundCard]:
    """A fresh card over ``transport`` paired with the test TPM. ``second``: another card beside
    the first (PC/SC: on the spare vpcd reader)."""
    from tpmcard.tpm.adapter import Tpm

    swtpm_instance = request.getfixturevalue("swtpm")
    with contextlib.ExitStack() as stack:
        tpm = stack.enter_context(Tpm.open(swtpm_instance.tcti))
        link: Connection
        if transport == "sim":
            link = stack.enter_context(
                JCardSimConnection(directory / "card", purpose="pytest bound card")
            )
        elif second:
            pcsc = request.getfixturevalue("pcsc_stack")
            process = vpcd.VpcdCardProcess(
                directory / "card", port=pcsc.spare_port, purpose="pytest bound card"
            )
            stack.callback(process.stop)
            vpcd.wait_for_card(pcsc.spare_reader)
            link = stack.enter_context(PcscConnection(pcsc.spare_reader))
        else:
            # The session's shared PC/SC card, made fresh: the services' state is the module's.
            pcsc = request.getfixturevalue("pcsc_stack")
            pcsc.restart_card(fresh=True)
            link = stack.enter_context(PcscConnection(pcsc.reader))
            link.reset()
        card = BoundCard(
            transport,
            link,
            tpm,
            directory / "pairings",
            swtpm_instance.tcti,
            request.getfixturevalue("attestation"),
        )
        yield card


@pytest.fixture(scope="module", params=["sim", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def bound_card(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BoundCard]:
    """Module-scoped: one fresh card per transport, paired once; tests share its services'
    state, so they leave it as they found it (or say what they change)."""
    with _bound_card(request.param, request, tmp_path_factory.mktemp("bound")) as card:
        yield card


@pytest.fixture
def second_bound_card(
    bound_card: BoundCard, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[BoundCard]:
    """Another card (its own install entropy, so its own keys) over the same transport."""
    with _bound_card(bound_card.transport, request, tmp_path, second=True) as card:
        yield card


@pytest.fixture
def secure_session(bound_card: BoundCard) -> Iterator[SecureCardSession]:
    """A secured session with ``bound_card``, closed after the test."""
    with bound_card.connect() as session:
        yield session


@pytest.fixture
def sim_bound_card(
    jvm: None, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[BoundCard]:
    """A fresh in-process card paired with the test TPM, for what only the simulator can do to a
    card while it runs (delete and create applet instances: ``connection.delete_applet``)."""
    with _bound_card("sim", request, tmp_path / "sim-bound") as card:
        yield card
