"""Pairing, PIN management and the session handshake, host library against the card model
(docs/binding.md). The first tests replay binding.json exactly; the rest are flows and attacks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from binding_vectors import card as vector_card
from binding_vectors import h, load, private
from binding_vectors import tpm as vector_tpm
from card_model import CardModel, Slot
from cryptography.hazmat.primitives.asymmetric import ec
from fake_tpm import BINDING_ATTRIBUTES, USER_WITH_AUTH, FakeTpm
from tpmcard import constants as C
from tpmcard.apdu import CheckedProcessor
from tpmcard.channel import (
    Pairing,
    PcrPolicy,
    change_pin,
    change_puk,
    list_pairings,
    open_session,
    pair,
    pin_status,
    unblock_pin,
    unpair,
)
from tpmcard.errors import (
    AlreadyPairedError,
    ApduError,
    ChannelError,
    InvalidPinError,
    PairingTableFullError,
    PinBlockedError,
    ProtocolError,
    TpmError,
    TpmPolicyError,
)
from tpmcard.tpm_structures import CLOCK_INFO_LENGTH, ClockInfo, attest_clock_info

V = load()


class Recorder(CheckedProcessor):
    """A processor that logs every command and response on the way to the card model."""

    def __init__(
        self, model: CardModel, tamper: Callable[[int, int, bytes], bytes] | None = None
    ) -> None:
        self.model = model
        self.log: list[tuple[int, int, int, int, bytes, bytes]] = []
        self.tamper = tamper

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0
    ) -> tuple[bytes, int]:
        if self.tamper:
            data = self.tamper(ins, 0, data)
        out, sw = self.model.send(cla, ins, p1, p2, data, le)
        if sw == 0x9000:
            self.log.append((cla, ins, p1, p2, data, out))
        return (self.tamper(ins, 1, out) if self.tamper and sw == 0x9000 else out), sw


def vector_policy() -> PcrPolicy:
    t = V["tpm"]
    return PcrPolicy(tuple(t["policy_pcrs"]), h(t["policy_pcr_digest"]))


def occupy(model: CardModel, count: int) -> None:
    """Fill the first slots so that the pairing lands in the vector's slot."""
    for i in range(count):
        model.slots[i] = Slot(bytes([i]) * 34, b"", b"", bytes(3), 0, bytes(32), bytes(32))


def paired_vector_card() -> tuple[CardModel, Pairing]:
    p = V["pairing"]
    model = vector_card(
        [h(p["challenge"]), h(p["challenge"])], [private(V["session"]["card_ephemeral_private"])]
    )
    occupy(model, p["slot"])
    link = Recorder(model)
    pairing = pair(
        link,
        vector_tpm(),
        model.identity_point,
        p["pin"],
        vector_policy(),
        ephemeral=private(p["pin_ephemeral_private"]),
    )
    for i in range(p["slot"]):
        model.slots[i] = None
    return model, pairing


def test_pair_produces_the_vector_command_and_answer() -> None:
    p = V["pairing"]
    model = vector_card([h(p["challenge"])])
    occupy(model, p["slot"])
    link = Recorder(model)
    pairing = pair(
        link,
        vector_tpm(),
        model.identity_point,
        p["pin"],
        vector_policy(),
        ephemeral=private(p["pin_ephemeral_private"]),
    )
    (_, ins0, *_), (cla, ins, p1, p2, data, out) = link.log[0][:2], link.log[1]
    assert ins0 == C.INS_GET_CHALLENGE
    assert (cla, ins, p1, p2) == (0x80, C.INS_PAIR, 0, 0)
    assert data.hex() == p["command"]["data"]
    assert out.hex() == p["response_data"]
    assert pairing.slot == p["slot"]
    assert pairing.binding_name.hex() == V["tpm"]["binding_name"]
    assert model.slots[2].secret.hex() == p["pairing_secret"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name,call",
    [
        ("change_pin", lambda link, ident: change_pin(link, ident, "123456", "24680135")),
        ("unblock_pin", lambda link, ident: unblock_pin(link, ident, "12345678", "9999")),
    ],
)
def test_pin_commands_produce_the_vector_bytes(
    name: str, call: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = V[name]
    model = vector_card([h(case["challenge"])])
    link = Recorder(model)
    eph = private(case["pin_ephemeral_private"])
    monkeypatch.setattr(ec, "generate_private_key", lambda curve: eph)
    call(link, model.identity_point)
    _, ins, p1, p2, data, out = link.log[1]
    assert (ins, p1, p2) == (case["command"]["ins"], case["command"]["p1"], case["command"]["p2"])
    assert data.hex() == case["command"]["data"]
    assert out.hex() == "cd10" + case["receipt"]


def test_session_produces_the_vector_handshake_and_secure_messaging() -> None:
    s = V["session"]
    model, pairing = paired_vector_card()
    link = Recorder(model)
    session = open_session(
        link, vector_tpm(), pairing, ephemeral=private(s["host_ephemeral_private"])
    )
    init, auth = link.log[0], link.log[1]
    assert (init[1], init[2]) == (C.INS_SESSION_INIT, s["slot"])
    assert init[4].hex() == s["init_command"]["data"] and init[5].hex() == s["init_response"]
    assert auth[4].hex() == s["auth_command"]["data"] and auth[5].hex() == s["auth_response"]
    assert model.session is not None
    assert model.session.pcrs == {i: h(V["tpm"]["pcr_values"][str(i)]) for i in range(9)}
    # the quote's clock: kept by the card for its services, known to the host session
    assert session.clock is not None and session.clock.marshal() == model.session.clock
    assert len(model.session.clock) == CLOCK_INFO_LENGTH
    assert ClockInfo.parse(model.session.clock) == attest_clock_info(
        bytes.fromhex(s["quote_attest"])
    )
    # the session's first protected exchanges are the secure-messaging vector's
    for step in V["secure_messaging"]["steps"][:4]:
        c = step["command"]
        model.dispatch = _scripted(step)  # type: ignore[method-assign]
        if step["response"]["sw"] == 0x9000:
            out = session.send_apdu(c["cla"], c["ins"], c["p1"], c["p2"], h(c["data"]))
            assert out.hex() == step["response"]["data"]
        else:
            with pytest.raises(ApduError) as info:
                session.send_apdu(c["cla"], c["ins"], c["p1"], c["p2"], h(c["data"]))
            assert info.value.sw == step["response"]["sw"]
        assert link.log[-1][4].hex() == step["wrapped_command"]["data"]
        assert link.log[-1][5].hex() == step["wrapped_response"]


def _scripted(step: dict[str, Any]) -> Callable[..., bytes]:
    from card_model import CardError

    def dispatch(cla: int, ins: int, p1: int, p2: int, data: bytes, *rest: object) -> bytes:
        assert data.hex() == step["command"]["data"]
        if step["response"]["sw"] != 0x9000:
            raise CardError(step["response"]["sw"])
        return h(step["response"]["data"])

    return dispatch


# --- flows -------------------------------------------------------------------------------------
PCRS = {i: hashlib.sha256(b"boot %d" % i).digest() for i in range(24)}


def fresh(policy_pcrs: tuple[int, ...] = (7,), **kw: Any) -> tuple[CardModel, FakeTpm, PcrPolicy]:
    tpm = FakeTpm(PCRS, policy_pcrs, **kw)
    policy = PcrPolicy.from_values(tpm.pcrs, policy_pcrs, kw.get("with_auth_value", False))
    return CardModel(), tpm, policy


@pytest.mark.parametrize("scheme", [(0x0010, None), (0x0019, 0x000B)], ids=["null", "ecdh"])
def test_pair_list_session_unpair(scheme: tuple[int, int | None]) -> None:
    card, tpm, policy = fresh((0, 7, 14), with_auth_value=True, binding_scheme=scheme)
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    table = list_pairings(card.send_apdu)
    assert table.capacity == C.PAIRING_SLOTS
    assert [(s.slot, s.binding_name, s.policy) for s in table.slots] == [
        (pairing.slot, tpm.binding_name, policy)
    ]
    assert Pairing.from_dict(pairing.to_dict()) == pairing
    with open_session(card, tpm, pairing) as session:
        assert session.send_apdu(0x80, 0xEE, 0, 0, b"ping") == b"ping"
        assert set(session.pcr_values) == set(range(9)) | {14}
        # inside the session, every command is protected, including GET DATA
        assert session.send_apdu(0x00, 0xCA, 0x7F, 0x49).endswith(card.identity_point)
    assert card.session is None  # SESSION CLOSE reached the card
    unpair(card.send_apdu, card.identity_point, "123456", pairing.slot)
    assert list_pairings(card.send_apdu).slots == ()
    with pytest.raises(ChannelError, match="refused the session"):
        open_session(card, tpm, pairing)


def test_table_holds_at_least_four_hosts_and_reports_full() -> None:
    card = CardModel()
    for i in range(C.PAIRING_SLOTS):
        tpm = FakeTpm(PCRS, (7,))
        assert (
            pair(
                card.send_apdu,
                tpm,
                card.identity_point,
                "123456",
                PcrPolicy.from_values(tpm.pcrs, (7,)),
            ).slot
            == i
        )
    tpm = FakeTpm(PCRS, (7,))
    with pytest.raises(PairingTableFullError):
        pair(
            card.send_apdu,
            tpm,
            card.identity_point,
            "123456",
            PcrPolicy.from_values(tpm.pcrs, (7,)),
        )
    assert card.pin.tries == 3  # refused before the PIN was looked at


def test_pairing_the_same_key_twice_is_refused() -> None:
    card, tpm, policy = fresh()
    pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    with pytest.raises(AlreadyPairedError):
        pair(card.send_apdu, tpm, card.identity_point, "123456", policy)


def test_wrong_pin_counts_down_blocks_and_survives_reset() -> None:
    card, tpm, policy = fresh()
    for left in (2, 1):
        with pytest.raises(InvalidPinError) as info:
            pair(card.send_apdu, tpm, card.identity_point, "000000", policy)
        assert info.value.attempts_remaining == left
    card.reset()
    assert pin_status(card.send_apdu) == 1
    with pytest.raises(PinBlockedError):
        pair(card.send_apdu, tpm, card.identity_point, "000000", policy)
    card.reset()
    with pytest.raises(PinBlockedError):  # even the right PIN now
        pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    assert pin_status(card.send_apdu) == 0
    with pytest.raises(InvalidPinError) as info:
        unblock_pin(card.send_apdu, card.identity_point, "87654321", "4321")
    assert info.value.attempts_remaining == 4
    unblock_pin(card.send_apdu, card.identity_point, "12345678", "4321")
    assert pin_status(card.send_apdu) == 3 and pin_status(card.send_apdu, C.P2_PUK) == 5
    assert pair(card.send_apdu, tpm, card.identity_point, "4321", policy).slot == 0


def test_change_pin_and_puk() -> None:
    card, tpm, policy = fresh()
    change_pin(card.send_apdu, card.identity_point, "123456", "654321")
    change_puk(card.send_apdu, card.identity_point, "12345678", "87654321")
    with pytest.raises(InvalidPinError):
        pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    pair(card.send_apdu, tpm, card.identity_point, "654321", policy)
    unblock_pin(card.send_apdu, card.identity_point, "87654321", "1111")
    with pytest.raises(ValueError):
        change_pin(card.send_apdu, card.identity_point, "1111", "12")


def test_the_pin_travels_encrypted() -> None:
    card, tpm, policy = fresh()
    link = Recorder(card)
    change_pin(link, card.identity_point, "123456", "pin-7351")
    pair(link, tpm, card.identity_point, "pin-7351", policy)
    assert len(link.log) == 4
    assert all(b"123456" not in data and b"pin-7351" not in data for *_, data, _out in link.log)


def test_pin_cryptogram_for_a_substituted_card_key_is_refused() -> None:
    """A bus attacker who swaps the identity key the host reads gets a cryptogram it can
    decrypt, but the real card refuses it and the host gets no valid receipt."""
    card, tpm, policy = fresh()
    impostor = ec.generate_private_key(ec.SECP256R1())
    from tpmcard.ecpoint import point_bytes

    with pytest.raises(ChannelError, match="refused the encrypted PIN"):
        pair(card.send_apdu, tpm, point_bytes(impostor), "123456", policy)
    assert card.pin.tries == 3


@pytest.mark.parametrize("where", ["context", "cryptogram", "ephemeral"])
def test_altered_pair_command_is_refused_without_using_a_try(where: str) -> None:
    card, tpm, policy = fresh()

    def tamper(ins: int, direction: int, data: bytes) -> bytes:
        if ins != C.INS_PAIR or direction:
            return data
        b = bytearray(data)
        index = {
            "context": 300,
            "cryptogram": len(b) - 20,
            "ephemeral": data.rfind(b"\xc9\x41") + 40,
        }
        b[index[where]] ^= 1
        return bytes(b)

    with pytest.raises((ChannelError, ApduError)):
        pair(Recorder(card, tamper), tpm, card.identity_point, "123456", policy)
    assert card.pin.tries == 3 and all(s is None for s in card.slots)


def test_replayed_pair_command_is_refused() -> None:
    """The challenge is single-use: a recorded PAIR (say, of a host unpaired since) fails."""
    card, tpm, policy = fresh()
    link = Recorder(card)
    pairing = pair(link, tpm, card.identity_point, "123456", policy)
    unpair(card.send_apdu, card.identity_point, "123456", pairing.slot)
    cla, ins, p1, p2, data, _ = link.log[1]
    with pytest.raises(ApduError) as info:  # no challenge outstanding
        card.send_apdu(cla, ins, p1, p2, data)
    assert info.value.sw == C.SW_SECURITY_STATUS_NOT_SATISFIED
    card.send_apdu(0x00, C.INS_GET_CHALLENGE, 0, 0)  # a fresh, different challenge
    with pytest.raises(ApduError) as info:  # the certification is over the old one
        card.send_apdu(cla, ins, p1, p2, data)
    assert info.value.sw == 0x6A80
    assert card.pin.tries == 3 and all(s is None for s in card.slots)


def test_binding_key_usable_with_auth_value_alone_is_refused_by_host_and_card() -> None:
    card, tpm, policy = fresh(binding_attributes=BINDING_ATTRIBUTES | USER_WITH_AUTH)
    with pytest.raises(TpmError, match="userWithAuth"):
        pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    # a host that skips its own check still meets the card's
    from tpmcard.channel import pairing

    original = pairing._checked_binding_public
    pairing._checked_binding_public = lambda raw, pol: pairing.PublicArea.parse(raw)  # type: ignore[assignment]
    try:
        with pytest.raises(ApduError) as info:
            pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    finally:
        pairing._checked_binding_public = original  # type: ignore[assignment]
    assert info.value.sw == 0x6A80


def test_host_in_another_pcr_state_cannot_open_a_session() -> None:
    card, tpm, policy = fresh((7,))
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    tpm.extend(7, b"unsigned kernel")
    with pytest.raises(TpmPolicyError):
        open_session(card, tpm, pairing)
    assert card.session is None


def test_changed_boot_pcr_outside_the_policy_is_reported_in_the_session() -> None:
    card, tpm, policy = fresh((7,))
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    tpm.extend(4, b"another boot loader")
    with open_session(card, tpm, pairing) as session:
        assert session.pcr_values[4] == tpm.pcrs[4]
        assert card.session is not None and card.session.pcrs[4] == tpm.pcrs[4]


def test_card_refuses_a_quote_whose_policy_pcrs_differ() -> None:
    """A host that lies to its own pre-check: the card recomputes the policy digest itself."""
    card, tpm, policy = fresh((7,))
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    real_quote = tpm.quote

    def lying_quote(nonce: bytes, pcrs: Any) -> Any:
        saved = tpm.pcrs[7]
        tpm.pcrs[7] = bytes(32)
        try:
            return real_quote(nonce, pcrs)
        finally:
            tpm.pcrs[7] = saved

    tpm.quote = lying_quote  # type: ignore[method-assign]
    with pytest.raises(ChannelError):
        open_session(card, tpm, pairing)
    forged = Pairing(
        pairing.slot,
        pairing.card_identity,
        pairing.binding_name,
        PcrPolicy((7,), hashlib.sha256(bytes(32)).digest()),
    )
    with pytest.raises(ChannelError, match="refused the session"):
        open_session(card, tpm, forged)
    assert card.session is None


def test_quote_by_another_ak_is_refused() -> None:
    card, tpm, policy = fresh((7,))
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    tpm.ak = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ChannelError, match="refused the session"):
        open_session(card, tpm, pairing)


def test_another_card_fails_key_confirmation() -> None:
    card, tpm, policy = fresh()
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    other = CardModel()
    other.slots = card.slots  # even with a copy of the pairing table, not the identity key
    with pytest.raises(ChannelError, match="key confirmation"):
        open_session(other, tpm, pairing)


@pytest.mark.parametrize(
    "ins,direction",
    [
        (C.INS_SESSION_INIT, 0),
        (C.INS_SESSION_INIT, 1),
        (C.INS_SESSION_AUTH, 0),
        (C.INS_SESSION_AUTH, 1),
    ],
)
def test_any_bit_flip_in_the_handshake_fails(ins: int, direction: int) -> None:
    card, tpm, policy = fresh()
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)

    def tamper(i: int, d: int, data: bytes) -> bytes:
        if (i, d) != (ins, direction):
            return data
        b = bytearray(data)
        b[len(b) // 2] ^= 0x04
        return bytes(b)

    with pytest.raises((ChannelError, ProtocolError)):
        open_session(Recorder(card, tamper), tpm, pairing)
    assert card.session is None or (ins, direction) == (C.INS_SESSION_AUTH, 1)


def test_session_auth_must_follow_session_init_directly() -> None:
    card, tpm, policy = fresh()
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)

    def interleave(ins: int, direction: int, data: bytes) -> bytes:
        if ins == C.INS_SESSION_AUTH and direction == 0:
            card.send_apdu(0x80, C.INS_LIST_PAIRINGS, 0, 0)
        return data

    with pytest.raises(ChannelError):
        open_session(Recorder(card, interleave), tpm, pairing)


def test_unprotected_command_during_a_session_ends_it() -> None:
    card, tpm, policy = fresh()
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    session = open_session(card, tpm, pairing)
    with pytest.raises(ApduError) as info:
        card.send_apdu(0x80, C.INS_LIST_PAIRINGS, 0, 0)
    assert info.value.sw == C.SW_SECURITY_STATUS_NOT_SATISFIED
    with pytest.raises(ChannelError):
        session.send_apdu(0x80, 0xEE, 0, 0, b"x")
    session.close()


def test_reset_ends_the_session_and_a_new_one_opens() -> None:
    card, tpm, policy = fresh()
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    session = open_session(card, tpm, pairing)
    card.reset()
    with pytest.raises(ChannelError):
        session.send_apdu(0x80, 0xEE, 0, 0, b"x")
    with open_session(card, tpm, pairing) as again:
        assert again.send_apdu(0x80, 0xEE, 0, 0, b"y") == b"y"


def test_each_session_uses_the_tpm_twice() -> None:
    card, tpm, policy = fresh()
    pairing = pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    before = tpm.zgen_calls
    open_session(card, tpm, pairing).close()
    assert tpm.zgen_calls - before == 2


# --- issue 11: the attestation CA and resettable PCRs (docs/binding.md §3.3, §3.8, §8.1) --------


def test_pairing_needs_the_installed_cas_certificate_for_this_ak() -> None:
    from card_model import TEST_CA
    from tpmcard.channel import install_ca_key
    from tpmcard.ecpoint import point_bytes
    from tpmcard.errors import AkCertificateRefusedError, CardNotPersonalisedError

    unpersonalised = CardModel(ca_point=None)
    _, tpm, policy = fresh()
    with pytest.raises(CardNotPersonalisedError, match="tpmcard ca install"):
        pair(unpersonalised.send_apdu, tpm, unpersonalised.identity_point, "123456", policy)
    install_ca_key(
        unpersonalised.send_apdu,
        unpersonalised.identity_point,
        point_bytes(TEST_CA),
        "123456",
        use_puk=False,
    )
    with pytest.raises(ChannelError, match="only the PUK"):  # refused before the PIN
        install_ca_key(
            unpersonalised.send_apdu,
            unpersonalised.identity_point,
            point_bytes(TEST_CA),
            "000000",
            use_puk=False,
        )
    assert unpersonalised.pin.tries == 3
    pair(unpersonalised.send_apdu, tpm, unpersonalised.identity_point, "123456", policy)

    card, forger, policy = fresh(ca=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(AkCertificateRefusedError):
        pair(card.send_apdu, forger, card.identity_point, "123456", policy)
    _, genuine, _ = fresh()
    forger.ak_certificate = genuine.ak_certificate  # type: ignore[method-assign]
    with pytest.raises(AkCertificateRefusedError):  # another AK's certificate
        pair(card.send_apdu, forger, card.identity_point, "123456", policy)
    assert card.slots == [None] * C.PAIRING_SLOTS and card.pin.tries == 3


@pytest.mark.parametrize("pcrs", [(7, 16), (23,), (0, 16, 23)])
def test_resettable_pcrs_are_refused_by_host_and_card(
    pcrs: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tpmcard.errors import PcrPolicyError

    card, tpm, policy = fresh(pcrs)
    with pytest.raises(PcrPolicyError):
        pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    monkeypatch.setattr("tpmcard.channel.pairing.check_pairing_pcrs", lambda pcrs: None)
    with pytest.raises(ApduError) as info:
        pair(card.send_apdu, tpm, card.identity_point, "123456", policy)
    assert info.value.sw == 0x6A80 and card.pin.tries == 3
