"""The mobile TPM end to end: host library -> secured session -> CoreApplet INVOKE -> MtpmApplet,
over both transports, with the host PCRs 0..8 the real TPM quoted in the handshake."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.errors import AttestVerificationError
from tpmcard.services.ca import ManufacturerCa
from tpmcard.services.mtpm import (
    MigrationCertificate,
    MtpmError,
    MtpmSession,
    endorsement_qualified_name,
    point_bytes,
    public_point,
)
from tpmcard.services.session import SecureCardSession
from tpmcard.services.verify import MigrationTarget
from tpmcard.tpm.attest import verify_certify, verify_quote
from tpmcard.tpm_structures import object_name

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def test_pcrs_combine_host_and_card(bound_card: BoundCard) -> None:
    bound_card.reset()  # card PCRs 9..23 start at zero
    with bound_card.connect() as session:
        mtpm = session.mtpm
        values = mtpm.pcr_read(range(24))
        assert all(values[i] == session.host_pcrs[i] for i in range(9))
        assert all(values[i] == bytes(32) for i in range(9, 24))
        new = mtpm.extend(10, b"\x11" * 32)
        assert new == hashlib.sha256(bytes(32) + b"\x11" * 32).digest()
        with pytest.raises(MtpmError) as err:
            mtpm.extend(3, b"\x11" * 32)
        assert err.value.reason == "host_pcr"
        with pytest.raises(MtpmError) as err:
            mtpm.pcr_reset(10)
        assert err.value.reason == "not_resettable"
        mtpm.pcr_reset(23)
        assert mtpm.pcr_read([10]) == {10: new}  # the session survived the refusals
    bound_card.reset()
    with bound_card.connect() as session:
        assert session.mtpm.pcr_read([10]) == {10: bytes(32)}


def test_host_pcr8_extended_with_tpm2_tools_shows_in_the_next_session(
    bound_card: BoundCard, tpm2_pcrextend: Callable[[int, bytes], None]
) -> None:
    digest = hashlib.sha256(b"measured by the host").digest()
    with bound_card.connect() as session:
        before = session.mtpm.pcr_read([8])[8]
        assert before == session.host_pcrs[8]
        tpm2_pcrextend(8, digest)
        # This session keeps the PCRs its handshake verified.
        assert session.mtpm.pcr_read([8])[8] == before
    with bound_card.connect() as session:
        after = session.mtpm.pcr_read([8])[8]
        assert after == hashlib.sha256(before + digest).digest() == session.host_pcrs[8]


def test_quote_over_host_and_card_pcrs_verifies(mtpm: MtpmSession) -> None:
    mtpm.extend(9, b"\x01" * 32)
    nonce = b"n" * 20
    ak = mtpm.ak_public()
    quote = mtpm.quote([0, 1, 8, 9, 10], nonce)
    parsed = verify_quote(
        quote.attest,
        quote.signature_der,
        ak.public_key(),
        nonce,
        quote.pcr_values,
        expected_qualified_signer=endorsement_qualified_name(ak.name),
    )
    assert parsed.clock_info.safe
    with pytest.raises(AttestVerificationError) as err:
        verify_quote(quote.attest, quote.signature_der, ak.public_key(), b"other", quote.pcr_values)
    assert err.value.reason == "nonce"
    ek = mtpm.ek_public()
    cert = mtpm.certify(0x02, nonce)
    verify_certify(
        cert.attest,
        cert.signature_der,
        ek.public_key(),
        nonce,
        b"\x00\x58" + ak.raw,
        expected_qualified_signer=endorsement_qualified_name(ek.name),
    )
    assert ak.name == object_name(ak.raw)


def test_seal_extend_refused_reset_unseal(bound_card: BoundCard) -> None:
    bound_card.reset()
    with bound_card.connect() as session:
        session.mtpm.take_ownership(b"owner")  # an auth value needs an owner
        blob = session.mtpm.seal(b"secret", [0, 8, 9], auth=b"pw")
        assert session.mtpm.unseal(blob, b"pw") == b"secret"
        with pytest.raises(MtpmError) as err:
            session.mtpm.unseal(blob, b"px")
        assert err.value.reason == "auth"
        tampered = bytearray(blob)
        tampered[-20] ^= 1
        with pytest.raises(MtpmError) as err:
            session.mtpm.unseal(bytes(tampered), b"pw")
        assert err.value.reason == "invalid_object"
        session.mtpm.extend(9, b"\x22" * 32)
        with pytest.raises(MtpmError) as err:
            session.mtpm.unseal(blob, b"pw")
        assert err.value.reason == "policy"
    bound_card.reset()  # card PCRs back to zero
    with bound_card.connect() as session:
        assert session.mtpm.unseal(blob, b"pw") == b"secret"
        session.mtpm.clear(b"owner")


def test_small_seals_go_in_one_command_large_ones_are_staged(bound_card: BoundCard) -> None:
    """A 16-byte secret is sealed and unsealed in one INVOKE each (data plus the blob's exact
    length fit the 260-byte window); a 128-byte one with an auth value is staged both ways. The
    card handles the first in place in the APDU buffer and the second in the window, never in a
    RAM buffer of its own (docs/mtpm.md "RAM"): both must open again, and a wrong auth value
    or a changed PCR still refuses the staged one."""
    with bound_card.connect() as session:
        mtpm = session.mtpm
        mtpm.take_ownership(b"owner")
        try:
            small = b"s" * 16
            before = mtpm.staged
            blob = mtpm.seal(small, [0, 9])
            assert mtpm.unseal(blob) == small
            assert mtpm.staged == before  # neither was staged
            large = bytes(range(128))
            blob = mtpm.seal(large, [8, 9], auth=b"pw", migratable=True)
            assert mtpm.unseal(blob, b"pw") == large
            assert mtpm.staged == before + 2
            with pytest.raises(MtpmError) as err:
                mtpm.unseal(blob, b"px")
            assert err.value.reason == "auth"
            mtpm.extend(9, b"\x33" * 32)
            with pytest.raises(MtpmError) as err:
                mtpm.unseal(blob, b"pw")
            assert err.value.reason == "policy"
        finally:
            mtpm.clear(b"owner")
    bound_card.reset()  # card PCRs back to zero for the next test


def test_blob_of_card_a_is_refused_by_card_b(
    bound_card: BoundCard, second_bound_card: BoundCard
) -> None:
    with bound_card.connect() as a:
        blob = a.mtpm.seal(b"only for A", [0])
        assert a.mtpm.unseal(blob) == b"only for A"
    with second_bound_card.connect() as b:
        assert b.card_id != bound_card.card_id
        with pytest.raises(MtpmError) as err:
            b.mtpm.unseal(blob)
        assert err.value.reason == "not_found"


def _migration_ca(directory: Path) -> ManufacturerCa:
    return ManufacturerCa.init(directory)


def test_migration_moves_a_sealed_object_from_a_to_b(
    bound_card: BoundCard, second_bound_card: BoundCard, tmp_path: Path
) -> None:
    """The honest path: B's migration key checked (EK certificate by the CA, the EK's CERTIFY)
    and certified by the CA; A's owner trusts that CA; a migratable object with an auth value
    moves from A to B and opens there with the same auth value."""
    ca = _migration_ca(tmp_path / "ca")
    with bound_card.connect() as a, second_bound_card.connect() as b:
        a.mtpm.take_ownership(b"oa")
        b.mtpm.take_ownership(b"ob")
        try:
            ek = b.mtpm.ek_public().public_key()
            b.mtpm.ek_cert_set(
                ca.issue_ek_certificate(ek, "B").public_bytes(serialization.Encoding.DER), b"ob"
            )
            target = MigrationTarget.collect(b.mtpm).verify(ca.certificate)
            certificate = ca.certify_migration_target(public_point(target), b"card B")
            assert MigrationCertificate.parse(certificate).card_id == b"card B"
            MigrationCertificate.parse(certificate).verify(ca.certificate.public_key())  # type: ignore[arg-type]
            a.mtpm.migration_anchor_set(ca.certificate.public_key(), b"oa")  # type: ignore[arg-type]
            assert a.mtpm.migration_anchor_get() == point_bytes(ca.certificate.public_key())  # type: ignore[arg-type]
            blob = a.mtpm.seal(b"travelling", [0, 9], auth=b"pw", migratable=True)
            duplicate = a.mtpm.migrate_export_sealed(blob, certificate, b"oa", b"pw", move=True)
            with pytest.raises(MtpmError) as err:
                a.mtpm.unseal(blob, b"pw")
            assert err.value.reason == "invalid_object"  # moved: A revoked it
            assert (
                b"travelling" not in duplicate and hashlib.sha256(b"pw").digest() not in duplicate
            )
            moved = b.mtpm.migrate_import_sealed(duplicate, b"ob")
            assert b.mtpm.unseal(moved, b"pw") == b"travelling"
        finally:
            a.mtpm.clear(b"oa")
            b.mtpm.clear(b"ob")


def test_migration_export_attack_of_issue_11_is_refused(
    bound_card: BoundCard, tmp_path: Path
) -> None:
    """Issue 11 finding 2: a secret sealed to PCR 10 plus an auth value, whose unseal the card
    refuses, is not exported to an attacker's software key (nor with any piece missing)."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    evil_ca = _migration_ca(tmp_path / "evil")  # the attacker's own CA
    ca = _migration_ca(tmp_path / "ca")  # the one the card owner trusts
    evil = evil_ca.certify_migration_target(point_bytes(attacker.public_key()), b"attacker")
    bound_card.reset()  # card PCRs 9..23 at zero
    with bound_card.connect() as session:
        mtpm = session.mtpm
        with pytest.raises(MtpmError) as err:  # unowned: nothing to export with
            mtpm.migrate_export_sealed(b"\x01" * 100, evil, b"", b"pw")
        assert err.value.reason == "no_owner"
        mtpm.take_ownership(b"owner")
        try:
            locked = mtpm.seal(b"the disk key", [10], auth=b"pw", migratable=True)
            fixed = mtpm.seal(b"the disk key", [10], auth=b"pw")
            with pytest.raises(MtpmError) as err:  # no anchor installed yet
                mtpm.migrate_export_sealed(locked, evil, b"owner", b"pw")
            assert err.value.reason == "untrusted_target"
            mtpm.migration_anchor_set(ca.certificate.public_key(), b"owner")  # type: ignore[arg-type]
            with pytest.raises(MtpmError) as err:  # the attacker's key, by the attacker's CA
                mtpm.migrate_export_sealed(locked, evil, b"owner", b"pw")
            assert err.value.reason == "untrusted_target"
            # Even a certificate from the trusted CA (for a real card) does not open the rest:
            honest = ca.certify_migration_target(public_point(mtpm.migration_public()), b"x")
            with pytest.raises(MtpmError) as err:
                mtpm.migrate_export_sealed(fixed, honest, b"owner", b"pw")
            assert err.value.reason == "not_migratable"
            with pytest.raises(MtpmError) as err:
                mtpm.migrate_export_sealed(locked, honest, b"owner", b"guess")
            assert err.value.reason == "auth"
            mtpm.extend(10, b"\x33" * 32)
            with pytest.raises(MtpmError) as err:
                mtpm.unseal(locked, b"pw")
            assert err.value.reason == "policy"
            with pytest.raises(MtpmError) as err:
                mtpm.migrate_export_sealed(locked, honest, b"owner", b"pw")
            assert err.value.reason == "policy"
            with pytest.raises(MtpmError) as err:
                mtpm.migrate_export_sealed(locked, honest, b"not the owner", b"pw")
            assert err.value.reason == "owner_auth"
        finally:
            mtpm.clear(b"owner")
    bound_card.reset()


def test_a_thousand_counter_increments_across_card_resets(bound_card: BoundCard) -> None:
    handle = 0x01500002
    session: SecureCardSession = bound_card.connect()
    try:
        last = session.mtpm.counter_define(handle)
        for k in range(1, 1001):
            value = session.mtpm.counter_increment(handle)
            assert value > last, k
            last = value
            if k % 97 == 0 or k in (1, 2, 500):
                session.close()
                bound_card.reset()
                session = bound_card.connect()
        assert session.mtpm.nv_read(handle, 8, 0) == last.to_bytes(8, "big")
        session.mtpm.nv_undefine(handle)
    finally:
        session.close()


def test_nv_ownership_and_clear(mtpm: MtpmSession) -> None:
    mtpm.take_ownership(b"owner")
    mtpm.nv_define(0x01500001, 16, b"nv", b"owner")
    mtpm.nv_write(0x01500001, b"hello", 0, b"nv")
    assert mtpm.nv_read(0x01500001, 5, 0, b"nv") == b"hello"
    start = mtpm.counter_define(0x01500003, owner_auth=b"owner")
    assert [i.handle for i in mtpm.nv_list()] == [0x01500001, 0x01500003]
    with pytest.raises(MtpmError) as err:
        mtpm.clear(b"wrong")
    assert err.value.reason == "owner_auth" and err.value.attempts_remaining == 7
    mtpm.clear(b"owner")
    assert mtpm.nv_list() == [] and not mtpm.status().owned
    assert mtpm.counter_define(0x01500003) >= start  # the high-water mark survives CLEAR
    mtpm.nv_undefine(0x01500003)


def test_bench_compare_runs_against_swtpm(mtpm: MtpmSession, bound_card: BoundCard) -> None:
    from tpmcard.bench.mtpm import compare

    result = compare(mtpm, bound_card.tpm, rounds=5)
    assert set(result) == {"quote", "extend", "seal", "unseal"}
    assert all(result[op]["ratio"] > 0 for op in ("quote", "extend", "seal", "unseal"))


def test_info_reports_ek_and_ak(mtpm: MtpmSession) -> None:
    from tpmcard.services.mtpm import info

    data = info(mtpm)
    assert data["ak"]["name"].startswith("000b") and data["ek"]["public"] != data["ak"]["public"]
    assert data["owned"] is False and data["migration_anchor"] is False


def test_da_reset_and_auth_values_need_an_owner(mtpm: MtpmSession) -> None:
    """Issue 11 finding 3: an unowned mobile TPM's owner auth is empty, so DA RESET is refused
    there (anyone could send it), and so are auth values, whose lockout only an owner lifts."""
    assert not mtpm.status().owned
    with pytest.raises(MtpmError) as err:
        mtpm.da_reset(b"")
    assert err.value.reason == "no_owner" and "owner take" in str(err.value)
    with pytest.raises(MtpmError) as err:
        mtpm.seal(b"secret", [9], auth=b"pw")
    assert err.value.reason == "no_owner"
    with pytest.raises(MtpmError) as err:
        mtpm.nv_define(0x01500007, 8, b"pw")
    assert err.value.reason == "no_owner"
    assert mtpm.unseal(mtpm.seal(b"secret", [9])) == b"secret"  # policy-only objects need none


def test_wrong_auth_values_lock_out_until_the_owner_resets(sim_bound_card: BoundCard) -> None:
    """Dictionary-attack protection through the real session: 16 wrong values, then even the
    right one is refused (no plaintext) until DA RESET with the owner auth.

    On a card of its own: run on the session's shared PC/SC card, this test made a later
    test_binding handshake fail key confirmation (see the session notes; under investigation)."""
    with sim_bound_card.connect() as session:
        _lockout_and_reset(session.mtpm)


def _lockout_and_reset(mtpm: MtpmSession) -> None:
    mtpm.take_ownership(b"owner")
    blob = mtpm.seal(b"guarded secret", [9], auth=b"pw")
    for guess in range(16):
        with pytest.raises(MtpmError) as wrong:
            mtpm.unseal(blob, auth=b"guess %d" % guess)
        assert wrong.value.reason == "auth"
    with pytest.raises(MtpmError) as blocked:
        mtpm.unseal(blob, auth=b"pw")
    assert blocked.value.reason == "blocked" and blocked.value.data == b""
    with pytest.raises(MtpmError) as bad_owner:
        mtpm.da_reset(b"not the owner")
    assert bad_owner.value.reason == "owner_auth"
    mtpm.da_reset(b"owner")
    assert mtpm.unseal(blob, auth=b"pw") == b"guarded secret"
    mtpm.clear(b"owner")
