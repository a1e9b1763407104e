"""Quotes of the mobile TPM in formats a TPM cannot produce (issue 12, 1.c): a JWT (RFC 7519,
JWS compact RFC 7515, ES256) and an Entity Attestation Token (RFC 9711) as a COSE_Sign1 CWT
(RFC 9052, ES256). docs/quote-formats.md has the layouts.

The card builds the to-be-signed bytes itself (QUOTE TOKEN, ``QuoteToken.java``) from fixed
templates, the nonce, its UEID (``01 || SHA-256(EK TPMT_PUBLIC)``) and its verified combined PCR
view; the host only turns the DER signature into the raw ``r || s`` both formats use and wraps
it. The reference builders below make the same bytes; the verifier rebuilds them from the
expected nonce, the EK and the PCR values and compares byte for byte after the signature check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tpmcard.errors import AttestVerificationError as AttestationError
from tpmcard.services.mtpm import MtpmSession
from tpmcard.services.mtpm_constants import (
    FORMAT_EAT,
    FORMAT_JWT,
    KEY_AK,
    MAX_NONCE,
    MIN_TOKEN_NONCE,
)
from tpmcard.services.mtpm_formats import tpm2b_public
from tpmcard.tpm.attest import Certification
from tpmcard.tpm_structures import (
    PcrSelection,
    PublicArea,
    pcr_composite_digest,
    selection_bitmap,
)

#: ``--format`` names -> QUOTE TOKEN P1, and the file each writes.
FORMATS = {"jwt": FORMAT_JWT, "eat": FORMAT_EAT}
FILES = {"jwt": "quote.jwt", "eat": "quote.cwt"}

ISSUER = "tpmcard-mtpm"
JWT_HEADER = b'{"alg":"ES256","typ":"JWT"}'
#: COSE protected header {1: -7} (alg ES256), as a bstr's contents.
COSE_PROTECTED = bytes.fromhex("a10126")
COSE_SIGN1_TAG = 18
UEID_TYPE_RAND = 0x01
_DER_SIGNATURE_MAX = 72


def ueid(ek: PublicArea) -> bytes:
    """The card identity in both tokens: UEID type RAND (RFC 9711 §4.2.1) || SHA-256(EK
    TPMT_PUBLIC), i.e. the EK's Name with its nameAlg replaced by 01."""
    return bytes([UEID_TYPE_RAND]) + hashlib.sha256(ek.raw).digest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: only the canonical encoding of some bytes."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AttestationError("not base64url", "malformed") from None
    if b64url(data) != text:
        raise AttestationError("not canonical base64url", "malformed")
    return data


# --- The to-be-signed content (the card's, made again) -----------------------------------------


def jwt_claims(card_ueid: bytes, indices: Iterable[int], nonce: bytes, digest: bytes) -> bytes:
    """The JWT claims set, exactly as the card writes it (no spaces, this key order)."""
    pcrs = ",".join(str(i) for i in sorted(indices))
    return (
        f'{{"iss":"{ISSUER}","ueid":"{b64url(card_ueid)}","eat_nonce":"{b64url(nonce)}",'
        f'"pcrs":[{pcrs}],"pcr_digest":"{b64url(digest)}"}}'
    ).encode("ascii")


def jwt_signing_input(
    card_ueid: bytes, indices: Iterable[int], nonce: bytes, digest: bytes
) -> bytes:
    """JWS signing input: base64url(header) '.' base64url(claims) (RFC 7515 §5.1)."""
    claims = jwt_claims(card_ueid, indices, nonce, digest)
    return f"{b64url(JWT_HEADER)}.{b64url(claims)}".encode("ascii")


def _head(major: int, value: int) -> bytes:
    """A CBOR head in its shortest form (RFC 8949 §4.2.1); the card's values stay below 256."""
    if value < 24:
        return bytes([major << 5 | value])
    if value < 256:
        return bytes([major << 5 | 24, value])
    return bytes([major << 5 | 25]) + value.to_bytes(2, "big")


def _bstr(data: bytes) -> bytes:
    return _head(2, len(data)) + data


def _tstr(text: str) -> bytes:
    data = text.encode("utf-8")
    return _head(3, len(data)) + data


def eat_claims(card_ueid: bytes, indices: Iterable[int], nonce: bytes, digest: bytes) -> bytes:
    """The EAT claims map (the COSE payload): {1 iss, 10 eat_nonce, 256 ueid, "pcrs",
    "pcr_digest"}, in this order, as the card writes it."""
    pcrs = sorted(indices)
    return b"".join(
        [
            _head(5, 5),
            _head(0, 1) + _tstr(ISSUER),
            _head(0, 10) + _bstr(nonce),
            _head(0, 256) + _bstr(card_ueid),
            _tstr("pcrs") + _head(4, len(pcrs)) + b"".join(_head(0, i) for i in pcrs),
            _tstr("pcr_digest") + _bstr(digest),
        ]
    )


def eat_sig_structure(
    card_ueid: bytes, indices: Iterable[int], nonce: bytes, digest: bytes
) -> bytes:
    """Sig_structure = ["Signature1", protected, external_aad h'', payload] (RFC 9052 §4.4)."""
    payload = eat_claims(card_ueid, indices, nonce, digest)
    return _head(4, 4) + _tstr("Signature1") + _bstr(COSE_PROTECTED) + _bstr(b"") + _bstr(payload)


def to_be_signed(
    fmt: str, card_ueid: bytes, indices: Iterable[int], nonce: bytes, digest: bytes
) -> bytes:
    build = jwt_signing_input if fmt == "jwt" else eat_sig_structure
    return build(card_ueid, indices, nonce, digest)


def answer_max(fmt: str, indices: Iterable[int], nonce_length: int) -> int:
    """The most QUOTE TOKEN answers: length 2 || to-be-signed || DER signature."""
    body = to_be_signed(fmt, bytes(33), list(indices), bytes(nonce_length), bytes(32))
    return 2 + len(body) + _DER_SIGNATURE_MAX


# --- Tokens -----------------------------------------------------------------------------------


def _raw_signature(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jwt_token(signing_input: bytes, signature_der: bytes) -> bytes:
    """JWS compact serialisation: the card's signing input '.' base64url(r || s) (RFC 7518 §3.4)."""
    return signing_input + b"." + b64url(_raw_signature(signature_der)).encode("ascii")


def cose_sign1(sig_structure: bytes, signature_der: bytes) -> bytes:
    """Tagged COSE_Sign1 [protected, {}, payload, r || s] around the card's Sig_structure."""
    head = eat_sig_structure_head()
    if not sig_structure.startswith(head):
        raise AttestationError("not the card's Sig_structure", "malformed")
    payload_bstr = sig_structure[len(head) :]
    return (
        _head(6, COSE_SIGN1_TAG)
        + _head(4, 4)
        + _bstr(COSE_PROTECTED)
        + _head(5, 0)
        + payload_bstr
        + _bstr(_raw_signature(signature_der))
    )


def eat_sig_structure_head() -> bytes:
    return _head(4, 4) + _tstr("Signature1") + _bstr(COSE_PROTECTED) + _bstr(b"")


# --- A small strict CBOR reader (definite lengths; what the card writes) ---------------------


def _cbor(data: bytes, pos: int = 0, depth: int = 0) -> tuple[Any, int]:
    if depth > 8 or pos >= len(data):
        raise AttestationError("CBOR truncated or too deep", "malformed")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        value = info
    elif info in (24, 25, 26, 27):
        n = 1 << (info - 24)
        if pos + n > len(data):
            raise AttestationError("CBOR truncated", "malformed")
        value = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    else:
        raise AttestationError("indefinite or reserved CBOR", "malformed")
    if major == 0:
        return value, pos
    if major == 1:
        return -1 - value, pos
    if major in (2, 3):
        if pos + value > len(data):
            raise AttestationError("CBOR truncated", "malformed")
        chunk = data[pos : pos + value]
        pos += value
        if major == 2:
            return chunk, pos
        try:
            return chunk.decode("utf-8"), pos
        except UnicodeDecodeError:
            raise AttestationError("CBOR text is not UTF-8", "malformed") from None
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _cbor(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[Any, Any] = {}
        for _ in range(value):
            key, pos = _cbor(data, pos, depth + 1)
            if not isinstance(key, int | str) or key in mapping:
                raise AttestationError("bad CBOR map key", "malformed")
            mapping[key], pos = _cbor(data, pos, depth + 1)
        return mapping, pos
    if major == 6:
        inner, pos = _cbor(data, pos, depth + 1)
        return ("tag", value, inner), pos
    raise AttestationError("unexpected CBOR type", "malformed")


def _cbor_whole(data: bytes) -> Any:
    value, end = _cbor(data)
    if end != len(data):
        raise AttestationError("trailing bytes after the CBOR item", "malformed")
    return value


# --- Verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    """What a JWT or EAT quote says, once its signature checked."""

    fmt: str
    signed: bytes  # the to-be-signed bytes
    issuer: str
    ueid: bytes
    nonce: bytes
    pcrs: tuple[int, ...]
    pcr_digest: bytes


def _verify_signature(key: ec.EllipticCurvePublicKey, raw: bytes, signed: bytes) -> None:
    if len(raw) != 64:
        raise AttestationError("the signature is not 64 bytes r || s", "signature")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AttestationError("the AK's signature does not verify", "signature") from None


def _claims(fmt: str, signed: bytes, data: Mapping[Any, Any], keys: tuple[Any, ...]) -> TokenClaims:
    iss, ueid_value, nonce, pcrs, digest = (data.get(k) for k in keys)
    if (
        not isinstance(iss, str)
        or not isinstance(ueid_value, bytes)
        or not isinstance(nonce, bytes)
        or not isinstance(pcrs, list)
        or not all(type(i) is int and 0 <= i < 24 for i in pcrs)
        or not isinstance(digest, bytes)
    ):
        raise AttestationError("the claims are not the card's", "malformed")
    return TokenClaims(fmt, signed, iss, ueid_value, nonce, tuple(pcrs), digest)


def _ascii(part: bytes) -> str:
    try:
        return part.decode("ascii")
    except UnicodeDecodeError:
        raise AttestationError("a JWS part is not ASCII", "malformed") from None


def parse_jwt(token: bytes, ak: ec.EllipticCurvePublicKey) -> TokenClaims:
    """Checks the ES256 signature of a compact JWS, then reads its claims."""
    parts = token.strip().split(b".")
    if len(parts) != 3:
        raise AttestationError("a JWS has three parts", "malformed")
    try:
        header = json.loads(b64url_decode(_ascii(parts[0])))
    except (UnicodeDecodeError, ValueError):
        raise AttestationError("the JWS header is not JSON", "malformed") from None
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise AttestationError("the JWS is not ES256", "malformed")
    signed = parts[0] + b"." + parts[1]
    _verify_signature(ak, b64url_decode(_ascii(parts[2])), signed)
    try:
        raw = json.loads(b64url_decode(_ascii(parts[1])))
    except ValueError:
        raise AttestationError("the JWT claims are not JSON", "malformed") from None
    if not isinstance(raw, dict):
        raise AttestationError("the JWT claims are not an object", "malformed")
    data = dict(raw)
    for name in ("ueid", "eat_nonce", "pcr_digest"):
        if isinstance(data.get(name), str):
            data[name] = b64url_decode(data[name])
    return _claims("jwt", signed, data, ("iss", "ueid", "eat_nonce", "pcrs", "pcr_digest"))


def parse_eat(token: bytes, ak: ec.EllipticCurvePublicKey) -> TokenClaims:
    """Checks the ES256 signature of a (tagged) COSE_Sign1, then reads its CWT claims."""
    value = _cbor_whole(token)
    if isinstance(value, tuple):
        if value[1] != COSE_SIGN1_TAG:
            raise AttestationError("not a COSE_Sign1 tag", "malformed")
        value = value[2]
    if not isinstance(value, list) or len(value) != 4:
        raise AttestationError("a COSE_Sign1 is an array of 4", "malformed")
    protected, _unprotected, payload, signature = value
    if (
        protected != COSE_PROTECTED
        or not isinstance(payload, bytes)
        or not isinstance(signature, bytes)
    ):
        raise AttestationError("the COSE_Sign1 is not ES256 with an attached payload", "malformed")
    signed = eat_sig_structure_head() + _bstr(payload)
    _verify_signature(ak, signature, signed)
    claims = _cbor_whole(payload)
    if not isinstance(claims, dict):
        raise AttestationError("the CWT claims are not a map", "malformed")
    return _claims("eat", signed, claims, (1, 256, 10, "pcrs", "pcr_digest"))


def verify_token(
    fmt: str,
    token: bytes,
    ak: PublicArea,
    ek: PublicArea,
    nonce: bytes,
    pcr_values: Mapping[int, bytes],
) -> TokenClaims:
    """Signature by the AK, then nonce, card identity (the EK's UEID), the PCR selection and
    digest against ``pcr_values``, and finally the exact bytes the card builds."""
    claims = (parse_jwt if fmt == "jwt" else parse_eat)(token, ak.public_key())
    if claims.nonce != nonce:
        raise AttestationError("the token's nonce is not the expected one", "nonce")
    if claims.ueid != ueid(ek):
        raise AttestationError("the token's ueid is not this card's EK", "signer")
    selection = PcrSelection.of(claims.pcrs)
    if tuple(selection.indices) != claims.pcrs or set(pcr_values) != set(claims.pcrs):
        raise AttestationError("the token's PCR selection is not the values'", "pcr_selection")
    if claims.pcr_digest != pcr_composite_digest(pcr_values, selection):
        raise AttestationError("the token's PCR digest does not match the values", "pcr_digest")
    if claims.issuer != ISSUER or claims.signed != to_be_signed(
        fmt, claims.ueid, claims.pcrs, nonce, claims.pcr_digest
    ):
        raise AttestationError("the token is not in the card's exact layout", "malformed")
    return claims


# --- Collecting and checking a quote directory -----------------------------------------------


@dataclass(frozen=True)
class TokenQuote:
    """A JWT or EAT quote with the chain files of a TPM-format quote (docs/quote-formats.md):
    ``quote.jwt`` or ``quote.cwt``, ``ak.pem``, ``pcrs.bin`` (values in index order),
    ``ak.pub``/``ek.pub``, ``ak-certify.msg``/``.sig`` (the EK's CERTIFY of the AK, same nonce),
    ``ek.crt``."""

    fmt: str
    token: bytes
    pcr_values: dict[int, bytes]
    ak: PublicArea
    ak_certification: Certification
    ek: PublicArea
    ek_certificate: bytes | None

    @classmethod
    def collect(cls, mtpm: MtpmSession, fmt: str, pcrs: Iterable[int], nonce: bytes) -> TokenQuote:
        if not MIN_TOKEN_NONCE <= len(nonce) <= MAX_NONCE:
            raise ValueError(f"a JWT or EAT nonce is {MIN_TOKEN_NONCE}..{MAX_NONCE} bytes")
        selection = PcrSelection.of(pcrs)
        values = mtpm.pcr_read(selection.indices)
        signed, der = mtpm.quote_token(
            FORMATS[fmt],
            selection_bitmap(selection.indices),
            nonce,
            answer_max(fmt, selection.indices, len(nonce)),
        )
        ek = mtpm.ek_public()
        digest = pcr_composite_digest(values, selection)
        if signed != to_be_signed(fmt, ueid(ek), selection.indices, nonce, digest):
            raise AttestationError(
                "the card signed other claims than expected (PCRs changed?); quote again",
                "malformed",
            )
        token = jwt_token(signed, der) if fmt == "jwt" else cose_sign1(signed, der)
        return cls(
            fmt=fmt,
            token=token,
            pcr_values=values,
            ak=mtpm.ak_public(),
            ak_certification=mtpm.certify(KEY_AK, nonce),
            ek=ek,
            ek_certificate=mtpm.ek_cert_get(),
        )

    def save(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            FILES[self.fmt]: self.token,
            "ak.pem": self.ak.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "pcrs.bin": b"".join(self.pcr_values[i] for i in sorted(self.pcr_values)),
            "ak.pub": tpm2b_public(self.ak),
            "ek.pub": tpm2b_public(self.ek),
            "ak-certify.msg": self.ak_certification.attest,
            "ak-certify.sig": self.ak_certification.signature,
        }
        if self.ek_certificate is not None:
            files["ek.crt"] = self.ek_certificate
        for name, data in files.items():
            (directory / name).write_bytes(data)
        return [directory / name for name in files]

    @staticmethod
    def present(directory: Path) -> list[str]:
        """The token formats whose file is in ``directory``."""
        return [fmt for fmt, name in FILES.items() if (directory / name).exists()]

    @classmethod
    def load(cls, directory: Path, fmt: str) -> TokenQuote:
        from tpmcard.services.verify import load_key_chain

        try:
            token = (directory / FILES[fmt]).read_bytes()
            pcr_file = (directory / "pcrs.bin").read_bytes()
        except FileNotFoundError as exc:
            raise AttestationError(f"{exc.filename} is missing", "malformed") from None
        ak, ak_certification, ek, ek_certificate = load_key_chain(directory)
        # The selection is the token's own (checked against the signature in verify).
        claims_pcrs = _token_pcrs(fmt, token)
        if len(pcr_file) != 32 * len(claims_pcrs):
            raise AttestationError("pcrs.bin does not match the token's selection", "pcr_selection")
        values = {i: pcr_file[32 * k : 32 * k + 32] for k, i in enumerate(claims_pcrs)}
        return cls(
            fmt=fmt,
            token=token,
            pcr_values=values,
            ak=ak,
            ak_certification=ak_certification,
            ek=ek,
            ek_certificate=ek_certificate,
        )

    def verify(self, nonce: bytes, ca_certificate: x509.Certificate) -> TokenClaims:
        """CA -> EK certificate -> the EK's CERTIFY of the AK (same nonce) -> the token."""
        from tpmcard.services.verify import verify_certified_key, verify_ek_certificate

        if self.ek_certificate is None:
            raise AttestationError(
                "no EK certificate (ek.crt): the chain cannot be checked", "ek_certificate"
            )
        verify_ek_certificate(self.ek, self.ek_certificate, ca_certificate)
        verify_certified_key(
            self.ak_certification.attest,
            self.ak_certification.signature_der,
            self.ak,
            self.ek,
            nonce,
        )
        return verify_token(self.fmt, self.token, self.ak, self.ek, nonce, self.pcr_values)


def _token_pcrs(fmt: str, token: bytes) -> list[int]:
    """The PCR indices a token names, read without checking it (verify checks it)."""
    try:
        if fmt == "jwt":
            claims = json.loads(b64url_decode(token.strip().split(b".")[1].decode("ascii")))
            pcrs = claims.get("pcrs") if isinstance(claims, dict) else None
        else:
            value = _cbor_whole(token)
            body = value[2] if isinstance(value, tuple) else value
            claims = _cbor_whole(body[2])
            pcrs = claims.get("pcrs") if isinstance(claims, dict) else None
    except (IndexError, KeyError, TypeError, ValueError, UnicodeDecodeError):
        pcrs = None
    if not isinstance(pcrs, list) or not all(isinstance(i, int) and 0 <= i < 24 for i in pcrs):
        raise AttestationError(f"{FILES[fmt]} is malformed", "malformed")
    return sorted(set(pcrs))
