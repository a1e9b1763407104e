"""The host library against the mobile TPM's Java code in jCardSim (through the INVOKE stand-in)."""

from __future__ import annotations

import hashlib

import pytest
from tpmcard.mtpm import MtpmError, MtpmSession, endorsement_qualified_name
from tpmcard.tpm.attest import verify_certify, verify_quote
from tpmcard.tpm.errors import AttestationError
from tpmcard.tpm.structures import object_name


def test_pcrs_combine_host_and_card(card, mtpm: MtpmSession) -> None:
    card.host_pcrs[:] = bytes(range(256)) + bytes(32)
    values = mtpm.pcr_read(range(24))
    assert values[0] == bytes(range(32)) and values[8] == bytes(32)
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
    card.reset()
    assert mtpm.pcr_read([10]) == {10: bytes(32)}


def test_quote_verifies_with_the_shared_verifier(card, mtpm: MtpmSession) -> None:
    card.host_pcrs[:] = b"\x5a" * (9 * 32)
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
    with pytest.raises(AttestationError) as err:
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


def test_seal_unseal_and_refusals(make_card) -> None:
    a, b = make_card(b"A"), make_card(b"B")
    ma, mb = a.session(), b.session()
    blob = ma.seal(b"secret", [0, 9], auth=b"pw")
    assert ma.unseal(blob, b"pw") == b"secret"
    with pytest.raises(MtpmError) as err:
        ma.unseal(blob, b"px")
    assert err.value.reason == "auth"
    tampered = bytearray(blob)
    tampered[-20] ^= 1
    with pytest.raises(MtpmError) as err:
        ma.unseal(bytes(tampered), b"pw")
    assert err.value.reason == "invalid_object"
    with pytest.raises(MtpmError) as err:
        mb.unseal(blob, b"pw")
    assert err.value.reason == "not_found"
    a.host_pcrs[0] ^= 1
    with pytest.raises(MtpmError) as err:
        ma.unseal(blob, b"pw")
    assert err.value.reason == "policy"


def test_nv_counters_ownership_and_clear(card, mtpm: MtpmSession) -> None:
    mtpm.take_ownership(b"owner")
    mtpm.nv_define(0x01500001, 16, b"nv", b"owner")
    mtpm.nv_write(0x01500001, b"hello", 0, b"nv")
    assert mtpm.nv_read(0x01500001, 5, 0, b"nv") == b"hello"
    start = mtpm.counter_define(0x01500002, owner_auth=b"owner")
    for k in range(1, 51):
        assert mtpm.counter_increment(0x01500002) == start + k
        if k % 10 == 0:
            card.reset()
    assert [i.handle for i in mtpm.nv_list()] == [0x01500001, 0x01500002]
    with pytest.raises(MtpmError) as err:
        mtpm.clear(b"wrong")
    assert err.value.reason == "owner_auth" and err.value.attempts_remaining == 7
    mtpm.clear(b"owner")
    assert mtpm.nv_list() == [] and not mtpm.status().owned
    assert mtpm.counter_define(0x01500002) >= start + 50


def test_migration_move_between_cards(make_card) -> None:
    a, b = make_card(b"A"), make_card(b"B")
    ma, mb = a.session(), b.session()
    ma.take_ownership(b"oa")
    blob = ma.seal(b"travelling", [9])
    target = mb.migration_public()
    # The target key is certified by B's EK.
    nonce = b"m" * 16
    cert = mb.certify(0x03, nonce)
    ek_b = mb.ek_public()
    verify_certify(
        cert.attest, cert.signature_der, ek_b.public_key(), nonce, b"\x00\x58" + target.raw
    )
    dup = ma.migrate_export_sealed(blob, target, b"oa", move=True)
    with pytest.raises(MtpmError):
        ma.unseal(blob)
    assert mb.unseal(mb.migrate_import_sealed(dup)) == b"travelling"


def test_bench_compare_runs_against_swtpm(mtpm: MtpmSession, tmp_path) -> None:
    from tpmcard.bench.mtpm import compare
    from tpmcard.tpm.adapter import Tpm

    with Tpm.open(state_dir=tmp_path / "swtpm") as tpm:
        result = compare(mtpm, tpm, rounds=5)
    assert set(result) == {"quote", "extend", "seal", "unseal"}
    assert result["quote"]["ratio"] > 0 and result["seal"]["ratio"] is None


def test_info_reports_ek_and_ak(mtpm: MtpmSession) -> None:
    from tpmcard.mtpm import info

    data = info(mtpm)
    assert data["ak"]["name"].startswith("000b") and data["ek"]["public"] != data["ak"]["public"]
    assert data["ek_certificate"] is False and data["owned"] is False
