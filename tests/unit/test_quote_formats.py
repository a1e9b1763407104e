"""tpmcard.services.quote_formats without a card: the host's builders give the known answers of
tests/vectors/quote_tokens.json (which the card's encoder is checked against in QuoteTokenTest),
the vector file is what its generator makes, and tokens made with a software key stand in for
the card's: a stock JOSE/COSE library accepts them with the public key alone, and
``verify_token`` refuses every altered byte, another nonce, another card and other PCRs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cbor2
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pycose.keys import CoseKey
from pycose.messages import Sign1Message
from tpmcard.errors import AttestVerificationError as AttestationError
from tpmcard.services import quote_formats as Q
from tpmcard.tpm_structures import PcrSelection, PublicArea, pcr_composite_digest

VECTORS = Path(__file__).parents[1] / "vectors"


def vectors() -> list[dict[str, str]]:
    data = json.loads((VECTORS / "quote_tokens.json").read_text())
    return list(data["vectors"])


@pytest.mark.parametrize("v", vectors(), ids=lambda v: v["name"])
def test_builders_give_the_known_answers(v: dict[str, str]) -> None:
    ueid = bytes.fromhex(v["ueid"])
    pcrs = [int(i) for i in v["pcrs"].split(",")]
    nonce = bytes.fromhex(v["nonce"])
    digest = bytes.fromhex(v["pcr_digest"])
    assert Q.jwt_signing_input(ueid, pcrs, nonce, digest).decode() == v["jwt_signing_input"]
    assert Q.eat_sig_structure(ueid, pcrs, nonce, digest).hex() == v["eat_sig_structure"]
    # What the claims mean, read by stock decoders.
    claims = json.loads(Q.b64url_decode(v["jwt_signing_input"].split(".")[1]))
    assert claims["pcrs"] == pcrs and Q.b64url_decode(claims["eat_nonce"]) == nonce
    sig_structure = cbor2.loads(bytes.fromhex(v["eat_sig_structure"]))
    assert sig_structure[:3] == ["Signature1", bytes.fromhex("a10126"), b""]
    payload = cbor2.loads(sig_structure[3])
    assert payload == {
        1: "tpmcard-mtpm",
        10: nonce,
        256: ueid,
        "pcrs": pcrs,
        "pcr_digest": digest,
    }
    # Preferred serialisation: what a verifier re-encodes is what the card signs.
    assert cbor2.dumps(sig_structure) == bytes.fromhex(v["eat_sig_structure"])


def test_vector_file_is_what_its_generator_makes(tmp_path: Path) -> None:
    before = (VECTORS / "quote_tokens.json").read_bytes()
    subprocess.run([sys.executable, str(VECTORS / "make_quote_token_vectors.py")], check=True)
    assert (VECTORS / "quote_tokens.json").read_bytes() == before


class SoftwareCard:
    """Signs what the card would sign, with software keys, for the verifier's tests."""

    def __init__(self) -> None:
        self.ak = ec.generate_private_key(ec.SECP256R1())
        self.ek = ec.generate_private_key(ec.SECP256R1())

    @staticmethod
    def area(key: ec.EllipticCurvePrivateKey) -> PublicArea:
        n = key.public_key().public_numbers()
        raw = bytes.fromhex("0023000b00050072000000100018000b00030010")
        raw += b"\x00\x20" + n.x.to_bytes(32, "big") + b"\x00\x20" + n.y.to_bytes(32, "big")
        return PublicArea.parse(raw)

    def token(self, fmt: str, pcrs: dict[int, bytes], nonce: bytes) -> bytes:
        digest = pcr_composite_digest(pcrs, PcrSelection.of(pcrs))
        signed = Q.to_be_signed(fmt, Q.ueid(self.area(self.ek)), sorted(pcrs), nonce, digest)
        der = self.ak.sign(signed, ec.ECDSA(hashes.SHA256()))
        return Q.jwt_token(signed, der) if fmt == "jwt" else Q.cose_sign1(signed, der)

    def ak_pem(self) -> bytes:
        return self.ak.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


PCRS = {0: b"\x11" * 32, 8: b"\x88" * 32, 9: hashlib.sha256(b"nine").digest()}
NONCE = bytes(range(16))


@pytest.mark.parametrize("fmt", ["jwt", "eat"])
def test_stock_libraries_accept_and_verify_token_refuses(fmt: str) -> None:
    card = SoftwareCard()
    token = card.token(fmt, PCRS, NONCE)
    if fmt == "jwt":
        claims = jwt.decode(token, card.ak_pem(), algorithms=["ES256"])
        assert Q.b64url_decode(claims["eat_nonce"]) == NONCE
    else:
        message = Sign1Message.decode(token)
        message.key = CoseKey.from_pem_public_key(card.ak_pem().decode())
        assert message.verify_signature()
        assert cbor2.loads(message.payload)[10] == NONCE
    ak, ek = card.area(card.ak), card.area(card.ek)
    claims = Q.verify_token(fmt, token, ak, ek, NONCE, PCRS)
    assert claims.pcrs == (0, 8, 9) and claims.ueid == Q.ueid(ek)

    with pytest.raises(AttestationError) as e:
        Q.verify_token(fmt, token, ak, ek, bytes(16), PCRS)
    assert e.value.reason == "nonce"
    with pytest.raises(AttestationError) as e:
        Q.verify_token(fmt, token, ak, card.area(card.ak), NONCE, PCRS)
    assert e.value.reason == "signer"
    with pytest.raises(AttestationError) as e:
        Q.verify_token(fmt, token, ak, ek, NONCE, {**PCRS, 9: bytes(32)})
    assert e.value.reason == "pcr_digest"
    with pytest.raises(AttestationError) as e:
        Q.verify_token(fmt, token, ek, ek, NONCE, PCRS)
    assert e.value.reason == "signature"
    for position in range(len(token)):
        altered = bytearray(token)
        altered[position] ^= 0x01
        with pytest.raises(AttestationError):
            Q.verify_token(fmt, bytes(altered), ak, ek, NONCE, PCRS)


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_parsers_refuse_any_bytes_with_attestation_error(data: bytes) -> None:
    """Whatever a quote file holds, the verifier answers AttestationError (a refusal the CLI
    reports), never another exception."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    for parse in (Q.parse_jwt, Q.parse_eat):
        with pytest.raises(AttestationError):
            parse(data, key)
    for fmt in ("jwt", "eat"):
        try:
            Q._token_pcrs(fmt, data)
        except AttestationError:
            pass


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_mutated_tokens_are_refused(data: st.DataObject) -> None:
    card = SoftwareCard()
    fmt = data.draw(st.sampled_from(["jwt", "eat"]))
    token = bytearray(card.token(fmt, PCRS, NONCE))
    positions = st.integers(0, len(token) - 1)
    for position in data.draw(st.lists(positions, min_size=1, max_size=4, unique=True)):
        token[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(AttestationError):
        Q.verify_token(fmt, bytes(token), card.area(card.ak), card.area(card.ek), NONCE, PCRS)
