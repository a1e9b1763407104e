"""Sealed data on the host TPM (``Tpm.seal`` / ``Tpm.unseal``), the baseline of the mobile TPM's
seal/unseal: PolicyPCR-only KEYEDHASH objects under the SRK, cross-checked with tpm2-tools."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tpm2_pytss import ESAPI, ESYS_TR, TPM2_ALG, TPM2_SE
from tpmcard.errors import TpmFormatError, TpmPolicyError
from tpmcard.tpm.adapter import Tpm
from tpmcard.tpm.keyblob import KeyBlob
from tpmcard.tpm_structures import (
    ALG_KEYEDHASH,
    ATTR_ADMIN_WITH_POLICY,
    ATTR_FIXED_PARENT,
    ATTR_FIXED_TPM,
    ATTR_SENSITIVE_DATA_ORIGIN,
    ATTR_USER_WITH_AUTH,
    EMPTY_POLICY,
    PcrSelection,
    policy_pcr,
)

pytestmark = pytest.mark.tpm

ToolRunner = Callable[..., subprocess.CompletedProcess[bytes]]  # the tpm2_tools fixture

SRK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt"


def test_seal_unseal_round_trip_and_the_object_it_makes(tpm: Tpm) -> None:
    for secret in (b"\x00", os.urandom(32), os.urandom(128)):
        blob = tpm.seal(secret, [16, 23])
        assert tpm.unseal(blob) == secret
    area = blob.public_area
    assert area.type == ALG_KEYEDHASH and area.is_sealed_data and blob.kind == "sealed"
    assert area.has(ATTR_FIXED_TPM) and area.has(ATTR_FIXED_PARENT)
    assert not area.has(ATTR_SENSITIVE_DATA_ORIGIN | ATTR_USER_WITH_AUTH | ATTR_ADMIN_WITH_POLICY)
    selection = PcrSelection.of([16, 23])
    assert area.auth_policy == policy_pcr(EMPTY_POLICY, selection, tpm.pcr_digest([16, 23]))
    assert blob.pcr_policy is not None and blob.pcr_policy.selection == selection
    # Stored as a TSS2 key file of type sealedKey (2.23.133.10.1.5), read back as is.
    assert bytes.fromhex("06066781050a0105") in blob.to_der()
    assert KeyBlob.from_pem(blob.to_pem()) == blob
    assert tpm.unseal(KeyBlob.from_der(blob.to_der())) == secret


def test_policy_digest_is_what_a_trial_session_computes(tpm: Tpm) -> None:
    blob = tpm.seal(b"x", [0, 16])
    with ESAPI(tpm.tcti) as esapi:
        trial = esapi.start_auth_session(
            ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.TRIAL, None, TPM2_ALG.SHA256
        )
        try:
            esapi.policy_pcr(trial, None, "sha256:0,16")
            assert bytes(esapi.policy_get_digest(trial)) == blob.public_area.auth_policy
        finally:
            esapi.flush_context(trial)


def test_unseal_refused_after_an_extend_and_again_after_a_reset(
    tpm: Tpm, tpm2_tools: ToolRunner
) -> None:
    tpm2_tools("tpm2_pcrreset", "16")
    blob = tpm.seal(b"sealed to PCR 16", [16])
    tpm.pcr_extend(23, os.urandom(32))  # not in the policy: no effect
    assert tpm.unseal(blob) == b"sealed to PCR 16"
    tpm.pcr_extend(16, os.urandom(32))
    with pytest.raises(TpmPolicyError) as raised:
        tpm.unseal(blob)
    assert raised.value.pcr_selection == "sha256:16" and raised.value.rc is not None
    assert "no longer hold the values the data was sealed to" in str(raised.value)
    tpm2_tools("tpm2_pcrreset", "16")  # back to the sealed state: it opens again
    assert tpm.unseal(blob) == b"sealed to PCR 16"


def test_bad_arguments(tpm: Tpm) -> None:
    for size in (0, 129):
        with pytest.raises(ValueError, match="1..128"):
            tpm.seal(bytes(size), [16])
    with pytest.raises(ValueError, match="sealed data"):
        tpm.unseal(tpm.create_p256_key())
    with pytest.raises(ValueError):
        tpm.seal(b"x", [24])


def test_sealed_key_file_type_must_match_the_object() -> None:
    ecc_public = bytes.fromhex("0004") + bytes.fromhex("0023000b")  # TPM2B, type ECC, truncated
    lying = KeyBlob(ecc_public, bytes.fromhex("0000")).to_der()
    lying = lying.replace(bytes.fromhex("06066781050a0103"), bytes.fromhex("06066781050a0105"))
    with pytest.raises(TpmFormatError) as raised:
        KeyBlob.from_der(lying)
    assert raised.value.reason == "malformed"


def test_no_handle_leaks_on_success_and_refusal(tpm: Tpm) -> None:
    blob = tpm.seal(b"loop", [23])
    stale = tpm.seal(b"stale", [16])
    tpm.pcr_extend(16, os.urandom(32))
    for i in range(30):
        assert tpm.unseal(blob) == b"loop"
        if i % 10 == 0:
            with pytest.raises(TpmPolicyError):
                tpm.unseal(stale)
    assert tpm.transient_handles() == []
    assert tpm.session_handles() == []


def test_tpm2_tools_load_and_unseal_the_blob(
    tpm: Tpm, tpm2_tools: ToolRunner, tmp_path: Path
) -> None:
    secret = os.urandom(48)
    blob = tpm.seal(secret, [0, 16])
    (tmp_path / "seal.pub").write_bytes(blob.public)
    (tmp_path / "seal.priv").write_bytes(blob.private)
    tpm2_tools(
        "tpm2_createprimary", "-C", "o", "-G", "ecc256:aes128cfb", "-a", SRK_ATTRIBUTES,
        "-c", "srk.ctx",
    )  # fmt: skip
    tpm2_tools("tpm2_load", "-C", "srk.ctx", "-u", "seal.pub", "-r", "seal.priv", "-c", "seal.ctx")
    tpm2_tools("tpm2_flushcontext", "-t")
    tpm2_tools("tpm2_readpublic", "-c", "seal.ctx", "-n", "name.bin")
    tpm2_tools("tpm2_flushcontext", "-t")
    assert (tmp_path / "name.bin").read_bytes() == blob.name
    tpm2_tools("tpm2_startauthsession", "--policy-session", "-S", "session.ctx")
    tpm2_tools("tpm2_policypcr", "-S", "session.ctx", "-l", "sha256:0,16")
    out = tpm2_tools("tpm2_unseal", "-c", "seal.ctx", "-p", "session:session.ctx", "-o", "out")
    assert out.returncode == 0
    assert (tmp_path / "out").read_bytes() == secret
    tpm2_tools("tpm2_flushcontext", "session.ctx")
