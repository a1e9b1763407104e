"""Flexible sealing and unbinding (docs/flexible-sealing.md) end to end: host library -> secured
session -> CoreApplet INVOKE -> MtpmApplet, over both transports (sim and PC/SC), with host
PCR 0 from the handshake and card PCR 16 (resettable) as the configuration.

The card is the module's: the authority table (8 slots, permanent) is shared by the tests, so
each test uses its own authority and no test needs more than two slots."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.services.mtpm import MtpmError, MtpmSession, tpm2b_public
from tpmcard.services.mtpm_constants import (
    INS_REVOKE_APPROVALS,
    INS_SEAL_FLEXIBLE,
    INS_UNBIND,
    INS_UNSEAL_FLEXIBLE,
    SW_APPROVAL_REVOKED,
    SW_INCORRECT_P1P2,
    SW_OBJECT_INVALID,
    SW_POLICY_MISMATCH,
    SW_UNTRUSTED_AUTHORITY,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
)
from tpmcard.services.mtpm_flexible import (
    AnyOfPolicy,
    Authority,
    bind,
)
from tpmcard.tpm.attest import verify_certify

PCRS = [0, 16]
SECRET = b"disk key for the approved builds"


def _new_authority() -> Authority:
    return Authority(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def fresh16(mtpm: MtpmSession) -> Iterator[MtpmSession]:
    """PCR 16 reset before and after the test: its state is the test's own."""
    mtpm.pcr_reset(16)
    yield mtpm
    mtpm.pcr_reset(16)


def _state(mtpm: MtpmSession) -> dict[int, bytes]:
    return mtpm.pcr_read(PCRS)


def _next(state: dict[int, bytes], digest: bytes) -> dict[int, bytes]:
    return {**state, 16: hashlib.sha256(state[16] + digest).digest()}


def _sw(exc: pytest.ExceptionInfo[MtpmError]) -> int:
    return exc.value.sw


def test_any_of_opens_in_every_listed_state_and_no_other(fresh16: MtpmSession) -> None:
    mtpm = fresh16
    now = _state(mtpm)
    update = hashlib.sha256(b"update 2").digest()
    later = _next(now, update)
    other = _next(now, hashlib.sha256(b"not listed").digest())
    decoys = [hashlib.sha256(bytes([i])).digest() for i in range(20)]
    blob = mtpm.seal_any_of(SECRET, PCRS, [*decoys, now, later])  # 22 states: staged
    assert blob[0] == 0x02
    assert mtpm.unseal(blob) == SECRET
    mtpm.extend(16, update)
    assert mtpm.unseal_flexible(blob) == SECRET  # the second state of the group
    mtpm.pcr_reset(16)
    mtpm.extend(16, hashlib.sha256(b"not listed").digest())
    assert mtpm.pcr_read([16])[16] == other[16]
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob)
    assert _sw(err) == SW_POLICY_MISMATCH and err.value.reason == "policy"
    with pytest.raises(MtpmError) as err:
        mtpm.unseal(blob[:-1] + bytes([blob[-1] ^ 1]))  # altered MAC
    assert _sw(err) == SW_OBJECT_INVALID
    # The classic UNSEAL refuses a flexible blob (and migration never sees one).
    with pytest.raises(MtpmError) as err:
        mtpm._call(0x32, data=b"\x00" + blob)
    assert _sw(err) == SW_OBJECT_INVALID
    assert mtpm.pcr_read([16])[16] == other[16]  # the session survived every refusal


def test_authorized_opens_with_an_approval_of_the_current_state(fresh16: MtpmSession) -> None:
    mtpm = fresh16
    authority, stranger = _new_authority(), _new_authority()
    blob = mtpm.seal_authorized(SECRET, authority.point, b"vm-image")
    now = _state(mtpm)
    assert mtpm.unseal(blob, approval=authority.approve(PCRS, now, 1, b"vm-image")) == SECRET
    # A software update: a new approval opens the same blob, no re-seal.
    update = hashlib.sha256(b"kernel 6.2").digest()
    mtpm.extend(16, update)
    old = authority.approve(PCRS, now, 1, b"vm-image")
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob, old)  # approves the old configuration only
    assert _sw(err) == SW_POLICY_MISMATCH
    new = authority.approve(PCRS, _next(now, update), 1, b"vm-image")
    assert mtpm.unseal_flexible(blob, new) == SECRET
    # Another policyRef, another authority, no approval.
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob, authority.approve(PCRS, _next(now, update), 1, b"other"))
    assert _sw(err) == SW_POLICY_MISMATCH
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob, stranger.approve(PCRS, _next(now, update), 1, b"vm-image"))
    assert _sw(err) == SW_UNTRUSTED_AUTHORITY
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob)
    assert _sw(err) == SW_POLICY_MISMATCH
    assert mtpm.unseal_flexible(blob, new) == SECRET  # the session survived


def test_a_revoked_epoch_is_refused_and_the_floor_only_goes_up(fresh16: MtpmSession) -> None:
    mtpm = fresh16
    authority = _new_authority()
    blob = mtpm.seal_authorized(SECRET, authority.point)
    now = _state(mtpm)
    epoch1 = authority.approve(PCRS, now, 1)
    assert mtpm.unseal_flexible(blob, epoch1) == SECRET
    assert mtpm.revoke_approvals(authority.revoke(2)) == 2
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob, epoch1)
    assert _sw(err) == SW_APPROVAL_REVOKED
    assert mtpm.unseal_flexible(blob, authority.approve(PCRS, now, 2)) == SECRET
    assert mtpm.revoke_approvals(authority.revoke(1)) == 2  # never down
    with pytest.raises(MtpmError) as err:
        mtpm.unseal_flexible(blob, epoch1)
    assert _sw(err) == SW_APPROVAL_REVOKED
    # A revocation signed by someone else for this authority's key: refused, floor unchanged.
    forged = authority.revoke(9)
    other = _new_authority().revoke(9)
    with pytest.raises(MtpmError) as err:
        mtpm._call(INS_REVOKE_APPROVALS, data=forged.point + other.encode()[65:])
    assert _sw(err) == SW_POLICY_MISMATCH
    assert mtpm.unseal_flexible(blob, authority.approve(PCRS, now, 2)) == SECRET


def test_unbind_under_each_policy(fresh16: MtpmSession) -> None:
    mtpm = fresh16
    public = mtpm.bind_public()
    key = public.public_key()
    nonce = b"certify-bind-key"
    certification = mtpm.bind_certify(nonce)
    verify_certify(
        certification.attest,
        certification.signature_der,
        mtpm.ek_public().public_key(),
        nonce,
        tpm2b_public(public),
    )
    assert mtpm.unbind(bind(key, b"to the card, no policy")) == b"to the card, no policy"
    now = _state(mtpm)
    good = bind(key, SECRET, AnyOfPolicy.of(PCRS, [now]))
    assert mtpm.unbind(good) == SECRET
    authority = _new_authority()
    authorized = bind(key, SECRET, authority.policy(b"bind"))
    assert mtpm.unbind(authorized, authority.approve(PCRS, now, 0, b"bind")) == SECRET
    # Wrong policy: a state that is not the current one.
    wrong = bind(key, SECRET, AnyOfPolicy.of(PCRS, [_next(now, bytes(32))]))
    with pytest.raises(MtpmError) as err:
        mtpm.unbind(wrong)
    assert _sw(err) == SW_POLICY_MISMATCH
    # Tampered: the ciphertext, the MAC, the policy (made to match the current state).
    for at in (len(good) - 20, len(good) - 1):
        with pytest.raises(MtpmError) as err:
            mtpm.unbind(good[:at] + bytes([good[at] ^ 0x40]) + good[at + 1 :])
        assert _sw(err) == SW_OBJECT_INVALID
    digest_at = 75 + 4
    swapped = wrong[:digest_at] + AnyOfPolicy.of(PCRS, [now]).digests[0] + wrong[digest_at + 32 :]
    with pytest.raises(MtpmError) as err:
        mtpm.unbind(swapped)
    assert _sw(err) == SW_OBJECT_INVALID
    with pytest.raises(MtpmError) as err:
        mtpm.unbind(authorized, _new_authority().approve(PCRS, now, 0, b"bind"))
    assert _sw(err) == SW_UNTRUSTED_AUTHORITY
    assert mtpm.unbind(good) == SECRET  # the session survived


def test_bad_input_gets_its_status_word_and_the_session_survives(fresh16: MtpmSession) -> None:
    mtpm = fresh16
    now = _state(mtpm)
    policy = AnyOfPolicy.of(PCRS, [now]).encode()
    cases = [
        (INS_SEAL_FLEXIBLE, 0x00, policy + b"x", SW_INCORRECT_P1P2),
        (INS_SEAL_FLEXIBLE, 0x07, policy + b"x", SW_INCORRECT_P1P2),
        (INS_SEAL_FLEXIBLE, 0x01, policy, SW_WRONG_LENGTH),  # no secret
        (INS_SEAL_FLEXIBLE, 0x01, policy[:3] + b"\x00", SW_WRONG_DATA),  # zero states
        (INS_SEAL_FLEXIBLE, 0x01, b"\x00\x00\x00\x01" + bytes(32) + b"x", SW_WRONG_DATA),
        (INS_SEAL_FLEXIBLE, 0x01, policy + bytes(129), SW_WRONG_LENGTH),
        (INS_SEAL_FLEXIBLE, 0x02, bytes(32) + b"\x21" + bytes(33) + b"x", SW_WRONG_DATA),
        (INS_UNSEAL_FLEXIBLE, 0, b"\x00" + b"\x02" + bytes(40), SW_OBJECT_INVALID),
        (INS_UNSEAL_FLEXIBLE, 0, b"\x05abc", SW_WRONG_LENGTH),
        (INS_UNBIND, 0, b"\x00" + b"\x09" + bytes(120), SW_OBJECT_INVALID),
        (INS_REVOKE_APPROVALS, 0, bytes(70), SW_WRONG_LENGTH),
        (INS_REVOKE_APPROVALS, 0, b"\x05" + bytes(64) + bytes(8) + bytes(8), SW_WRONG_DATA),
    ]
    for ins, p1, data, sw in cases:
        with pytest.raises(MtpmError) as err:
            mtpm._call(ins, p1, data=data, answer=32)
        assert _sw(err) == sw, (hex(ins), p1, data[:8].hex())
        assert mtpm.pcr_read([16]) == {16: now[16]}
    blob = mtpm.seal_any_of(SECRET, PCRS, [now])
    # An approval with an any-of blob; a malformed approval with an authorized blob.
    with pytest.raises(MtpmError) as err:
        mtpm._call(INS_UNSEAL_FLEXIBLE, data=b"\x50" + bytes(80) + blob, answer=32)
    assert _sw(err) == SW_WRONG_DATA
    authority = _new_authority()
    sealed = mtpm.seal_authorized(SECRET, authority.point)
    with pytest.raises(MtpmError) as err:
        mtpm._call(INS_UNSEAL_FLEXIBLE, data=b"\x10" + bytes(16) + sealed, answer=32)
    assert _sw(err) == SW_WRONG_LENGTH
    assert mtpm.unseal(blob) == SECRET
