"""Bound sessions: the card and this host's TPM, paired, checked and secured (docs/binding.md).

The services layer over :mod:`tpmcard.channel` (protocol), :mod:`tpmcard.tpm` (the TPM),
:mod:`tpmcard.services.client` (the card) and :mod:`tpmcard.services.pairings` (what this host
remembers)::

    import tpmcard

    with tpmcard.connect() as session:        # reader / tcti as for every tpmcard entry point
        session.core.echo(b"hello")           # every command now goes through secure messaging
        session.host_pcrs[7]                  # PCR 7 as the TPM quoted it and the card accepted

Pairing (:mod:`tpmcard.services.binding`) and the PIN functions (:mod:`tpmcard.services.pins`)
work on an open :class:`~tpmcard.services.client.Card` (and, for pairing, an open
:class:`~tpmcard.tpm.adapter.Tpm`); the CLI opens them.

Errors name what to do: :class:`~tpmcard.errors.NotPairedError` (run ``tpmcard pair``),
:class:`~tpmcard.errors.WrongCardError`, :class:`~tpmcard.errors.PairingRemovedError`,
:class:`~tpmcard.errors.PcrStateChangedError` (the host's measured state changed since
pairing: ``tpmcard pair --update-policy``), :class:`~tpmcard.errors.SessionRefusedError`,
:class:`~tpmcard.errors.InvalidPinError` (``attempts_remaining``) and
:class:`~tpmcard.errors.PinBlockedError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tpmcard import channel
from tpmcard import constants as C
from tpmcard.channel.handshake import SecureSession
from tpmcard.channel.securemessaging import SecureMessagingProcessor
from tpmcard.channel.tpm_binding import HostTpm, TpmBinding
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import (
    ApduError,
    ChannelError,
    NotPairedError,
    PairingRemovedError,
    PcrStateChangedError,
    ProtocolError,
    ServiceWindowError,
    SessionRefusedError,
    TpmcardError,
    TpmPolicyError,
    WrongCardError,
)
from tpmcard.lifetime import Closeable
from tpmcard.services.client import Card, resolve_reader
from tpmcard.services.core import CoreSession
from tpmcard.services.pairings import PairingRecord, PairingStore
from tpmcard.tpm.keyblob import BindingKey
from tpmcard.tpm.tcti import resolve_tcti
from tpmcard.tpm_structures import ClockInfo
from tpmcard.transport import open_connection
from tpmcard.transport.base import Connection

if TYPE_CHECKING:
    from tpmcard.services.algorithms import Algorithms
    from tpmcard.services.closures.session import ClosuresSession
    from tpmcard.services.counted_keys import CountedKeys
    from tpmcard.services.mtpm import MtpmSession

__all__ = [
    "DEFAULT_PAIRING_PCRS",
    "SecureCardSession",
    "connect",
]

#: The PCRs a binding key is bound to unless told otherwise: the firmware and boot loader
#: measurements of the TCG PC Client profile (PCR 0-7).
DEFAULT_PAIRING_PCRS: tuple[int, ...] = tuple(range(8))

log = logging.getLogger(__name__)


def _card_id(value: bytes | str | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return bytes.fromhex(value)


def describe_tpm(tpm: HostTpm) -> str:
    return "embedded" if getattr(tpm, "swtpm", None) is not None else str(tpm.tcti)


# --- host PCRs against a pairing ---------------------------------------------------------------


def check_host_pcrs(tpm: HostTpm, record: PairingRecord, detected_by: str = "host") -> None:
    """Raise PcrStateChangedError unless the policy PCRs still hold the values of the pairing.

    Reads the PCRs only (no key is used), so it can run before the card is contacted.
    """
    policy = record.policy
    values = tpm.pcr_read(policy.pcrs)
    digest = hashlib.sha256(b"".join(values[i] for i in policy.pcrs)).digest()
    if digest == policy.pcr_digest:
        return
    raise _pcr_changed(record, values, detected_by)


def _pcr_changed(
    record: PairingRecord,
    values: Mapping[int, bytes] | None,
    detected_by: str,
    rc: int | None = None,
) -> PcrStateChangedError:
    policy = record.policy
    if values is not None and record.pcr_values:
        changed = tuple(i for i in policy.pcrs if values.get(i) != record.pcr_values.get(i))
    else:
        changed = policy.pcrs
    which = ", ".join(map(str, changed))
    noun = "PCR" if len(changed) == 1 else "PCRs"
    by = {
        "host": "",
        "tpm": " (the TPM refused the binding key's PCR policy)",
        "card": " (the card refused the quote)",
    }[detected_by]
    return PcrStateChangedError(
        f"this host's {noun} {which} changed since it was paired with card "
        f"{record.card_id.hex()}{by}: firmware, boot loader or boot configuration is not what the "
        "card owner approved, so no session can open. If the change is legitimate, re-pair with "
        "`tpmcard pair --update-policy` (needs the card's PIN).",
        pcrs=changed,
        detected_by=detected_by,
        rc=rc,
        pcr_selection="sha256:" + ",".join(map(str, policy.pcrs)),
    )


# --- the session --------------------------------------------------------------------------------


class SecureCardSession(Closeable):
    """A session with the paired card over secure messaging (from :func:`connect`).

    * ``send_apdu`` protects every command (the SM processor; same signature as
      :meth:`tpmcard.apdu.ApduSession.send_apdu`); an application error comes back as
      :class:`~tpmcard.errors.ApduError` with the card's real status word and the session stays
      open, any secure-messaging failure raises :class:`~tpmcard.errors.ChannelError` and the
      session is dead (open a new one);
    * ``core``: the core applet (ECHO, identity key) over ``send_apdu``;
    * ``host_pcrs``: PCR values (0-8 and the policy PCRs) that the TPM quoted in the handshake
      and the card accepted and keeps for the session;
    * ``host_clock``: the TPM's TPMS_CLOCK_INFO in that quote (a
      :class:`~tpmcard.tpm_structures.ClockInfo`), which the card verified with it and hands to
      its services for the session (docs/binding.md "The session's TPM clock");
    * ``invoke(aid, ins, p1, p2, data)``: one command for a suite service (INVOKE);
      ``mtpm`` (the mobile TPM) and ``algorithms`` (the algorithm registry) over it;
    * ``card_id``, ``card_info``, ``record`` (the pairing), ``exchanges`` (APDUs so far).

    Close it (or use ``with``): SESSION CLOSE to the card, then what :func:`connect` opened
    (the card connection, the TPM) is closed; what the caller passed in is left open.
    """

    def __init__(
        self,
        card: Card,
        secure: SecureSession,
        record: PairingRecord,
        owned: contextlib.ExitStack,
        owned_connection: Connection | None = None,
    ) -> None:
        self._card = card
        self._secure = secure
        self._owned = owned  # the TPM, if connect() opened it
        self._owned_connection = owned_connection  # the card connection, if connect() opened it
        self.record = record
        self.card_id: bytes = card.info.card_id
        self.card_info = card.info
        self.host_pcrs: dict[int, bytes] = dict(secure.pcr_values)
        self.host_clock: ClockInfo | None = secure.clock
        self.send_apdu: SecureMessagingProcessor = secure.send_apdu
        self.core = CoreSession(secure.send_apdu)
        self._mtpm: MtpmSession | None = None
        self._closures: ClosuresSession | None = None
        self._algorithms: Algorithms | None = None

    def invoke(self, aid: bytes, ins: int, p1: int, p2: int, data: bytes = b"") -> bytes:
        """One command for the suite service at ``aid`` (INVOKE, docs/core-applet.md), inside
        secure messaging. Returns the service's response; its refusal is an
        :class:`~tpmcard.errors.ApduError` with the service's status word (the session stays
        open), a secure-messaging failure a :class:`~tpmcard.errors.ChannelError`."""
        if not C.INVOKE_MIN_AID_LENGTH <= len(aid) <= C.INVOKE_MAX_AID_LENGTH:
            raise ValueError(f"a service AID has 5..16 bytes, not {len(aid)}")
        if not all(0 <= v <= 0xFF for v in (ins, p1, p2)):
            raise ValueError("ins, p1 and p2 are single bytes")
        if len(data) > self.service_window:
            raise ServiceWindowError(len(data), self.service_window, "the INVOKE data")
        body = bytes([len(aid)]) + bytes(aid) + bytes([ins, p1, p2]) + bytes(data)
        if len(body) > C.SM_MAX_PAYLOAD:
            raise ValueError(
                f"INVOKE carries at most {C.SM_MAX_PAYLOAD - len(body) + len(data)} bytes of "
                f"data for this AID, not {len(data)}"
            )
        return self.send_apdu(C.CLA_PROPRIETARY, C.INS_INVOKE, C.P1_NONE, C.P2_NONE, body)

    @property
    def service_window(self) -> int:
        """Bytes of INVOKE data plus answer the card takes (SELECT tag 85): both share the
        card's APDU buffer. The services split what does not fit (docs/core-applet.md)."""
        return self.card_info.service_window

    @property
    def mtpm(self) -> MtpmSession:
        """The card's mobile TPM (docs/mtpm.md) over this session."""
        if self._mtpm is None:
            from tpmcard.services.mtpm import (
                MtpmSession,  # a sibling service: imported when first used
            )

            self._mtpm = MtpmSession(self)
        return self._mtpm

    @property
    def closures(self) -> ClosuresSession:
        """The card's closures (docs/closures.md), on its mobile TPM, over this session."""
        if self._closures is None:
            from tpmcard.services.closures.session import ClosuresSession

            self._closures = ClosuresSession(self.mtpm)
        return self._closures

    @property
    def counted_keys(self) -> CountedKeys:
        """The mobile TPM's count-limited keys (docs/counted-keys.md) over this session."""
        from tpmcard.services.counted_keys import CountedKeys  # a sibling service, as mtpm

        return CountedKeys(self.mtpm)

    @property
    def algorithms(self) -> Algorithms:
        """The card's algorithm registry and providers (docs/algorithms.md) over this session."""
        if self._algorithms is None:
            from tpmcard.services.algorithms import Algorithms

            self._algorithms = Algorithms(self)
        return self._algorithms

    @property
    def slot(self) -> int:
        return self.record.slot

    @property
    def exchanges(self) -> int:
        """APDUs sent on the card connection since it was opened (all of them, handshake too)."""
        return self._card.apdu.exchanges

    @property
    def closed(self) -> bool:
        return self._secure.send_apdu.closed

    @property
    def owns_connection(self) -> bool:
        """True when connect() opened the card connection (and close() closes it)."""
        return self._owned_connection is not None

    def close(self) -> None:
        """End the session (SESSION CLOSE when it is still alive) and release what connect()
        opened. Idempotent."""
        try:
            self._end_secure_session()
        finally:
            try:
                self._owned.close()
            finally:
                if self._owned_connection is not None:
                    self._owned_connection.close()

    def detach_card(self) -> Card:
        """End the secure session, release the TPM if connect() opened it, and hand over the
        card, still selected and usable without secure messaging (e.g. for a baseline). If
        connect() opened the connection (``owns_connection``), the caller now closes the card."""
        try:
            self._end_secure_session()
        finally:
            self._owned.close()
        return self._card

    def _end_secure_session(self) -> None:
        if not self._secure.send_apdu.closed:
            self._secure.close(notify_card=True)


def connect(
    reader: str | None = None,
    tcti: str | None = None,
    *,
    card_id: bytes | str | None = None,
    store: PairingStore | None = None,
    connection: Connection | None = None,
    tpm: HostTpm | None = None,
    wrap_connection: Callable[[Connection], Connection] | None = None,
    wrap_tpm: Callable[[Any], Any] | None = None,
) -> SecureCardSession:
    """Open a secured session with the card this host is paired with.

    Opens the card (``reader``, or ``connection`` if given) and the TPM (``tcti``, or ``tpm`` if
    given), checks the card against the pairing record (card id, then the identity key pinned at
    pairing), checks the host's policy PCRs against the pairing (before contacting the card when
    the record is known in advance: one pairing, or ``card_id``), loads the binding key and the
    AK from the record and runs the handshake (docs/binding.md §3.6).

    ``store``: where the pairing records are (default ``state_dir()/pairings``).
    ``wrap_connection`` / ``wrap_tpm``: interpose on the card connection and on the TPM (the
    ``Tpm`` object the binding uses) — benchmarks time them, tests tamper with them.

    Raises NotPairedError, WrongCardError, PcrStateChangedError, PairingRemovedError,
    SessionRefusedError (all but PcrStateChangedError are ChannelErrors), and the transport's
    and the TPM's own errors.
    """
    store = store if store is not None else PairingStore()
    wanted = _card_id(card_id)
    records = store.records()
    if not records:
        raise NotPairedError(
            "this host is not paired with any card: put the card in the reader and run "
            "`tpmcard pair`"
        )
    candidates = [r for r in records if wanted is None or r.card_id == wanted]
    if not candidates:
        assert wanted is not None
        raise NotPairedError(
            f"this host is not paired with card {wanted.hex()}: put it in the reader and run "
            "`tpmcard pair`"
        )

    with contextlib.ExitStack() as owned:
        close_tpm: Callable[[], None] | None = None
        if tpm is None:
            from tpmcard.tpm.adapter import Tpm

            opened_tpm = owned.enter_context(Tpm.open(resolve_tcti(tcti)))
            close_tpm = opened_tpm.close
            tpm_object: HostTpm = opened_tpm
        else:
            tpm_object = tpm
        tpm_used = wrap_tpm(tpm_object) if wrap_tpm is not None else tpm_object
        if len(candidates) == 1:
            check_host_pcrs(tpm_used, candidates[0])  # before the card is contacted

        link = connection
        opened: Connection | None = None
        if link is None:
            link = opened = owned.enter_context(open_connection(resolve_reader(reader)))
        card = Card(wrap_connection(link) if wrap_connection is not None else link)
        found = card.info.card_id
        record = next((r for r in candidates if r.card_id == found), None)
        if record is None:
            paired = tuple(r.card_id for r in candidates)
            raise WrongCardError(
                f"the card in the reader ({found.hex()}) is not the card this host is paired "
                f"with ({', '.join(p.hex() for p in paired)}): insert that card, or pair this one "
                "with `tpmcard pair`",
                card_id=found,
                expected=paired,
            )
        if len(candidates) > 1:
            check_host_pcrs(tpm_used, record)
        # The card's identity needs no GET DATA here: the handshake transcript and the pairing
        # secret bind the identity key pinned at pairing, so any other card fails the key
        # confirmation. _diagnose then reads the key to say so clearly.

        binding = TpmBinding(
            tpm_used, BindingKey.from_blob(record.binding_key), record.attestation_key
        )
        try:
            secure = channel.open_session(card.apdu, binding, record.pairing)
        except TpmPolicyError as exc:
            raise _pcr_changed(record, _read_policy_pcrs(tpm_used, record), "tpm", exc.rc) from exc
        except ChannelError as exc:
            raise _diagnose(card, tpm_used, record, exc) from exc
        owned.pop_all()  # success: nothing to undo; the session takes over below
    # The connection is closed last, after SESSION CLOSE: keep it out of the TPM's stack.
    tpm_stack = contextlib.ExitStack()
    if close_tpm is not None:
        tpm_stack.callback(close_tpm)
    log.info(
        "secured session open with card %s (slot %d, host PCRs %s)",
        record.card_id.hex(),
        record.slot,
        ",".join(map(str, sorted(secure.pcr_values))),
    )
    return SecureCardSession(card, secure, record, tpm_stack, opened)


def check_identity(card: Card, record: PairingRecord) -> None:
    """The card's identity key (GET DATA) must be the one pinned at pairing."""
    try:
        point = point_bytes(card.core.identity_key())  # also checks it against the card id
    except ProtocolError as exc:
        raise WrongCardError(
            f"the card claims to be {card.info.card_id.hex()} but its identity key does not "
            f"match that id ({exc}): it is not the card this host paired with",
            card_id=card.info.card_id,
            expected=(record.card_id,),
        ) from exc
    if point != record.pairing.card_identity:
        raise WrongCardError(
            f"card {card.info.card_id.hex()} presents an identity key other than the one this "
            "host pinned at pairing: it is not the paired card (or the pairing record was "
            "altered); do not use it",
            card_id=card.info.card_id,
            expected=(record.card_id,),
        )


def _read_policy_pcrs(tpm: HostTpm, record: PairingRecord) -> dict[int, bytes] | None:
    try:
        return dict(tpm.pcr_read(record.policy.pcrs))
    except TpmcardError:
        return None


def _diagnose(
    card: Card, tpm: HostTpm, record: PairingRecord, failure: ChannelError
) -> TpmcardError:
    """After a refused handshake (the card answers one uniform status word), find out why from
    public facts: is it the paired card, is the pairing still on it, do the host's PCRs still
    match it?"""
    try:
        check_identity(card, record)
    except WrongCardError as wrong:
        return wrong
    except TpmcardError:
        return failure
    try:
        table = channel.list_pairings(card.apdu.send_apdu)
    except TpmcardError:
        return failure
    if not any(
        s.slot == record.slot and s.binding_name == record.pairing.binding_name for s in table.slots
    ):
        return PairingRemovedError(
            f"card {record.card_id.hex()} no longer holds this host's pairing (slot "
            f"{record.slot} was unpaired, from this host or another): pair again with "
            "`tpmcard pair --replace`",
            slot=record.slot,
        )
    refused_by_card = isinstance(failure.__cause__, ApduError)
    values = _read_policy_pcrs(tpm, record)
    if values is not None and (
        hashlib.sha256(b"".join(values[i] for i in record.policy.pcrs)).digest()
        != record.policy.pcr_digest
    ):
        return _pcr_changed(record, values, "card" if refused_by_card else "host")
    facts = (
        f"card {record.card_id.hex()} still lists this host in slot {record.slot} and the host's "
        "PCRs match the pairing"
    )
    if refused_by_card:
        return SessionRefusedError(
            f"the card refused the session although {facts}: a handshake message was altered on "
            "the way, or the TPM evidence was not the paired TPM's (another AK, a stale quote). "
            "No session was opened."
        )
    return SessionRefusedError(
        f"{failure}; yet {facts}: a message from the card was altered on the way, or this card "
        "only claims to be the paired one. No session was opened."
    )


# --- pairing ------------------------------------------------------------------------------------


# --- listing and PINs ---------------------------------------------------------------------------
