"""The portable environment of the mobile-TPM paper (docs/portable-environment.md): an encrypted
image whose key the card's mobile TPM releases only to the measured launcher, on the card it was
packed with, with the user's PIN.

:mod:`tpmcard.env.format` is the image format and the streaming AEAD; :mod:`tpmcard.env.service`
packs, launches and attests over a secured session and the host TPM.
"""

from __future__ import annotations

from tpmcard.env.format import EnvError, Header, ImageFormatError, ImageIntegrityError
from tpmcard.env.service import (
    LauncherMeasurementError,
    NoOwnerError,
    PinLockedError,
    PolicyMismatchError,
    WrongCardImageError,
    WrongPinError,
    attest,
    launch,
    pack,
    read_header,
    verify_environment,
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
