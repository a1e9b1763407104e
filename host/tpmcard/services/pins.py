"""The card's PIN and PUK, and its personalisation: status, change, unblock, the attestation CA key
(docs/binding.md §6 and §8). Each function works on an open
:class:`~tpmcard.services.client.Card`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tpmcard import channel
from tpmcard import constants as C
from tpmcard.channel.tpm_binding import HostTpm
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import (
    ChannelError,
)
from tpmcard.services.client import Card
from tpmcard.services.pairings import PairingStore

if TYPE_CHECKING:
    from tpmcard.services.attestation import Enrollment
from tpmcard.services.binding import identity_point
from tpmcard.services.session import check_identity

#: The PIN and PUK of a freshly installed core applet (Constants.DEFAULT_PIN / DEFAULT_PUK).
#: The card refuses PAIR until both are changed (``tpmcard pin change``, ``--puk``; or
#: :func:`personalise`): :class:`tpmcard.errors.DefaultPinError`.
DEFAULT_PIN = "123456"

__all__ = [
    "DEFAULT_PIN",
    "DEFAULT_PUK",
    "PinStatus",
    "change_pin",
    "change_puk",
    "install_attestation_ca",
    "personalise",
    "personalise_embedded",
    "pin_status",
    "random_pin_and_puk",
    "unblock_pin",
]


DEFAULT_PUK = "12345678"


@dataclass(frozen=True)
class PinStatus:
    pin_tries: int  # 0: blocked
    puk_tries: int  # 0: blocked for good


def pin_status(card: Card) -> PinStatus:
    """Tries left for the PIN and the PUK (VERIFY without data; uses no try)."""
    send = card.apdu.send_apdu
    return PinStatus(channel.pin_status(send, C.P2_PIN), channel.pin_status(send, C.P2_PUK))


def _pinned_identity(card: Card, store: PairingStore | None) -> bytes:
    """The identity key to encrypt a PIN to: the one pinned at pairing, else the card's own
    (trust on first use, docs/binding.md §8)."""
    store = store if store is not None else PairingStore()
    record = store.load(card.info.card_id)
    if record is None:
        return identity_point(card)
    check_identity(card, record)
    return record.pairing.card_identity


def change_pin(
    card: Card, old_pin: str, new_pin: str, *, store: PairingStore | None = None
) -> None:
    channel.change_pin(card.apdu.send_apdu, _pinned_identity(card, store), old_pin, new_pin)


def change_puk(
    card: Card, old_puk: str, new_puk: str, *, store: PairingStore | None = None
) -> None:
    channel.change_puk(card.apdu.send_apdu, _pinned_identity(card, store), old_puk, new_puk)


def random_pin_and_puk() -> tuple[str, str]:
    """A random 6-digit PIN and 8-digit PUK, never the factory defaults: for a throw-away card
    (the demo's, the benchmarks')."""
    while True:
        pin, puk = f"{secrets.randbelow(10**6):06d}", f"{secrets.randbelow(10**8):08d}"
        if pin != DEFAULT_PIN and puk != DEFAULT_PUK:
            return pin, puk


def personalise(
    card: Card, new_pin: str, new_puk: str, *, store: PairingStore | None = None
) -> None:
    """Replace the factory-default PIN and PUK of a new card (the card pairs only after both):
    ``tpmcard pin change`` and ``tpmcard pin change --puk`` in one step."""
    if new_pin == DEFAULT_PIN or new_puk == DEFAULT_PUK:
        raise ValueError("the new PIN and PUK must differ from the factory defaults")
    change_pin(card, DEFAULT_PIN, new_pin, store=store)
    change_puk(card, DEFAULT_PUK, new_puk, store=store)


def unblock_pin(card: Card, puk: str, new_pin: str, *, store: PairingStore | None = None) -> None:
    channel.unblock_pin(card.apdu.send_apdu, _pinned_identity(card, store), puk, new_pin)


def install_attestation_ca(
    card: Card,
    secret: str,
    *,
    use_puk: bool = False,
    ca_point: bytes | None = None,
    store: PairingStore | None = None,
) -> bytes:
    """Personalisation: install the attestation CA's public key on the card (PUT DATA), with the
    PIN on a card that has none, with the PUK to replace one. ``ca_point`` defaults to the local
    CA's key ($TPMCARD_STATE_DIR/ca, ``tpmcard ca init``). Returns the point installed."""
    if ca_point is None:
        from tpmcard.ecpoint import point_bytes
        from tpmcard.errors import AttestationError
        from tpmcard.services.ca import CaError, ManufacturerCa

        try:
            ca_point = point_bytes(ManufacturerCa.load().key.public_key())
        except CaError as exc:
            raise AttestationError(str(exc)) from None
    channel.install_ca_key(
        card.apdu.send_apdu, _pinned_identity(card, store), ca_point, secret, use_puk=use_puk
    )
    return ca_point


def personalise_embedded(
    card: Card,
    tpm: HostTpm,
    pin: str,
    *,
    ca_directory: Path | None = None,
    enrollments: Path | None = None,
) -> Enrollment:
    """For the demo and the bench: the local attestation CA (made if missing, in
    ``ca_directory``, default $TPMCARD_STATE_DIR/ca), the TPM's AK enrolled, and the CA key
    installed on the card with ``pin`` if the card has none yet. The EK roots: for the embedded
    swtpm its own local CA (the test "manufacturer": trusted because tpmcard made that TPM),
    for any other TPM the configured roots. A real deployment personalises cards and enrols
    TPMs on purpose (`tpmcard ca ...`)."""
    from tpmcard.services.attestation import EnrollmentStore, enrollment_for
    from tpmcard.services.ca import CaError, ManufacturerCa

    swtpm = getattr(tpm, "swtpm", None)
    try:
        ca = ManufacturerCa.load(ca_directory)
    except CaError:
        ca = ManufacturerCa.init(ca_directory)
    enrollment = enrollment_for(
        tpm,
        store=EnrollmentStore(enrollments) if enrollments is not None else None,
        ek_roots=swtpm.localca_dir if swtpm is not None else None,  # else the configured roots
        ca_directory=ca_directory,
    )
    try:
        install_attestation_ca(card, pin, ca_point=point_bytes(ca.key.public_key()))
    except ChannelError:
        pass  # already personalised (with this CA or another: PAIR tells)
    return enrollment
