"""The mobile TPM service (``tpmcard.mtpm.MtpmApplet``, docs/mtpm.md) over an invoke callable.

The service is reached only through the core applet's INVOKE inside a secure session, so a
:class:`MtpmSession` wraps a callable ``invoke(ins, p1, p2, data) -> bytes`` that raises
:class:`tpmcard.errors.ApduError` with the service's status word. :meth:`MtpmSession.over` binds
one to a secured session's ``invoke(aid, ins, p1, p2, data)``. Status words become
:class:`MtpmError` with a stable ``reason``; output structures reuse :mod:`tpmcard.tpm.attest`
(``Quote``, ``Certification``) and :mod:`tpmcard.tpm.structures` so files come out in the formats
tpm2-tools reads.

Names here (``INS_*``, ``KEY_*``, ``P1_*``, ``P2_*``, ``SW_*``) are those of
``applets/src/main/java/tpmcard/mtpm/Constants.java``; tests/mtpm/test_constants.py checks them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import constants as C
from tpmcard import tlv
from tpmcard.errors import ApduError, ProtocolError
from tpmcard.tpm.attest import Certification, Quote
from tpmcard.tpm.structures import (
    PcrSelection,
    PublicArea,
    ecdsa_signature_from_der,
    hierarchy_qualified_name,
    pcr_composite_digest,
    qualified_name,
    tpm2b,
)

#: applets/manifest.json, applet "mtpm".
MTPM_AID = bytes.fromhex("F074706D63020001")

INS_PCR_READ = 0x10
INS_PCR_EXTEND = 0x12
INS_PCR_RESET = 0x14
INS_QUOTE = 0x20
INS_GET_PUBLIC = 0x22
INS_CERTIFY = 0x24
INS_EK_CERT_SET = 0x26
INS_EK_CERT_GET = 0x28
INS_QUOTE_TOKEN = 0x2A  # P1 FORMAT_JWT / FORMAT_EAT (tpmcard.quote_formats)
INS_SEAL = 0x30
INS_UNSEAL = 0x32
INS_NV_DEFINE = 0x40
INS_NV_UNDEFINE = 0x42
INS_NV_WRITE = 0x44
INS_NV_READ = 0x46
INS_NV_INCREMENT = 0x48
INS_NV_LIST = 0x4A
INS_TAKE_OWNERSHIP = 0x50
INS_CLEAR = 0x52
INS_GET_STATUS = 0x54
INS_DA_RESET = 0x56
INS_MIGRATE_EXPORT = 0x60
INS_MIGRATE_IMPORT = 0x62
INS_MIGRATION_ANCHOR_SET = 0x64
INS_MIGRATION_ANCHOR_GET = 0x66
# Staging: a command whose data plus answer exceed the service window (docs/mtpm.md).
INS_STAGE_WRITE = 0x70
INS_STAGE_RUN = 0x72
INS_STAGE_READ = 0x74

KEY_EK = 0x01
KEY_AK = 0x02
KEY_MIGRATION = 0x03
P1_MIGRATE_COPY = 0x00
P1_MIGRATE_MOVE = 0x01
P2_OBJECT_SEALED = 0x01
P2_OBJECT_NV = 0x02
P1_SEAL_MIGRATABLE = 0x01
FORMAT_JWT = 0x01
FORMAT_EAT = 0x02
NV_ATTRIBUTE_COUNTER = 0x01
NV_ATTRIBUTE_MIGRATABLE = 0x02

# Migration target certificate (docs/mtpm.md "Migration"): simple TLVs in this order.
TAG_CERT_PURPOSE = 0x80
TAG_CERT_TARGET = 0x81
TAG_CERT_CARD_ID = 0x82
TAG_CERT_SIGNATURE = 0x9E
MIGRATION_TARGET_PURPOSE = b"migration target"
MAX_CERT_CARD_ID = 32
MAX_TARGET_CERT = 193

PCR_COUNT = 24
HOST_PCR_COUNT = 9
RESETTABLE_PCRS = (16, 23)
MAX_NONCE = 64
MIN_TOKEN_NONCE = 8  # JWT and EAT quotes: eat_nonce is 8..64 bytes (RFC 9711)
MAX_AUTH = 32
MAX_SEALED_SECRET = 128
MAX_NV_SIZE = 256
COUNTER_SIZE = 8
MAX_EK_CERT = 1024
#: Largest staged command data or answer (Constants.STAGE_CAPACITY).
STAGE_CAPACITY = 1088
#: PCR READ, QUOTE and UNSEAL: the card writes each host PCR to the window's last 32 bytes.
PCR_SLOT_LENGTH = 32
PUBLIC_AREA_LENGTH = 88
# Upper bounds of answers (docs/mtpm.md): DER ECDSA signature 72, TPMS_ATTEST of a quote 113 +
# the nonce and of a certification 205, each after a 2-byte length.
_QUOTE_ANSWER = 2 + 113 + 72  # + the nonce
_CERTIFY_ANSWER = 2 + 205 + 72
_STATUS_ANSWER = 30
_NV_LIST_ANSWER = 7 * 8
_SEALED_BLOB_MAX = 61 + 176 + 16
_DUPLICATE_MAX = 75 + 352 + 16

SW_AUTH_FAILED = 0x6982
SW_OWNER_AUTH_BLOCKED = 0x6983
SW_AUTH_BLOCKED = SW_OWNER_AUTH_BLOCKED  # also the lockout of sealed-object and NV auth values
SW_OBJECT_INVALID = 0x6984
SW_POLICY_MISMATCH = 0x6985
SW_HOST_PCR_READ_ONLY = 0x6986
SW_NV_TYPE_MISMATCH = 0x6981
SW_WRONG_DATA = 0x6A80
SW_OWNER_REQUIRED = 0x6A82
SW_UNTRUSTED_TARGET = 0x6A85
SW_NOT_MIGRATABLE = 0x6A87
SW_PCR_NOT_RESETTABLE = 0x6A81
SW_NOT_ENOUGH_MEMORY = 0x6A84
SW_INCORRECT_P1P2 = 0x6A86
SW_NOT_FOUND = 0x6A88
SW_ALREADY_EXISTS = 0x6A89
SW_OUT_OF_RANGE = 0x6B00
SW_STAGE_OUT_OF_ORDER = 0x6A83
SW_INS_NOT_SUPPORTED = 0x6D00
SW_WRONG_LENGTH = 0x6700
SW_OWNER_AUTH_FAILED = 0x63C0

#: TPM_RH_ENDORSEMENT (Part 2 §7.4): the card's keys are primary keys of the endorsement hierarchy.
RH_ENDORSEMENT = 0x4000000B

_REASONS: dict[int, tuple[str, str]] = {
    SW_AUTH_FAILED: ("auth", "the auth value is wrong"),
    SW_OWNER_AUTH_BLOCKED: (
        "blocked",
        "blocked after too many wrong values: the owner auth for good; sealed-object and NV auth "
        "values until the owner resets the lockout (`tpmcard mtpm owner da-reset`)",
    ),
    SW_OBJECT_INVALID: ("invalid_object", "the object was altered, or moved away from this card"),
    SW_POLICY_MISMATCH: ("policy", "the PCRs do not match the object's policy"),
    SW_HOST_PCR_READ_ONLY: ("host_pcr", "PCRs 0..8 are the host TPM's: extend them on the host"),
    SW_NV_TYPE_MISMATCH: ("nv_type", "the NV index is of the other kind (counter vs. data)"),
    SW_WRONG_DATA: ("malformed", "the card refused the data as malformed"),
    SW_OWNER_REQUIRED: (
        "no_owner",
        "the mobile TPM has no owner; DA reset, migration and auth values need one: take "
        "ownership first (`tpmcard mtpm owner take`)",
    ),
    SW_UNTRUSTED_TARGET: (
        "untrusted_target",
        "the migration target is not certified by the migration CA this card trusts: certify "
        "it (`tpmcard ca certify-target`) with the CA installed here (`tpmcard mtpm migrate "
        "trust`)",
    ),
    SW_NOT_MIGRATABLE: (
        "not_migratable",
        "the object may not leave this card: it was not sealed (or defined) --migratable, or "
        "a counter was to be copied (counters only move: --move)",
    ),
    SW_PCR_NOT_RESETTABLE: ("not_resettable", "only PCR 16 and 23 can be reset"),
    SW_NOT_ENOUGH_MEMORY: ("full", "the card has no room left (NV slots or revocation list)"),
    SW_INCORRECT_P1P2: ("parameter", "index or key reference out of range"),
    SW_NOT_FOUND: (
        "not_found",
        "not found on this card (NV handle, EK certificate, or another card's blob)",
    ),
    SW_ALREADY_EXISTS: ("exists", "already exists (NV handle defined, or the card is owned)"),
    SW_OUT_OF_RANGE: ("range", "offset or length outside the NV index"),
    SW_STAGE_OUT_OF_ORDER: ("staging", "a staged command was interrupted: send it again"),
    SW_WRONG_LENGTH: ("length", "a field has the wrong length"),
    SW_INS_NOT_SUPPORTED: ("unsupported", "the card's mobile TPM does not know this command"),
}


class MtpmError(ApduError):
    """The mobile TPM refused a command. ``reason`` is stable (see ``_REASONS``); for a wrong
    owner auth it is ``owner_auth`` and ``attempts_remaining`` says how many tries are left."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        self.attempts_remaining: int | None = None
        if sw & 0xFFF0 == SW_OWNER_AUTH_FAILED:
            self.reason = "owner_auth"
            self.attempts_remaining = sw & 0x0F
            text = f"wrong owner auth: {self.attempts_remaining} tries left"
        else:
            self.reason, text = _REASONS.get(sw, ("card", "the card refused the command"))
        super().__init__(sw, data, f"mobile TPM: {text} (SW={sw:04X})")


Invoke = Callable[[int, int, int, bytes], bytes]


def selection_bitmap(indices: Iterable[int]) -> bytes:
    """The 3-byte TPMS_PCR_SELECTION bitmap (PCR i = bit i%8 of byte i/8)."""
    return PcrSelection.of(indices).marshal_list()[-3:]


def endorsement_qualified_name(name: bytes) -> bytes:
    """QN of a card key: nameAlg || SHA-256(TPM_RH_ENDORSEMENT || Name) (Part 1 §16.5)."""
    return qualified_name(hierarchy_qualified_name(RH_ENDORSEMENT), name)


def _auth(value: bytes) -> bytes:
    if len(value) > MAX_AUTH:
        raise ValueError(f"auth values are at most {MAX_AUTH} bytes")
    return bytes([len(value)]) + value


def _handle(handle: int) -> bytes:
    if handle >> 24 != 0x01:
        raise ValueError(f"NV handle 0x{handle:08x} is not an NV index (0x01xxxxxx)")
    return struct.pack(">I", handle)


@dataclass(frozen=True)
class NvIndex:
    handle: int
    counter: bool
    size: int
    migratable: bool = False


@dataclass(frozen=True)
class MigrationCertificate:
    """A migration target certificate (docs/mtpm.md "Migration"): the migration CA says that
    ``target_point`` is the migration key of the card ``card_id``. MIGRATE EXPORT verifies it on
    the card against the anchor the owner installed; :meth:`verify` is the same check here.

    ``raw`` = 80 10 "migration target" || 81 41 point || 82 L card id || 9E L DER signature,
    the signature (ECDSA-SHA-256) over every byte before the 9E tag."""

    target_point: bytes
    card_id: bytes
    signature_der: bytes
    raw: bytes

    @staticmethod
    def signed_part(target_point: bytes, card_id: bytes) -> bytes:
        if len(target_point) != 65 or target_point[0] != 0x04:
            raise ValueError("the target is an uncompressed P-256 point (65 bytes, 04 || x || y)")
        if not 1 <= len(card_id) <= MAX_CERT_CARD_ID:
            raise ValueError(f"the card id is 1..{MAX_CERT_CARD_ID} bytes")
        return (
            tlv.encode(TAG_CERT_PURPOSE, MIGRATION_TARGET_PURPOSE)
            + tlv.encode(TAG_CERT_TARGET, target_point)
            + tlv.encode(TAG_CERT_CARD_ID, card_id)
        )

    @classmethod
    def parse(cls, raw: bytes) -> MigrationCertificate:
        """Raises ValueError for anything but a well-formed certificate."""
        try:
            items = tlv.parse(raw)
        except ProtocolError as exc:
            raise ValueError(f"not a migration target certificate: {exc}") from None
        tags = [i.tag for i in items]
        if tags != [TAG_CERT_PURPOSE, TAG_CERT_TARGET, TAG_CERT_CARD_ID, TAG_CERT_SIGNATURE]:
            raise ValueError("not a migration target certificate (`tpmcard ca certify-target`)")
        purpose, point, card_id, signature = (i.value for i in items)
        if purpose != MIGRATION_TARGET_PURPOSE or len(raw) > MAX_TARGET_CERT:
            raise ValueError("not a migration target certificate (purpose, or too long)")
        cls.signed_part(point, card_id)
        return cls(point, card_id, signature, bytes(raw))

    def verify(self, ca_key: ec.EllipticCurvePublicKey) -> None:
        """Raises ValueError unless ``ca_key`` signed it."""
        try:
            ca_key.verify(
                self.signature_der,
                self.signed_part(self.target_point, self.card_id),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            raise ValueError("the migration target certificate is not signed by this CA") from None


def ec_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """04 || x || y of a P-256 public key."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass(frozen=True)
class MtpmStatus:
    owned: bool
    owner_tries_left: int
    clock: int
    reset_count: int
    storage_key_id: bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "owned": self.owned,
            "owner_tries_left": self.owner_tries_left,
            "clock": self.clock,
            "reset_count": self.reset_count,
            "storage_key_id": self.storage_key_id.hex(),
        }


class MtpmSession:
    """The mobile TPM of one card, over ``invoke(ins, p1, p2, data) -> bytes``.

    A command's data and its answer share the card's service window (``window``, SELECT tag 85;
    docs/core-applet.md "Service contract"). A command that fits goes in one INVOKE; a larger one
    (an EK certificate, a migration, a quote on a small window) is staged: its data in parts
    (STAGE WRITE), STAGE RUN, its answer in parts (STAGE READ). Staging writes the card's
    EEPROM, so it is only used when the window is too small.
    """

    def __init__(self, invoke: Invoke, window: int = C.SERVICE_WINDOW_MAX) -> None:
        self._invoke = invoke
        self.window = window
        #: INVOKEs sent staged so far (for tests and the bench).
        self.staged = 0

    @classmethod
    def over(cls, session: Any, aid: bytes = MTPM_AID) -> MtpmSession:
        """Bind to a secured session offering ``invoke(aid, ins, p1, p2, data)`` and
        ``service_window``."""
        return cls(
            lambda ins, p1, p2, data: session.invoke(aid, ins, p1, p2, data),
            getattr(session, "service_window", C.SERVICE_WINDOW_MAX),
        )

    def _call(
        self,
        ins: int,
        p1: int = 0,
        p2: int = 0,
        data: bytes = b"",
        *,
        answer: int = 0,
        host_pcrs: bool = False,
    ) -> bytes:
        """One command; ``answer`` is the most the card can answer, ``host_pcrs`` says the
        command reads host PCRs (the card then uses the last 32 bytes of the window)."""
        data = bytes(data)
        room = self.window - (PCR_SLOT_LENGTH if host_pcrs else 0)
        try:
            if len(data) + answer <= room:
                return bytes(self._invoke(ins, p1, p2, data))
            return self._staged(ins, p1, p2, data)
        except MtpmError:
            raise
        except ApduError as exc:
            raise MtpmError(exc.sw, exc.data) from None

    def _staged(self, ins: int, p1: int, p2: int, data: bytes) -> bytes:
        if len(data) > STAGE_CAPACITY:
            raise ValueError(f"a mobile TPM command carries at most {STAGE_CAPACITY} bytes")
        self.staged += 1
        part = self.window - PCR_SLOT_LENGTH
        offset = 0
        while True:  # at least one STAGE WRITE (offset 0 starts a new staged command)
            chunk = data[offset : offset + part]
            self._invoke(INS_STAGE_WRITE, offset >> 8, offset & 0xFF, chunk)
            offset += len(chunk)
            if offset >= len(data):
                break
        length_bytes = bytes(self._invoke(INS_STAGE_RUN, 0, 0, bytes([ins, p1, p2])))
        if len(length_bytes) != 2:
            raise ProtocolError(f"STAGE RUN answered {len(length_bytes)} bytes")
        length = struct.unpack(">H", length_bytes)[0]
        out = b""
        while len(out) < length:
            piece = bytes(self._invoke(INS_STAGE_READ, len(out) >> 8, len(out) & 0xFF, b""))
            if not piece:
                raise ProtocolError("STAGE READ answered nothing")
            out += piece
        if len(out) != length:
            raise ProtocolError("STAGE READ answered more than STAGE RUN announced")
        return out

    # --- PCRs ----------------------------------------------------------------------------

    def pcr_read(self, indices: Iterable[int]) -> dict[int, bytes]:
        """Values of the combined view (0..8 from the host TPM via the session, 9..23 on card)."""
        selection = PcrSelection.of(indices)
        data = self._call(
            INS_PCR_READ,
            data=selection_bitmap(selection.indices),
            answer=32 * len(selection.indices),
            host_pcrs=True,
        )
        if len(data) != 32 * len(selection.indices):
            raise ProtocolError(f"PCR READ returned {len(data)} bytes")
        return {i: data[32 * k : 32 * k + 32] for k, i in enumerate(selection.indices)}

    def extend(self, index: int, digest: bytes) -> bytes:
        """PCR[index] = SHA-256(PCR[index] || digest) for index 9..23; returns the new value."""
        if len(digest) != 32:
            raise ValueError("extend takes a 32-byte SHA-256 digest")
        return self._call(INS_PCR_EXTEND, index, 0, digest, answer=32)

    def pcr_reset(self, index: int) -> None:
        self._call(INS_PCR_RESET, index)

    # --- Keys and attestation ------------------------------------------------------------

    def public(self, key: int) -> PublicArea:
        return PublicArea.parse(self._call(INS_GET_PUBLIC, key, answer=PUBLIC_AREA_LENGTH))

    def ek_public(self) -> PublicArea:
        return self.public(KEY_EK)

    def ak_public(self) -> PublicArea:
        return self.public(KEY_AK)

    def migration_public(self) -> PublicArea:
        return self.public(KEY_MIGRATION)

    @staticmethod
    def _split(data: bytes) -> tuple[bytes, bytes]:
        if len(data) < 2:
            raise ProtocolError("attestation response truncated")
        n = struct.unpack(">H", data[:2])[0]
        attest, der = data[2 : 2 + n], data[2 + n :]
        if len(attest) != n or not der:
            raise ProtocolError("attestation response truncated")
        return attest, der

    def quote(self, pcrs: Iterable[int], nonce: bytes) -> Quote:
        """TPM2_Quote over the combined view, signed by the AK. The PCR values are read first
        and checked against the quoted digest, as :meth:`tpmcard.tpm.adapter.Tpm.quote` does."""
        if len(nonce) > MAX_NONCE:
            raise ValueError(f"the nonce is at most {MAX_NONCE} bytes")
        selection = PcrSelection.of(pcrs)
        values = self.pcr_read(selection.indices)
        attest, der = self._split(
            self._call(
                INS_QUOTE,
                data=selection_bitmap(selection.indices) + nonce,
                answer=_QUOTE_ANSWER + len(nonce),
            )
        )
        digest = attest[-32:]
        if digest != pcr_composite_digest(values, selection):
            raise ProtocolError("the PCRs changed between reading and quoting them; quote again")
        return Quote(attest, ecdsa_signature_from_der(der), der, selection, values)

    def quote_token(
        self, fmt: int, selection: bytes, nonce: bytes, answer: int
    ) -> tuple[bytes, bytes]:
        """QUOTE TOKEN: the to-be-signed content the card built (JWS signing input or COSE
        Sig_structure) and the AK's DER signature; ``answer`` is its largest length.
        :mod:`tpmcard.quote_formats` makes and checks the tokens."""
        return self._split(self._call(INS_QUOTE_TOKEN, fmt, 0, selection + nonce, answer=answer))

    def certify(self, key: int, nonce: bytes) -> Certification:
        """TPMS_ATTEST CERTIFY of the AK or the migration key, signed by the EK."""
        attest, der = self._split(self._call(INS_CERTIFY, key, 0, nonce, answer=_CERTIFY_ANSWER))
        return Certification(attest, ecdsa_signature_from_der(der), der)

    def ek_cert_set(self, certificate_der: bytes, owner_auth: bytes = b"") -> None:
        self._call(INS_EK_CERT_SET, data=_auth(owner_auth) + certificate_der)

    def ek_cert_get(self) -> bytes | None:
        """The EK certificate (DER), or None if none was stored."""
        try:
            return self._call(INS_EK_CERT_GET, answer=MAX_EK_CERT)
        except MtpmError as exc:
            if exc.sw == SW_NOT_FOUND:
                return None
            raise

    # --- Sealing -------------------------------------------------------------------------

    def seal(
        self,
        data: bytes,
        pcrs: Iterable[int],
        auth: bytes = b"",
        pcr_values: Mapping[int, bytes] | None = None,
        *,
        migratable: bool = False,
    ) -> bytes:
        """Seal ``data`` (1..128 bytes) to the PCRs ``pcrs`` of the combined view: their current
        values, or ``pcr_values`` to seal to a future state. Returns the blob (host-stored).
        An ``auth`` value needs an owned mobile TPM. Only a ``migratable`` object can ever
        leave the card (MIGRATE EXPORT); the choice is made here, for good."""
        selection = PcrSelection.of(pcrs)
        values = dict(pcr_values) if pcr_values is not None else self.pcr_read(selection.indices)
        digest = pcr_composite_digest(values, selection)
        return self._call(
            INS_SEAL,
            P1_SEAL_MIGRATABLE if migratable else 0,
            data=selection_bitmap(selection.indices) + digest + _auth(auth) + data,
            answer=sealed_blob_length(len(data)),
        )

    def unseal(self, blob: bytes, auth: bytes = b"") -> bytes:
        # The card has a host PCR written where its answer goes: at least 32 bytes of room.
        answer = max(_unsealed_max(blob), PCR_SLOT_LENGTH)
        return self._call(INS_UNSEAL, data=_auth(auth) + blob, answer=answer)

    # --- NV and counters -----------------------------------------------------------------

    def nv_define(
        self,
        handle: int,
        size: int,
        auth: bytes = b"",
        owner_auth: bytes = b"",
        *,
        counter: bool = False,
        migratable: bool = False,
    ) -> None:
        attributes = (NV_ATTRIBUTE_COUNTER if counter else 0) | (
            NV_ATTRIBUTE_MIGRATABLE if migratable else 0
        )
        self._call(
            INS_NV_DEFINE,
            data=_auth(owner_auth)
            + _handle(handle)
            + struct.pack(">BH", attributes, size)
            + _auth(auth),
        )

    def nv_undefine(self, handle: int, owner_auth: bytes = b"") -> None:
        self._call(INS_NV_UNDEFINE, data=_auth(owner_auth) + _handle(handle))

    def nv_write(self, handle: int, data: bytes, offset: int = 0, auth: bytes = b"") -> None:
        self._call(
            INS_NV_WRITE, data=_handle(handle) + struct.pack(">H", offset) + _auth(auth) + data
        )

    def nv_read(self, handle: int, size: int, offset: int = 0, auth: bytes = b"") -> bytes:
        return self._call(
            INS_NV_READ,
            data=_handle(handle) + struct.pack(">HH", offset, size) + _auth(auth),
            answer=size,
        )

    def nv_list(self) -> list[NvIndex]:
        data = self._call(INS_NV_LIST, answer=_NV_LIST_ANSWER)
        out = []
        for k in range(0, len(data) - len(data) % 7, 7):
            handle, attributes, size = struct.unpack(">IBH", data[k : k + 7])
            out.append(
                NvIndex(
                    handle,
                    bool(attributes & NV_ATTRIBUTE_COUNTER),
                    size,
                    bool(attributes & NV_ATTRIBUTE_MIGRATABLE),
                )
            )
        return out

    def counter_define(
        self, handle: int, auth: bytes = b"", owner_auth: bytes = b"", *, migratable: bool = False
    ) -> int:
        """Define a monotonic counter; returns its start value (the card's high-water mark).
        A ``migratable`` counter can move to another card (never be copied)."""
        self.nv_define(handle, COUNTER_SIZE, auth, owner_auth, counter=True, migratable=migratable)
        return self.counter_read(handle, auth)

    def counter_increment(self, handle: int, auth: bytes = b"") -> int:
        data = self._call(INS_NV_INCREMENT, data=_handle(handle) + _auth(auth), answer=COUNTER_SIZE)
        return int.from_bytes(data, "big")

    def counter_read(self, handle: int, auth: bytes = b"") -> int:
        return int.from_bytes(self.nv_read(handle, COUNTER_SIZE, 0, auth), "big")

    def counter_undefine(self, handle: int, owner_auth: bytes = b"") -> None:
        self.nv_undefine(handle, owner_auth)

    # --- Ownership -----------------------------------------------------------------------

    def take_ownership(self, owner_auth: bytes) -> None:
        if not 1 <= len(owner_auth) <= MAX_AUTH:
            raise ValueError(f"the owner auth is 1..{MAX_AUTH} bytes")
        self._call(INS_TAKE_OWNERSHIP, data=owner_auth)

    def clear(self, owner_auth: bytes = b"") -> None:
        """TPM2_Clear: new storage keys, no NV indices or counters, no owner."""
        self._call(INS_CLEAR, data=_auth(owner_auth))

    def da_reset(self, owner_auth: bytes = b"") -> None:
        """Give sealed-object and NV auth values their tries back after a dictionary-attack
        lockout (after TPM2_DictionaryAttackLockReset; needs an owner and its auth: refused
        with reason ``no_owner`` on an unowned mobile TPM)."""
        self._call(INS_DA_RESET, data=_auth(owner_auth))

    def status(self) -> MtpmStatus:
        data = self._call(INS_GET_STATUS, answer=_STATUS_ANSWER)
        if len(data) != 30:
            raise ProtocolError(f"GET STATUS returned {len(data)} bytes")
        owned, tries, clock, resets = struct.unpack(">BBQI", data[:14])
        return MtpmStatus(bool(owned), tries, clock, resets, data[14:30])

    # --- Migration -----------------------------------------------------------------------

    def migration_anchor_set(self, ca_key: ec.EllipticCurvePublicKey, owner_auth: bytes) -> None:
        """Install the migration CA's public key: MIGRATE EXPORT then wraps only to keys it
        certified (:class:`MigrationCertificate`). Needs an owner; CLEAR removes it."""
        self._call(INS_MIGRATION_ANCHOR_SET, data=_auth(owner_auth) + ec_point(ca_key))

    def migration_anchor_get(self) -> bytes | None:
        """The installed migration CA point (04 || x || y), or None."""
        try:
            return self._call(INS_MIGRATION_ANCHOR_GET)
        except MtpmError as exc:
            if exc.sw == SW_NOT_FOUND:
                return None
            raise

    def _export(
        self,
        kind: int,
        obj: bytes,
        target_certificate: bytes,
        owner_auth: bytes,
        auth: bytes,
        move: bool,
    ) -> bytes:
        if len(target_certificate) > MAX_TARGET_CERT:
            raise ValueError("the migration target certificate is too long")
        return self._call(
            INS_MIGRATE_EXPORT,
            P1_MIGRATE_MOVE if move else P1_MIGRATE_COPY,
            kind,
            _auth(owner_auth)
            + _auth(auth)
            + bytes([len(target_certificate)])
            + target_certificate
            + obj,
            answer=_DUPLICATE_MAX,
            host_pcrs=kind == P2_OBJECT_SEALED,
        )

    def migrate_export_sealed(
        self,
        blob: bytes,
        target_certificate: bytes,
        owner_auth: bytes,
        auth: bytes = b"",
        *,
        move: bool = False,
    ) -> bytes:
        """Wrap a sealed object to another card's migration key, named by a
        :class:`MigrationCertificate` from the CA installed with :meth:`migration_anchor_set`.
        The card demands the owner auth, an object sealed ``migratable``, and what UNSEAL
        demands (the PCR policy, ``auth``). A move revokes it here."""
        return self._export(P2_OBJECT_SEALED, blob, target_certificate, owner_auth, auth, move)

    def migrate_export_nv(
        self,
        handle: int,
        target_certificate: bytes,
        owner_auth: bytes,
        auth: bytes = b"",
        *,
        move: bool = False,
    ) -> bytes:
        """Wrap a migratable NV index (or counter: ``move`` only) to another card; a move
        undefines it here."""
        return self._export(
            P2_OBJECT_NV, _handle(handle), target_certificate, owner_auth, auth, move
        )

    def migrate_import_sealed(self, duplicate: bytes, owner_auth: bytes = b"") -> bytes:
        """Import a sealed object; returns a blob under this card's storage keys."""
        return self._call(
            INS_MIGRATE_IMPORT,
            0,
            P2_OBJECT_SEALED,
            _auth(owner_auth) + duplicate,
            answer=_SEALED_BLOB_MAX,
        )

    def migrate_import_nv(self, duplicate: bytes, owner_auth: bytes = b"") -> None:
        self._call(INS_MIGRATE_IMPORT, 0, P2_OBJECT_NV, _auth(owner_auth) + duplicate)


def sealed_blob_length(secret_length: int) -> int:
    """The length of the blob SEAL makes of a secret: header 61, AES-CBC of SHA-256(auth) 32 ||
    length 2 || secret padded to whole blocks, MAC 16 (docs/mtpm.md "Sealing"). The host asks
    for exactly this much room, so a small secret is sealed in one command, not staged."""
    return 61 + (34 + secret_length + 15) // 16 * 16 + 16


def _unsealed_max(blob: bytes) -> int:
    """The longest secret a sealed blob can hold: header 61, MAC 16, SHA-256(auth) 32 and
    length 2 inside the encryption (docs/mtpm.md)."""
    return max(0, min(MAX_SEALED_SECRET, len(blob) - 61 - 16 - 34))


def duplicate_kind(duplicate: bytes) -> str:
    """``"sealed"`` or ``"nv"``: what a MIGRATE_EXPORT duplicate carries (its kind byte,
    ``version 01 || kind`` with kind = P2_OBJECT_SEALED / P2_OBJECT_NV, docs/mtpm.md)."""
    if len(duplicate) < 2 or duplicate[0] != 0x01:
        raise ValueError("not a mobile-TPM duplicate (version 01 expected)")
    kinds = {P2_OBJECT_SEALED: "sealed", P2_OBJECT_NV: "nv"}
    if duplicate[1] not in kinds:
        raise ValueError(f"unknown duplicate kind {duplicate[1]:02x}")
    return kinds[duplicate[1]]


def public_point(public: PublicArea) -> bytes:
    """04 || x || y of a card key's TPMT_PUBLIC."""
    return b"\x04" + public.x + public.y


def tpm2b_public(public: PublicArea) -> bytes:
    """TPM2B_PUBLIC, as ``tpm2_readpublic -o`` writes and ``verify_certify`` takes."""
    return tpm2b(public.raw)


def info(mtpm: MtpmSession) -> dict[str, Any]:
    """What ``tpmcard info --json`` reports about the mobile TPM: EK and AK (TPMT_PUBLIC, Name,
    qualified name), whether an EK certificate and a migration anchor are stored, the status."""

    def key(public: PublicArea) -> dict[str, str]:
        return {
            "public": public.raw.hex(),
            "name": public.name.hex(),
            "qualified_name": endorsement_qualified_name(public.name).hex(),
        }

    return {
        "ek": key(mtpm.ek_public()),
        "ak": key(mtpm.ak_public()),
        "ek_certificate": mtpm.ek_cert_get() is not None,
        "migration_anchor": mtpm.migration_anchor_get() is not None,
        **mtpm.status().as_dict(),
    }


__all__ = [
    "MTPM_AID",
    "MigrationCertificate",
    "MtpmError",
    "MtpmSession",
    "MtpmStatus",
    "NvIndex",
    "duplicate_kind",
    "ec_point",
    "endorsement_qualified_name",
    "info",
    "public_point",
    "selection_bitmap",
    "tpm2b_public",
]
