"""The portable environment of the mobile-TPM paper (docs/portable-environment.md): an encrypted
image whose key the card's mobile TPM releases only to the measured launcher, on the card it was
packed with, with the user's PIN.

:mod:`~tpmcard.services.env.format` is the image format and the streaming AEAD;
:mod:`~tpmcard.services.env.service` packs and launches over a secured session and the host TPM,
:mod:`~tpmcard.services.env.attestation` attests and moves an image's key to another card;
:mod:`~tpmcard.services.env.plaintext` keeps a directory environment's plaintext in memory.
"""

from __future__ import annotations

from tpmcard.services.env.attestation import attest, verify_environment
from tpmcard.services.env.format import EnvError, Header, ImageFormatError, ImageIntegrityError
from tpmcard.services.env.service import (
    LauncherMeasurementError,
    NoOwnerError,
    PinLockedError,
    PolicyMismatchError,
    WrongCardImageError,
    WrongPinError,
    launch,
    pack,
    read_header,
)

__all__ = [
    "EnvError",
    "Header",
    "ImageFormatError",
    "ImageIntegrityError",
    "LauncherMeasurementError",
    "NoOwnerError",
    "PinLockedError",
    "PolicyMismatchError",
    "WrongCardImageError",
    "WrongPinError",
    "attest",
    "launch",
    "pack",
    "read_header",
    "verify_environment",
]
