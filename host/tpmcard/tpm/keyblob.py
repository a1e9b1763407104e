"""Key blobs: how a TPM-wrapped key is stored outside the TPM.

Format
======
A key blob is a **TSS2 key file**, the interoperable format of tpm2-openssl, tpm2-tss-engine,
openssl_tpm2_engine, the Linux kernel's trusted keys and tpm2-pytss (``TSSPrivKey``), specified
in "ASN.1 Specification for TPM 2.0 Key Files" (draft-bottomley-tpm2-keys). DER, or PEM with
the label ``TSS2 PRIVATE KEY``::

    TPMKey ::= SEQUENCE {
        type        OBJECT IDENTIFIER,                 -- 2.23.133.10.1.3 loadableKey,
                                                       -- 2.23.133.10.1.5 sealedKey
        emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,     -- TRUE: no authValue needed
        policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
        description [4] EXPLICIT UTF8String OPTIONAL,  -- read, never written
        parent      INTEGER,                           -- 0x40000001 or a persistent handle
        pubkey      OCTET STRING,                      -- TPM2B_PUBLIC, marshalled
        privkey     OCTET STRING }                     -- TPM2B_PRIVATE, marshalled
    TPMPolicy ::= SEQUENCE {
        commandCode   [0] EXPLICIT INTEGER,            -- e.g. TPM_CC_PolicyPCR
        commandPolicy [1] EXPLICIT OCTET STRING }      -- that command's parameters, marshalled

* ``pubkey`` and ``privkey`` are byte for byte the files ``tpm2_create -u key.pub -r key.priv``
  writes, so ``tpm2_load -u -r`` reads :attr:`KeyBlob.public` / :attr:`KeyBlob.private` as is.
* ``parent`` 0x40000001 (TPM_RH_OWNER) means: the primary key CreatePrimary derives in the owner
  hierarchy from the TCG ECC P-256 storage template with zero-size unique fields (TCG EK
  Credential Profile 2.5 template H-2, as the key-file draft requires for permanent handles).
  A persistent handle (0x81xxxxxx) means that persistent key.
* ``policy`` lists the policy commands that satisfy the key's authPolicy, in order. A binding key
  has ``TPM2_PolicyPCR`` (parameters ``TPM2B_DIGEST pcrDigest || TPML_PCR_SELECTION pcrs``: the
  PCR values the key is bound to) and, when it has a PIN, ``TPM2_PolicyAuthValue`` (no
  parameters). Sealed data (``Tpm.seal``) has ``TPM2_PolicyPCR`` only.
* ``type`` follows the public area: sealedKey for a sealed data object (KEYEDHASH, as the Linux
  kernel's trusted keys write it), loadableKey for everything else. Both are read.
* Version: the OID names the layout; the draft keeps TPMKey unversioned on purpose (later
  fields arrive as optional tags). tpmcard writes no optional field that fixed-layout readers
  (tpm2-pytss ``TSSPrivKey``, tpm2-openssl, tpm2-tools 5.4) reject, except the ``policy`` a
  binding key cannot do without; what a key is for follows from its public area
  (:attr:`KeyBlob.kind`). Readers here accept ``description``; they refuse importable keys,
  signed policies (``authPolicy``) and RSA parents, none of which tpmcard writes.

Pure Python (no ``tpm2_pytss``): layers that only store blobs import it freely.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.errors import TpmFormatError
from tpmcard.tpm_structures import (
    ALG_KEYEDHASH,
    ATTR_DECRYPT,
    ATTR_RESTRICTED,
    ATTR_SIGN_ENCRYPT,
    CC_POLICY_AUTH_VALUE,
    CC_POLICY_PCR,
    RH_OWNER,
    PcrSelection,
    PublicArea,
    Reader,
    parse_pcr_selection_list,
    public_name,
    tpm2b,
)

#: DER of OBJECT IDENTIFIER 2.23.133.10.1.3 (id-loadablekey).
_LOADABLE_KEY_OID = bytes.fromhex("06066781050a0103")
#: DER of OBJECT IDENTIFIER 2.23.133.10.1.5 (id-sealedkey).
_SEALED_KEY_OID = bytes.fromhex("06066781050a0105")
_PEM_BEGIN = "-----BEGIN TSS2 PRIVATE KEY-----"
_PEM_END = "-----END TSS2 PRIVATE KEY-----"

_SEQUENCE = 0x30
_INTEGER = 0x02
_BOOLEAN = 0x01
_OCTET_STRING = 0x04
_UTF8_STRING = 0x0C


def _context(n: int) -> int:
    """Tag of ``[n] EXPLICIT`` (constructed, context-specific)."""
    return 0xA0 | n


# --- Minimal DER (X.690) -----------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative INTEGER")
    return _der(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der_items(data: bytes, what: str) -> Iterator[tuple[int, bytes]]:
    """Split concatenated DER TLVs into (tag, content); single-byte tags, definite lengths."""
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise TpmFormatError(f"{what}: truncated DER", reason="truncated")
        tag = data[offset]
        first = data[offset + 1]
        offset += 2
        if tag & 0x1F == 0x1F:
            raise TpmFormatError(f"{what}: multi-byte DER tag", reason="malformed")
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 3 or offset + count > len(data):
                raise TpmFormatError(f"{what}: bad DER length", reason="malformed")
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        if offset + length > len(data):
            raise TpmFormatError(f"{what}: truncated DER", reason="truncated")
        yield tag, data[offset : offset + length]
        offset += length


def _der_single(data: bytes, tag: int, what: str) -> bytes:
    items = list(_der_items(data, what))
    if len(items) != 1 or items[0][0] != tag:
        raise TpmFormatError(f"{what}: expected one element of tag 0x{tag:02x}", reason="malformed")
    return items[0][1]


def _parse_integer(content: bytes, what: str) -> int:
    if not content or content[0] & 0x80:
        raise TpmFormatError(f"{what}: expected a non-negative INTEGER", reason="malformed")
    return int.from_bytes(content, "big")


def _parse_boolean(content: bytes, what: str) -> bool:
    if len(content) != 1:
        raise TpmFormatError(f"{what}: bad BOOLEAN", reason="malformed")
    return content != b"\x00"


# --- The key file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyCommand:
    """One TPMPolicy element: a policy command code and its marshalled parameters."""

    command_code: int
    parameters: bytes = b""


@dataclass(frozen=True)
class PcrPolicy:
    """The TPM2_PolicyPCR a binding key is bound to: selection and expected composite digest."""

    selection: PcrSelection
    pcr_digest: bytes

    def to_policy_command(self) -> PolicyCommand:
        return PolicyCommand(CC_POLICY_PCR, tpm2b(self.pcr_digest) + self.selection.marshal_list())

    @classmethod
    def from_policy_command(cls, command: PolicyCommand) -> PcrPolicy:
        r = Reader(command.parameters, "TPM2_PolicyPCR parameters")
        pcr_digest = r.tpm2b()
        selections = parse_pcr_selection_list(r)
        r.end()
        if len(selections) != 1:
            raise TpmFormatError("PolicyPCR over several banks is not supported", "unsupported")
        return cls(selections[0], pcr_digest)


@dataclass(frozen=True)
class KeyBlob:
    """A TPM-wrapped key as stored outside the TPM (see the module docstring for the format).

    ``public`` is the marshalled TPM2B_PUBLIC, ``private`` the marshalled TPM2B_PRIVATE
    (encrypted by the parent; useless without that TPM).
    """

    public: bytes
    private: bytes
    parent: int = RH_OWNER
    empty_auth: bool = True
    policy: tuple[PolicyCommand, ...] = ()
    description: str | None = None

    # -- what the key is ------------------------------------------------------------------

    @property
    def public_area(self) -> PublicArea:
        """The parsed public area (ECC keys only)."""
        return PublicArea.from_tpm2b(self.public)

    @property
    def name(self) -> bytes:
        """The key's TPM Name (nameAlg || H(TPMT_PUBLIC)), as TPM2_Certify reports it."""
        return public_name(self.public)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public key as a ``cryptography`` EllipticCurvePublicKey."""
        return self.public_area.public_key()

    @property
    def is_sealed(self) -> bool:
        """True for sealed data (a KEYEDHASH object, ``Tpm.seal``), read off the public area's
        type without parsing the rest."""
        return _public_type(self.public) == ALG_KEYEDHASH

    @property
    def kind(self) -> str:
        """``"attestation"`` (restricted signing), ``"signing"``, ``"binding"`` (decrypt key with a
        PCR policy), ``"storage"`` (restricted decrypt), ``"sealed"`` (sealed data) or
        ``"other"``, from the public area."""
        if self.is_sealed:
            return "sealed"
        area = self.public_area
        if area.has(ATTR_SIGN_ENCRYPT) and not area.has(ATTR_DECRYPT):
            return "attestation" if area.has(ATTR_RESTRICTED) else "signing"
        if area.has(ATTR_DECRYPT) and not area.has(ATTR_SIGN_ENCRYPT):
            if area.has(ATTR_RESTRICTED):
                return "storage"
            if self.pcr_policy is not None:
                return "binding"
        return "other"

    @property
    def pcr_policy(self) -> PcrPolicy | None:
        """The PolicyPCR this key is bound to, if any."""
        for command in self.policy:
            if command.command_code == CC_POLICY_PCR:
                return PcrPolicy.from_policy_command(command)
        return None

    @property
    def needs_auth_value(self) -> bool:
        """True when using the key needs its authValue (a PIN), directly or via the policy."""
        if any(c.command_code == CC_POLICY_AUTH_VALUE for c in self.policy):
            return True
        return not self.empty_auth

    # -- encoding -------------------------------------------------------------------------

    def to_der(self) -> bytes:
        parts = [_SEALED_KEY_OID if self.is_sealed else _LOADABLE_KEY_OID]
        if self.empty_auth:
            parts.append(_der(_context(0), _der(_BOOLEAN, b"\xff")))
        if self.policy:
            elements = b"".join(
                _der(
                    _SEQUENCE,
                    _der(_context(0), _der_integer(c.command_code))
                    + _der(_context(1), _der(_OCTET_STRING, c.parameters)),
                )
                for c in self.policy
            )
            parts.append(_der(_context(1), _der(_SEQUENCE, elements)))
        if self.description is not None:
            parts.append(_der(_context(4), _der(_UTF8_STRING, self.description.encode())))
        parts.append(_der_integer(self.parent))
        parts.append(_der(_OCTET_STRING, self.public))
        parts.append(_der(_OCTET_STRING, self.private))
        return _der(_SEQUENCE, b"".join(parts))

    def to_pem(self) -> str:
        body = base64.b64encode(self.to_der()).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([_PEM_BEGIN, *lines, _PEM_END]) + "\n"

    @classmethod
    def from_pem(cls, text: str | bytes) -> KeyBlob:
        if isinstance(text, bytes):
            text = text.decode("ascii", errors="replace")
        begin = text.find(_PEM_BEGIN)
        end = text.find(_PEM_END, begin + 1)
        if begin < 0 or end < 0:
            raise TpmFormatError("not a TSS2 PRIVATE KEY PEM", reason="malformed")
        try:
            der = base64.b64decode(
                "".join(text[begin + len(_PEM_BEGIN) : end].split()), validate=True
            )
        except (binascii.Error, ValueError):
            raise TpmFormatError("TSS2 PRIVATE KEY PEM: bad base64", reason="malformed") from None
        return cls.from_der(der)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyBlob:
        """Decode DER or PEM, whichever ``data`` holds."""
        if data.lstrip().startswith(b"-----BEGIN"):
            return cls.from_pem(data)
        return cls.from_der(data)

    @classmethod
    def from_der(cls, der: bytes) -> KeyBlob:
        what = "TSS2 key file"
        fields = list(_der_items(_der_single(bytes(der), _SEQUENCE, what), what))
        oid = _der(*fields[0]) if fields else b""
        if oid not in (_LOADABLE_KEY_OID, _SEALED_KEY_OID):
            raise TpmFormatError(
                "not a loadable TPM key or sealed data (importable key files are not supported)",
                reason="unsupported",
            )
        empty_auth = False
        policy: tuple[PolicyCommand, ...] = ()
        description: str | None = None
        index = 1
        last_tag = -1
        while index < len(fields) and fields[index][0] & 0xE0 == 0xA0:
            tag, content = fields[index]
            number = tag & 0x1F
            if number <= last_tag:
                raise TpmFormatError(f"{what}: optional fields out of order", reason="malformed")
            last_tag = number
            if number == 0:
                empty_auth = _parse_boolean(_der_single(content, _BOOLEAN, what), what)
            elif number == 1:
                policy = tuple(_parse_policy(_der_single(content, _SEQUENCE, what)))
            elif number == 4:
                raw = _der_single(content, _UTF8_STRING, what)
                try:
                    description = raw.decode()
                except UnicodeDecodeError:
                    raise TpmFormatError(f"{what}: bad description", reason="malformed") from None
            elif number == 5:
                if _parse_boolean(_der_single(content, _BOOLEAN, what), what):
                    raise TpmFormatError(
                        "keys under an RSA parent are not supported", "unsupported"
                    )
            else:  # [2] secret (importable keys), [3] signed policies, or something newer
                raise TpmFormatError(
                    f"{what}: field [{number}] is not supported by tpmcard", reason="unsupported"
                )
            index += 1
        rest = fields[index:]
        if [t for t, _ in rest] != [_INTEGER, _OCTET_STRING, _OCTET_STRING]:
            raise TpmFormatError(f"{what}: expected parent, pubkey, privkey", reason="malformed")
        parent = _parse_integer(rest[0][1], what)
        public, private = rest[1][1], rest[2][1]
        for blob, label in ((public, "pubkey"), (private, "privkey")):
            r = Reader(blob, f"{what} {label}")
            r.tpm2b()
            r.end()
        if (oid == _SEALED_KEY_OID) != (_public_type(public) == ALG_KEYEDHASH):
            raise TpmFormatError(
                f"{what}: the type does not match the public area (sealed data is KEYEDHASH)",
                reason="malformed",
            )
        return cls(public, private, parent, empty_auth, policy, description)


def _public_type(tpm2b_public: bytes) -> int | None:
    """TPMT_PUBLIC.type of a marshalled TPM2B_PUBLIC, or None if it is too short to hold one."""
    if len(tpm2b_public) < 4:
        return None
    return int.from_bytes(tpm2b_public[2:4], "big")


def _parse_policy(data: bytes) -> Iterator[PolicyCommand]:
    what = "TSS2 key file policy"
    for tag, element in _der_items(data, what):
        if tag != _SEQUENCE:
            raise TpmFormatError(f"{what}: expected SEQUENCE", reason="malformed")
        parts = list(_der_items(element, what))
        if [t for t, _ in parts] != [_context(0), _context(1)]:
            raise TpmFormatError(f"{what}: expected commandCode, commandPolicy", "malformed")
        code = _parse_integer(_der_single(parts[0][1], _INTEGER, what), what)
        params = _der_single(parts[1][1], _OCTET_STRING, what)
        yield PolicyCommand(code, params)


@dataclass(frozen=True)
class BindingKey:
    """A key-agreement key bound to PCR values (see ``Tpm.create_binding_key``).

    ``pcr_values`` are the values read when the key was created; a BindingKey rebuilt from its
    blob (:meth:`from_blob`) does not know them, only their digest.
    """

    blob: KeyBlob
    public_key: ec.EllipticCurvePublicKey
    policy_digest: bytes
    pcr_selection: PcrSelection
    pcr_digest: bytes
    pcr_values: dict[int, bytes] | None = None

    @property
    def needs_auth_value(self) -> bool:
        return self.blob.needs_auth_value

    @classmethod
    def from_blob(cls, blob: KeyBlob) -> BindingKey:
        policy = blob.pcr_policy
        if policy is None:
            raise TpmFormatError("this key is not bound to PCRs", reason="unsupported")
        area = blob.public_area
        return cls(blob, area.public_key(), area.auth_policy, policy.selection, policy.pcr_digest)
