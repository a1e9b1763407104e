"""The portable environment over the real route: a card paired with a TPM (``bound_card`` of
tests/conftest.py, over the in-process simulator and PC/SC), its mobile TPM owned.

The environment's policy needs host PCR 8 as it is after a host reset, so these tests have a
swtpm of their own (``swtpm`` and ``attestation`` are overridden here, session-wide for this
directory) that :func:`reboot_host` power-cycles: TPM2_Startup(CLEAR) zeroes its PCRs, as a host
reboot does. The card's mobile-TPM PCRs 9-23 go back to zero with ``bound_card.reset()``.
"""

from __future__ import annotations

import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard.tpm import swtpm as swtpm_module

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py
    from tpmcard.services.attestation import AttestationCa, Enrollment
    from tpmcard.services.client import Card
    from tpmcard.tpm.swtpm import Swtpm

ENV_PIN = b"4711-env"
OWNER_AUTH = b"env owner"


@pytest.fixture(scope="session")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swtpm]:
    """This directory's own swtpm (tests here reset its PCRs)."""
    from tpmcard.tpm.swtpm import Swtpm

    with Swtpm(tmp_path_factory.mktemp("env-swtpm-state")) as instance:
        yield instance


class EnvAttestation:
    """What ``bound_card`` needs of tests/conftest.py's TestAttestation (``enrollment``,
    ``personalise``), for this directory's swtpm. (Not imported from there: pytest puts the
    last non-package conftest.py it loads, tests/tpm's or tests/gp's, under the name
    ``conftest``.)"""

    def __init__(self, ca: AttestationCa, enrollment: Enrollment) -> None:
        self.ca = ca
        self.enrollment = enrollment

    def personalise(self, card: Card, store_dir: Path | None = None) -> None:
        from tpmcard.errors import ChannelError
        from tpmcard.services.pairings import PairingStore
        from tpmcard.services.pins import DEFAULT_PIN, DEFAULT_PUK, install_attestation_ca

        store = PairingStore(store_dir) if store_dir is not None else None
        point = self.ca.public_point
        try:
            install_attestation_ca(card, DEFAULT_PIN, ca_point=point, store=store)
        except ChannelError:
            install_attestation_ca(card, DEFAULT_PUK, use_puk=True, ca_point=point, store=store)


@pytest.fixture(scope="session")
def attestation(swtpm: Swtpm, tmp_path_factory: pytest.TempPathFactory) -> EnvAttestation:
    """As tests/conftest.py's, for this directory's swtpm."""
    from tpmcard.services.attestation import AttestationCa, enroll
    from tpmcard.services.ca import ManufacturerCa
    from tpmcard.tpm.adapter import Tpm

    base = tmp_path_factory.mktemp("env-attestation")
    ca_dir, roots = base / "ca", base / "ek-roots"
    ManufacturerCa.init(ca_dir)
    roots.mkdir()
    for certificate in swtpm.ek_root_certificates:
        shutil.copy(certificate, roots)
    ca = AttestationCa.load(roots, ca_dir)
    with Tpm.open(swtpm.tcti) as tpm:
        enrollment = enroll(tpm, ca)
    return EnvAttestation(ca, enrollment)


def reboot_host(instance: Swtpm) -> None:
    """A host reboot as the TPM sees it: _TPM_Init (swtpm control CMD_INIT), then
    TPM2_Startup(CLEAR): every PCR back to zero, transient objects gone (the Tpm adapter
    recreates its SRK)."""
    assert instance.ctrl_port is not None and instance.port is not None
    with socket.create_connection(("127.0.0.1", instance.ctrl_port), timeout=5) as sock:
        sock.sendall(struct.pack(">II", 0x02, 0))  # CMD_INIT, flags 0
        (result,) = struct.unpack(">I", sock.recv(4))
    assert result == 0, f"swtpm CMD_INIT failed: {result}"
    rc = swtpm_module.tpm_command_rc(instance.port, 0x144, 0x0000)  # TPM2_Startup(CLEAR)
    assert rc == 0, f"TPM2_Startup(CLEAR) failed: 0x{rc:x}"


@pytest.fixture
def fresh_host(swtpm: Swtpm, bound_card: BoundCard) -> BoundCard:
    """The bound card after a host reboot and a card reset: host PCRs and mobile-TPM PCRs 9-23
    zero; the mobile TPM owned (OWNER_AUTH), its dictionary-attack counter reset."""
    reboot_host(swtpm)
    bound_card.reset()
    with bound_card.connect() as session:
        mtpm = session.mtpm
        if not mtpm.status().owned:
            mtpm.take_ownership(OWNER_AUTH)
        mtpm.da_reset(OWNER_AUTH)
    return bound_card
