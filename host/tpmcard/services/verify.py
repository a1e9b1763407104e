"""Verifying what a mobile TPM says: AK -> EK -> manufacturer CA, then the quote.

Pure functions over bytes and ``cryptography`` objects; the quote and certification checks are
those of :mod:`tpmcard.tpm.attest` (signature first, then magic, type, nonce, signer, payload).
Each failure raises :class:`tpmcard.errors.AttestVerificationError` with a ``reason``: the ones of
``verify_quote``/``verify_certify`` plus ``ek_certificate`` and ``ek_mismatch``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.ecpoint import point_bytes
from tpmcard.errors import AttestVerificationError, TpmFormatError
from tpmcard.services.mtpm import (
    KEY_AK,
    KEY_MIGRATION,
    MtpmSession,
    endorsement_qualified_name,
    tpm2b_public,
)
from tpmcard.tpm.attest import (
    Attestation,
    Certification,
    Quote,
    QuoteInfo,
    verify_certify,
    verify_quote,
)
from tpmcard.tpm_structures import PublicArea, ecdsa_signature_to_der


def verify_ek_certificate(
    ek: PublicArea, certificate_der: bytes, ca_certificate: x509.Certificate
) -> x509.Certificate:
    """The EK certificate is signed by the CA, valid now, and certifies exactly this EK."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError:
        raise AttestVerificationError(
            "the EK certificate is not DER X.509", "ek_certificate"
        ) from None
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise AttestVerificationError(
            "the EK certificate was not issued by the manufacturer CA", "ek_certificate"
        ) from None
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or point_bytes(key) != point_bytes(
        ek.public_key()
    ):
        raise AttestVerificationError("the EK certificate is for another key", "ek_mismatch")
    return certificate


def verify_certified_key(
    certify_attest: bytes,
    certify_signature_der: bytes,
    certified: PublicArea,
    ek: PublicArea,
    nonce: bytes,
) -> Attestation:
    """The EK signed TPMS_ATTEST CERTIFY of ``certified`` (its Name) for ``nonce``."""
    return verify_certify(
        certify_attest,
        certify_signature_der,
        ek.public_key(),
        nonce,
        tpm2b_public(certified),
        expected_qualified_signer=endorsement_qualified_name(ek.name),
    )


def verify_mtpm_quote(
    attest: bytes,
    signature_der: bytes,
    ak: PublicArea,
    nonce: bytes,
    pcr_values: Mapping[int, bytes],
    *,
    certify_attest: bytes,
    certify_signature_der: bytes,
    ek: PublicArea,
    ek_certificate_der: bytes,
    ca_certificate: x509.Certificate,
) -> Attestation:
    """The whole chain: CA -> EK certificate -> EK certifies AK -> AK signed the quote, whose
    signer is the AK's qualified name and whose PCR digest matches ``pcr_values``."""
    verify_ek_certificate(ek, ek_certificate_der, ca_certificate)
    verify_certified_key(certify_attest, certify_signature_der, ak, ek, nonce)
    return verify_quote(
        attest,
        signature_der,
        ak.public_key(),
        nonce,
        pcr_values,
        expected_qualified_signer=endorsement_qualified_name(ak.name),
    )


@dataclass(frozen=True)
class QuoteBundle:
    """Everything a remote verifier needs, as files tpm2-tools reads where a format exists:
    ``quote.msg`` (TPMS_ATTEST), ``quote.sig`` (TPMT_SIGNATURE), ``ak.pem``, ``pcrs.bin`` (values
    in selection order) for ``tpm2_checkquote``; ``ak.pub``/``ek.pub`` (TPM2B_PUBLIC, as
    ``tpm2_readpublic -o``), ``ak-certify.msg``/``ak-certify.sig`` (the EK's TPMS_ATTEST CERTIFY of
    the AK, same nonce) and ``ek.crt`` (DER) for the chain."""

    quote: Quote
    ak: PublicArea
    ak_certification: Certification
    ek: PublicArea
    ek_certificate: bytes | None

    @classmethod
    def collect(cls, mtpm: MtpmSession, pcrs: Iterable[int], nonce: bytes) -> QuoteBundle:
        return cls(
            quote=mtpm.quote(pcrs, nonce),
            ak=mtpm.ak_public(),
            ak_certification=mtpm.certify(KEY_AK, nonce),
            ek=mtpm.ek_public(),
            ek_certificate=mtpm.ek_cert_get(),
        )

    def save(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "quote.msg": self.quote.attest,
            "quote.sig": self.quote.signature,
            "ak.pem": self.ak.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "pcrs.bin": self.quote.pcr_file(),
            "ak.pub": tpm2b_public(self.ak),
            "ek.pub": tpm2b_public(self.ek),
            "ak-certify.msg": self.ak_certification.attest,
            "ak-certify.sig": self.ak_certification.signature,
        }
        if self.ek_certificate is not None:
            files["ek.crt"] = self.ek_certificate
        written = []
        for name, data in files.items():
            (directory / name).write_bytes(data)
            written.append(directory / name)
        return written

    @classmethod
    def load(cls, directory: Path) -> QuoteBundle:
        try:
            attest = (directory / "quote.msg").read_bytes()
            signature = (directory / "quote.sig").read_bytes()
            pcr_file = (directory / "pcrs.bin").read_bytes()
        except FileNotFoundError as exc:
            raise AttestVerificationError(f"{exc.filename} is missing", "malformed") from None
        ak, ak_certification, ek, ek_certificate = load_key_chain(directory)
        try:
            parsed = Attestation.parse(attest)
        except TpmFormatError as exc:
            raise AttestVerificationError(f"quote.msg is malformed: {exc}", "malformed") from None
        if not isinstance(parsed.body, QuoteInfo) or len(parsed.body.pcr_selections) != 1:
            raise AttestVerificationError("quote.msg is not a one-bank quote", "type")
        selection = parsed.body.pcr_selections[0]
        if len(pcr_file) != 32 * len(selection.indices):
            raise AttestVerificationError(
                "pcrs.bin does not match the quote's selection", "pcr_selection"
            )
        values = {i: pcr_file[32 * k : 32 * k + 32] for k, i in enumerate(selection.indices)}
        return cls(
            quote=Quote(attest, signature, signature_der(signature), selection, values),
            ak=ak,
            ak_certification=ak_certification,
            ek=ek,
            ek_certificate=ek_certificate,
        )

    def verify(self, nonce: bytes, ca_certificate: x509.Certificate) -> Attestation:
        if self.ek_certificate is None:
            raise AttestVerificationError(
                "no EK certificate (ek.crt): the chain cannot be checked", "ek_certificate"
            )
        return verify_mtpm_quote(
            self.quote.attest,
            self.quote.signature_der,
            self.ak,
            nonce,
            self.quote.pcr_values,
            certify_attest=self.ak_certification.attest,
            certify_signature_der=self.ak_certification.signature_der,
            ek=self.ek,
            ek_certificate_der=self.ek_certificate,
            ca_certificate=ca_certificate,
        )


MIGRATION_TARGET_FORMAT = "tpmcard-migration-target/1"


@dataclass(frozen=True)
class MigrationTarget:
    """A card's certified migration key, as the owner of the *target* card hands it to the
    owner of the source card (``tpmcard mtpm migrate target``). One JSON file whose fields are
    hex of the structures tpm2-tools reads: ``migration_public`` and ``ek_public``
    (TPM2B_PUBLIC, ``tpm2_print -t TPM2B_PUBLIC``), ``certify_attest`` (TPMS_ATTEST CERTIFY of
    the migration key by the EK, ``tpm2_print -t TPMS_ATTEST``), ``certify_signature``
    (TPMT_SIGNATURE), ``nonce`` (the certification's qualifying data) and ``ek_certificate``
    (DER X.509, or null).

    The nonce is chosen by the target side, so the certification proves which card holds the
    key, not when it was made: the key is fixed for the card's life (docs/mtpm.md, Migration).
    """

    migration: PublicArea
    certification: Certification
    nonce: bytes
    ek: PublicArea
    ek_certificate: bytes | None

    @classmethod
    def collect(cls, mtpm: MtpmSession, nonce: bytes | None = None) -> MigrationTarget:
        nonce = os.urandom(16) if nonce is None else nonce
        return cls(
            migration=mtpm.migration_public(),
            certification=mtpm.certify(KEY_MIGRATION, nonce),
            nonce=nonce,
            ek=mtpm.ek_public(),
            ek_certificate=mtpm.ek_cert_get(),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "format": MIGRATION_TARGET_FORMAT,
            "migration_public": tpm2b_public(self.migration).hex(),
            "certify_attest": self.certification.attest.hex(),
            "certify_signature": self.certification.signature.hex(),
            "nonce": self.nonce.hex(),
            "ek_public": tpm2b_public(self.ek).hex(),
            "ek_certificate": self.ek_certificate.hex() if self.ek_certificate else None,
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> MigrationTarget:
        try:
            data = json.loads(text)
            if data.get("format") != MIGRATION_TARGET_FORMAT:
                raise ValueError(f"format is not {MIGRATION_TARGET_FORMAT}")
            signature = bytes.fromhex(data["certify_signature"])
            certificate = data.get("ek_certificate")
            return cls(
                migration=PublicArea.from_tpm2b(bytes.fromhex(data["migration_public"])),
                certification=Certification(
                    bytes.fromhex(data["certify_attest"]), signature, signature_der(signature)
                ),
                nonce=bytes.fromhex(data["nonce"]),
                ek=PublicArea.from_tpm2b(bytes.fromhex(data["ek_public"])),
                ek_certificate=bytes.fromhex(certificate) if certificate else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError, TpmFormatError) as exc:
            raise AttestVerificationError(
                f"not a migration target file ({exc}); make one with `tpmcard mtpm migrate "
                "target` on the target card",
                "malformed",
            ) from None

    def verify(self, ca_certificate: x509.Certificate) -> PublicArea:
        """CA -> EK certificate -> EK-signed CERTIFY of the migration key; returns that key
        (what ``ManufacturerCa.certify_migration_target`` certifies for the source card to
        check). Raises AttestVerificationError."""
        if self.ek_certificate is None:
            raise AttestVerificationError(
                "the target card has no EK certificate, so its migration key cannot be trusted: "
                "issue one (`tpmcard ca issue`, `tpmcard mtpm ek-cert set`) on the target",
                "ek_certificate",
            )
        verify_ek_certificate(self.ek, self.ek_certificate, ca_certificate)
        verify_certified_key(
            self.certification.attest,
            self.certification.signature_der,
            self.migration,
            self.ek,
            self.nonce,
        )
        return self.migration


def load_key_chain(
    directory: Path,
) -> tuple[PublicArea, Certification, PublicArea, bytes | None]:
    """The key chain every quote directory carries beside its quote (``tpmcard mtpm quote``):
    the AK (ak.pub), the EK's CERTIFY of it (ak-certify.msg/.sig), the EK (ek.pub) and, if
    present, its certificate (ek.crt)."""
    try:
        ak = PublicArea.from_tpm2b((directory / "ak.pub").read_bytes())
        ek = PublicArea.from_tpm2b((directory / "ek.pub").read_bytes())
        cert_attest = (directory / "ak-certify.msg").read_bytes()
        cert_signature = (directory / "ak-certify.sig").read_bytes()
    except FileNotFoundError as exc:
        raise AttestVerificationError(f"{exc.filename} is missing", "malformed") from None
    except TpmFormatError as exc:
        raise AttestVerificationError(f"a public area is malformed: {exc}", "malformed") from None
    ek_crt = directory / "ek.crt"
    certification = Certification(cert_attest, cert_signature, signature_der(cert_signature))
    return ak, certification, ek, (ek_crt.read_bytes() if ek_crt.exists() else None)


def signature_der(signature: bytes) -> bytes:
    """TPMT_SIGNATURE or DER -> DER."""
    if signature[:1] == b"\x30":
        return signature
    try:
        return ecdsa_signature_to_der(signature)
    except TpmFormatError as exc:
        raise AttestVerificationError(f"the signature is malformed: {exc}", "malformed") from None
