"""A throw-away paired card and TPM for the service benchmarks of ``tpmcard bench``.

The benchmarks must not touch the user's card, TPM state or pairings: they run on a fresh
simulated card (in a temporary directory, or behind a temporary vpcd reader for PC/SC), a fresh
embedded swtpm (unless a TCTI is given: then keys are created on that TPM and flushed), and a
temporary pairing store, paired after its PIN and PUK were changed from the factory defaults
(a card refuses to pair before) to random values that die with the card.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

from tpmcard.services.binding import pair
from tpmcard.services.client import Card
from tpmcard.services.pairings import PairingStore
from tpmcard.services.pins import personalise, personalise_embedded, random_pin_and_puk
from tpmcard.services.session import SecureCardSession, connect
from tpmcard.transport.base import Connection

_private_pcscd: Any = None
_private_pcscd_home: Path | None = None


@contextlib.contextmanager
def owned_processes() -> Iterator[None]:
    """The whole ``tpmcard bench`` run: the private pcscd its PC/SC sections share is stopped,
    its directory removed and its socket forgotten at the end, however the run ends."""
    import os

    from tpmcard.sim import vpcd

    global _private_pcscd, _private_pcscd_home
    try:
        yield
    finally:
        if _private_pcscd is not None:
            _private_pcscd.stop()
            _private_pcscd = None
            os.environ.pop(vpcd.SOCKET_ENV, None)
        if _private_pcscd_home is not None:
            shutil.rmtree(_private_pcscd_home, ignore_errors=True)
            _private_pcscd_home = None


def served_card(workdir: Path) -> Any:
    """A fresh simulated card behind a vpcd reader; returns a running ``vpcd.SimStack``.

    As root, in a private pcscd of this process (own socket, own free vpcd ports): a pcscd
    that tpmcard starts and stops on the fixed ports 35963/35964 cannot listen there again while
    the previous run's connections linger in TIME_WAIT, and a private one meets nobody's cards.
    Otherwise on the system pcscd's second vpcd reader, "Virtual PCD 00 01".
    """
    import os

    from tpmcard.sim import vpcd

    global _private_pcscd, _private_pcscd_home
    if os.geteuid() == 0 and (_private_pcscd is not None or not os.environ.get(vpcd.SOCKET_ENV)):
        if _private_pcscd is None:
            _private_pcscd_home = Path(tempfile.mkdtemp(prefix="tpmcard-bench-pcscd-"))
            _private_pcscd = vpcd.start_private_pcscd(_private_pcscd_home)
            # libpcsclite reads the socket's name once, at this process's first PC/SC call.
            os.environ.update(_private_pcscd.client_env)
            vpcd.wait_for_readers(_private_pcscd.readers, 10)
        card = vpcd.VpcdCardProcess(workdir, port=_private_pcscd.base_port, purpose="tpmcard bench")
        reader = vpcd.vpcd_reader_name(0)
        vpcd.wait_for_card(reader)
        return vpcd.SimStack(cast(Any, _NotOwned(_private_pcscd)), card, reader)
    stack = vpcd.serve(workdir, port=vpcd.VPCD_PORT + 1, foreground=False)
    assert stack is not None
    return stack


class _NotOwned:
    """The shared private pcscd: a stack's stop() must leave it running for the next section;
    :func:`owned_processes` stops it when the run ends."""

    def __init__(self, pcscd: Any) -> None:
        self.pcscd = pcscd

    def stop(self) -> None:
        pass


@dataclass
class BenchSuite:
    connection: Connection
    tpm: Any
    store: PairingStore
    path: str

    def factory(self) -> partial[SecureCardSession]:
        """``connect`` bound to this card, TPM and store (what bench.binding expects)."""
        return partial(connect, connection=self.connection, tpm=self.tpm, store=self.store)


@contextlib.contextmanager
def paired_suite(
    tcti: str | None = None, *, pcsc: bool = False, profile: str | None = None
) -> Iterator[BenchSuite]:
    """A throw-away card (in-process, or served over PC/SC), swtpm, personalised and paired.
    ``profile``: the in-process card's simulated card profile (default: the simulator's)."""
    from tpmcard.tpm.adapter import Tpm

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tpmcard-bench-")))
        if pcsc:
            from tpmcard.transport.pcsc import PcscConnection

            served = served_card(tmp / "card")
            stack.callback(served.stop)
            connection: Connection = stack.enter_context(PcscConnection(served.reader))
            path = f"PC/SC: {served.reader}"
        else:
            from tpmcard.transport.jcardsim import JCardSimConnection

            connection = stack.enter_context(
                JCardSimConnection(tmp / "card", purpose="tpmcard bench", profile=profile)
            )
            path = "in-process jCardSim"
        tpm = stack.enter_context(Tpm.open(tcti, state_dir=tmp / "swtpm"))
        store = PairingStore(tmp / "pairings")
        pin, puk = random_pin_and_puk()
        personalise(Card(connection), pin, puk, store=store)
        enrollment = personalise_embedded(
            Card(connection),
            tpm,
            pin,
            ca_directory=tmp / "ca",
            enrollments=tmp / "attestation",
        )
        pair(Card(connection), tpm, pin, store=store, enrollment=enrollment)
        yield BenchSuite(connection, tpm, store, path)
