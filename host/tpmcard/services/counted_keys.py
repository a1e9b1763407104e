"""Count-limited keys of the mobile TPM (docs/counted-keys.md): keys usable only a preset number
of times (England and Tariq, "Towards a Programmable TPM").

A key (ECDSA P-256, HMAC-SHA-256, AES-128 or AES-256) is made or imported on the card with a
budget of uses; the card charges each use in EEPROM before it computes, and at zero wipes the key
for good. Reached as ``session.counted_keys`` (a :class:`CountedKeys` over the session's
:class:`~tpmcard.services.mtpm.MtpmSession`: ``CountedKeys(session.mtpm)``).

Every command goes in one INVOKE, never staged: staging would write plaintexts and keys to the
card's EEPROM, and the card refuses a staged counted-key command. So data and answer of one use
share the service window (260 bytes in jCardSim): the card answers ``length`` (6700) to more.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard.ecpoint import point_bytes
from tpmcard.errors import ApduError, ProtocolError
from tpmcard.services.mtpm import MtpmError, MtpmSession
from tpmcard.services.mtpm_constants import (
    INS_KEY_CREATE,
    INS_KEY_DELETE,
    INS_KEY_IMPORT,
    INS_KEY_LIST,
    INS_KEY_REMAINING,
    INS_KEY_USE,
    INS_MIGRATE_EXPORT,
    KEY_HANDLE_TAG,
    KEY_KIND_AES_128,
    KEY_KIND_AES_256,
    KEY_KIND_ECDSA_P256,
    KEY_KIND_HMAC_SHA256,
    KEY_OP_DECRYPT,
    KEY_OP_ENCRYPT,
    KEY_OP_MAC,
    KEY_OP_SIGN,
    MAX_AUTH,
    MAX_HMAC_KEY,
    MAX_KEY_BUDGET,
    P1_MIGRATE_COPY,
    P1_MIGRATE_MOVE,
    P2_OBJECT_COUNTED_KEY,
    SW_KEY_EXHAUSTED,
    SW_KEY_KIND_MISMATCH,
    SW_NOT_ENOUGH_MEMORY,
    SW_NOT_FOUND,
    SW_NOT_MIGRATABLE,
)

AES_BLOCK = 16


class KeyKind(enum.IntEnum):
    """P1 of KEY CREATE / KEY IMPORT."""

    ECDSA_P256 = KEY_KIND_ECDSA_P256
    HMAC_SHA256 = KEY_KIND_HMAC_SHA256
    AES_128 = KEY_KIND_AES_128
    AES_256 = KEY_KIND_AES_256

    @property
    def label(self) -> str:
        return {1: "ecdsa-p256", 2: "hmac-sha256", 3: "aes-128", 4: "aes-256"}[int(self)]

    @classmethod
    def from_label(cls, label: str) -> KeyKind:
        for kind in cls:
            if kind.label == label:
                return kind
        raise ValueError(f"unknown key kind {label!r}: one of {[k.label for k in cls]}")


_REASONS: dict[int, tuple[str, str]] = {
    SW_KEY_EXHAUSTED: (
        "exhausted",
        "the key has no use left and is dead for good; free its slot with "
        "`tpmcard mtpm key delete`",
    ),
    SW_KEY_KIND_MISMATCH: ("key_kind", "the key is of another kind than the operation needs"),
    SW_NOT_FOUND: (
        "not_found",
        "no counted key with this handle on this card (deleted, cleared, or never made): "
        "`tpmcard mtpm key list`",
    ),
    SW_NOT_ENOUGH_MEMORY: ("full", "all 8 counted-key slots are taken: delete a key first"),
    SW_NOT_MIGRATABLE: ("not_migratable", "a counted key never leaves its card"),
}


class CountedKeyError(MtpmError):
    """The mobile TPM refused a counted-key command; ``reason`` as :class:`MtpmError`'s, with
    ``exhausted``, ``key_kind``, ``not_found``, ``full`` and ``not_migratable`` worded for keys."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        super().__init__(sw, data)
        if sw in _REASONS:
            self.reason, text = _REASONS[sw]
            self.args = (f"counted key: {text} (SW={sw:04X})",)


class KeyExhaustedError(CountedKeyError):
    """The key's budget is spent: it is dead, and stays dead (no command restores a budget)."""


class KeyKindError(CountedKeyError):
    """Sign with an AES key, MAC with an ECDSA key, ...: the operation needs another kind."""


def _error(exc: ApduError) -> CountedKeyError:
    if exc.sw == SW_KEY_EXHAUSTED:
        return KeyExhaustedError(exc.sw, exc.data)
    if exc.sw == SW_KEY_KIND_MISMATCH:
        return KeyKindError(exc.sw, exc.data)
    return CountedKeyError(exc.sw, exc.data)


@dataclass(frozen=True)
class CountedKey:
    """A counted key as the card reports it. ``public_key``: ECDSA keys only."""

    handle: int
    kind: KeyKind
    remaining: int
    public_key: ec.EllipticCurvePublicKey | None = None

    @property
    def dead(self) -> bool:
        return self.remaining == 0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "handle": f"0x{self.handle:08x}",
            "kind": self.kind.label,
            "remaining": self.remaining,
            "dead": self.dead,
        }
        if self.public_key is not None:
            out["public_point"] = point_bytes(self.public_key).hex()
        return out


def _auth(value: bytes) -> bytes:
    if len(value) > MAX_AUTH:
        raise ValueError(f"auth values are at most {MAX_AUTH} bytes")
    return bytes([len(value)]) + value


def _handle(handle: int) -> bytes:
    if not 0 <= handle <= 0xFFFFFFFF:
        raise ValueError(f"a counted key handle is 4 bytes (0x{KEY_HANDLE_TAG:02x}......)")
    return struct.pack(">I", handle)


def _budget(uses: int) -> bytes:
    if not 1 <= uses <= MAX_KEY_BUDGET:
        raise ValueError(f"a budget is 1..{MAX_KEY_BUDGET} uses")
    return struct.pack(">I", uses)


def _public_key(point: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


class CountedKeys:
    """The counted keys of one mobile TPM (8 slots). ``owner_auth`` is needed to create, import
    and delete (empty on an unowned mobile TPM); ``auth`` is the key's own auth value (empty:
    whoever holds a secure session may use it; non-empty needs an owned mobile TPM)."""

    def __init__(self, mtpm: MtpmSession) -> None:
        self._mtpm = mtpm

    def _call(self, ins: int, p1: int, data: bytes) -> bytes:
        try:
            return bytes(self._mtpm._invoke(ins, p1, 0, data))
        except ApduError as exc:
            raise _error(exc) from None

    # --- making and removing keys --------------------------------------------------------

    def create(
        self, kind: KeyKind, uses: int, auth: bytes = b"", owner_auth: bytes = b""
    ) -> CountedKey:
        """A new key made on the card (its secret never leaves it) with ``uses`` uses."""
        answer = self._call(
            INS_KEY_CREATE, int(kind), _auth(owner_auth) + _budget(uses) + _auth(auth)
        )
        return self._made(KeyKind(kind), uses, answer)

    def import_key(
        self, kind: KeyKind, key: bytes, uses: int, auth: bytes = b"", owner_auth: bytes = b""
    ) -> CountedKey:
        """An HMAC (1..64 bytes) or AES (16 / 32 bytes) key brought in inside the secure session.
        The budget limits this card's uses, not whoever else holds the same bytes."""
        if kind == KeyKind.ECDSA_P256:
            raise ValueError("ECDSA counted keys are made on the card (create), not imported")
        if kind == KeyKind.HMAC_SHA256 and not 1 <= len(key) <= MAX_HMAC_KEY:
            raise ValueError(f"an HMAC key is 1..{MAX_HMAC_KEY} bytes")
        answer = self._call(
            INS_KEY_IMPORT, int(kind), _auth(owner_auth) + _budget(uses) + _auth(auth) + key
        )
        return self._made(KeyKind(kind), uses, answer)

    @staticmethod
    def _made(kind: KeyKind, uses: int, answer: bytes) -> CountedKey:
        expected = 4 + (65 if kind == KeyKind.ECDSA_P256 else 0)
        if len(answer) != expected:
            raise ProtocolError(f"KEY CREATE/IMPORT answered {len(answer)} bytes")
        handle = struct.unpack(">I", answer[:4])[0]
        public = _public_key(answer[4:]) if kind == KeyKind.ECDSA_P256 else None
        return CountedKey(handle, kind, uses, public)

    def delete(self, handle: int, owner_auth: bytes = b"") -> None:
        """Free the slot (live or dead key); the handle is gone for good."""
        self._call(INS_KEY_DELETE, 0, _auth(owner_auth) + _handle(handle))

    # --- uses: each costs one, charged on the card before it computes ---------------------

    def _use(self, op: int, handle: int, auth: bytes, data: bytes) -> bytes:
        return self._call(INS_KEY_USE, op, _handle(handle) + _auth(auth) + data)

    def sign(self, handle: int, message: bytes, auth: bytes = b"") -> bytes:
        """ECDSA P-256 SHA-256 over ``message``: a DER signature."""
        return self._use(KEY_OP_SIGN, handle, auth, message)

    def mac(self, handle: int, data: bytes, auth: bytes = b"") -> bytes:
        """HMAC-SHA-256 over ``data`` (32 bytes)."""
        return self._use(KEY_OP_MAC, handle, auth, data)

    def encrypt(self, handle: int, iv: bytes, plaintext: bytes, auth: bytes = b"") -> bytes:
        """AES-CBC of whole blocks (no padding) under the key, with ``iv`` (16 bytes)."""
        return self._use(KEY_OP_ENCRYPT, handle, auth, self._iv(iv) + plaintext)

    def decrypt(self, handle: int, iv: bytes, ciphertext: bytes, auth: bytes = b"") -> bytes:
        return self._use(KEY_OP_DECRYPT, handle, auth, self._iv(iv) + ciphertext)

    @staticmethod
    def _iv(iv: bytes) -> bytes:
        if len(iv) != AES_BLOCK:
            raise ValueError("the IV is 16 bytes")
        return iv

    # --- reading -------------------------------------------------------------------------

    def remaining(self, handle: int) -> CountedKey:
        """The key's kind, uses left (0: dead) and, for ECDSA, its public key."""
        data = self._call(INS_KEY_REMAINING, 0, _handle(handle))
        if len(data) not in (5, 70):
            raise ProtocolError(f"KEY REMAINING answered {len(data)} bytes")
        kind = KeyKind(data[0])
        public = _public_key(data[5:]) if len(data) == 70 else None
        return CountedKey(handle, kind, struct.unpack(">I", data[1:5])[0], public)

    def list(self) -> list[CountedKey]:
        """Every key on the card, live or dead (public keys: :meth:`remaining`)."""
        data = self._call(INS_KEY_LIST, 0, b"")
        if len(data) % 9:
            raise ProtocolError(f"KEY LIST answered {len(data)} bytes")
        out = []
        for k in range(0, len(data), 9):
            handle, kind, left = struct.unpack(">IBI", data[k : k + 9])
            out.append(CountedKey(handle, KeyKind(kind), left))
        return out

    # --- migration: always refused --------------------------------------------------------

    def migrate_export(
        self, handle: int, target_certificate: bytes, owner_auth: bytes, *, move: bool = False
    ) -> bytes:
        """MIGRATE EXPORT of a counted key. The card refuses it, always (``not_migratable``,
        after the owner auth): a copy would double the budget and a move would restore a spent
        one elsewhere. Here to show that refusal end to end."""
        data = _auth(owner_auth) + _auth(b"") + bytes([len(target_certificate)])
        try:
            return bytes(
                self._mtpm._invoke(
                    INS_MIGRATE_EXPORT,
                    P1_MIGRATE_MOVE if move else P1_MIGRATE_COPY,
                    P2_OBJECT_COUNTED_KEY,
                    data + target_certificate + _handle(handle),
                )
            )
        except ApduError as exc:
            raise _error(exc) from None
