"""Pairing this host's TPM with a card, and undoing it (docs/binding.md §5): PAIR, UNPAIR, the
card's pairing table against what this host remembers (:mod:`tpmcard.services.pairings`)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tpmcard import channel
from tpmcard.channel.handshake import PairingTable
from tpmcard.channel.tpm_binding import HostTpm, TpmBinding
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import (
    AlreadyPairedError,
    NotPairedError,
    PairingRemovedError,
    WrongCardError,
)
from tpmcard.services.client import Card
from tpmcard.services.pairings import PairingRecord, PairingStore

if TYPE_CHECKING:
    from tpmcard.services.attestation import Enrollment
from tpmcard.services.session import DEFAULT_PAIRING_PCRS, check_identity, describe_tpm

__all__ = ["CardPairings", "PairResult", "list_pairings", "pair", "unpair"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairResult:
    record: PairingRecord
    #: The slot of this host's previous pairing that was removed from the card (re-pairing).
    replaced_slot: int | None = None
    #: True when this host had a record for the card that the card no longer held.
    previous_record_stale: bool = False


def identity_point(card: Card) -> bytes:
    return point_bytes(card.core.identity_key())


def _holds(table: PairingTable, record: PairingRecord) -> bool:
    return any(
        s.slot == record.slot and s.binding_name == record.pairing.binding_name for s in table.slots
    )


def pair(
    card: Card,
    tpm: HostTpm,
    pin: str,
    *,
    pcrs: Iterable[int] | None = None,
    store: PairingStore | None = None,
    replace: bool = False,
    update_policy: bool = False,
    enrollment: Enrollment | None = None,
    ek_roots: Path | None = None,
) -> PairResult:
    """Pair this host's TPM with the card (PAIR, authorised by the card's PIN) and save the record.

    A new binding key bound to the current values of ``pcrs`` (default PCR 0-7; never the
    resettable 16 and 23), certified by this TPM's enrolled AK: ``enrollment``, else the one
    :func:`tpmcard.services.attestation.enrollment_for` finds or makes with the local attestation
    CA and the EK roots in ``ek_roots`` (docs/binding.md §8). The card must hold that CA's key
    (:func:`install_attestation_ca`). If this host is already paired with the card:

    * ``replace``: the old pairing is removed from the card (UNPAIR) and forgotten, then the host
      pairs anew with a new binding key (and the enrolled AK);
    * ``update_policy``: after an authorised change of the host's measured state, pair a new
      binding key bound to the PCRs' current values (the same PCRs unless ``pcrs`` says
      otherwise; the AK is kept), then remove the old pairing from the card;
    * neither: refused (ChannelError naming both options).
    """
    if replace and update_policy:
        raise ValueError("choose one of replace and update_policy")
    if pcrs is not None:
        pcrs = tuple(pcrs)
        channel.check_pairing_pcrs(pcrs)
    store = store if store is not None else PairingStore()
    identity = identity_point(card)
    card_id = card.info.card_id
    send = card.apdu.send_apdu
    existing = store.load(card_id)
    still_on_card = False
    if existing is not None:
        if existing.pairing.card_identity != identity:
            raise WrongCardError(
                f"card {card_id.hex()} presents another identity key than the one pinned in "
                f"this host's pairing record ({store.path(card_id)})",
                card_id=card_id,
                expected=(existing.card_id,),
            )
        still_on_card = _holds(channel.list_pairings(send), existing)
        if not (replace or update_policy):
            where = (
                f"slot {existing.slot}"
                if still_on_card
                else "a slot the card no longer holds (it was unpaired)"
            )
            raise AlreadyPairedError(
                f"this host is already paired with card {card_id.hex()} ({where}): use "
                "`tpmcard pair --replace` for new keys, or `tpmcard pair --update-policy` after "
                "an approved change of the host's PCRs"
            )
    chosen = tuple(
        pcrs
        if pcrs is not None
        else (existing.policy.pcrs if update_policy and existing else DEFAULT_PAIRING_PCRS)
    )

    replaced: int | None = None
    if existing is not None and replace:
        if still_on_card:
            channel.unpair(send, identity, pin, existing.slot)
            replaced = existing.slot
        store.remove(card_id)

    if enrollment is None:
        from tpmcard.services.attestation import enrollment_for

        enrollment = enrollment_for(tpm, ek_roots=ek_roots)
    enrollment.certificate.check_validity()
    ak = enrollment.attestation_key
    log.info("creating a binding key bound to PCRs %s", ",".join(map(str, chosen)))
    binding_key = tpm.create_binding_key(chosen)
    host = TpmBinding(tpm, binding_key, ak, ak_certificate=enrollment.certificate.encoded)
    pairing = channel.pair(send, host, identity, pin, host.policy)
    record = PairingRecord(
        pairing=pairing,
        binding_key=binding_key.blob,
        attestation_key=ak,
        pcr_values=dict(binding_key.pcr_values or {}),
        paired_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        tpm=describe_tpm(tpm),
    )
    store.save(record)
    if existing is not None and update_policy and still_on_card:
        channel.unpair(send, identity, pin, existing.slot)
        replaced = existing.slot
    return PairResult(record, replaced, existing is not None and not still_on_card)


def unpair(
    card: Card, pin: str, slot: int | None = None, *, store: PairingStore | None = None
) -> int:
    """UNPAIR a slot of the card (``slot`` None: this host's), authorised by the PIN; forget this
    host's record when it is the slot removed. Returns the slot."""
    store = store if store is not None else PairingStore()
    card_id = card.info.card_id
    record = store.load(card_id)
    send = card.apdu.send_apdu
    identity = record.pairing.card_identity if record is not None else identity_point(card)
    if record is not None:
        check_identity(card, record)
    table = channel.list_pairings(send)
    if slot is None:
        if record is None:
            raise NotPairedError(
                f"this host is not paired with card {card_id.hex()}; `tpmcard pairings` lists "
                "the card's slots, `tpmcard unpair SLOT` removes one"
            )
        if not _holds(table, record):
            store.remove(card_id)
            raise PairingRemovedError(
                f"card {card_id.hex()} no longer held this host's pairing (slot {record.slot}); "
                "the stale record on this host was removed",
                slot=record.slot,
            )
        slot = record.slot
    channel.unpair(send, identity, pin, slot)
    if record is not None and record.slot == slot and _holds(table, record):
        store.remove(card_id)
    return slot


@dataclass(frozen=True)
class CardPairings:
    card_id: bytes
    table: PairingTable
    #: This host's record for the card, if any, and whether the card still holds it.
    record: PairingRecord | None
    this_host_slot: int | None


def list_pairings(card: Card, *, store: PairingStore | None = None) -> CardPairings:
    """The card's pairing table (LIST PAIRINGS, public) and which slot is this host's."""
    store = store if store is not None else PairingStore()
    table = channel.list_pairings(card.apdu.send_apdu)
    record = store.load(card.info.card_id)
    mine = record.slot if record is not None and _holds(table, record) else None
    return CardPairings(card.info.card_id, table, record, mine)
