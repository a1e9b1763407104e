"""Pairing records: what this host keeps about each card it is paired with (docs/binding.md §14).

One JSON file per card, ``tpmcard.paths.state_dir() / "pairings" / "<card id>.json"``, mode 0600,
written atomically (a temporary file in the same directory, fsync, rename, fsync of the
directory), so a crash leaves the old record or the new one, never half of one.

A record holds no secret the host could leak: the card identity key it pinned, the slot, the
binding key's Name and PCR policy (all of which the card also holds), the policy PCR values at
pairing (to say which PCR changed), and the binding key and the AK as TSS2 key files (PEM,
``-----BEGIN TSS2 PRIVATE KEY-----``): their private parts are wrapped by this host's TPM and
useless without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpmcard import constants as C
from tpmcard import paths
from tpmcard.channel.handshake import Pairing, PcrPolicy
from tpmcard.errors import TpmcardError, TpmFormatError
from tpmcard.tpm.keyblob import KeyBlob

RECORD_VERSION = 1


class PairingRecordError(TpmcardError):
    """A pairing record on this host is unreadable or inconsistent. ``path`` names the file."""

    def __init__(self, message: str, path: Path) -> None:
        self.path = path
        super().__init__(message)


def card_id_of(card_identity: bytes) -> bytes:
    """The card id a card reports on SELECT: SHA-256 of its identity point, first 16 bytes."""
    return hashlib.sha256(card_identity).digest()[: C.CARD_ID_LENGTH]


@dataclass(frozen=True)
class PairingRecord:
    """This host's pairing with one card."""

    pairing: Pairing  # slot, pinned card identity point, binding key Name, PCR policy
    binding_key: KeyBlob
    attestation_key: KeyBlob
    #: Values of the policy PCRs when the binding key was made (public; for error messages).
    pcr_values: dict[int, bytes] = field(default_factory=dict)
    paired_at: str = ""  # ISO 8601, UTC
    tpm: str = ""  # the TPM that holds the keys ("embedded" or a TCTI), for the user

    @property
    def card_id(self) -> bytes:
        return card_id_of(self.pairing.card_identity)

    @property
    def slot(self) -> int:
        return self.pairing.slot

    @property
    def policy(self) -> PcrPolicy:
        return self.pairing.policy

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "card_id": self.card_id.hex(),
            "pairing": self.pairing.to_dict(),
            "pcr_values": {str(i): v.hex() for i, v in sorted(self.pcr_values.items())},
            "paired_at": self.paired_at,
            "tpm": self.tpm,
            "binding_key": self.binding_key.to_pem(),
            "attestation_key": self.attestation_key.to_pem(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairingRecord:
        """Parse and check a record; raises ValueError (or TpmFormatError) when it is wrong."""
        if data.get("version") != RECORD_VERSION:
            raise ValueError(f"unknown record version {data.get('version')!r}")
        pairing = Pairing.from_dict(data["pairing"])
        record = cls(
            pairing=pairing,
            binding_key=KeyBlob.from_pem(str(data["binding_key"])),
            attestation_key=KeyBlob.from_pem(str(data["attestation_key"])),
            pcr_values={int(i): bytes.fromhex(v) for i, v in dict(data["pcr_values"]).items()},
            paired_at=str(data.get("paired_at", "")),
            tpm=str(data.get("tpm", "")),
        )
        if bytes.fromhex(str(data["card_id"])) != record.card_id:
            raise ValueError("the card id does not name the pinned card identity key")
        if record.binding_key.name != pairing.binding_name:
            raise ValueError("the binding key file is not the key that was paired")
        if record.binding_key.public_area.auth_policy != pairing.policy.digest():
            raise ValueError("the binding key's policy is not the paired PCR policy")
        return record


class PairingStore:
    """The directory of pairing records (default ``state_dir()/pairings``)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = (
            Path(directory) if directory is not None else paths.state_dir() / "pairings"
        )

    def path(self, card_id: bytes) -> Path:
        return self.directory / f"{card_id.hex()}.json"

    def load(self, card_id: bytes) -> PairingRecord | None:
        """The record for this card, or None."""
        path = self.path(card_id)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return self._parse(path, text)

    def records(self) -> list[PairingRecord]:
        """Every record, ordered by card id."""
        if not self.directory.is_dir():
            return []
        return [self._parse(p, p.read_text()) for p in sorted(self.directory.glob("*.json"))]

    def save(self, record: PairingRecord) -> Path:
        """Write (or replace) the record for its card, atomically, mode 0600."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(record.card_id)
        text = json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"
        fd, temporary = tempfile.mkstemp(prefix=".pairing-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w") as out:  # mkstemp creates it 0600
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        self._sync_directory()
        return target

    def remove(self, card_id: bytes) -> bool:
        """Forget the record for this card; returns whether there was one."""
        try:
            self.path(card_id).unlink()
        except FileNotFoundError:
            return False
        self._sync_directory()
        return True

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _parse(path: Path, text: str) -> PairingRecord:
        try:
            return PairingRecord.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, TpmFormatError) as exc:
            raise PairingRecordError(
                f"the pairing record {path} is unreadable ({exc}); remove it and pair again "
                "with `tpmcard pair`",
                path,
            ) from None
