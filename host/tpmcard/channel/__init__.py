"""The TPM-card binding: pairing, session handshake and secure messaging (docs/binding.md).

Pure functions over a ``send_apdu`` callable and a :class:`BindingTpm`; no transport, no TSS.
"""

from __future__ import annotations

from tpmcard.channel.handshake import (
    BindingTpm,
    Pairing,
    PairingSlot,
    PairingTable,
    PcrPolicy,
    SecureSession,
    change_pin,
    change_puk,
    check_pairing_pcrs,
    get_challenge,
    install_ca_key,
    list_pairings,
    open_session,
    pair,
    pin_status,
    unblock_pin,
    unpair,
)
from tpmcard.channel.securemessaging import SecureMessaging, SecureMessagingProcessor

__all__ = [
    "BindingTpm",
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
