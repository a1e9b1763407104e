"""Rooting the host TPM's attestation key (AK) in a genuine TPM (docs/binding.md §8).

The card owner runs an attestation CA (``tpmcard ca``; the role of Keylime's registrar or of a
privacy CA) whose P-256 key is installed on the card at personalisation (PUT DATA). A host TPM
enrols its AK with it once:

1. the host reads the TPM's EK certificate from NV (TCG EK Credential Profile §2.2.1.4);
2. the CA checks that certificate's chain against the EK roots the owner configured (a
   directory of PEM/DER certificates: the TPM manufacturers' roots and intermediates);
3. the CA checks the AK's public area (a restricted, fixedTPM ECDSA P-256 key) and runs credential
   activation: TPM2_MakeCredential to the certified EK, bound to the AK's Name, and the TPM's
   TPM2_ActivateCredential, which gives the secret back only if that AK is loaded in the TPM that
   holds that EK (TPM 2.0 Part 1 §24);
4. only then the CA issues a compact AK certificate (below), which PAIR carries; the card
   verifies it with the installed CA key before it accepts the TPM2_Certify of the binding key.

AK certificate (TLVs as in docs/binding.md §2; tags in :mod:`tpmcard.constants`)::

    D1 L { 80 01 version=01 | 81 08 serial | 82 41 AK point 04||X||Y | 83 22 AK Name
           | 84 20 SHA-256(EK certificate DER) | 85 08 issued-at | 86 08 not-after }
    D2 L ECDSA-SHA-256 signature (X9.62 DER) by the CA key over the whole D1 TLV

Times are big-endian seconds since 1970 (UTC). The card has no clock: it checks the signature,
the point and the Name; the host checks the validity when it pairs.

Here the CA and the host run in one process (``tpmcard ca enroll``); :class:`AttestationCa`'s
two steps (:meth:`~AttestationCa.challenge`, :meth:`~AttestationCa.issue`) are what a remote CA
would run, and the TPM's part is :meth:`tpmcard.tpm.adapter.Tpm.activate_credential`.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tpmcard import constants as C
from tpmcard import paths, tlv
from tpmcard.channel.tpm_binding import HostTpm
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import (
    AttestationError,
    CredentialActivationError,
    EkCertificateError,
    ProtocolError,
    TpmError,
    TpmFormatError,
)
from tpmcard.services.ca import CaError, ManufacturerCa, ca_dir
from tpmcard.tpm.credential import make_credential
from tpmcard.tpm.keyblob import KeyBlob
from tpmcard.tpm_structures import (
    ATTR_DECRYPT,
    ATTR_FIXED_PARENT,
    ATTR_FIXED_TPM,
    ATTR_RESTRICTED,
    ATTR_SENSITIVE_DATA_ORIGIN,
    ATTR_SIGN_ENCRYPT,
    PublicArea,
)

#: How long an AK certificate is valid (the CA's choice; re-enrol after).
AK_CERTIFICATE_VALIDITY = datetime.timedelta(days=5 * 365)
EK_ROOTS_ENV = "TPMCARD_EK_ROOTS"


def default_ek_roots() -> Path:
    """``$TPMCARD_EK_ROOTS``, else ``$TPMCARD_STATE_DIR/ek-roots``."""
    explicit = os.environ.get(EK_ROOTS_ENV)
    return Path(explicit).expanduser() if explicit else paths.state_dir() / "ek-roots"


# --- EK certificate chains ------------------------------------------------------------------------


def load_ek_roots(directory: Path) -> list[x509.Certificate]:
    """Every certificate (PEM, several per file allowed, or DER) in ``directory``."""
    if not directory.is_dir():
        raise EkCertificateError(
            f"no EK root directory at {directory}: put the TPM manufacturers' root (and "
            "intermediate) CA certificates there, or name another with --ek-roots"
        )
    roots: list[x509.Certificate] = []
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                roots.extend(x509.load_pem_x509_certificates(data))
            else:
                roots.append(x509.load_der_x509_certificate(data))
        except ValueError:
            continue  # not a certificate: READMEs and the like
    if not roots:
        raise EkCertificateError(f"the EK root directory {directory} holds no certificate")
    return roots


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.ca)


def verify_ek_certificate(
    der: bytes, roots: list[x509.Certificate], *, now: datetime.datetime | None = None
) -> x509.Certificate:
    """Parse an EK certificate and check its chain: each link signed by the next, every issuer a
    CA (basicConstraints), every certificate valid now, ending in a self-signed certificate, all
    issuers taken from ``roots`` (the configured directory). Returns the EK certificate."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise EkCertificateError(
            f"the TPM's EK certificate is not valid DER X.509: {exc}"
        ) from None
    now = now or datetime.datetime.now(datetime.UTC)
    chain = [certificate]
    current = certificate
    for _depth in range(8):
        if not current.not_valid_before_utc <= now <= current.not_valid_after_utc:
            raise EkCertificateError(
                f"certificate {current.subject.rfc4514_string() or '(no subject)'} in the EK "
                f"chain is not valid now ({current.not_valid_before_utc:%Y-%m-%d} .. "
                f"{current.not_valid_after_utc:%Y-%m-%d})"
            )
        if len(chain) > 1 and _issued_by(current, current):
            return certificate  # reached a self-signed root from the directory
        issuers = [r for r in roots if r.subject == current.issuer and _issued_by(current, r)]
        issuers = [r for r in issuers if _is_ca(r)]
        if not issuers:
            raise EkCertificateError(
                f"the TPM's EK certificate (issuer {certificate.issuer.rfc4514_string()}) does "
                "not chain to any configured EK root: this TPM's manufacturer is not trusted "
                "(add its root and intermediate certificates to the EK root directory if it "
                "should be)"
            )
        current = issuers[0]
        chain.append(current)
    raise EkCertificateError("the EK certificate chain is longer than 8 certificates")


def ek_kind(certificate: x509.Certificate) -> str:
    """ "rsa" or "ecc": which of the TPM's EKs the certificate is for."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ecc"
    raise EkCertificateError("the EK certificate's key is neither RSA nor ECC P-256")


# --- the AK certificate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AkCertificate:
    """The compact AK certificate (module docstring). ``encoded`` = D1 TLV || D2 TLV."""

    serial: int
    ak_point: bytes
    ak_name: bytes
    ek_certificate_digest: bytes
    issued_at: int
    not_after: int
    signed: bytes  # the whole D1 TLV
    signature: bytes  # DER

    @property
    def encoded(self) -> bytes:
        return self.signed + tlv.encode(C.TAG_AK_CERTIFICATE_SIGNATURE, self.signature)

    @staticmethod
    def signed_part(
        serial: int,
        ak_point: bytes,
        ak_name: bytes,
        ek_digest: bytes,
        issued_at: int,
        not_after: int,
    ) -> bytes:
        return tlv.encode(
            C.TAG_AK_CERTIFICATE,
            tlv.encode(C.TAG_AKC_VERSION, bytes((C.AK_CERTIFICATE_VERSION,)))
            + tlv.encode(C.TAG_AKC_SERIAL, struct.pack(">Q", serial))
            + tlv.encode(C.TAG_AKC_AK_POINT, ak_point)
            + tlv.encode(C.TAG_AKC_AK_NAME, ak_name)
            + tlv.encode(C.TAG_AKC_EK_DIGEST, ek_digest)
            + tlv.encode(C.TAG_AKC_ISSUED_AT, struct.pack(">Q", issued_at))
            + tlv.encode(C.TAG_AKC_NOT_AFTER, struct.pack(">Q", not_after)),
        )

    @classmethod
    def parse(cls, data: bytes) -> AkCertificate:
        try:
            items = tlv.parse(data)
            if [i.tag for i in items] != [C.TAG_AK_CERTIFICATE, C.TAG_AK_CERTIFICATE_SIGNATURE]:
                raise ValueError("expected D1 and D2")
            fields = tlv.parse(items[0].value)
            tags = [
                C.TAG_AKC_VERSION,
                C.TAG_AKC_SERIAL,
                C.TAG_AKC_AK_POINT,
                C.TAG_AKC_AK_NAME,
                C.TAG_AKC_EK_DIGEST,
                C.TAG_AKC_ISSUED_AT,
                C.TAG_AKC_NOT_AFTER,
            ]
            lengths = [1, 8, 65, C.NAME_LENGTH, 32, 8, 8]
            if [f.tag for f in fields] != tags or [len(f.value) for f in fields] != lengths:
                raise ValueError("fields out of order or of the wrong length")
            if fields[0].value[0] != C.AK_CERTIFICATE_VERSION:
                raise ValueError(f"version {fields[0].value[0]}")
        except (ValueError, IndexError, ProtocolError) as exc:
            raise AttestationError(f"malformed AK certificate: {exc}") from None
        signed = tlv.encode(C.TAG_AK_CERTIFICATE, items[0].value)
        return cls(
            serial=struct.unpack(">Q", fields[1].value)[0],
            ak_point=fields[2].value,
            ak_name=fields[3].value,
            ek_certificate_digest=fields[4].value,
            issued_at=struct.unpack(">Q", fields[5].value)[0],
            not_after=struct.unpack(">Q", fields[6].value)[0],
            signed=signed,
            signature=items[1].value,
        )

    def verify(self, ca_key: ec.EllipticCurvePublicKey) -> None:
        try:
            ca_key.verify(self.signature, self.signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AttestationError("the AK certificate is not signed by this CA") from None

    def check_validity(self, now: datetime.datetime | None = None) -> None:
        seconds = int((now or datetime.datetime.now(datetime.UTC)).timestamp())
        if not self.issued_at - 300 <= seconds <= self.not_after:
            raise AttestationError(
                "the AK certificate is not valid now (issued "
                f"{datetime.datetime.fromtimestamp(self.issued_at, datetime.UTC):%Y-%m-%d}, "
                f"expires {datetime.datetime.fromtimestamp(self.not_after, datetime.UTC):%Y-%m-%d}"
                "): enrol the TPM again (`tpmcard ca enroll --force`)"
            )


def check_attestation_public(ak_public: bytes) -> PublicArea:
    """The CA's check of the AK before it certifies it: the card's PAIR checks, so that a key the
    TPM would let sign arbitrary digests (not restricted) or export (not fixedTPM) is refused."""
    try:
        area = PublicArea.parse(ak_public)
        area.public_key()
    except TpmFormatError as exc:
        raise AttestationError(f"the AK's public area is malformed: {exc}") from None
    required = (
        ATTR_FIXED_TPM
        | ATTR_FIXED_PARENT
        | ATTR_SENSITIVE_DATA_ORIGIN
        | ATTR_RESTRICTED
        | ATTR_SIGN_ENCRYPT
    )
    if not area.is_sha256_ecc_key(required, forbidden=ATTR_DECRYPT):
        raise AttestationError(
            "the AK must be a restricted, fixedTPM, fixedParent, TPM-generated P-256 signing key "
            "with SHA-256 names"
        )
    return area


# --- the CA ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingEnrollment:
    """What the CA keeps between its challenge and the TPM's answer."""

    ek_certificate_digest: bytes
    ak_point: bytes
    ak_name: bytes
    secret: bytes
    credential_blob: bytes
    encrypted_secret: bytes
    ek_kind: str


class AttestationCa:
    """The card owner's attestation CA: the P-256 key of ``tpmcard ca init``
    ($TPMCARD_STATE_DIR/ca/ca.key, mode 0600), the same key whose public point is installed on
    the card (``tpmcard ca install``)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, ek_roots: list[x509.Certificate]) -> None:
        self._key = key
        self._roots = ek_roots

    @classmethod
    def load(cls, ek_roots: Path | None = None, directory: Path | None = None) -> AttestationCa:
        try:
            ca = ManufacturerCa.load(directory)
        except CaError as exc:
            raise AttestationError(str(exc)) from None
        return cls(ca.key, load_ek_roots(ek_roots or default_ek_roots()))

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    @property
    def public_point(self) -> bytes:
        return point_bytes(self._key.public_key())

    def challenge(self, ek_certificate: bytes, ak_public: bytes) -> PendingEnrollment:
        """Steps 2 and 3 of the module text: the EK chain, the AK's attributes, MakeCredential."""
        certificate = verify_ek_certificate(ek_certificate, self._roots)
        kind = ek_kind(certificate)
        area = check_attestation_public(ak_public)
        secret = os.urandom(32)
        key = certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        made = make_credential(key, area.name, secret)
        return PendingEnrollment(
            hashlib.sha256(ek_certificate).digest(),
            point_bytes(area.public_key()),
            area.name,
            secret,
            made.credential_blob,
            made.encrypted_secret,
            kind,
        )

    def issue(self, pending: PendingEnrollment, recovered: bytes) -> AkCertificate:
        """Step 4: the certificate, only if the TPM gave the credential back."""
        if not hmac.compare_digest(pending.secret, recovered):
            raise CredentialActivationError(
                "the TPM did not recover the credential: the AK is not in the TPM whose EK "
                "certificate was presented"
            )
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        serial = int.from_bytes(os.urandom(8), "big") >> 1
        signed = AkCertificate.signed_part(
            serial,
            pending.ak_point,
            pending.ak_name,
            pending.ek_certificate_digest,
            now,
            now + int(AK_CERTIFICATE_VALIDITY.total_seconds()),
        )
        signature = self._key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return AkCertificate.parse(signed + tlv.encode(C.TAG_AK_CERTIFICATE_SIGNATURE, signature))


# --- enrolment (host + CA in one process) ---------------------------------------------------------


@dataclass(frozen=True)
class Enrollment:
    """An AK of this host's TPM and its certificate."""

    attestation_key: KeyBlob
    certificate: AkCertificate

    def to_dict(self) -> dict[str, Any]:
        return {
            "attestation_key": self.attestation_key.to_pem(),
            "ak_certificate": self.certificate.encoded.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Enrollment:
        return cls(
            KeyBlob.from_pem(str(data["attestation_key"])),
            AkCertificate.parse(bytes.fromhex(str(data["ak_certificate"]))),
        )


def enroll(tpm: HostTpm, ca: AttestationCa, ak: KeyBlob | None = None) -> Enrollment:
    """Create (or take) an AK in ``tpm`` and have ``ca`` certify it after credential activation."""
    ek_certificate = tpm.read_ek_certificate()
    ak = ak if ak is not None else tpm.create_attestation_key()
    pending = ca.challenge(ek_certificate, bytes(ak.public_area.raw))
    try:
        recovered = tpm.activate_credential(
            ak, pending.ek_kind, pending.credential_blob, pending.encrypted_secret
        )
    except TpmError as exc:
        raise CredentialActivationError(
            f"the TPM could not activate the CA's credential ({exc}): its EK is not the one "
            "the EK certificate names, or the AK is not in that TPM"
        ) from exc
    return Enrollment(ak, ca.issue(pending, recovered))


class EnrollmentStore:
    """Enrolled AKs of this host, one JSON file per TPM (named by its EK certificate's digest),
    in ``$TPMCARD_STATE_DIR/attestation`` (mode 0600; public data and TPM-wrapped keys)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or paths.state_dir() / "attestation"

    def path(self, ek_certificate_digest: bytes) -> Path:
        return self.directory / f"{ek_certificate_digest.hex()[:32]}.json"

    def load(self, ek_certificate: bytes) -> Enrollment | None:
        path = self.path(hashlib.sha256(ek_certificate).digest())
        try:
            return Enrollment.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, enrollment: Enrollment) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(enrollment.certificate.ek_certificate_digest)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(enrollment.to_dict(), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
        return path


def _check_ek_certificate_is_this_tpms(tpm: HostTpm, ek_certificate: bytes) -> None:
    """The host's own check, for a clear message before the CA is asked: the certificate in NV
    names this TPM's EK. (The CA does not rely on it: credential activation proves it.)"""
    try:
        certificate = x509.load_der_x509_certificate(ek_certificate)
    except ValueError as exc:
        raise EkCertificateError(
            f"the TPM's EK certificate is not valid DER X.509: {exc}"
        ) from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ek = tpm.ek_public_key(ek_kind(certificate))
    if ek.public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise EkCertificateError(
            "the EK certificate in this TPM's NV does not certify this TPM's EK (the TPM was "
            "cleared or its EK re-created since it was provisioned)"
        )


def enrollment_for(
    tpm: HostTpm,
    *,
    store: EnrollmentStore | None = None,
    ek_roots: Path | None = None,
    ca_directory: Path | None = None,
    force: bool = False,
) -> Enrollment:
    """This TPM's enrolled AK: the stored one (still valid), else a new enrolment with the local
    CA (``ca_directory``, default $TPMCARD_STATE_DIR/ca), saved for later pairings."""
    store = store if store is not None else EnrollmentStore()
    ek_certificate = tpm.read_ek_certificate()
    if not force:
        existing = store.load(ek_certificate)
        if existing is not None:
            existing.certificate.check_validity()
            return existing
    _check_ek_certificate_is_this_tpms(tpm, ek_certificate)
    ca = AttestationCa.load(ek_roots, ca_directory or ca_dir())
    enrollment = enroll(tpm, ca)
    store.save(enrollment)
    return enrollment
