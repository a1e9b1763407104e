"""tpmcard: couple a host TPM 2.0 with a JavaCard.

The host application's API (docs/api.md shows it in use):

* :func:`connect` opens a secured session with the card this host is paired with
  (:func:`tpmcard.services.session.connect`): ``session.core``, ``session.mtpm``,
  ``session.algorithms``;
* :func:`pair` pairs this host's TPM with a card (:func:`tpmcard.services.binding.pair`);
* :func:`open_card` opens a card without a session (:func:`tpmcard.services.client.open_card`);
* the error classes of :mod:`tpmcard.errors`, all subclasses of :class:`TpmcardError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpmcard.errors import (  # the exception tree is part of the public API
    AkCertificateRefusedError,
    AlreadyPairedError,
    ApduError,
    AttestationError,
    AttestVerificationError,
    CardNotPersonalisedError,
    CardRemovedError,
    ChannelError,
    CredentialActivationError,
    DefaultPinError,
    EkCertificateError,
    InvalidPinError,
    NoCardError,
    NoReaderError,
    NotPairedError,
    NotSupportedError,
    PairingRemovedError,
    PairingTableFullError,
    PcrPolicyError,
    PcrStateChangedError,
    PinBlockedError,
    ProtocolError,
    ServiceWindowError,
    SessionRefusedError,
    SimulatorError,
    TpmAuthError,
    TpmcardError,
    TpmError,
    TpmFormatError,
    TpmLockoutError,
    TpmPolicyError,
    TransportError,
    WrongCardError,
)

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "connect",
    "open_card",
    "pair",
    "AkCertificateRefusedError",
    "AlreadyPairedError",
    "ApduError",
    "AttestVerificationError",
    "AttestationError",
    "CardNotPersonalisedError",
    "CardRemovedError",
    "ChannelError",
    "CredentialActivationError",
    "DefaultPinError",
    "EkCertificateError",
    "InvalidPinError",
    "NoCardError",
    "NoReaderError",
    "NotPairedError",
    "NotSupportedError",
    "PairingRemovedError",
    "PairingTableFullError",
    "PcrPolicyError",
    "PcrStateChangedError",
    "PinBlockedError",
    "ProtocolError",
    "ServiceWindowError",
    "SessionRefusedError",
    "SimulatorError",
    "TpmAuthError",
    "TpmError",
    "TpmFormatError",
    "TpmLockoutError",
    "TpmPolicyError",
    "TpmcardError",
    "TransportError",
    "WrongCardError",
]

if TYPE_CHECKING:
    from tpmcard.services.binding import pair
    from tpmcard.services.client import open_card
    from tpmcard.services.session import connect

_LAZY = {
    "connect": "tpmcard.services.session",
    "pair": "tpmcard.services.binding",
    "open_card": "tpmcard.services.client",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import tpmcard.apdu` (or the CLI's start) must not load the TPM and channel code.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
