"""The TPM adapter against swtpm, cross-checked with tpm2-tools and tpm2-pytss where they can."""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpm2_pytss import ESAPI, ESYS_TR, TPM2_ALG, TPM2_SE
from tpm2_pytss.tsskey import TSSPrivKey
from tpmcard.errors import AttestVerificationError, TpmAuthError, TpmPolicyError
from tpmcard.tpm.adapter import Tpm
from tpmcard.tpm.attest import (
    Attestation,
    CertifyInfo,
    QuoteInfo,
    verify_certify,
    verify_quote,
)
from tpmcard.tpm.keyblob import BindingKey, KeyBlob
from tpmcard.tpm.objects import SRK_TEMPLATE
from tpmcard.tpm_structures import (
    ATTR_ADMIN_WITH_POLICY,
    ATTR_DECRYPT,
    ATTR_FIXED_PARENT,
    ATTR_FIXED_TPM,
    ATTR_SENSITIVE_DATA_ORIGIN,
    ATTR_SIGN_ENCRYPT,
    ATTR_USER_WITH_AUTH,
    ST_ATTEST_QUOTE,
    PcrSelection,
    ecdsa_signature_from_der,
    ecdsa_signature_to_der,
    hierarchy_qualified_name,
    qualified_name,
)

pytestmark = pytest.mark.tpm

ToolRunner = Callable[..., subprocess.CompletedProcess[bytes]]  # the tpm2_tools fixture

SRK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.fixture
def clear_lockout(tpm2_tools: ToolRunner) -> Iterator[ToolRunner]:
    """For tests that present a wrong PIN: swtpm locks out after 3 failures (TPM_PT_MAX_AUTH_FAIL),
    so reset the dictionary-attack counter afterwards (empty lockout auth on a test TPM)."""
    yield tpm2_tools
    tpm2_tools("tpm2_dictionarylockout", "-c")


# -- basics ---------------------------------------------------------------------------------------


def test_get_random(tpm: Tpm) -> None:
    first, second = tpm.get_random(100), tpm.get_random(100)
    assert len(first) == len(second) == 100 and first != second
    assert tpm.get_random(0) == b""


def test_info_describes_the_tpm(tpm: Tpm) -> None:
    info = tpm.info()
    assert info["manufacturer"] == "IBM" and info["vendor"].startswith("SW")
    assert info["family"] == "2.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", info["firmware_version"])
    assert re.fullmatch(r"1\.\d\d", info["spec_revision"])
    assert info["tcti"] == tpm.tcti and info["embedded"] is False


# -- PCRs -----------------------------------------------------------------------------------------


def test_pcr_values_match_tpm2_tools(tpm: Tpm, tpm2_tools: ToolRunner, tmp_path: Path) -> None:
    tpm.pcr_extend(16, os.urandom(32))
    ours = tpm.pcr_read([0, 1, 8, 16])
    tpm2_tools("tpm2_pcrread", "sha256:0,1,8,16", "-o", "pcrs.bin")
    assert (tmp_path / "pcrs.bin").read_bytes() == b"".join(ours.values())
    # More than the 8 digests one TPM2_PCR_Read returns:
    everything = tpm.pcr_read(range(24))
    tpm2_tools("tpm2_pcrread", "sha256:" + ",".join(map(str, range(24))), "-o", "all.bin")
    assert (tmp_path / "all.bin").read_bytes() == b"".join(everything.values())
    assert list(everything) == list(range(24))


def test_extend_is_sha256_of_old_value_and_digest(tpm: Tpm) -> None:
    old = tpm.pcr_read([16])[16]
    measurement = os.urandom(32)
    tpm.pcr_extend(16, measurement)
    assert tpm.pcr_read([16])[16] == _sha256(old + measurement)


def test_pcr_digest_hashes_values_in_ascending_index_order(tpm: Tpm) -> None:
    values = tpm.pcr_read([0, 8, 16])
    assert tpm.pcr_digest([16, 0, 8]) == _sha256(values[0] + values[8] + values[16])


def test_pcr_arguments_are_checked(tpm: Tpm) -> None:
    with pytest.raises(ValueError):
        tpm.pcr_read([24])
    with pytest.raises(ValueError):
        tpm.pcr_read([0], bank="md5")
    with pytest.raises(ValueError):
        tpm.pcr_extend(16, b"short")


# -- signing keys ---------------------------------------------------------------------------------


def test_signing_key_signs_and_cryptography_verifies(tpm: Tpm) -> None:
    blob = tpm.create_p256_key()
    assert blob.kind == "signing" and blob.empty_auth
    assert KeyBlob.from_pem(blob.to_pem()) == blob == KeyBlob.from_der(blob.to_der())
    message = b"tpmcard"
    blob.public_key().verify(tpm.sign(blob, _sha256(message)), message, ec.ECDSA(hashes.SHA256()))
    with tpm.load(blob) as key:
        assert len(tpm.transient_handles()) == 1
        for data in (b"a", b"b"):
            key.public_key.verify(key.sign(_sha256(data)), data, ec.ECDSA(hashes.SHA256()))
    assert tpm.transient_handles() == []


def test_signing_key_with_a_password(tpm: Tpm, clear_lockout: ToolRunner) -> None:
    blob = tpm.create_p256_key(auth=b"secret")
    assert not blob.empty_auth and blob.needs_auth_value
    signature = tpm.sign(blob, _sha256(b"m"), auth=b"secret")
    blob.public_key().verify(signature, b"m", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(TpmAuthError) as raised:
        tpm.sign(blob, _sha256(b"m"), auth=b"wrong")
    assert raised.value.rc is not None and raised.value.rc & 0xBF == 0x8E  # TPM_RC_AUTH_FAIL


def test_blob_files_are_what_tpm2_tools_loads(
    tpm: Tpm, tpm2_tools: ToolRunner, tmp_path: Path
) -> None:
    blob = tpm.create_p256_key()
    (tmp_path / "key.pub").write_bytes(blob.public)
    (tmp_path / "key.priv").write_bytes(blob.private)
    (tmp_path / "msg").write_bytes(b"interop")
    # tpm2-tools' default ECC primary plus noDA is our SRK: same template, same seed, same key.
    tpm2_tools(
        "tpm2_createprimary",
        "-C",
        "o",
        "-G",
        "ecc256:aes128cfb",
        "-a",
        SRK_ATTRIBUTES,
        "-c",
        "srk.ctx",
    )
    tpm2_tools("tpm2_load", "-C", "srk.ctx", "-u", "key.pub", "-r", "key.priv", "-c", "key.ctx")
    tpm2_tools("tpm2_flushcontext", "-t")
    tpm2_tools("tpm2_readpublic", "-c", "key.ctx", "-n", "name.bin")
    tpm2_tools("tpm2_flushcontext", "-t")
    assert (tmp_path / "name.bin").read_bytes() == blob.name
    tpm2_tools("tpm2_sign", "-c", "key.ctx", "-g", "sha256", "-f", "plain", "-o", "sig", "msg")
    signature = (tmp_path / "sig").read_bytes()  # "plain" ECDSA is X9.62 DER
    blob.public_key().verify(signature, b"interop", ec.ECDSA(hashes.SHA256()))


def test_pem_blob_loads_with_tpm2_pytss_tsskey(tpm: Tpm) -> None:
    blob = tpm.create_p256_key()
    with ESAPI(tpm.tcti) as esapi:
        handle = TSSPrivKey.from_pem(blob.to_pem().encode()).load(esapi)
        try:
            assert bytes(esapi.tr_get_name(handle)) == blob.name
        finally:
            esapi.flush_context(handle)


# -- binding keys ---------------------------------------------------------------------------------


def test_binding_key_ecdh_matches_host_side_ecdh(tpm: Tpm) -> None:
    binding = tpm.create_binding_key([16, 23])
    area = binding.blob.public_area
    required = ATTR_FIXED_TPM | ATTR_FIXED_PARENT | ATTR_SENSITIVE_DATA_ORIGIN | ATTR_DECRYPT
    assert area.attributes & required == required
    assert not area.has(ATTR_SIGN_ENCRYPT | ATTR_USER_WITH_AUTH | ATTR_ADMIN_WITH_POLICY)
    assert area.auth_policy == binding.policy_digest
    assert binding.blob.kind == "binding"
    assert binding.pcr_values == tpm.pcr_read([16, 23])
    assert binding.pcr_digest == tpm.pcr_digest([16, 23])
    rebuilt = BindingKey.from_blob(KeyBlob.from_der(binding.blob.to_der()))
    assert (rebuilt.pcr_selection, rebuilt.pcr_digest) == (
        PcrSelection.of([16, 23]),
        binding.pcr_digest,
    )
    for _ in range(2):
        peer = ec.generate_private_key(ec.SECP256R1())
        expected = peer.exchange(ec.ECDH(), binding.public_key)
        assert tpm.ecdh_zgen(binding, peer.public_key()) == expected
        assert tpm.ecdh_zgen(rebuilt.blob, peer.public_key()) == expected


def test_binding_policy_digest_is_what_a_trial_session_computes(tpm: Tpm) -> None:
    for auth in (None, b"1234"):
        binding = tpm.create_binding_key([16, 23], auth=auth)
        with ESAPI(tpm.tcti) as esapi:
            trial = esapi.start_auth_session(
                ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.TRIAL, None, TPM2_ALG.SHA256
            )
            try:
                esapi.policy_pcr(trial, None, "sha256:16,23")
                if auth is not None:
                    esapi.policy_auth_value(trial)
                assert bytes(esapi.policy_get_digest(trial)) == binding.policy_digest
            finally:
                esapi.flush_context(trial)


def test_ecdh_refused_once_a_bound_pcr_is_extended(tpm: Tpm) -> None:
    binding = tpm.create_binding_key([16])
    peer = ec.generate_private_key(ec.SECP256R1())
    tpm.pcr_extend(23, os.urandom(32))  # not bound: no effect
    assert tpm.ecdh_zgen(binding, peer.public_key()) == peer.exchange(ec.ECDH(), binding.public_key)
    tpm.pcr_extend(16, os.urandom(32))
    with pytest.raises(TpmPolicyError) as raised:
        tpm.ecdh_zgen(binding, peer.public_key())
    assert raised.value.pcr_selection == "sha256:16"
    assert raised.value.rc is not None
    assert "changed since pairing" in str(raised.value)


def test_binding_key_with_a_pin(tpm: Tpm, clear_lockout: ToolRunner) -> None:
    binding = tpm.create_binding_key([23], auth=b"1234")
    assert binding.needs_auth_value and not binding.blob.empty_auth
    peer = ec.generate_private_key(ec.SECP256R1())
    expected = peer.exchange(ec.ECDH(), binding.public_key)
    assert tpm.ecdh_zgen(binding, peer.public_key(), auth=b"1234") == expected
    with pytest.raises(TpmAuthError):
        tpm.ecdh_zgen(binding, peer.public_key())  # refused before reaching the TPM
    with pytest.raises(TpmAuthError) as raised:
        tpm.ecdh_zgen(binding, peer.public_key(), auth=b"4321")
    assert raised.value.rc is not None


# -- attestation ----------------------------------------------------------------------------------


def _quote_files(tmp_path: Path, ak: KeyBlob, attest: bytes, signature: bytes, pcrs: bytes) -> None:
    (tmp_path / "ak.pem").write_bytes(
        ak.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "quote.msg").write_bytes(attest)
    (tmp_path / "quote.sig").write_bytes(signature)
    (tmp_path / "pcrs.bin").write_bytes(pcrs)


def _checkquote(tools: ToolRunner, selection: str, nonce: bytes) -> int:
    result = tools(
        "tpm2_checkquote",
        "-u",
        "ak.pem",
        "-m",
        "quote.msg",
        "-s",
        "quote.sig",
        "-f",
        "pcrs.bin",
        "-l",
        selection,
        "-q",
        nonce.hex(),
        "-g",
        "sha256",
        check=False,
    )
    return result.returncode


def test_quote_verified_by_tpm2_checkquote_and_by_our_verifier(
    tpm: Tpm, tpm2_tools: ToolRunner, tmp_path: Path
) -> None:
    ak = tpm.create_attestation_key()
    assert ak.kind == "attestation"
    tpm.pcr_extend(16, os.urandom(32))
    nonce = os.urandom(20)
    quote = tpm.quote(ak, [16, 0, 8], nonce)
    assert quote.pcr_values == tpm.pcr_read([0, 8, 16])
    for signature in (quote.signature, quote.signature_der):  # both forms tpm2_checkquote reads
        _quote_files(tmp_path, ak, quote.attest, signature, quote.pcr_file())
        assert _checkquote(tpm2_tools, "sha256:0,8,16", nonce) == 0
    parsed = verify_quote(
        quote.attest,
        quote.signature_der,
        ak.public_key(),
        nonce,
        quote.pcr_values,
        expected_qualified_signer=tpm.qualified_name(ak),
    )
    assert parsed.type == ST_ATTEST_QUOTE and isinstance(parsed.body, QuoteInfo)
    assert parsed.extra_data == nonce


def test_quote_signer_is_the_ak_under_the_srk(tpm: Tpm) -> None:
    ak = tpm.create_attestation_key()
    quote = tpm.quote(ak, [0], b"n")
    with ESAPI(tpm.tcti) as esapi:
        handle, *_ = esapi.create_primary(None, SRK_TEMPLATE)
        srk_name = bytes(esapi.tr_get_name(handle))
        esapi.flush_context(handle)
    expected = qualified_name(qualified_name(hierarchy_qualified_name(), srk_name), ak.name)
    assert Attestation.parse(quote.attest).qualified_signer == expected


def test_tampered_quote_and_wrong_nonce_refused_by_both(
    tpm: Tpm, tpm2_tools: ToolRunner, tmp_path: Path
) -> None:
    ak = tpm.create_attestation_key()
    nonce = os.urandom(16)
    quote = tpm.quote(ak, [0, 16], nonce)
    public = ak.public_key()
    for position in (0, 10, len(quote.attest) - 1):  # magic, signer name, PCR digest
        tampered = bytearray(quote.attest)
        tampered[position] ^= 0x01
        _quote_files(tmp_path, ak, bytes(tampered), quote.signature, quote.pcr_file())
        assert _checkquote(tpm2_tools, "sha256:0,16", nonce) != 0
        with pytest.raises(AttestVerificationError) as raised:
            verify_quote(bytes(tampered), quote.signature_der, public, nonce, quote.pcr_values)
        assert raised.value.reason == "signature"

    _quote_files(tmp_path, ak, quote.attest, quote.signature, quote.pcr_file())
    assert _checkquote(tpm2_tools, "sha256:0,16", nonce) == 0
    assert _checkquote(tpm2_tools, "sha256:0,16", os.urandom(16)) != 0
    with pytest.raises(AttestVerificationError) as raised:
        verify_quote(quote.attest, quote.signature_der, public, os.urandom(16), quote.pcr_values)
    assert raised.value.reason == "nonce"

    stale = {**quote.pcr_values, 16: _sha256(b"other")}
    _quote_files(tmp_path, ak, quote.attest, quote.signature, stale[0] + stale[16])
    assert _checkquote(tpm2_tools, "sha256:0,16", nonce) != 0
    with pytest.raises(AttestVerificationError) as raised:
        verify_quote(quote.attest, quote.signature_der, public, nonce, stale)
    assert raised.value.reason == "pcr_digest"
    with pytest.raises(AttestVerificationError) as raised:
        verify_quote(quote.attest, quote.signature_der, public, nonce, {0: quote.pcr_values[0]})
    assert raised.value.reason == "pcr_selection"
    other_ak = tpm.create_attestation_key()
    with pytest.raises(AttestVerificationError) as raised:
        verify_quote(
            quote.attest,
            quote.signature_der,
            public,
            nonce,
            expected_qualified_signer=tpm.qualified_name(other_ak),
        )
    assert raised.value.reason == "signer"


def test_forged_attestation_from_an_unrestricted_key_fails_the_magic_check(tpm: Tpm) -> None:
    # An unrestricted key signs any digest, so it can sign a look-alike quote. TPM_GENERATED_VALUE
    # is what a restricted key guarantees; the verifier must insist on it.
    forger = tpm.create_p256_key()
    quote = tpm.quote(tpm.create_attestation_key(), [0], b"nonce")
    fake = bytearray(quote.attest)
    fake[0:4] = struct.pack(">I", 0x11223344)
    signature = tpm.sign(forger, _sha256(bytes(fake)))
    with pytest.raises(AttestVerificationError) as raised:
        verify_quote(bytes(fake), signature, forger.public_key(), b"nonce")
    assert raised.value.reason == "magic"


def test_certify_binding_key(tpm: Tpm, tpm2_tools: ToolRunner) -> None:
    binding = tpm.create_binding_key([16], auth=b"1234")
    ak = tpm.create_attestation_key()
    nonce = os.urandom(32)
    certification = tpm.certify(binding, ak, nonce, obj_auth=b"1234")
    parsed = verify_certify(
        certification.attest,
        certification.signature_der,
        ak.public_key(),
        nonce,
        binding.blob.public,
    )
    assert isinstance(parsed.body, CertifyInfo) and parsed.body.name == binding.blob.name
    with pytest.raises(AttestVerificationError) as raised:
        verify_certify(
            certification.attest,
            certification.signature_der,
            ak.public_key(),
            nonce,
            tpm.create_p256_key().public,
        )
    assert raised.value.reason == "name"
    with pytest.raises(AttestVerificationError) as raised:  # a certification is not a quote
        verify_quote(certification.attest, certification.signature_der, ak.public_key(), nonce)
    assert raised.value.reason == "type"


def test_attestation_parser_agrees_with_tpm2_print(
    tpm: Tpm, tpm2_tools: ToolRunner, tmp_path: Path
) -> None:
    quote = tpm.quote(tpm.create_attestation_key(), [0, 16], b"nonce")
    (tmp_path / "quote.msg").write_bytes(quote.attest)
    printed = tpm2_tools("tpm2_print", "-t", "TPMS_ATTEST", "quote.msg").stdout.decode()
    fields = dict(re.findall(r"^\s*(\w+): (\S+)$", printed, re.MULTILINE))
    parsed = Attestation.parse(quote.attest)
    assert isinstance(parsed.body, QuoteInfo)
    assert int(fields["magic"], 16) == parsed.magic
    assert int(fields["type"], 16) == parsed.type
    assert bytes.fromhex(fields["qualifiedSigner"]) == parsed.qualified_signer
    assert bytes.fromhex(fields["extraData"]) == parsed.extra_data == b"nonce"
    assert int(fields["clock"]) == parsed.clock_info.clock
    assert int(fields["resetCount"]) == parsed.clock_info.reset_count
    assert int(fields["restartCount"]) == parsed.clock_info.restart_count
    # tpm2_print dumps the UINT64's in-memory bytes (little-endian on this host); the wire
    # format is big-endian like every TPM integer (Part 1 §18.2).
    fw_printed = int.from_bytes(bytes.fromhex(fields["firmwareVersion"]), sys.byteorder)
    assert fw_printed == parsed.firmware_version
    assert bytes.fromhex(fields["pcrDigest"]) == parsed.body.pcr_digest
    assert parsed.body.pcr_selections == (PcrSelection.of([0, 16]),)


# -- resources ------------------------------------------------------------------------------------


def test_no_transient_object_or_session_leaks(tpm: Tpm) -> None:
    signing = tpm.create_p256_key()
    binding = tpm.create_binding_key([23])
    stale = tpm.create_binding_key([16])
    tpm.pcr_extend(16, os.urandom(32))
    ak = tpm.create_attestation_key()
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    for i in range(50):
        tpm.sign(signing, _sha256(bytes([i])))
        tpm.ecdh_zgen(binding, peer)
        tpm.quote(ak, [0, 23], bytes([i]))
        if i % 10 == 0:
            with pytest.raises(TpmPolicyError):  # the error path must clean up as well
                tpm.ecdh_zgen(stale, peer)
    assert tpm.transient_handles() == []
    assert tpm.session_handles() == []


def test_close_flushes_keys_left_loaded(tpm: Tpm) -> None:
    blob = tpm.create_p256_key()
    other = Tpm.open(tpm.tcti)
    other.load(blob)
    other.load(blob)
    assert len(tpm.transient_handles()) == 2
    other.close()
    assert tpm.transient_handles() == []


def test_signature_forms_agree(tpm: Tpm) -> None:
    ak = tpm.create_attestation_key()
    quote = tpm.quote(ak, [0], b"x")
    assert ecdsa_signature_to_der(quote.signature) == quote.signature_der
    assert ecdsa_signature_from_der(quote.signature_der) == quote.signature
