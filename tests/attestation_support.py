"""The test attestation CA (docs/binding.md §8) that the fixtures of tests/conftest.py and
tests/env/conftest.py make, each for its own swtpm. A module of its own (tests/ is on sys.path, as
for tpmcard_cli.py): pytest binds the name ``conftest`` to whichever conftest.py it loaded last.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tpmcard.services.attestation import AttestationCa, Enrollment
    from tpmcard.services.client import Card
    from tpmcard.tpm.swtpm import Swtpm


class TestAttestation:
    """The test attestation CA, its EK roots and the test swtpm's enrolled AK."""

    __test__ = False  # not a test class

    def __init__(
        self, ca_dir: Path, ek_roots: Path, ca: AttestationCa, enrollment: Enrollment
    ) -> None:
        self.ca_dir = ca_dir
        self.ek_roots = ek_roots
        self.ca = ca
        self.enrollment = enrollment

    def install_into(self, state_dir: Path) -> None:
        """Make ``state_dir`` (a $TPMCARD_STATE_DIR) hold this CA, its EK roots and the swtpm's
        enrolment, where ``tpmcard pair`` and ``tpmcard.services.binding.pair`` look by default."""
        from tpmcard.services.attestation import EnrollmentStore

        shutil.copytree(self.ca_dir, state_dir / "ca", dirs_exist_ok=True)
        shutil.copytree(self.ek_roots, state_dir / "ek-roots", dirs_exist_ok=True)
        EnrollmentStore(state_dir / "attestation").save(self.enrollment)

    def personalise(self, card: Card, store_dir: Path | None = None) -> None:
        """Install this CA's key on ``card`` (PUT DATA): with the default PIN on a card without
        one, else (a shared PC/SC card that kept its key) replaced with the default PUK."""
        from tpmcard.errors import ChannelError
        from tpmcard.services.pairings import PairingStore
        from tpmcard.services.pins import DEFAULT_PIN, DEFAULT_PUK, install_attestation_ca

        store = PairingStore(store_dir) if store_dir is not None else None
        point = self.ca.public_point
        try:
            install_attestation_ca(card, DEFAULT_PIN, ca_point=point, store=store)
        except ChannelError:
            install_attestation_ca(card, DEFAULT_PUK, use_puk=True, ca_point=point, store=store)


def make_attestation(swtpm: Swtpm, base: Path) -> TestAttestation:
    """A new CA in ``base``, ``swtpm``'s EK roots, and ``swtpm``'s AK enrolled with it."""
    from tpmcard.services.attestation import AttestationCa, enroll
    from tpmcard.services.ca import ManufacturerCa
    from tpmcard.tpm.adapter import Tpm

    ca_dir, roots = base / "ca", base / "ek-roots"
    ManufacturerCa.init(ca_dir)
    roots.mkdir()
    for certificate in swtpm.ek_root_certificates:
        shutil.copy(certificate, roots)
    ca = AttestationCa.load(roots, ca_dir)
    with Tpm.open(swtpm.tcti) as tpm:
        enrollment = enroll(tpm, ca)
    return TestAttestation(ca_dir, roots, ca, enrollment)
