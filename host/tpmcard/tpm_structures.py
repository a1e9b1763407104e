"""TPM 2.0 structures in pure Python: the few this project marshals, parses and hashes itself.

Nothing here imports ``tpm2_pytss``: layers that only *verify* TPM output (the pairing protocol,
a verifier, the tests) use this module without the TSS libraries. Every layout cites TPM 2.0
Library Part 2 (Structures); all integers are big-endian (Part 1 §18.2 "Canonical form").
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tpmcard.ecpoint import load_point
from tpmcard.errors import TpmFormatError

# Part 2 §6.3 TPM_ALG_ID (only the ones this project meets).
ALG_RSA = 0x0001
ALG_SHA1 = 0x0004
ALG_AES = 0x0006
ALG_KEYEDHASH = 0x0008
ALG_SHA256 = 0x000B
ALG_SHA384 = 0x000C
ALG_SHA512 = 0x000D
ALG_NULL = 0x0010
ALG_ECDSA = 0x0018
ALG_ECDH = 0x0019
ALG_ECDAA = 0x001A
ALG_ECC = 0x0023
ALG_SYMCIPHER = 0x0025
ALG_CFB = 0x0043

# Part 2 §6.4 TPM_ECC_CURVE.
ECC_NIST_P256 = 0x0003

# Part 2 §6.5.2 TPM_CC (policy commands this project records in key files).
CC_POLICY_AUTH_VALUE = 0x0000016B
CC_POLICY_PCR = 0x0000017F

# Part 2 §6.2 TPM_GENERATED_VALUE, §6.9 TPM_ST (attestation structure tags).
TPM_GENERATED_VALUE = 0xFF544347
ST_ATTEST_NV = 0x8014
ST_ATTEST_COMMAND_AUDIT = 0x8015
ST_ATTEST_SESSION_AUDIT = 0x8016
ST_ATTEST_CERTIFY = 0x8017
ST_ATTEST_QUOTE = 0x8018
ST_ATTEST_TIME = 0x8019
ST_ATTEST_CREATION = 0x801A
ST_ATTEST_NV_DIGEST = 0x801C

# Part 2 §7.4 TPM_RH: the owner hierarchy, used as a TSS2 key file's "parent" (see keyblob).
RH_OWNER = 0x40000001

# Part 2 §8.3 TPMA_OBJECT bits.
ATTR_FIXED_TPM = 1 << 1
ATTR_ST_CLEAR = 1 << 2
ATTR_FIXED_PARENT = 1 << 4
ATTR_SENSITIVE_DATA_ORIGIN = 1 << 5
ATTR_USER_WITH_AUTH = 1 << 6
ATTR_ADMIN_WITH_POLICY = 1 << 7
ATTR_NO_DA = 1 << 10
ATTR_ENCRYPTED_DUPLICATION = 1 << 11
ATTR_RESTRICTED = 1 << 16
ATTR_DECRYPT = 1 << 17
ATTR_SIGN_ENCRYPT = 1 << 18

#: Hash algorithms by TPM_ALG_ID: (hashlib name, digest size).
HASHES: dict[int, tuple[str, int]] = {
    ALG_SHA1: ("sha1", 20),
    ALG_SHA256: ("sha256", 32),
    ALG_SHA384: ("sha384", 48),
    ALG_SHA512: ("sha512", 64),
}

#: PCR bank names as tpm2-tools spells them.
BANKS: dict[str, int] = {name: alg for alg, (name, _) in HASHES.items()}

#: PCRs of a PC Client TPM (TCG PC Client Platform TPM Profile §4.6: 24 PCRs per bank).
PCR_COUNT = 24


def digest(alg: int, data: bytes) -> bytes:
    """``H_alg(data)`` for a TPM hash algorithm id."""
    try:
        name, _ = HASHES[alg]
    except KeyError:
        raise TpmFormatError(
            f"unsupported hash algorithm 0x{alg:04x}", reason="algorithm"
        ) from None
    return hashlib.new(name, data).digest()


class Reader:
    """A cursor over a marshalled TPM structure; every short read raises TpmFormatError."""

    def __init__(self, data: bytes, what: str = "TPM structure") -> None:
        self._data = bytes(data)
        self._offset = 0
        self._what = what

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, n: int) -> bytes:
        if n < 0 or self._offset + n > len(self._data):
            raise TpmFormatError(f"{self._what} is truncated", reason="truncated")
        out = self._data[self._offset : self._offset + n]
        self._offset += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def tpm2b(self) -> bytes:
        """A TPM2B: a 16-bit size followed by that many bytes (Part 2 §10.4)."""
        return self.take(self.u16())

    def end(self) -> None:
        """Refuse trailing bytes: a structure that parses with leftovers is not the one signed."""
        if self.remaining:
            raise TpmFormatError(
                f"{self._what} has {self.remaining} unexpected trailing bytes", reason="trailing"
            )


#: Bytes of a marshalled TPMS_CLOCK_INFO: clock 8, resetCount 4, restartCount 4, safe 1.
CLOCK_INFO_LENGTH = 17


@dataclass(frozen=True)
class ClockInfo:
    """TPMS_CLOCK_INFO (Part 2 §10.11.1), as a TPMS_ATTEST carries it.

    ``clock`` counts milliseconds the TPM has been powered since the last TPM2_Clear (which sets
    it to 0); the owner may move it forward (TPM2_ClockSet); after a power loss it may come back
    lower than a value already reported, and then ``safe`` is False. ``reset_count`` and
    ``restart_count`` count TPM Resets and Restarts. In an
    attestation signed by a key outside the endorsement and platform hierarchies (the pairing's
    AK) the TPM adds a per-key constant to both counts (Part 3 §18.1; Part 4 FillInAttestInfo):
    they move as the TPM's do, but from a per-AK offset, not from 0.
    docs/binding.md "The session's TPM clock".
    """

    clock: int
    reset_count: int
    restart_count: int
    safe: bool

    @classmethod
    def parse(cls, data: bytes) -> ClockInfo:
        """Parse exactly CLOCK_INFO_LENGTH bytes (raises TpmFormatError otherwise)."""
        r = Reader(data, "TPMS_CLOCK_INFO")
        info = cls.read(r)
        r.end()
        return info

    @classmethod
    def read(cls, r: Reader) -> ClockInfo:
        """Read one TPMS_CLOCK_INFO at the reader's position."""
        return cls(r.u64(), r.u32(), r.u32(), bool(r.u8()))

    def marshal(self) -> bytes:
        return struct.pack(
            ">QIIB", self.clock, self.reset_count, self.restart_count, int(self.safe)
        )


def attest_clock_info(attest: bytes) -> ClockInfo:
    """The TPMS_CLOCK_INFO of a marshalled TPMS_ATTEST (Part 2 §10.12.12: magic, type,
    qualifiedSigner, extraData, then clockInfo); the rest is not parsed here."""
    r = Reader(attest, "TPMS_ATTEST")
    r.take(6)  # magic, type
    r.tpm2b()  # qualifiedSigner
    r.tpm2b()  # extraData
    return ClockInfo.read(r)


def tpm2b(data: bytes) -> bytes:
    """Marshal a TPM2B (Part 2 §10.4)."""
    if len(data) > 0xFFFF:
        raise ValueError("TPM2B payload longer than 65535 bytes")
    return struct.pack(">H", len(data)) + data


# --- PCR selections (Part 2 §10.6.2 TPMS_PCR_SELECTION, §10.9.7 TPML_PCR_SELECTION) -----------


def selection_bitmap(indices: Iterable[int]) -> bytes:
    """The 3-byte pcrSelect bitmap of TPMS_PCR_SELECTION (PCR i = bit i%8 of byte i/8)."""
    bitmap = bytearray(3)
    for i in indices:
        bitmap[i // 8] |= 1 << (i % 8)
    return bytes(bitmap)


def bitmap_indices(bitmap: bytes) -> tuple[int, ...]:
    """The PCR indices a pcrSelect bitmap selects, ascending."""
    return tuple(i for i in range(len(bitmap) * 8) if bitmap[i // 8] >> (i % 8) & 1)


@dataclass(frozen=True)
class PcrSelection:
    """One bank's PCR selection. ``indices`` is kept sorted: the TPM always walks the bitmap in
    ascending order, so that is the order of digests in a quote and in TPM2_PolicyPCR."""

    bank: int
    indices: tuple[int, ...]

    @classmethod
    def of(cls, indices: Iterable[int], bank: str | int = "sha256") -> PcrSelection:
        alg = BANKS.get(bank) if isinstance(bank, str) else bank
        if alg is None or alg not in HASHES:
            raise ValueError(f"unknown PCR bank {bank!r}; use one of {sorted(BANKS)}")
        chosen = sorted(set(indices))
        if not chosen:
            raise ValueError("select at least one PCR")
        for i in chosen:
            if not 0 <= i < PCR_COUNT:
                raise ValueError(f"PCR index {i} out of range 0..{PCR_COUNT - 1}")
        return cls(alg, tuple(chosen))

    @property
    def bank_name(self) -> str:
        return HASHES[self.bank][0]

    def marshal_list(self) -> bytes:
        """The TPML_PCR_SELECTION holding just this bank (count = 1, sizeofSelect = 3)."""
        bitmap = selection_bitmap(self.indices)
        return struct.pack(">IHB", 1, self.bank, len(bitmap)) + bitmap

    def __str__(self) -> str:  # tpm2-tools syntax, e.g. "sha256:0,1,8"
        return f"{self.bank_name}:{','.join(map(str, self.indices))}"


def parse_pcr_selection_list(reader: Reader) -> list[PcrSelection]:
    """Parse a TPML_PCR_SELECTION; banks with an empty bitmap are dropped."""
    count = reader.u32()
    if count > 16:  # HASH_COUNT is tiny on every TPM; a big count is garbage, not a TPM answer
        raise TpmFormatError(f"TPML_PCR_SELECTION claims {count} banks", reason="malformed")
    out = []
    for _ in range(count):
        bank = reader.u16()
        size = reader.u8()
        bitmap = reader.take(size)
        indices = tuple(i for i in range(size * 8) if bitmap[i // 8] >> (i % 8) & 1)
        if indices:
            out.append(PcrSelection(bank, indices))
    return out


def pcr_composite_digest(
    values: Mapping[int, bytes], selection: PcrSelection, alg: int = ALG_SHA256
) -> bytes:
    """H(PCR[i0] || PCR[i1] || ...) in selection order: the pcrDigest of TPM2_Quote
    (Part 3 §18.4) and of TPM2_PolicyPCR (Part 3 §23.7)."""
    try:
        return digest(alg, b"".join(values[i] for i in selection.indices))
    except KeyError as exc:
        raise ValueError(f"no value given for PCR {exc.args[0]}") from None


# --- Policy digests (Part 3 §23) ------------------------------------------------------------


def policy_pcr(previous: bytes, selection: PcrSelection, pcr_digest: bytes) -> bytes:
    """policyDigest' = H(policyDigest || TPM_CC_PolicyPCR || pcrs || pcrDigest) (Part 3 §23.7)."""
    return digest(
        ALG_SHA256,
        previous + struct.pack(">I", CC_POLICY_PCR) + selection.marshal_list() + pcr_digest,
    )


def policy_auth_value(previous: bytes) -> bytes:
    """policyDigest' = H(policyDigest || TPM_CC_PolicyAuthValue) (Part 3 §23.17).

    TPM2_PolicyPassword extends the same command code (§23.18): either command satisfies it."""
    return digest(ALG_SHA256, previous + struct.pack(">I", CC_POLICY_AUTH_VALUE))


EMPTY_POLICY = bytes(32)


# --- Public areas (Part 2 §12.2.4 TPMT_PUBLIC) ------------------------------------------------


@dataclass(frozen=True)
class PublicArea:
    """A parsed TPMT_PUBLIC of an ECC key or a sealed data object (the object types this
    project creates).

    ``raw`` is the TPMT_PUBLIC exactly as marshalled; the Name hashes those bytes, so it is kept
    rather than re-marshalled. A sealed data object (type KEYEDHASH, scheme NULL, Part 1 §27.2.6)
    has no curve and no point: ``curve`` is 0, ``x`` and ``y`` are empty and ``unique`` holds its
    unique field (H(seedValue || data), Part 1 §27.7.3); for ECC keys ``unique`` is empty.
    """

    raw: bytes
    type: int
    name_alg: int
    attributes: int
    auth_policy: bytes
    symmetric: int
    scheme: int
    scheme_hash: int
    curve: int
    kdf: int
    x: bytes
    y: bytes
    unique: bytes = b""

    @property
    def is_sealed_data(self) -> bool:
        """True for a sealed data object (KEYEDHASH with scheme NULL, made by TPM2_Create with
        caller-supplied data)."""
        return self.type == ALG_KEYEDHASH

    @classmethod
    def from_tpm2b(cls, data: bytes) -> PublicArea:
        """Parse a TPM2B_PUBLIC (as ``tpm2_create -u`` writes it)."""
        r = Reader(data, "TPM2B_PUBLIC")
        inner = r.tpm2b()
        r.end()
        return cls.parse(inner)

    @classmethod
    def parse(cls, data: bytes) -> PublicArea:
        """Parse a marshalled TPMT_PUBLIC."""
        data = bytes(data)
        r = Reader(data, "TPMT_PUBLIC")
        type_ = r.u16()
        name_alg = r.u16()
        attributes = r.u32()
        auth_policy = r.tpm2b()
        if type_ == ALG_KEYEDHASH:
            return cls._parse_keyed_hash(data, r, type_, name_alg, attributes, auth_policy)
        if type_ != ALG_ECC:
            raise TpmFormatError(
                f"public area of type 0x{type_:04x}; only ECC keys and sealed data are supported",
                reason="algorithm",
            )
        # TPMS_ECC_PARMS (Part 2 §12.2.3.6)
        symmetric = r.u16()
        if symmetric != ALG_NULL:
            r.u16()  # keyBits
            r.u16()  # mode
        scheme = r.u16()
        scheme_hash = 0
        if scheme != ALG_NULL:
            scheme_hash = r.u16()
            if scheme == ALG_ECDAA:
                r.u16()  # count
        curve = r.u16()
        kdf = r.u16()
        if kdf != ALG_NULL:
            r.u16()
        # TPMS_ECC_POINT unique (Part 2 §11.2.5.2)
        x = r.tpm2b()
        y = r.tpm2b()
        r.end()
        return cls(
            raw=data,
            type=type_,
            name_alg=name_alg,
            attributes=attributes,
            auth_policy=auth_policy,
            symmetric=symmetric,
            scheme=scheme,
            scheme_hash=scheme_hash,
            curve=curve,
            kdf=kdf,
            x=x,
            y=y,
        )

    @classmethod
    def _parse_keyed_hash(
        cls,
        data: bytes,
        r: Reader,
        type_: int,
        name_alg: int,
        attributes: int,
        auth_policy: bytes,
    ) -> PublicArea:
        # TPMS_KEYEDHASH_PARMS (Part 2 §12.2.3.3): a TPMT_KEYEDHASH_SCHEME, NULL for sealed data
        # (HMAC and XOR keys carry a hash, and XOR a KDF, which this project never makes).
        scheme = r.u16()
        if scheme != ALG_NULL:
            raise TpmFormatError(
                f"keyed-hash object with scheme 0x{scheme:04x}; only sealed data (scheme NULL) "
                "is supported",
                reason="algorithm",
            )
        unique = r.tpm2b()  # TPM2B_DIGEST keyedHash (Part 2 §12.2.3.2)
        r.end()
        return cls(
            raw=data,
            type=type_,
            name_alg=name_alg,
            attributes=attributes,
            auth_policy=auth_policy,
            symmetric=ALG_NULL,
            scheme=ALG_NULL,
            scheme_hash=0,
            curve=0,
            kdf=ALG_NULL,
            x=b"",
            y=b"",
            unique=unique,
        )

    @property
    def name(self) -> bytes:
        return object_name(self.raw)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key as a cryptography object (raises TpmFormatError off-curve or not P-256)."""
        if self.type != ALG_ECC:
            raise TpmFormatError("a sealed data object has no public key", reason="algorithm")
        if self.curve != ECC_NIST_P256:
            raise TpmFormatError(f"curve 0x{self.curve:04x} is not P-256", reason="algorithm")
        if len(self.x) != 32 or len(self.y) != 32:
            raise TpmFormatError("P-256 point coordinates must be 32 bytes", reason="malformed")
        try:
            return load_point(b"\x04" + self.x + self.y)
        except ValueError:
            raise TpmFormatError("public point is not on P-256", reason="malformed") from None

    def is_sha256_ecc_key(self, required: int, forbidden: int = 0) -> bool:
        """An ECC key with SHA-256 names whose attributes include every bit of ``required`` and
        none of ``forbidden`` (the checks the card makes of the keys PAIR enrols)."""
        return (
            self.type == ALG_ECC
            and self.name_alg == ALG_SHA256
            and self.attributes & required == required
            and not self.attributes & forbidden
        )

    def has(self, attribute: int) -> bool:
        return bool(self.attributes & attribute)


def object_name(tpmt_public: bytes) -> bytes:
    """Name = nameAlg || H_nameAlg(TPMT_PUBLIC) (Part 1 §16 "Names"), from the marshalled
    TPMT_PUBLIC (for a TPM2B_PUBLIC, use ``PublicArea.from_tpm2b(b).name``)."""
    data = bytes(tpmt_public)
    if len(data) < 4:
        raise TpmFormatError("TPMT_PUBLIC is truncated", reason="truncated")
    name_alg = struct.unpack(">H", data[2:4])[0]
    return struct.pack(">H", name_alg) + digest(name_alg, data)


def public_name(tpm2b_public: bytes) -> bytes:
    """The Name of the object whose marshalled TPM2B_PUBLIC is given (any key type)."""
    r = Reader(tpm2b_public, "TPM2B_PUBLIC")
    inner = r.tpm2b()
    r.end()
    return object_name(inner)


def qualified_name(parent_qualified_name: bytes, name: bytes) -> bytes:
    """QN(object) = nameAlg || H_nameAlg(QN(parent) || Name(object)) (Part 1 §16.5)."""
    if len(name) < 2:
        raise TpmFormatError("a Name holds at least its algorithm id", reason="malformed")
    name_alg = struct.unpack(">H", name[:2])[0]
    return name[:2] + digest(name_alg, parent_qualified_name + name)


def hierarchy_qualified_name(handle: int = RH_OWNER) -> bytes:
    """A hierarchy's Name and Qualified Name are its handle (Part 1 §16.5)."""
    return struct.pack(">I", handle)


# --- Signatures (Part 2 §11.3.4 TPMT_SIGNATURE) ----------------------------------------------


def ecdsa_signature_to_der(tpmt_signature: bytes) -> bytes:
    """Convert a marshalled TPMT_SIGNATURE (ECDSA) to an X9.62 DER ``SEQUENCE{r, s}``."""
    r = Reader(tpmt_signature, "TPMT_SIGNATURE")
    sig_alg = r.u16()
    if sig_alg != ALG_ECDSA:
        raise TpmFormatError(
            f"signature algorithm 0x{sig_alg:04x} is not ECDSA", reason="algorithm"
        )
    r.u16()  # hash
    sig_r = r.tpm2b()
    sig_s = r.tpm2b()
    r.end()
    return encode_dss_signature(int.from_bytes(sig_r, "big"), int.from_bytes(sig_s, "big"))


def ecdsa_signature_from_der(der: bytes, hash_alg: int = ALG_SHA256, size: int = 32) -> bytes:
    """Marshal an X9.62 DER ECDSA signature as a TPMT_SIGNATURE (as tpm2_checkquote reads)."""
    sig_r, sig_s = decode_dss_signature(der)
    return (
        struct.pack(">HH", ALG_ECDSA, hash_alg)
        + tpm2b(sig_r.to_bytes(size, "big"))
        + tpm2b(sig_s.to_bytes(size, "big"))
    )
