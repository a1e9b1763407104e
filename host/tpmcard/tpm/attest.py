"""Parse and verify TPM attestations (TPM2_Quote, TPM2_Certify) without any TSS library.

A verifier holds the attestation key's public key (pinned at pairing), a fresh nonce it chose,
and what it expects: PCR values for a quote, the certified key's public area for a
certification. :func:`verify_quote` and :func:`verify_certify` check, in this order, the
signature over the exact bytes received, the magic (TPM_GENERATED_VALUE: only the TPM itself
produces structures starting with it, Part 1 §36.3), the structure type, the nonce, then the
payload. ``tpm2_checkquote`` checks the signature, nonce and PCR digest but not magic, type or
signer, which is why this module does.

All layouts: TPM 2.0 Library Part 2 §10.12 (TPMS_ATTEST and its members).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.errors import AttestVerificationError, TpmFormatError
from tpmcard.tpm_structures import (
    ST_ATTEST_CERTIFY,
    ST_ATTEST_QUOTE,
    TPM_GENERATED_VALUE,
    ClockInfo,
    PcrSelection,
    Reader,
    parse_pcr_selection_list,
    pcr_composite_digest,
    public_name,
    tpm2b,
)


@dataclass(frozen=True)
class QuoteInfo:
    """TPMS_QUOTE_INFO (Part 2 §10.12.4)."""

    pcr_selections: tuple[PcrSelection, ...]
    pcr_digest: bytes


@dataclass(frozen=True)
class CertifyInfo:
    """TPMS_CERTIFY_INFO (Part 2 §10.12.3)."""

    name: bytes
    qualified_name: bytes


@dataclass(frozen=True)
class Attestation:
    """A parsed TPMS_ATTEST. ``body`` is a QuoteInfo, a CertifyInfo, or the raw bytes of the
    other attestation types; ``raw`` is the structure exactly as signed."""

    raw: bytes
    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock_info: ClockInfo
    firmware_version: int
    body: QuoteInfo | CertifyInfo | bytes

    @classmethod
    def parse(cls, data: bytes) -> Attestation:
        """Parse a marshalled TPMS_ATTEST (raises TpmFormatError if malformed)."""
        r = Reader(data, "TPMS_ATTEST")
        magic = r.u32()
        type_ = r.u16()
        qualified_signer = r.tpm2b()
        extra_data = r.tpm2b()
        clock = ClockInfo.read(r)
        firmware = r.u64()
        body: QuoteInfo | CertifyInfo | bytes
        if type_ == ST_ATTEST_QUOTE:
            selections = tuple(parse_pcr_selection_list(r))
            body = QuoteInfo(selections, r.tpm2b())
        elif type_ == ST_ATTEST_CERTIFY:
            body = CertifyInfo(r.tpm2b(), r.tpm2b())
        else:
            body = r.take(r.remaining)
        r.end()
        return cls(bytes(data), magic, type_, qualified_signer, extra_data, clock, firmware, body)


def marshal_attestation(
    type_: int,
    qualified_signer: bytes,
    extra_data: bytes,
    clock_info: ClockInfo,
    firmware_version: int,
    body: bytes,
    magic: int = TPM_GENERATED_VALUE,
) -> bytes:
    """Marshal a TPMS_ATTEST from parts (``body`` already marshalled). For tests and tooling."""
    return (
        struct.pack(">IH", magic, type_)
        + tpm2b(qualified_signer)
        + tpm2b(extra_data)
        + clock_info.marshal()
        + struct.pack(">Q", firmware_version)
        + body
    )


def _check_common(
    attest: bytes,
    signature_der: bytes,
    signer: ec.EllipticCurvePublicKey,
    nonce: bytes,
    expected_type: int,
    expected_qualified_signer: bytes | None,
) -> Attestation:
    # The signature first: nothing in an unauthenticated structure deserves parsing effort or
    # a specific error message. The TPM signs H(TPMS_ATTEST) with the key's scheme hash
    # (Part 3 §18.2 "Introduction" to attestation commands); our AKs use ECDSA-SHA256.
    try:
        signer.verify(signature_der, attest, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise AttestVerificationError(
            "the attestation signature does not verify with the attestation key", "signature"
        ) from None
    try:
        parsed = Attestation.parse(attest)
    except TpmFormatError as exc:
        raise AttestVerificationError(f"the attestation is malformed: {exc}", "malformed") from None
    if parsed.magic != TPM_GENERATED_VALUE:
        raise AttestVerificationError(
            f"magic 0x{parsed.magic:08x} is not TPM_GENERATED_VALUE: not produced by a TPM",
            "magic",
        )
    if parsed.type != expected_type:
        raise AttestVerificationError(
            f"attestation type 0x{parsed.type:04x}, expected 0x{expected_type:04x}", "type"
        )
    if not hmac.compare_digest(parsed.extra_data, nonce):
        raise AttestVerificationError("the attestation answers another nonce (replayed?)", "nonce")
    if expected_qualified_signer is not None and not hmac.compare_digest(
        parsed.qualified_signer, expected_qualified_signer
    ):
        raise AttestVerificationError("the attestation was signed by another key", "signer")
    return parsed


def verify_quote(
    attest: bytes,
    signature_der: bytes,
    ak_public_key: ec.EllipticCurvePublicKey,
    nonce: bytes,
    pcr_values: Mapping[int, bytes] | None = None,
    *,
    bank: str = "sha256",
    expected_qualified_signer: bytes | None = None,
) -> Attestation:
    """Verify a TPM2_Quote; return the parsed attestation.

    With ``pcr_values`` (index -> value in ``bank``), also require that the quote selects
    exactly those PCRs of that bank and that its pcrDigest is H(values in ascending index
    order). Without it, the caller must check ``body.pcr_digest`` itself.
    Raises AttestVerificationError with ``reason`` naming the failed check.
    """
    parsed = _check_common(
        attest, signature_der, ak_public_key, nonce, ST_ATTEST_QUOTE, expected_qualified_signer
    )
    assert isinstance(parsed.body, QuoteInfo)
    if pcr_values is not None:
        expected = PcrSelection.of(pcr_values.keys(), bank)
        if parsed.body.pcr_selections != (expected,):
            got = ", ".join(map(str, parsed.body.pcr_selections)) or "nothing"
            raise AttestVerificationError(
                f"the quote covers {got}, expected {expected}", "pcr_selection"
            )
        want = pcr_composite_digest(pcr_values, expected)
        if not hmac.compare_digest(parsed.body.pcr_digest, want):
            raise AttestVerificationError(
                "the quoted PCR digest differs from the expected PCR values", "pcr_digest"
            )
    return parsed


def verify_certify(
    attest: bytes,
    signature_der: bytes,
    ak_public_key: ec.EllipticCurvePublicKey,
    nonce: bytes,
    certified_public: bytes,
    *,
    expected_qualified_signer: bytes | None = None,
) -> Attestation:
    """Verify a TPM2_Certify of the object whose TPM2B_PUBLIC is ``certified_public``: the
    certified Name must be that public area's Name (so the TPM vouches for exactly this key,
    its attributes and its policy). Return the parsed attestation."""
    parsed = _check_common(
        attest, signature_der, ak_public_key, nonce, ST_ATTEST_CERTIFY, expected_qualified_signer
    )
    assert isinstance(parsed.body, CertifyInfo)
    try:
        name = public_name(certified_public)
    except TpmFormatError as exc:
        raise AttestVerificationError(
            f"the certified public area is malformed: {exc}", "malformed"
        ) from None
    if not hmac.compare_digest(parsed.body.name, name):
        raise AttestVerificationError("the TPM certified another object", "name")
    return parsed


@dataclass(frozen=True)
class Quote:
    """What ``Tpm.quote`` returns: the TPMS_ATTEST exactly as signed, its signature both as the
    TPM marshalled it (TPMT_SIGNATURE, for ``tpm2_checkquote -s``) and as X9.62 DER, and the
    PCR values the quote covers (their digest is checked against the quote before returning)."""

    attest: bytes
    signature: bytes
    signature_der: bytes
    pcr_selection: PcrSelection
    pcr_values: dict[int, bytes]

    def pcr_file(self) -> bytes:
        """The PCR values concatenated in selection order (``tpm2_checkquote -f``)."""
        return b"".join(self.pcr_values[i] for i in self.pcr_selection.indices)


@dataclass(frozen=True)
class Certification:
    """What ``Tpm.certify`` returns: the TPMS_ATTEST and its signature (marshalled and DER)."""

    attest: bytes
    signature: bytes
    signature_der: bytes
