"""The manufacturer CA that certifies mobile-TPM endorsement keys (docs/mtpm.md "Key hierarchy").

Host tooling, not card code: a P-256 key and a self-signed X.509 root in
``tpmcard.paths.state_dir() / "ca"`` (``ca.key`` PKCS#8 PEM, mode 0600; ``ca.pem``). It issues EK
certificates (TCG EK Credential Profile in spirit: the subject is empty, the card is named in a
subjectAltName-free serial and the Common Name ``tpmcard mTPM EK <card id>``; keyUsage
keyCertSign is absent, so an EK certificate cannot issue others). A real manufacturer keeps this
key in an HSM; here it is a file, fit for development.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tpmcard import paths
from tpmcard.errors import TpmcardError

_VALIDITY = datetime.timedelta(days=20 * 365)


class CaError(TpmcardError):
    """The CA is missing or unusable."""


def ca_dir() -> Path:
    return paths.state_dir() / "ca"


@dataclass(frozen=True)
class ManufacturerCa:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def init(cls, directory: Path | None = None, *, force: bool = False) -> ManufacturerCa:
        """Create the CA key and self-signed certificate (refuses to overwrite unless ``force``)."""
        directory = directory or ca_dir()
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if key_path.exists() and not force:
            raise CaError(f"a CA already exists in {directory}; use --force to replace it")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tpmcard mTPM manufacturer CA")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem_key)
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key, certificate)

    @classmethod
    def load(cls, directory: Path | None = None) -> ManufacturerCa:
        directory = directory or ca_dir()
        try:
            key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
            certificate = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        except FileNotFoundError:
            raise CaError(f"no CA in {directory}: run `tpmcard ca init` first") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaError(f"{directory / 'ca.key'} is not an EC key")
        return cls(key, certificate)

    def issue_ek_certificate(self, ek: ec.EllipticCurvePublicKey, card_id: str) -> x509.Certificate:
        """An end-entity certificate for a card's EK (DER via ``public_bytes``)."""
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tpmcard mTPM EK {card_id}")])
            )
            .issuer_name(self.certificate.subject)
            .public_key(ek)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )

    def certify_migration_target(self, target_point: bytes, card_id: bytes) -> bytes:
        """A migration target certificate (:class:`tpmcard.services.mtpm.MigrationCertificate`)
        for a card's migration key. Call it only after checking that key's chain (the card's EK
        certificate from this CA, the EK's CERTIFY of the key: ``MigrationTarget.verify``)."""
        from tpmcard.services.mtpm_constants import TAG_CERT_SIGNATURE
        from tpmcard.services.mtpm_formats import MigrationCertificate

        signed = MigrationCertificate.signed_part(target_point, card_id)
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return signed + bytes([TAG_CERT_SIGNATURE, len(signature)]) + signature
