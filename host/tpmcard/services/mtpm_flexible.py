"""Flexible sealing and unbinding on the mobile TPM (docs/flexible-sealing.md).

England and Tariq, *Towards a Programmable TPM*: an object opens in any of a group of
acceptable configurations of the combined PCR view (host PCRs 0-8, card PCRs 9-23):

* :class:`AnyOfPolicy` - a list of acceptable PCR digests (TPM2_PolicyOR, not limited to 8);
* :class:`AuthorizedPolicy` - an authority's P-256 key approves configurations
  (TPM2_PolicyAuthorize): :meth:`Authority.approve` signs the fixed statement
  :func:`approve_statement`; :meth:`Authority.revoke` raises the card's epoch floor.

:func:`bind` encrypts to the card's bind key (ECIES: ECDH P-256, ANSI X9.63 KDF with SHA-256,
AES-256-CBC then AES-CMAC) offline, under the same policies; ``MtpmSession.unbind`` opens it on
the card. Everything here is `cryptography`; :class:`FlexibleCommands` is the part of
:class:`tpmcard.services.mtpm.MtpmSession` that talks to the card.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from tpmcard.ecpoint import load_point, point_bytes
from tpmcard.errors import ProtocolError
from tpmcard.services.mtpm_constants import (
    BIND_VERSION,
    FLEXIBLE_BLOB_VERSION,
    INS_BIND_CERTIFY,
    INS_BIND_PUBLIC,
    INS_REVOKE_APPROVALS,
    INS_SEAL_FLEXIBLE,
    INS_UNBIND,
    INS_UNSEAL_FLEXIBLE,
    MAX_NONCE,
    MAX_POLICY_DIGESTS,
    MAX_POLICY_REF,
    MAX_SEALED_SECRET,
    P1_POLICY_ANY_OF,
    P1_POLICY_AUTHORIZED,
    P1_POLICY_NONE,
    PCR_SLOT_LENGTH,
    PUBLIC_AREA_LENGTH,
)
from tpmcard.tpm.attest import Certification
from tpmcard.tpm_structures import (
    PcrSelection,
    PublicArea,
    ecdsa_signature_from_der,
    pcr_composite_digest,
    selection_bitmap,
)

APPROVE_LABEL = b"tpmcard-approve-v1"
REVOKE_LABEL = b"tpmcard-revoke-v1"
BIND_LABEL = b"tpmcard-bind-v1"
_BLOB_HEADER = 26  # version 1 || key id 16 || serial 8 || form 1
_BIND_HEADER = 75  # version 1 || nonce 8 || ephemeral point 65 || form 1
_MAC = 16
_CERTIFY_ANSWER = 2 + 205 + 72


def _padded(n: int) -> int:
    return (n + 15) // 16 * 16


def _epoch(epoch: int) -> bytes:
    if not 0 <= epoch < 1 << 64:
        raise ValueError("an epoch is 0..2^64-1")
    return struct.pack(">Q", epoch)


def _policy_ref(ref: bytes) -> bytes:
    if len(ref) > MAX_POLICY_REF:
        raise ValueError(f"a policyRef is at most {MAX_POLICY_REF} bytes")
    return bytes([len(ref)]) + ref


# --- policies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnyOfPolicy:
    """Opens while the digest of ``pcrs`` (combined view) is one of ``digests`` (1..24)."""

    pcrs: tuple[int, ...]
    digests: tuple[bytes, ...]

    form = P1_POLICY_ANY_OF

    @classmethod
    def of(cls, pcrs: Iterable[int], states: Iterable[bytes | Mapping[int, bytes]]) -> AnyOfPolicy:
        """``states``: PCR digests (32 bytes), or PCR values ({index: value}) to digest."""
        selection = PcrSelection.of(pcrs)
        digests = tuple(
            s if isinstance(s, bytes | bytearray) else pcr_composite_digest(s, selection)
            for s in states
        )
        if not 1 <= len(digests) <= MAX_POLICY_DIGESTS:
            raise ValueError(f"an any-of policy lists 1..{MAX_POLICY_DIGESTS} states")
        if any(len(d) != 32 for d in digests):
            raise ValueError("a PCR digest is 32 bytes (SHA-256)")
        return cls(selection.indices, tuple(bytes(d) for d in digests))

    def encode(self) -> bytes:
        return selection_bitmap(self.pcrs) + bytes([len(self.digests)]) + b"".join(self.digests)


@dataclass(frozen=True)
class AuthorizedPolicy:
    """Opens with an approval (:class:`Approval`) signed by the authority whose point hashes to
    ``authority_hash``, for ``policy_ref``, of an epoch the card has not revoked."""

    authority_hash: bytes
    policy_ref: bytes = b""

    form = P1_POLICY_AUTHORIZED

    @classmethod
    def of(
        cls, authority: ec.EllipticCurvePublicKey | bytes, policy_ref: bytes = b""
    ) -> AuthorizedPolicy:
        point = authority if isinstance(authority, bytes) else point_bytes(authority)
        load_point(point)
        _policy_ref(policy_ref)
        return cls(hashlib.sha256(point).digest(), bytes(policy_ref))

    def encode(self) -> bytes:
        return self.authority_hash + _policy_ref(self.policy_ref)


@dataclass(frozen=True)
class NoPolicy:
    """Bind ciphertexts only: the card opens it in any state."""

    form = P1_POLICY_NONE

    def encode(self) -> bytes:
        return b""


Policy = AnyOfPolicy | AuthorizedPolicy | NoPolicy


# --- the authority ----------------------------------------------------------------------------


def approve_statement(
    pcrs: Iterable[int], pcr_digest: bytes, policy_ref: bytes, epoch: int
) -> bytes:
    """The bytes an approval signs: "tpmcard-approve-v1" || selection 3 || pcrDigest 32 ||
    len(policyRef) 1 || policyRef || epoch 8 (big-endian)."""
    if len(pcr_digest) != 32:
        raise ValueError("the PCR digest is 32 bytes")
    return (
        APPROVE_LABEL
        + selection_bitmap(PcrSelection.of(pcrs).indices)
        + pcr_digest
        + _policy_ref(policy_ref)
        + _epoch(epoch)
    )


def revoke_statement(epoch: int) -> bytes:
    """The bytes a revocation signs: "tpmcard-revoke-v1" || epoch 8 (big-endian)."""
    return REVOKE_LABEL + _epoch(epoch)


@dataclass(frozen=True)
class Approval:
    """An authority's approval of one configuration (UNSEAL FLEXIBLE / UNBIND data)."""

    pcrs: tuple[int, ...]
    point: bytes
    epoch: int
    signature_der: bytes

    def encode(self) -> bytes:
        return selection_bitmap(self.pcrs) + self.point + _epoch(self.epoch) + self.signature_der

    def as_dict(self) -> dict[str, Any]:
        return {
            "pcrs": list(self.pcrs),
            "authority": self.point.hex(),
            "epoch": self.epoch,
            "signature": self.signature_der.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Approval:
        try:
            return cls(
                tuple(int(i) for i in data["pcrs"]),
                bytes.fromhex(data["authority"]),
                int(data["epoch"]),
                bytes.fromhex(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an approval: {exc}") from None


@dataclass(frozen=True)
class Revocation:
    """A signed revoke statement (REVOKE APPROVALS data): approvals below ``epoch`` die."""

    point: bytes
    epoch: int
    signature_der: bytes

    def encode(self) -> bytes:
        return self.point + _epoch(self.epoch) + self.signature_der

    def as_dict(self) -> dict[str, Any]:
        return {
            "authority": self.point.hex(),
            "epoch": self.epoch,
            "signature": self.signature_der.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Revocation:
        try:
            return cls(
                bytes.fromhex(data["authority"]),
                int(data["epoch"]),
                bytes.fromhex(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a revocation: {exc}") from None


class Authority:
    """The holder of a P-256 private key who approves configurations and revokes epochs."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("an authority key is a P-256 key")
        self.key = key

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> Authority:
        key = serialization.load_pem_private_key(pem, password)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("an authority key is a P-256 private key (PEM)")
        return cls(key)

    @property
    def point(self) -> bytes:
        return point_bytes(self.key)

    def policy(self, policy_ref: bytes = b"") -> AuthorizedPolicy:
        return AuthorizedPolicy.of(self.point, policy_ref)

    def approve(
        self,
        pcrs: Iterable[int],
        state: bytes | Mapping[int, bytes],
        epoch: int,
        policy_ref: bytes = b"",
    ) -> Approval:
        """Approve the configuration ``state`` (a PCR digest, or PCR values) of ``pcrs``."""
        selection = PcrSelection.of(pcrs)
        digest = state if isinstance(state, bytes) else pcr_composite_digest(state, selection)
        statement = approve_statement(selection.indices, digest, policy_ref, epoch)
        signature = self.key.sign(statement, ec.ECDSA(hashes.SHA256()))
        return Approval(selection.indices, self.point, epoch, signature)

    def revoke(self, epoch: int) -> Revocation:
        """Every approval of an epoch below ``epoch`` is refused once a card has seen this."""
        signature = self.key.sign(revoke_statement(epoch), ec.ECDSA(hashes.SHA256()))
        return Revocation(self.point, epoch, signature)


# --- ECIES to the bind key --------------------------------------------------------------------


def bind_keys(z: bytes, bind_point: bytes, header: bytes) -> tuple[bytes, bytes]:
    """K_e, K_m = ANSI X9.63 KDF (SHA-256, 64 bytes) of Z, SharedInfo = "tpmcard-bind-v1" ||
    the bind key's point || the ciphertext's header (version .. policy)."""
    okm = X963KDF(hashes.SHA256(), 64, BIND_LABEL + bind_point + header).derive(z)
    return okm[:32], okm[32:]


def _iv(k_e: bytes, nonce: bytes) -> bytes:
    """E_Ke(nonce || 0^8), as the card's Envelope makes every IV (NIST SP 800-38A App. C)."""
    # One block with the raw cipher to derive the IV, not ECB encryption of data.
    encryptor = Cipher(algorithms.AES(k_e), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(nonce + bytes(8)) + encryptor.finalize()


def bind(
    bind_public: ec.EllipticCurvePublicKey,
    message: bytes,
    policy: Policy | None = None,
    *,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """Encrypt ``message`` (1..128 bytes) to the card's bind key, under ``policy`` (none by
    default). No card needed. ``ephemeral`` and ``nonce`` are for known-answer tests only."""
    if not 1 <= len(message) <= MAX_SEALED_SECRET:
        raise ValueError(f"a bound message is 1..{MAX_SEALED_SECRET} bytes")
    policy = policy or NoPolicy()
    ephemeral = ephemeral or ec.generate_private_key(ec.SECP256R1())
    nonce = os.urandom(8) if nonce is None else nonce
    if len(nonce) != 8:
        raise ValueError("the nonce is 8 bytes")
    header = (
        bytes([BIND_VERSION])
        + nonce
        + point_bytes(ephemeral)
        + bytes([policy.form])
        + policy.encode()
    )
    z = ephemeral.exchange(ec.ECDH(), bind_public)
    k_e, k_m = bind_keys(z, point_bytes(bind_public), header)
    plain = struct.pack(">H", len(message)) + message
    plain += bytes(_padded(len(plain)) - len(plain))
    encryptor = Cipher(algorithms.AES(k_e), modes.CBC(_iv(k_e, nonce))).encryptor()
    body = header + encryptor.update(plain) + encryptor.finalize()
    mac = CMAC(algorithms.AES(k_m))
    mac.update(body)
    return body + mac.finalize()


def _policy_length(data: bytes, fixed: int, version: int) -> int:
    if len(data) < fixed + 32 or data[0] != version:
        raise ValueError("not a flexible blob or bind ciphertext of this version")
    form, policy = data[fixed - 1], data[fixed:]
    if form == P1_POLICY_NONE:
        return 0
    if form == P1_POLICY_ANY_OF:
        return 4 + 32 * policy[3]
    if form == P1_POLICY_AUTHORIZED:
        return 33 + policy[32]
    raise ValueError(f"unknown policy form {form:02x}")


def flexible_blob_length(policy: Policy, secret_length: int) -> int:
    """What SEAL FLEXIBLE answers: header 26, the policy, AES-CBC of length 2 || secret, MAC 16."""
    return _BLOB_HEADER + len(policy.encode()) + _padded(2 + secret_length) + _MAC


def _opened_max(data: bytes, fixed: int, version: int) -> int:
    try:
        header = fixed + _policy_length(data, fixed, version)
    except (ValueError, IndexError):
        return PCR_SLOT_LENGTH  # let the card say what is wrong with it
    # The card writes a host PCR where its answer goes: at least 32 bytes of room.
    return max(PCR_SLOT_LENGTH, min(MAX_SEALED_SECRET, len(data) - header - _MAC - 2))


# --- the card commands ------------------------------------------------------------------------


class FlexibleCommands:
    """The flexible-sealing commands of :class:`tpmcard.services.mtpm.MtpmSession` (a mixin:
    ``_call`` is the session's one command, staged when the window is too small)."""

    _call: Callable[..., bytes]

    def seal_any_of(
        self,
        data: bytes,
        pcrs: Iterable[int],
        states: Sequence[bytes | Mapping[int, bytes]],
    ) -> bytes:
        """Seal ``data`` (1..128 bytes) to any of ``states`` of ``pcrs`` (PCR digests or values)."""
        return self.seal_flexible(data, AnyOfPolicy.of(pcrs, states))

    def seal_authorized(
        self, data: bytes, authority: ec.EllipticCurvePublicKey | bytes, policy_ref: bytes = b""
    ) -> bytes:
        """Seal ``data`` to whatever configuration ``authority`` approves (for ``policy_ref``)."""
        return self.seal_flexible(data, AuthorizedPolicy.of(authority, policy_ref))

    def seal_flexible(self, data: bytes, policy: AnyOfPolicy | AuthorizedPolicy) -> bytes:
        if not 1 <= len(data) <= MAX_SEALED_SECRET:
            raise ValueError(f"a sealed secret is 1..{MAX_SEALED_SECRET} bytes")
        return self._call(
            INS_SEAL_FLEXIBLE,
            policy.form,
            data=policy.encode() + data,
            answer=flexible_blob_length(policy, len(data)),
        )

    def unseal_flexible(self, blob: bytes, approval: Approval | None = None) -> bytes:
        """Open a flexible blob: the current PCRs are in its group, or ``approval`` (from its
        authority) approves them."""
        answer = _opened_max(blob, _BLOB_HEADER, FLEXIBLE_BLOB_VERSION)
        return self._call(INS_UNSEAL_FLEXIBLE, data=_approval(approval) + blob, answer=answer)

    def revoke_approvals(self, revocation: Revocation) -> int:
        """Send an authority's revoke statement; returns the card's floor for it now."""
        floor = self._call(INS_REVOKE_APPROVALS, data=revocation.encode(), answer=8)
        if len(floor) != 8:
            raise ProtocolError(f"REVOKE APPROVALS answered {len(floor)} bytes")
        return int.from_bytes(floor, "big")

    def bind_public(self) -> PublicArea:
        """The card's bind key (TPMT_PUBLIC, ECDH): :func:`bind` encrypts to it."""
        return PublicArea.parse(self._call(INS_BIND_PUBLIC, answer=PUBLIC_AREA_LENGTH))

    def bind_certify(self, nonce: bytes) -> Certification:
        """TPMS_ATTEST CERTIFY of the bind key, signed by the EK (as the AK's)."""
        if len(nonce) > MAX_NONCE:
            raise ValueError(f"the nonce is at most {MAX_NONCE} bytes")
        data = self._call(INS_BIND_CERTIFY, data=nonce, answer=_CERTIFY_ANSWER)
        n = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else -1
        attest, der = data[2 : 2 + n], data[2 + n :]
        if n < 0 or len(attest) != n or not der:
            raise ProtocolError("BIND CERTIFY answer truncated")
        return Certification(attest, ecdsa_signature_from_der(der), der)

    def unbind(self, ciphertext: bytes, approval: Approval | None = None) -> bytes:
        """Decrypt what :func:`bind` made for this card, if its policy holds now."""
        answer = _opened_max(ciphertext, _BIND_HEADER, BIND_VERSION)
        return self._call(INS_UNBIND, data=_approval(approval) + ciphertext, answer=answer)


def _approval(approval: Approval | None) -> bytes:
    raw = approval.encode() if approval is not None else b""
    return bytes([len(raw)]) + raw


__all__ = [
    "Approval",
    "AnyOfPolicy",
    "Authority",
    "AuthorizedPolicy",
    "FlexibleCommands",
    "NoPolicy",
    "Revocation",
    "approve_statement",
    "bind",
    "bind_keys",
    "flexible_blob_length",
    "revoke_statement",
]
