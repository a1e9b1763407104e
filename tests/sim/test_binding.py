"""The TPM-card binding end to end: the real CoreApplet (jCardSim) over both transports
(in-process and PC/SC through pcscd + vpcd), a real TPM (swtpm), the real host library.

Every test takes ``link`` (the ``connection`` fixture: parametrised over ``sim`` and ``pcsc``) and
``tpm``. The PC/SC card is shared by the whole test session, so ``link`` puts it back as it
found it (default PIN and PUK, empty pairing table) after each test, or restarts it fresh.

Attacks on the link are made by :class:`Interposer`, a Connection between the host library and
the card that sees and may change, replay, drop or cut every APDU, as a bus attacker could.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import tpmcard
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard import channel
from tpmcard import constants as C
from tpmcard.apdu import CommandApdu
from tpmcard.channel.tpm_binding import TpmBinding
from tpmcard.ecpoint import point_bytes
from tpmcard.errors import (
    AlreadyPairedError,
    ApduError,
    ChannelError,
    DefaultPinError,
    InvalidPinError,
    NotPairedError,
    PairingRemovedError,
    PcrStateChangedError,
    PinBlockedError,
    SessionRefusedError,
    TpmcardError,
    TransportError,
    WrongCardError,
)
from tpmcard.services.binding import pair, unpair
from tpmcard.services.client import Card
from tpmcard.services.pairings import PairingRecord, PairingStore
from tpmcard.services.pins import (
    DEFAULT_PIN,
    DEFAULT_PUK,
    change_pin,
    change_puk,
    personalise,
    pin_status,
    unblock_pin,
)
from tpmcard.services.session import SecureCardSession, connect
from tpmcard.sim import vpcd
from tpmcard.tpm.adapter import Tpm
from tpmcard.tpm.keyblob import BindingKey
from tpmcard.transport.base import Connection
from tpmcard.transport.jcardsim import JCardSimConnection
from tpmcard.transport.pcsc import PcscConnection

if TYPE_CHECKING:
    from attestation_support import TestAttestation  # tests/attestation_support.py

#: The PIN and PUK that ``link`` sets in place of the factory defaults.
PIN = "135790"
PUK = "13579024"
#: No pairing record: PIN commands encrypt to the card's own identity key.
NO_STORE = PairingStore(Path("/nonexistent"))
#: PCR 14 is free to extend in tests (nothing else here binds to it); PCR 7 stands for the boot
#: policy. Not 16 or 23: resettable from locality 0, pairing refuses them (test_resettable_pcrs).
POLICY_PCRS = (7, 14)
SESSION_PCRS = set(range(9)) | set(POLICY_PCRS)
SIZES = (0, 1, 15, 16, 17, 254, 255, 256, 1000, 4095, 4096)


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed * 7 + 3) & 0xFF for i in range(n))


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attestation: TestAttestation
) -> None:
    """Nothing here may touch the user's own pairings: the default store is the test's, and so
    are the attestation CA, the EK roots and the TPM's enrolled AK (tests/conftest.py)."""
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path / "state"))
    attestation.install_into(tmp_path / "state")


@pytest.fixture
def link(
    connection: Connection, request: pytest.FixtureRequest, attestation: TestAttestation
) -> Iterator[Connection]:
    """The card, personalised with the test attestation CA's key (with the factory PIN), then its
    PIN and PUK changed from the factory defaults to ``PIN`` / ``PUK`` (a card refuses to pair
    before)."""
    attestation.personalise(Card(connection), Path("/nonexistent"))
    personalise(Card(connection), PIN, PUK, store=NO_STORE)
    yield connection
    if isinstance(connection, PcscConnection):
        _restore_shared_card(connection, request)


def _restore_shared_card(connection: Connection, request: pytest.FixtureRequest) -> None:
    """Factory PIN and PUK with full tries, no pairing: as a fresh card (or make it fresh)."""
    try:
        connection.reset()
        card = Card(connection)
        if pin_status(card).pin_tries != C.PIN_TRY_LIMIT:
            unblock_pin(card, PUK, PIN, store=NO_STORE)
        identity = point_bytes(card.core.identity_key())
        for slot in channel.list_pairings(card.apdu.send_apdu).slots:
            channel.unpair(card.apdu.send_apdu, identity, PIN, slot.slot)
        change_pin(card, PIN, DEFAULT_PIN, store=NO_STORE)
        change_puk(card, PUK, DEFAULT_PUK, store=NO_STORE)
        status = pin_status(card)
        assert (status.pin_tries, status.puk_tries) == (C.PIN_TRY_LIMIT, C.PUK_TRY_LIMIT)
    except (TpmcardError, AssertionError):
        request.getfixturevalue("pcsc_stack").restart_card(fresh=True)


@pytest.fixture
def store(tmp_path: Path) -> PairingStore:
    return PairingStore(tmp_path / "pairings")


@pytest.fixture
def record(link: Connection, tpm: Tpm, store: PairingStore) -> PairingRecord:
    """This host paired with the card: binding key bound to PCRs 7 and 14."""
    return pair(Card(link), tpm, PIN, pcrs=POLICY_PCRS, store=store).record


@pytest.fixture
def other_card(
    link: Connection, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Connection]:
    """A second card of the same kind, with its own install entropy (so its own identity)."""
    if isinstance(link, JCardSimConnection):
        with JCardSimConnection(tmp_path / "card2", purpose="pytest other_card") as second:
            yield second
        return
    stack = request.getfixturevalue("pcsc_stack")
    process = vpcd.VpcdCardProcess(tmp_path / "card2", port=stack.spare_port, purpose="pytest")
    try:
        vpcd.wait_for_card(stack.spare_reader)
        with PcscConnection(stack.spare_reader) as second:
            yield second
    finally:
        process.stop()


def open_session(link: Connection, tpm: Any, store: PairingStore, **kw: Any) -> SecureCardSession:
    return connect(connection=link, tpm=tpm, store=store, **kw)


class Interposer(Connection):
    """A bus attacker between the host library and the card (see the module docstring)."""

    def __init__(self, inner: Connection) -> None:
        self.inner = inner
        self.name = f"interposed {inner.name}"
        self.commands: list[bytes] = []
        self.responses: list[bytes] = []
        self.on_command: Callable[[bytes], bytes] | None = None
        self.on_response: Callable[[bytes, bytes], bytes] | None = None

    def transmit(self, apdu: bytes) -> bytes:
        if self.on_command is not None:
            apdu = self.on_command(apdu)
        self.commands.append(apdu)
        response = self.inner.transmit(apdu)
        if self.on_response is not None:
            response = self.on_response(apdu, response)
        self.responses.append(response)
        return response

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    @property
    def supports_extended(self) -> bool:
        return self.inner.supports_extended

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        pass  # the fixture's connection outlives the attack


def protected(apdu: bytes) -> bool:
    return bool(apdu[0] & C.CLA_SECURE_MESSAGING) and apdu[1] != C.INS_GET_RESPONSE


def with_data(apdu: bytes, data: bytes) -> bytes:
    """The same command with other data, in the same APDU form where it fits."""
    command = CommandApdu.decode(apdu)
    extended = len(apdu) > 5 and apdu[4] == 0
    return dataclasses.replace(command, data=data).encode(
        extended=extended or len(data) > 255 or None
    )


def flip(data: bytes, index: int = -1) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def raw_protected_echo_is_refused(link: Connection, replay: bytes) -> None:
    """The card has no session any more: a (replayed) protected command gets the uniform 6982."""
    assert sw(link.transmit(replay)) == C.SW_SECURITY_STATUS_NOT_SATISFIED


# --- the happy path -------------------------------------------------------------------------------


def test_pair_and_reconnect_twenty_times(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    card_id = Card(link).info.card_id
    assert store.load(card_id) == record
    assert (store.path(card_id).stat().st_mode & 0o777) == 0o600
    expected = tpm.pcr_read(sorted(SESSION_PCRS))
    for i in range(20):
        counting = Interposer(link)
        with open_session(counting, tpm, store) as session:
            assert len(counting.commands) == 3  # SELECT, SESSION INIT, SESSION AUTH
            assert session.card_id == card_id and session.slot == record.slot
            assert session.host_pcrs == expected
            for size in SIZES[i % 3 :: 3]:
                data = pattern(size, i)
                assert session.core.echo(data) == data, size
            assert session.core.identity_key() is not None  # GET DATA inside secure messaging
        assert counting.commands[-1][:2] == bytes((0x84, C.INS_SESSION_CLOSE))
        raw_protected_echo_is_refused(link, counting.commands[-2])
    assert tpm.transient_handles() == [] and tpm.session_handles() == []


def test_protected_payloads_0_to_4096_and_inner_errors(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    with open_session(link, tpm, store) as session:
        for size in SIZES:
            assert session.core.echo(pattern(size, 1)) == pattern(size, 1), size
        with pytest.raises(ValueError):
            session.core.echo(bytes(C.SM_MAX_PAYLOAD + 1))  # never sent
        # The card's own status word travels protected; the session survives it.
        with pytest.raises(ApduError) as info:
            session.send_apdu(C.CLA_PROPRIETARY, 0x99, 0, 0, b"")
        assert info.value.sw == 0x6D00
        with pytest.raises(ApduError) as info:
            session.send_apdu(C.CLA_PROPRIETARY, C.INS_ECHO, 1, 0, b"x")
        assert info.value.sw == 0x6A86
        assert session.core.echo(b"still open") == b"still open"
        # SESSION INIT and AUTH are never accepted protected.
        with pytest.raises(ApduError) as info:
            session.send_apdu(C.CLA_PROPRIETARY, C.INS_SESSION_AUTH, 0, 0, b"")
        assert info.value.sw == 0x6985
        # An unprotected command ends the session on the card...
        assert sw(link.transmit(bytes.fromhex("8052000000"))) == C.SW_SECURITY_STATUS_NOT_SATISFIED
        # ... so the host's next protected command is refused, and the session is dead for good.
        with pytest.raises(ChannelError):
            session.core.echo(b"after")
        with pytest.raises(ChannelError, match="closed"):
            session.core.echo(b"after")


def test_session_over_short_apdus_only(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    """A reader without extended length: command chaining and GET RESPONSE carry everything."""

    class ShortOnly(Interposer):
        @property
        def supports_extended(self) -> bool:
            return False

    short = ShortOnly(link)
    with open_session(short, tpm, store) as session:
        for size in (0, 255, 1000, 4096):
            assert session.core.echo(pattern(size, 2)) == pattern(size, 2)
    assert all(len(apdu) <= 5 + 255 for apdu in short.commands)
    assert any(apdu[0] & 0x10 for apdu in short.commands)  # chained
    assert any(apdu[1] == C.INS_GET_RESPONSE for apdu in short.commands)


# --- PCR state ------------------------------------------------------------------------------------


def test_extended_pcr_stops_the_session_before_the_card_is_asked(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    tpm.pcr_extend(14, hashlib.sha256(b"an unapproved kernel").digest())
    counting = Interposer(link)
    with pytest.raises(PcrStateChangedError) as info:
        open_session(counting, tpm, store)
    assert info.value.pcrs == (14,) and info.value.detected_by == "host"
    assert "tpmcard pair --update-policy" in str(info.value)
    assert counting.commands == []


def _stale_pcr_reads(tpm: Tpm, record: PairingRecord) -> Callable[[Any], Any]:
    """A TPM wrapper whose first pcr_read reports the values of the pairing: the host's check
    before the handshake passes, the later ones (diagnosis) see the truth."""

    class StaleReads:
        def __init__(self, inner: Tpm) -> None:
            self.inner = inner
            self.lied = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def pcr_read(self, indices: Any) -> dict[int, bytes]:
            values = self.inner.pcr_read(indices)
            if self.lied:
                return values
            self.lied = True
            return {i: record.pcr_values.get(i, v) for i, v in values.items()}

    return StaleReads


def test_the_tpm_refuses_the_binding_key_when_pcrs_changed(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    tpm.pcr_extend(14, bytes(32))
    with pytest.raises(PcrStateChangedError) as info:
        open_session(link, tpm, store, wrap_tpm=_stale_pcr_reads(tpm, record))
    assert info.value.detected_by == "tpm"
    assert tpm.transient_handles() == [] and tpm.session_handles() == []


def test_the_card_refuses_a_quote_whose_values_do_not_match(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    """A lying host: PCR 14 changes after the two ZGen, and the host sends the pairing's values
    with the TPM's quote over the new ones. The card answers its uniform 6982; the host finds out
    why (its PCRs changed) and says so."""
    base = _stale_pcr_reads(tpm, record)

    class Lying(base):  # type: ignore[misc,valid-type]
        def quote(self, ak: Any, pcrs: Any, nonce: bytes) -> Any:
            self.inner.pcr_extend(14, bytes(32))
            real = self.inner.quote(ak, pcrs, nonce)
            values = {i: record.pcr_values.get(i, v) for i, v in real.pcr_values.items()}
            return dataclasses.replace(real, pcr_values=values)

    interposer = Interposer(link)
    with pytest.raises(PcrStateChangedError) as info:
        open_session(interposer, tpm, store, wrap_tpm=Lying)
    assert info.value.detected_by == "card"
    auth = [i for i, c in enumerate(interposer.commands) if c[1] == C.INS_SESSION_AUTH]
    assert sw(interposer.responses[auth[-1]]) == C.SW_SECURITY_STATUS_NOT_SATISFIED


def test_repair_after_an_authorised_policy_update(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    card = Card(link)
    with pytest.raises(ChannelError, match="--replace.*--update-policy"):
        pair(card, tpm, PIN, store=store)
    tpm.pcr_extend(14, hashlib.sha256(b"approved firmware update").digest())
    with pytest.raises(PcrStateChangedError):
        open_session(link, tpm, store)
    with pytest.raises(InvalidPinError):
        pair(card, tpm, "000000", store=store, update_policy=True)
    assert store.load(card.info.card_id) == record  # nothing changed
    result = pair(card, tpm, PIN, store=store, update_policy=True)
    assert result.replaced_slot == record.slot
    assert result.record.policy.pcrs == POLICY_PCRS
    assert result.record.attestation_key == record.attestation_key  # the AK is kept
    table = channel.list_pairings(card.apdu.send_apdu)
    assert [s.slot for s in table.slots] == [result.record.slot]
    with open_session(link, tpm, store) as session:
        assert session.slot == result.record.slot
        assert session.core.echo(b"after the update") == b"after the update"
    # --replace: a new binding key, the old pairing removed first; the AK stays the TPM's
    # enrolled one (its certificate is what roots it, docs/binding.md §8).
    replaced = pair(card, tpm, PIN, store=store, replace=True)
    assert replaced.replaced_slot == result.record.slot
    assert replaced.record.binding_key != result.record.binding_key
    assert replaced.record.attestation_key == record.attestation_key
    assert len(channel.list_pairings(card.apdu.send_apdu).slots) == 1
    with open_session(link, tpm, store) as session:
        assert session.slot == replaced.record.slot


# --- refused: the link ----------------------------------------------------------------------------


def _attacked_session(
    link: Connection, tpm: Tpm, store: PairingStore
) -> tuple[Interposer, SecureCardSession]:
    interposer = Interposer(link)
    session = open_session(interposer, tpm, store)
    assert session.core.echo(b"first") == b"first"
    return interposer, session


def _host_session_is_dead(session: SecureCardSession) -> None:
    assert session.closed
    with pytest.raises(ChannelError, match="closed"):
        session.core.echo(b"again")


def test_tampered_command(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    interposer, session = _attacked_session(link, tpm, store)
    good = interposer.commands[-1]
    for index in (-1, 8):  # the MAC, then the ciphertext
        interposer.on_command = lambda apdu, i=index: (
            with_data(apdu, flip(CommandApdu.decode(apdu).data, i)) if protected(apdu) else apdu
        )
        with pytest.raises(ChannelError):
            session.core.echo(b"0123456789abcdef")
        _host_session_is_dead(session)
        raw_protected_echo_is_refused(link, good)  # and dead on the card
        interposer.on_command = None
        session = open_session(interposer, tpm, store)
        good = interposer.commands[-1]
    session.close()


def test_tampered_and_truncated_responses(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    cuts: list[Callable[[bytes], bytes]] = [
        lambda body: flip(body, 0),  # ciphertext
        lambda body: flip(body, -1),  # MAC
        lambda body: body[:-1],  # one byte short
        lambda body: body[16:],  # a block dropped
        lambda body: b"",  # all data gone, outer 9000 kept
    ]
    for cut in cuts:
        interposer, session = _attacked_session(link, tpm, store)
        interposer.on_response = lambda apdu, rsp, cut=cut: (
            cut(rsp[:-2]) + rsp[-2:] if protected(apdu) else rsp
        )
        with pytest.raises(ChannelError):
            session.core.echo(pattern(40))
        _host_session_is_dead(session)


def test_truncated_commands(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    for cut in (lambda d: d[:-1], lambda d: d[:-16], lambda d: d[16:], lambda d: b""):
        interposer, session = _attacked_session(link, tpm, store)
        good = interposer.commands[-1]
        interposer.on_command = lambda apdu, cut=cut: (
            with_data(apdu, cut(CommandApdu.decode(apdu).data)) if protected(apdu) else apdu
        )
        with pytest.raises(ChannelError):
            session.core.echo(pattern(100))
        _host_session_is_dead(session)
        raw_protected_echo_is_refused(link, good)


def test_replayed_command_and_replayed_response(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    interposer, session = _attacked_session(link, tpm, store)
    first = interposer.commands[-1]
    assert session.core.echo(b"second") == b"second"
    assert sw(link.transmit(first)) == C.SW_SECURITY_STATUS_NOT_SATISFIED  # replay refused...
    with pytest.raises(ChannelError):  # ... and it ended the session on the card
        session.core.echo(b"third")
    _host_session_is_dead(session)

    interposer, session = _attacked_session(link, tpm, store)
    old = interposer.responses[-1]
    interposer.on_response = lambda apdu, rsp: old if protected(apdu) else rsp
    with pytest.raises(ChannelError):
        session.core.echo(b"first")  # the same payload: only the binding to n and chain differ
    _host_session_is_dead(session)


def test_reordered_and_dropped_commands(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    """A host never has two commands in flight, so a bus attacker cannot reorder them. Make it:
    wrap two commands ahead with the session's own secure-messaging state, then deliver the
    second first (reorder) or only the second (drop)."""

    def two_ahead(session: SecureCardSession) -> list[bytes]:
        sm = session.send_apdu._sm  # type: ignore[attr-defined]
        out = []
        for payload in (b"one", b"two"):
            cla, data = sm.wrap_command(C.CLA_PROPRIETARY, C.INS_ECHO, 0, 0, payload)
            sm._pending = None  # pretend the response came: the host would pipeline
            out.append(CommandApdu(cla, C.INS_ECHO, 0, 0, data, 0).encode())
        return out

    for deliver in ([1, 0], [1]):  # reordered; the first one dropped
        with open_session(link, tpm, store) as session:
            commands = two_ahead(session)
            answers = [sw(link.transmit(commands[i])) for i in deliver]
            assert answers == [C.SW_SECURITY_STATUS_NOT_SATISFIED] * len(deliver)
            session.send_apdu.close()


def test_dropped_response_kills_the_host_session(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    interposer, session = _attacked_session(link, tpm, store)

    def lost(apdu: bytes, response: bytes) -> bytes:
        raise TransportError("the response was lost on the way")

    interposer.on_response = lost
    with pytest.raises(TransportError):
        session.core.echo(b"lost")
    _host_session_is_dead(session)
    interposer.on_response = None
    with open_session(link, tpm, store) as fresh:  # SESSION INIT always starts over
        assert fresh.core.echo(b"new") == b"new"


def test_tampered_and_replayed_handshake(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    interposer = Interposer(link)
    interposer.on_command = lambda apdu: (
        with_data(apdu, flip(CommandApdu.decode(apdu).data, 40))
        if apdu[1] == C.INS_SESSION_AUTH
        else apdu
    )
    with pytest.raises(SessionRefusedError, match="still lists this host"):
        open_session(interposer, tpm, store)
    interposer.on_command = None
    interposer.on_response = lambda apdu, rsp: (
        flip(rsp[:-2], 70) + rsp[-2:] if apdu[1] == C.INS_SESSION_INIT else rsp
    )
    with pytest.raises(SessionRefusedError, match="key confirmation"):
        open_session(interposer, tpm, store)
    interposer.on_response = None

    recorder = Interposer(link)
    open_session(recorder, tpm, store).close()
    init = next(c for c in recorder.commands if c[1] == C.INS_SESSION_INIT)
    auth = next(c for c in recorder.commands if c[1] == C.INS_SESSION_AUTH)
    refused = C.SW_SECURITY_STATUS_NOT_SATISFIED
    assert sw(link.transmit(auth)) == refused  # SESSION AUTH without SESSION INIT
    assert sw(link.transmit(init)) == 0x9000
    assert sw(link.transmit(auth)) == refused  # replayed: the card's ephemeral is new
    assert sw(link.transmit(init)) == 0x9000
    assert sw(link.transmit(bytes.fromhex("8052000000"))) == 0x9000
    assert sw(link.transmit(auth)) == refused  # not directly after SESSION INIT
    point = CommandApdu.decode(init).data
    for bad in (
        CommandApdu(0x80, C.INS_SESSION_INIT, 7, 0, point, 0),  # an empty slot
        CommandApdu(0x80, C.INS_SESSION_INIT, record.slot, 0, point[:-1], 0),  # truncated
        CommandApdu(0x80, C.INS_SESSION_INIT, record.slot, 0, flip(point), 0),  # off the curve
    ):
        assert sw(link.transmit(bad.encode())) == refused
    with open_session(link, tpm, store) as session:
        assert session.core.echo(b"ok") == b"ok"


# --- refused: hosts, cards, pairings --------------------------------------------------------------


def test_pair_with_the_factory_pin_or_puk_is_refused(
    connection: Connection, tpm: Tpm, store: PairingStore, request: pytest.FixtureRequest,
    attestation: TestAttestation,
) -> None:  # fmt: skip
    """Issue 11 finding 4: a new card (PIN 123456, PUK 12345678, known to anyone) does not
    pair, whatever the PIN sent, and uses no try; nor with only the PIN changed (the default
    PUK could set a new PIN); once both are changed it pairs."""
    card = Card(connection)
    attestation.personalise(card)  # the CA key with the factory PIN: only the PIN rule is left
    try:
        for pin in (DEFAULT_PIN, "000000"):
            with pytest.raises(DefaultPinError, match="tpmcard pin change"):
                pair(card, tpm, pin, pcrs=(7,), store=store)
        assert pin_status(card).pin_tries == C.PIN_TRY_LIMIT
        change_pin(card, DEFAULT_PIN, PIN, store=NO_STORE)
        with pytest.raises(DefaultPinError, match="--puk"):
            pair(card, tpm, PIN, pcrs=(7,), store=store)
        change_puk(card, DEFAULT_PUK, PUK, store=NO_STORE)
        record = pair(card, tpm, PIN, pcrs=(7,), store=store).record
        with open_session(connection, tpm, store) as session:
            assert session.slot == record.slot
        change_pin(card, PIN, DEFAULT_PIN, store=store)  # the default again: refused again
        with pytest.raises(DefaultPinError):
            pair(card, tpm, DEFAULT_PIN, pcrs=(7,), store=PairingStore(store.directory / "x"))
        change_pin(card, DEFAULT_PIN, PIN, store=store)
    finally:
        if isinstance(connection, PcscConnection):
            _restore_shared_card(connection, request)


def test_unpaired_host(link: Connection, tpm: Tpm, store: PairingStore) -> None:
    with pytest.raises(NotPairedError, match="tpmcard pair"):
        open_session(link, tpm, store)
    with pytest.raises(NotPairedError, match="tpmcard pair"):
        tpmcard.connect(connection=link, tpm=tpm, store=store, card_id="00" * 16)


def test_wrong_card(
    link: Connection,
    tpm: Tpm,
    store: PairingStore,
    record: PairingRecord,
    other_card: Connection,
) -> None:
    second_id = Card(other_card).info.card_id
    assert second_id != record.card_id
    with pytest.raises(WrongCardError) as info:
        open_session(other_card, tpm, store)
    assert info.value.card_id == second_id and info.value.expected == (record.card_id,)
    with pytest.raises(WrongCardError):  # asked for the paired card, got the other one
        connect(connection=other_card, tpm=tpm, store=store, card_id=record.card_id)
    with pytest.raises(NotPairedError):  # asked for the other card: this host is not paired
        connect(connection=other_card, tpm=tpm, store=store, card_id=second_id)

    # A card that answers the paired card's id but holds another identity key: it cannot make
    # the paired card's key confirmation (modelled by altering it), and shows its own key.
    impostor_point = point_bytes(ec.generate_private_key(ec.SECP256R1()).public_key())
    interposer = Interposer(link)

    def impostor(apdu: bytes, rsp: bytes) -> bytes:
        if apdu[1] == C.INS_GET_DATA:
            return bytes.fromhex("7F49438641") + impostor_point + rsp[-2:]
        if apdu[1] == C.INS_SESSION_INIT and rsp[-2:] == b"\x90\x00":
            return rsp[:-3] + bytes((rsp[-3] ^ 1,)) + rsp[-2:]  # last byte of the confirmation
        return rsp

    interposer.on_response = impostor
    with pytest.raises(WrongCardError, match="identity key"):
        open_session(interposer, tpm, store)
    # The pinned key altered in the record (same card id): refused as well.
    path = store.path(record.card_id)
    data = json.loads(path.read_text())
    data["pairing"]["card_identity"] = impostor_point.hex()
    data["card_id"] = hashlib.sha256(impostor_point).digest()[:16].hex()
    path.write_text(json.dumps(data))
    with pytest.raises(WrongCardError):
        open_session(link, tpm, store)


def test_removed_pairing(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord, tmp_path: Path
) -> None:
    card = Card(link)
    identity = record.pairing.card_identity
    channel.unpair(card.apdu.send_apdu, identity, PIN, record.slot)  # "from another host"
    with pytest.raises(PairingRemovedError, match="pair --replace") as info:
        open_session(link, tpm, store)
    assert info.value.slot == record.slot
    # The slot taken by another host since: the card answers, but as another pairing.
    other = pair(card, tpm, PIN, pcrs=(7,), store=PairingStore(tmp_path / "other host"))
    assert other.record.slot == record.slot
    with pytest.raises(PairingRemovedError):
        open_session(link, tpm, store)
    # unpair --this-host finds the record stale and forgets it.
    with pytest.raises(PairingRemovedError):
        unpair(card, PIN, store=store)
    assert store.load(record.card_id) is None
    with pytest.raises(NotPairedError):
        open_session(link, tpm, store)


def test_unpair_this_host(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    card = Card(link)
    with pytest.raises(InvalidPinError) as info:
        unpair(card, "000000", store=store)
    assert info.value.attempts_remaining == 2
    assert unpair(card, PIN, store=store) == record.slot
    assert store.load(record.card_id) is None
    assert channel.list_pairings(card.apdu.send_apdu).slots == ()
    assert pin_status(card).pin_tries == C.PIN_TRY_LIMIT  # the right PIN reset the counter


def test_wrong_pin_lockout_and_unblock(link: Connection, tpm: Tpm, store: PairingStore) -> None:
    card = Card(link)
    for left in (2, 1):
        with pytest.raises(InvalidPinError) as info:
            pair(card, tpm, "000000", pcrs=(7,), store=store)
        assert info.value.attempts_remaining == left
        assert f"{left} tries left" in str(info.value)
    link.reset()  # the counter is persistent: a reset gives no try back
    card = Card(link)
    assert pin_status(card).pin_tries == 1
    with pytest.raises(PinBlockedError):
        pair(card, tpm, "000000", pcrs=(7,), store=store)
    with pytest.raises(PinBlockedError, match="unblock"):
        pair(card, tpm, PIN, pcrs=(7,), store=store)  # even the right PIN
    status = pin_status(card)
    assert (status.pin_tries, status.puk_tries) == (0, C.PUK_TRY_LIMIT)
    with pytest.raises(InvalidPinError) as info:
        unblock_pin(card, "00000000", "24680", store=store)
    assert info.value.attempts_remaining == C.PUK_TRY_LIMIT - 1
    unblock_pin(card, PUK, "24680", store=store)
    status = pin_status(card)
    assert (status.pin_tries, status.puk_tries) == (C.PIN_TRY_LIMIT, C.PUK_TRY_LIMIT)
    assert pair(card, tpm, "24680", pcrs=(7,), store=store).record.slot == 0
    tpmcard.services.pins.change_pin(card, "24680", PIN, store=store)
    with open_session(link, tpm, store) as session:
        assert session.core.echo(b"unblocked") == b"unblocked"


def test_quote_signed_by_another_ak(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    stranger = tpm.create_attestation_key()  # a genuine TPM key, but not the paired AK

    class OtherAk:
        def __init__(self, inner: Tpm) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def quote(self, ak: Any, pcrs: Any, nonce: bytes) -> Any:
            return self.inner.quote(stranger, pcrs, nonce)

    with pytest.raises(SessionRefusedError):
        open_session(link, tpm, store, wrap_tpm=OtherAk)
    raw_protected_echo_is_refused(link, bytes.fromhex("84EE000008") + bytes(8))


def test_stale_quote_is_refused(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    captured: list[Any] = []

    class Recording:
        def __init__(self, inner: Tpm) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def quote(self, ak: Any, pcrs: Any, nonce: bytes) -> Any:
            if captured:
                return captured[0]  # the old quote, over the old nonce
            captured.append(self.inner.quote(ak, pcrs, nonce))
            return captured[0]

    open_session(link, tpm, store, wrap_tpm=Recording).close()
    with pytest.raises(SessionRefusedError):
        open_session(link, tpm, store, wrap_tpm=Recording)


def test_full_table_and_duplicate(
    link: Connection, tpm: Tpm, tmp_path: Path, attestation: TestAttestation
) -> None:
    card = Card(link)
    stores = [PairingStore(tmp_path / f"host{i}") for i in range(C.PAIRING_SLOTS + 1)]
    for i in range(C.PAIRING_SLOTS):
        assert pair(card, tpm, PIN, pcrs=(7,), store=stores[i]).record.slot == i
    with pytest.raises(ChannelError, match="table is full"):
        pair(card, tpm, PIN, pcrs=(7,), store=stores[-1])
    assert unpair(card, PIN, 3, store=stores[0]) == 3
    first = stores[0].load(card.info.card_id)
    assert first is not None
    same_key = TpmBinding(
        tpm,
        BindingKey.from_blob(first.binding_key),
        first.attestation_key,
        ak_certificate=attestation.enrollment.certificate.encoded,
    )
    with pytest.raises(AlreadyPairedError, match="already paired"):  # one slot per binding key
        channel.pair(card.apdu.send_apdu, same_key, first.pairing.card_identity, PIN, first.policy)
    assert stores[3].load(card.info.card_id) is not None  # another host's record: not ours
    assert pair(card, tpm, PIN, pcrs=(7,), store=stores[-1]).record.slot == 3
    for i in (0, 7, 8):
        with open_session(link, tpm, stores[i]) as session:
            assert session.slot == (3 if i == 8 else i)


# --- issue 11: the AK rooted in a genuine TPM (docs/binding.md §8), resettable PCRs ---------------


def _unit_test_helpers() -> Any:
    """tests/unit/fake_tpm.py: a software "TPM" (hand-made TPMT_PUBLIC and TPMS_ATTEST)."""
    import sys

    unit = str(Path(__file__).resolve().parent.parent / "unit")
    if unit not in sys.path:
        sys.path.insert(0, unit)
    import fake_tpm

    return fake_tpm


def _fresh_card(link: Connection, request: pytest.FixtureRequest) -> Connection:
    """A card never personalised: in-process a new one; over PC/SC the shared card made fresh."""
    if isinstance(link, JCardSimConnection):
        directory = request.getfixturevalue("tmp_path") / "fresh-card"
        fresh = JCardSimConnection(directory, purpose="pytest fresh card")
        request.addfinalizer(fresh.close)
        return fresh
    stack = request.getfixturevalue("pcsc_stack")
    stack.restart_card(fresh=True)
    fresh_link = PcscConnection(stack.reader)
    request.addfinalizer(fresh_link.close)
    fresh_link.reset()
    return fresh_link


def test_card_without_ca_key_refuses_pair_and_ca_key_rules(
    link: Connection, tpm: Tpm, store: PairingStore, request: pytest.FixtureRequest,
    attestation: TestAttestation,
) -> None:  # fmt: skip
    from tpmcard.errors import CardNotPersonalisedError
    from tpmcard.services.pins import install_attestation_ca

    fresh = _fresh_card(link, request)
    card = Card(fresh)
    personalise(card, PIN, PUK, store=NO_STORE)  # the PIN rule first (issue 11, finding 4)
    with pytest.raises(CardNotPersonalisedError, match="tpmcard ca install"):
        pair(card, tpm, PIN, pcrs=(7,), store=store, enrollment=attestation.enrollment)
    assert channel.list_pairings(card.apdu.send_apdu).slots == ()
    # Personalisation with the PIN; a second key with the PIN is refused before the PIN is tried.
    other_ca = ec.generate_private_key(ec.SECP256R1())
    install_attestation_ca(card, PIN, ca_point=attestation.ca.public_point, store=store)
    with pytest.raises(ChannelError, match="only the PUK"):
        install_attestation_ca(card, PIN, ca_point=point_bytes(other_ca.public_key()))
    assert pin_status(card).pin_tries == C.PIN_TRY_LIMIT
    with pytest.raises(InvalidPinError):
        install_attestation_ca(
            card, "00000000", use_puk=True, ca_point=point_bytes(other_ca.public_key())
        )
    assert pin_status(card).puk_tries == C.PUK_TRY_LIMIT - 1
    # The PUK replaces it: now the genuine enrolment's certificate is another CA's to the card.
    install_attestation_ca(card, PUK, use_puk=True, ca_point=point_bytes(other_ca.public_key()))
    from tpmcard.errors import AkCertificateRefusedError

    with pytest.raises(AkCertificateRefusedError):
        pair(card, tpm, PIN, pcrs=(7,), store=store, enrollment=attestation.enrollment)
    install_attestation_ca(card, PUK, use_puk=True, ca_point=attestation.ca.public_point)
    assert pin_status(card).puk_tries == C.PUK_TRY_LIMIT  # the right PUK restored the counter
    pair(card, tpm, PIN, pcrs=(7,), store=store, enrollment=attestation.enrollment)
    if isinstance(fresh, PcscConnection):
        _restore_shared_card(fresh, request)


@pytest.mark.parametrize("forgery", ["own CA", "stolen certificate", "stolen AK public"])
def test_host_without_a_tpm_cannot_pair(
    link: Connection, tpm: Tpm, attestation: TestAttestation, forgery: str
) -> None:
    """Finding 1 of issue 11: a host with no TPM builds TPMT_PUBLIC and TPMS_ATTEST by hand
    (tests/unit/fake_tpm.py), claiming the golden PCR values. Its AK has no certificate from the
    card's CA: it signs one with its own CA, or presents another host's (public) certificate, or
    presents the genuine AK's public area and certificate but cannot make that AK sign."""
    from tpmcard.errors import AkCertificateRefusedError

    fake_tpm = _unit_test_helpers()
    golden = {i: bytes(32) for i in range(24)}
    forger = fake_tpm.FakeTpm(
        golden, (0, 1, 2, 3, 4, 5, 6, 7), ca=ec.generate_private_key(ec.SECP256R1())
    )
    genuine_certificate = attestation.enrollment.certificate.encoded
    genuine_ak_public = bytes(attestation.enrollment.attestation_key.public_area.raw)
    if forgery == "stolen certificate":
        forger.ak_certificate = lambda: genuine_certificate  # type: ignore[method-assign]
    elif forgery == "stolen AK public":
        forger.ak_certificate = lambda: genuine_certificate  # type: ignore[method-assign]
        forger.ak_public = lambda: genuine_ak_public  # type: ignore[method-assign]
    card = Card(link)
    identity = point_bytes(card.core.identity_key())
    policy = channel.PcrPolicy(forger.policy_pcrs, forger.policy_pcr_digest)
    expected: type[Exception] = (
        ApduError if forgery == "stolen AK public" else AkCertificateRefusedError
    )
    with pytest.raises(expected) as info:
        channel.pair(card.apdu.send_apdu, forger, identity, PIN, policy)
    if forgery == "stolen AK public":  # the Certify is not the certified AK's signature
        assert isinstance(info.value, ApduError) and info.value.sw == 0x6A80
    assert channel.list_pairings(card.apdu.send_apdu).slots == ()


def test_ak_certificate_of_another_ca_or_tampered_is_refused(
    link: Connection, tpm: Tpm, store: PairingStore, attestation: TestAttestation
) -> None:
    from tpmcard.errors import AkCertificateRefusedError
    from tpmcard.services.attestation import (
        AkCertificate,
        AttestationCa,
        Enrollment,
        enroll,
        load_ek_roots,
    )

    card = Card(link)
    # A genuine TPM, enrolled with another CA (same EK roots): not the card's CA.
    other = AttestationCa(
        ec.generate_private_key(ec.SECP256R1()), load_ek_roots(attestation.ek_roots)
    )
    foreign = enroll(tpm, other, attestation.enrollment.attestation_key)
    with pytest.raises(AkCertificateRefusedError):
        pair(card, tpm, PIN, pcrs=(7,), store=store, enrollment=foreign)
    # The right CA's certificate with one bit changed: in the signed part, or in the signature.
    genuine = attestation.enrollment.certificate
    for position in (8, len(genuine.signed) - 1, len(genuine.encoded) - 5):
        tampered = bytearray(genuine.encoded)
        tampered[position] ^= 0x01
        try:
            certificate = AkCertificate.parse(bytes(tampered))
        except TpmcardError:
            continue  # the host already refuses to parse it
        forged = Enrollment(attestation.enrollment.attestation_key, certificate)
        with pytest.raises((AkCertificateRefusedError, ApduError)):
            pair(card, tpm, PIN, pcrs=(7,), store=store, enrollment=forged)
    assert channel.list_pairings(card.apdu.send_apdu).slots == ()
    assert pin_status(card).pin_tries == C.PIN_TRY_LIMIT  # refused before the PIN


def test_tpm_whose_ek_chains_to_no_configured_root_cannot_enroll(
    tpm: Tpm, attestation: TestAttestation, tmp_path: Path
) -> None:
    """Another swtpm, manufactured by another swtpm-localca: a TPM of an untrusted maker."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from tpmcard.errors import CredentialActivationError, EkCertificateError
    from tpmcard.services.attestation import enroll, load_ek_roots, verify_ek_certificate
    from tpmcard.tpm.swtpm import Swtpm

    with Swtpm(tmp_path / "untrusted") as untrusted, Tpm.open(untrusted.tcti) as other_tpm:
        with pytest.raises(EkCertificateError, match="does not chain"):
            enroll(other_tpm, attestation.ca)
        # That TPM presenting the trusted TPM's (public) EK certificate: activation fails.
        genuine_ek = tpm.read_ek_certificate()

        class Borrowed:
            def __getattr__(self, name: str) -> Any:
                return getattr(other_tpm, name)

            def read_ek_certificate(self) -> bytes:
                return genuine_ek

        with pytest.raises(CredentialActivationError):
            enroll(Borrowed(), attestation.ca)
        assert other_tpm.transient_handles() == [] and other_tpm.session_handles() == []
    # A self-made EK certificate whose issuer only copies the trusted issuer's name.
    roots = load_ek_roots(attestation.ek_roots)
    issuer_name = x509.load_pem_x509_certificate(
        attestation.ek_roots.joinpath("issuercert.pem").read_bytes()
    ).subject
    forger = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer_name)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(forger, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    with pytest.raises(EkCertificateError):
        verify_ek_certificate(forged.public_bytes(Encoding.DER), roots)
    verify_ek_certificate(tpm.read_ek_certificate(), roots)  # the genuine one chains


def test_resettable_pcrs_are_refused_by_host_and_card(
    link: Connection, tpm: Tpm, store: PairingStore, attestation: TestAttestation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tpmcard.errors import PcrPolicyError

    card = Card(link)
    for pcrs in ((7, 16), (23,), (0, 1, 23)):
        with pytest.raises(PcrPolicyError, match="reset"):
            pair(card, tpm, PIN, pcrs=pcrs, store=store)
    # A host that skips its own check: the card refuses (6A80) before the PIN.
    monkeypatch.setattr("tpmcard.channel.pairing.check_pairing_pcrs", lambda pcrs: None)
    key = tpm.create_binding_key((7, 16))
    host = TpmBinding(
        tpm,
        key,
        attestation.enrollment.attestation_key,
        ak_certificate=attestation.enrollment.certificate.encoded,
    )
    identity = point_bytes(card.core.identity_key())
    with pytest.raises(ApduError) as info:
        channel.pair(card.apdu.send_apdu, host, identity, PIN, host.policy)
    assert info.value.sw == 0x6A80
    assert pin_status(card).pin_tries == C.PIN_TRY_LIMIT


def test_pcr_8_is_the_tpms_measurement_not_a_claim(
    link: Connection, tpm: Tpm, store: PairingStore, record: PairingRecord
) -> None:
    """The quote of the certified AK covers PCRs 0-8: a host that reports another PCR 8 value
    than the one the TPM quoted is refused; the session's PCR 8 is the TPM's."""
    tpm.pcr_extend(8, hashlib.sha256(b"a kernel").digest())
    with open_session(link, tpm, store) as session:
        assert session.host_pcrs[8] == tpm.pcr_read([8])[8]

    class ClaimsPcr8:
        def __init__(self, inner: Tpm) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def quote(self, ak: Any, pcrs: Any, nonce: bytes) -> Any:
            quote = self.inner.quote(ak, pcrs, nonce)
            values = dict(quote.pcr_values)
            values[8] = bytes(32)
            return dataclasses.replace(quote, pcr_values=values)

    with pytest.raises(SessionRefusedError):
        open_session(link, tpm, store, wrap_tpm=ClaimsPcr8)
