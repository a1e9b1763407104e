"""The mobile TPM service (``tpmcard.mtpm.MtpmApplet``, docs/mtpm.md) over a secured session.

The service is reached only through the core applet's INVOKE inside a secure session, so a
:class:`MtpmSession` takes a secured session (an :class:`~tpmcard.services.core.Invoker`:
``invoke(aid, ins, p1, p2, data)`` that raises :class:`tpmcard.errors.ApduError` with the
service's status word, and ``service_window``). Status words become :class:`MtpmError` with a
stable ``reason``; output structures reuse :mod:`tpmcard.tpm.attest` (``Quote``,
``Certification``) and :mod:`tpmcard.tpm_structures` so files come out in the formats tpm2-tools
reads.

Names (``INS_*``, ``KEY_*``, ``P1_*``, ``P2_*``, ``SW_*``) are those of
``applets/src/main/java/tpmcard/mtpm/Constants.java``, in :mod:`.mtpm_constants`;
tests/mtpm/test_constants.py checks them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import constants as C
from tpmcard import manifest
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import ApduError, ProtocolError
from tpmcard.services.core import Invoker
from tpmcard.services.mtpm_constants import (
    _CERTIFY_ANSWER,
    _DUPLICATE_MAX,
    _NV_LIST_ANSWER,
    _QUOTE_ANSWER,
    _REASONS,
    _SEALED_BLOB_MAX,
    _STATUS_ANSWER,
    COUNTER_SIZE,
    INS_CERTIFY,
    INS_CLEAR,
    INS_DA_RESET,
    INS_EK_CERT_GET,
    INS_EK_CERT_SET,
    INS_GET_PUBLIC,
    INS_GET_STATUS,
    INS_MIGRATE_EXPORT,
    INS_MIGRATE_IMPORT,
    INS_MIGRATION_ANCHOR_GET,
    INS_MIGRATION_ANCHOR_SET,
    INS_NV_DEFINE,
    INS_NV_INCREMENT,
    INS_NV_LIST,
    INS_NV_READ,
    INS_NV_UNDEFINE,
    INS_NV_WRITE,
    INS_PCR_EXTEND,
    INS_PCR_READ,
    INS_PCR_RESET,
    INS_QUOTE,
    INS_QUOTE_TOKEN,
    INS_SEAL,
    INS_STAGE_READ,
    INS_STAGE_RUN,
    INS_STAGE_WRITE,
    INS_TAKE_OWNERSHIP,
    INS_UNSEAL,
    KEY_AK,
    KEY_EK,
    KEY_MIGRATION,
    MAX_AUTH,
    MAX_EK_CERT,
    MAX_NONCE,
    MAX_SEALED_SECRET,
    MAX_TARGET_CERT,
    NV_ATTRIBUTE_COUNTER,
    NV_ATTRIBUTE_MIGRATABLE,
    P1_MIGRATE_COPY,
    P1_MIGRATE_MOVE,
    P1_SEAL_MIGRATABLE,
    P2_OBJECT_NV,
    P2_OBJECT_SEALED,
    PCR_SLOT_LENGTH,
    PUBLIC_AREA_LENGTH,
    STAGE_CAPACITY,
    SW_NOT_FOUND,
    SW_OWNER_AUTH_FAILED,
)
from tpmcard.services.mtpm_flexible import Approval, FlexibleCommands
from tpmcard.services.mtpm_formats import (
    MigrationCertificate,
    MtpmStatus,
    NvIndex,
    duplicate_kind,
    endorsement_qualified_name,
    public_point,
    tpm2b_public,
)
from tpmcard.tpm.attest import Certification, Quote
from tpmcard.tpm_structures import (
    PcrSelection,
    PublicArea,
    ecdsa_signature_from_der,
    pcr_composite_digest,
    selection_bitmap,
)

#: applets/manifest.json, applet "mtpm".
MTPM_AID = manifest.applet_aid("mtpm")


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


def _auth(value: bytes) -> bytes:
    if len(value) > MAX_AUTH:
        raise ValueError(f"auth values are at most {MAX_AUTH} bytes")
    return bytes([len(value)]) + value


def _handle(handle: int) -> bytes:
    if handle >> 24 != 0x01:
        raise ValueError(f"NV handle 0x{handle:08x} is not an NV index (0x01xxxxxx)")
    return struct.pack(">I", handle)


class MtpmSession(FlexibleCommands):
    """The mobile TPM of one card, over ``invoke(ins, p1, p2, data) -> bytes``. Flexible
    sealing and unbinding (:class:`~tpmcard.services.mtpm_flexible.FlexibleCommands`):
    docs/flexible-sealing.md.

    A command's data and its answer share the card's service window (``window``, SELECT tag 85;
    docs/core-applet.md "Service contract"). A command that fits goes in one INVOKE; a larger one
    (an EK certificate, a migration, a quote on a small window) is staged: its data in parts
    (STAGE WRITE), STAGE RUN, its answer in parts (STAGE READ). Staging writes the card's
    EEPROM, so it is only used when the window is too small.
    """

    def __init__(self, session: Invoker, aid: bytes = MTPM_AID) -> None:
        self._invoke: Invoke = lambda ins, p1, p2, data: session.invoke(aid, ins, p1, p2, data)
        self.window: int = getattr(session, "service_window", C.SERVICE_WINDOW_MAX)
        #: INVOKEs sent staged so far (for tests and the bench).
        self.staged = 0

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

    def command(
        self,
        ins: int,
        p1: int = 0,
        p2: int = 0,
        data: bytes = b"",
        *,
        answer: int = 0,
        host_pcrs: bool = False,
    ) -> bytes:
        """One command of a service part built on the mobile TPM (the closures,
        :mod:`tpmcard.services.closures`): direct when data plus ``answer`` fit the window,
        staged otherwise; refusals are :class:`MtpmError`."""
        return self._call(ins, p1, p2, data, answer=answer, host_pcrs=host_pcrs)

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
        :mod:`tpmcard.services.quote_formats` makes and checks the tokens."""
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

    def unseal(self, blob: bytes, auth: bytes = b"", approval: Approval | None = None) -> bytes:
        if blob[:1] == b"\x02":  # a flexible blob (FLEXIBLE_BLOB_VERSION)
            if auth:
                raise ValueError("a flexible blob has no auth value")
            return self.unseal_flexible(blob, approval)
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
        self._call(INS_MIGRATION_ANCHOR_SET, data=_auth(owner_auth) + point_bytes(ca_key))

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
    "endorsement_qualified_name",
    "info",
    "public_point",
    "tpm2b_public",
]
