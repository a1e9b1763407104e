"""The portable environment over the real route: a card paired with a TPM (``bound_card`` of
tests/conftest.py, over the in-process simulator and PC/SC), its mobile TPM owned.

The environment's policy needs host PCR 8 as it is after a host reset, so these tests have a
swtpm of their own (``swtpm`` and ``attestation`` are overridden here, session-wide for this
directory) that :func:`reboot_host` power-cycles: TPM2_Startup(CLEAR) zeroes its PCRs, as a host
reboot does. The card's mobile-TPM PCRs 9-23 go back to zero with ``bound_card.reset()``.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from tpmcard.tpm import swtpm as swtpm_module

if TYPE_CHECKING:
    from attestation_support import TestAttestation
    from conftest import BoundCard  # tests/conftest.py
    from tpmcard.tpm.swtpm import Swtpm

ENV_PIN = b"4711-env"
OWNER_AUTH = b"env owner"


@pytest.fixture(scope="session")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swtpm]:
    """This directory's own swtpm (tests here reset its PCRs)."""
    from tpmcard.tpm.swtpm import Swtpm

    with Swtpm(tmp_path_factory.mktemp("env-swtpm-state")) as instance:
        yield instance


@pytest.fixture(scope="session")
def attestation(swtpm: Swtpm, tmp_path_factory: pytest.TempPathFactory) -> TestAttestation:
    """As tests/conftest.py's, for this directory's swtpm."""
    from attestation_support import make_attestation

    return make_attestation(swtpm, tmp_path_factory.mktemp("env-attestation"))


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
