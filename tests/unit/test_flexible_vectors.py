"""The host's flexible-sealing code (tpmcard.services.mtpm_flexible) against the known answers of
tests/vectors/flexible_sealing.json, which FlexibleSealingTest (JUnit) checks the card against:
the approve and revoke statements, the ECIES KDF, IV and ciphertexts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tpmcard.ecpoint import load_point
from tpmcard.services.mtpm_flexible import (
    AnyOfPolicy,
    Authority,
    AuthorizedPolicy,
    NoPolicy,
    Policy,
    approve_statement,
    bind,
    bind_keys,
    revoke_statement,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DATA: dict[str, list[dict[str, Any]]] = json.loads((VECTORS / "flexible_sealing.json").read_text())


def _key(scalar: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(scalar, 16), ec.SECP256R1())


@pytest.mark.parametrize("v", DATA["approve"], ids=lambda v: v["name"])
def test_approve_statement_and_signature(v: dict[str, Any]) -> None:
    statement = approve_statement(
        v["pcrs"], bytes.fromhex(v["pcr_digest"]), bytes.fromhex(v["policy_ref"]), v["epoch"]
    )
    assert statement == bytes.fromhex(v["statement"])
    authority = Authority(_key(v["authority_private"]))
    assert authority.point.hex() == v["authority_point"]
    assert authority.policy().authority_hash.hex() == v["authority_hash"]
    values = {0: bytes.fromhex(v["pcr0"]), 16: bytes.fromhex(v["pcr16"])}
    approval = authority.approve(v["pcrs"], values, v["epoch"], bytes.fromhex(v["policy_ref"]))
    public = load_point(bytes.fromhex(v["authority_point"]))
    for signature in (approval.signature_der, bytes.fromhex(v["signature"])):
        public.verify(signature, statement, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):  # another epoch is another statement
        public.verify(
            bytes.fromhex(v["signature"]),
            approve_statement(
                v["pcrs"],
                bytes.fromhex(v["pcr_digest"]),
                bytes.fromhex(v["policy_ref"]),
                v["epoch"] + 1,
            ),
            ec.ECDSA(hashes.SHA256()),
        )


@pytest.mark.parametrize("v", DATA["revoke"], ids=lambda v: v["name"])
def test_revoke_statement_and_signature(v: dict[str, Any]) -> None:
    assert revoke_statement(v["epoch"]) == bytes.fromhex(v["statement"])
    revocation = Authority(_key(v["authority_private"])).revoke(v["epoch"])
    public = load_point(bytes.fromhex(v["authority_point"]))
    for signature in (revocation.signature_der, bytes.fromhex(v["signature"])):
        public.verify(signature, bytes.fromhex(v["statement"]), ec.ECDSA(hashes.SHA256()))


def _policy(v: dict[str, Any]) -> Policy:
    raw = bytes.fromhex(v["policy"])
    if v["form"] == 0:
        return NoPolicy()
    if v["form"] == 1:
        indices = [i for i in range(24) if raw[i // 8] >> (i % 8) & 1]
        digests = [raw[4 + 32 * k : 36 + 32 * k] for k in range(raw[3])]
        return AnyOfPolicy.of(indices, digests)
    return AuthorizedPolicy(raw[:32], raw[33:])


@pytest.mark.parametrize("v", DATA["bind"], ids=lambda v: v["name"])
def test_bind_gives_the_known_ciphertext(v: dict[str, Any]) -> None:
    card = _key(v["bind_private"])
    policy = _policy(v)
    assert policy.encode().hex() == v["policy"]
    ciphertext = bind(
        card.public_key(),
        bytes.fromhex(v["message"]),
        policy,
        ephemeral=_key(v["ephemeral_private"]),
        nonce=bytes.fromhex(v["nonce"]),
    )
    assert ciphertext.hex() == v["ciphertext"]
    header = ciphertext[: v["header_length"]]
    k_e, k_m = bind_keys(bytes.fromhex(v["z"]), bytes.fromhex(v["bind_point"]), header)
    assert (k_e.hex(), k_m.hex()) == (v["k_e"], v["k_m"])


def test_bind_refuses_bad_lengths() -> None:
    public = _key(DATA["bind"][0]["bind_private"]).public_key()
    for message in (b"", bytes(129)):
        with pytest.raises(ValueError):
            bind(public, message)
    with pytest.raises(ValueError):
        bind(public, b"x", nonce=b"short")
    with pytest.raises(ValueError):
        AnyOfPolicy.of([0], [])
    with pytest.raises(ValueError):
        AnyOfPolicy.of([0], [bytes(32)] * 25)
    with pytest.raises(ValueError):
        AuthorizedPolicy.of(Authority(_key(DATA["bind"][0]["bind_private"])).point, bytes(33))


def test_vector_file_is_what_its_generator_makes() -> None:
    before = (VECTORS / "flexible_sealing.json").read_bytes()
    subprocess.run([sys.executable, str(VECTORS / "make_flexible_sealing_vectors.py")], check=True)
    assert (VECTORS / "flexible_sealing.json").read_bytes() == before
