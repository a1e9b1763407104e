"""The TPM-card binding: pairing, session handshake and secure messaging (docs/binding.md).

Pure functions over a ``send_apdu`` callable and a :class:`BindingTpm`; no transport, no TSS:
:mod:`.pin` (PIN and PUK), :mod:`.pairing` (PAIR, UNPAIR, the CA key), :mod:`.handshake` (the
pairing's data and the session handshake), :mod:`.securemessaging`, :mod:`.kdf`.
"""

from __future__ import annotations

from tpmcard.channel.handshake import (
    BindingTpm,
    Pairing,
    PairingSlot,
    PairingTable,
    PcrPolicy,
    SecureSession,
    check_pairing_pcrs,
    open_session,
)
from tpmcard.channel.pairing import install_ca_key, list_pairings, pair, unpair
from tpmcard.channel.pin import change_pin, change_puk, get_challenge, pin_status, unblock_pin
from tpmcard.channel.securemessaging import SecureMessaging, SecureMessagingProcessor
from tpmcard.channel.tpm_binding import HostTpm

__all__ = [
    "BindingTpm",
    "HostTpm",
    "Pairing",
    "PairingSlot",
    "PairingTable",
    "PcrPolicy",
    "SecureMessaging",
    "SecureMessagingProcessor",
    "SecureSession",
    "change_pin",
    "change_puk",
    "check_pairing_pcrs",
    "get_challenge",
    "install_ca_key",
    "list_pairings",
    "open_session",
    "pair",
    "pin_status",
    "unblock_pin",
    "unpair",
]
