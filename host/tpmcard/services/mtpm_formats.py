"""What the mobile TPM hands the host: NV index listings, status, migration certificates and
duplicates, keys as TPM2B_PUBLIC and their qualified names (docs/mtpm.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tpmcard import tlv
from tpmcard.errors import ProtocolError
from tpmcard.services.mtpm_constants import (
    MAX_CERT_CARD_ID,
    MAX_TARGET_CERT,
    MIGRATION_TARGET_PURPOSE,
    P2_OBJECT_NV,
    P2_OBJECT_SEALED,
    RH_ENDORSEMENT,
    TAG_CERT_CARD_ID,
    TAG_CERT_PURPOSE,
    TAG_CERT_SIGNATURE,
    TAG_CERT_TARGET,
)
from tpmcard.tpm_structures import (
    PublicArea,
    hierarchy_qualified_name,
    qualified_name,
    tpm2b,
)


def endorsement_qualified_name(name: bytes) -> bytes:
    """QN of a card key: nameAlg || SHA-256(TPM_RH_ENDORSEMENT || Name) (Part 1 §16.5)."""
    return qualified_name(hierarchy_qualified_name(RH_ENDORSEMENT), name)


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
