"""Providers against standard vectors and against Python's cryptography/hashlib on random inputs."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from tpmcard.errors import ServiceWindowError
from tpmcard.services import algorithms as A

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "algorithms.json").read_text()
)
h = bytes.fromhex
# Lengths 0..max, across the 16/64-byte block and the 255/256-byte short-APDU boundaries and up to
# one command; digest/MAC/sign lengths beyond one command go through the stream commands.
ONE_SHOT = [0, 1, 15, 16, 17, 63, 64, 65, 254, 255, 256, 257, 1000, 2047, 2048, 3000]
STREAMED = [3903, 3904, 3905, 8000, 20000, 65536]


def test_vectors_agree_with_cryptography() -> None:
    """The typed-in vectors are what independent implementations compute (guards typing errors)."""
    for t in VECTORS["aes_gcm"]:
        assert AESGCM(h(t["key"])).encrypt(h(t["nonce"]), h(t["plaintext"]), h(t["aad"])) == h(
            t["ciphertext"]
        ) + h(t["tag"])
    for t in VECTORS["chacha20_poly1305"]:
        assert ChaCha20Poly1305(h(t["key"])).encrypt(
            h(t["nonce"]), h(t["plaintext"]), h(t["aad"])
        ) == h(t["ciphertext"]) + h(t["tag"])
    for t in VECTORS["sha3_256"]:
        assert hashlib.sha3_256(h(t["message"])).hexdigest() == t["digest"]
    for t in VECTORS["hmac"]:
        assert hmac.new(h(t["key"]), h(t["message"]), t["hash"]).hexdigest() == t["mac"]


def test_aes_gcm_vectors(alg: A.Algorithms) -> None:
    for t in VECTORS["aes_gcm"]:
        key = alg.import_key(A.KEY_AES_128, h(t["key"]))
        assert alg.encrypt(key, h(t["nonce"]), h(t["plaintext"]), h(t["aad"])) == h(
            t["ciphertext"]
        ) + h(t["tag"])
        assert alg.decrypt(key, h(t["nonce"]), h(t["ciphertext"]) + h(t["tag"]), h(t["aad"])) == h(
            t["plaintext"]
        )
        alg.delete_key(key)


def test_chacha20_poly1305_rfc8439(alg: A.Algorithms) -> None:
    t = VECTORS["chacha20_poly1305"][0]
    key = alg.import_key(A.KEY_CHACHA20, h(t["key"]))
    nonce, aad, pt, ct = h(t["nonce"]), h(t["aad"]), h(t["plaintext"]), h(t["ciphertext"])
    if len(pt) <= alg.max_aead_text(aad):
        assert alg.encrypt(key, nonce, pt, aad) == ct + h(t["tag"])
        assert alg.decrypt(key, nonce, ct + h(t["tag"]), aad) == pt
        return
    # A window too small for the vector (jCardSim's 260 bytes: AEAD is one-shot, its data and
    # answer share the window): refused on the host, and the longest prefix that fits checked
    # instead. A stream cipher: the ciphertext is the vector's prefix; the tag is the reference's.
    with pytest.raises(ServiceWindowError):
        alg.encrypt(key, nonce, pt, aad)
    prefix = pt[: alg.max_aead_text(aad)]
    sealed = alg.encrypt(key, nonce, prefix, aad)
    assert sealed[: len(prefix)] == ct[: len(prefix)]
    assert sealed == ChaCha20Poly1305(h(t["key"])).encrypt(nonce, prefix, aad)
    assert alg.decrypt(key, nonce, sealed, aad) == prefix


def test_sha3_vectors(alg: A.Algorithms) -> None:
    for t in VECTORS["sha3_256"]:
        assert alg.digest(h(t["message"])).hex() == t["digest"]


def test_hmac_vectors(alg: A.Algorithms) -> None:
    for t in VECTORS["hmac"]:
        key = alg.import_key(
            A.KEY_HMAC_SHA256 if t["hash"] == "sha256" else A.KEY_HMAC_SHA512, h(t["key"])
        )
        assert alg.mac(key, h(t["message"])).hex() == t["mac"]
        assert alg.verify_mac(key, h(t["message"]), h(t["mac"]))
        assert not alg.verify_mac(key, h(t["message"]), bytes(len(h(t["mac"]))))
        alg.delete_key(key)


def test_ecdsa_rfc6979_key_and_signature(alg: A.Algorithms) -> None:
    t = VECTORS["ecdsa_p256_sha256"][0]
    private = ec.derive_private_key(int(t["private"], 16), ec.SECP256R1())
    key = alg.import_ec_key(private)
    assert key.public_key == b"\x04" + h(t["public_x"]) + h(t["public_y"])
    good = utils.encode_dss_signature(int(t["r"], 16), int(t["s"], 16))
    assert alg.verify(key, h(t["message"]), good)
    bad = utils.encode_dss_signature(int(t["r"], 16), int(t["s"], 16) ^ 1)
    assert not alg.verify(key, h(t["message"]), bad)
    assert not alg.verify(key, h(t["message"]) + b"x", good)
    assert not alg.verify(key, h(t["message"]), b"\x30\x02\x01")  # malformed DER is a bad signature
    signature = alg.sign(key, h(t["message"]))
    private.public_key().verify(signature, h(t["message"]), ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key_type", [A.KEY_AES_128, A.KEY_AES_256, A.KEY_CHACHA20])
def test_aead_agrees_with_cryptography(alg: A.Algorithms, key_type: int) -> None:
    rng = random.Random(key_type)
    material = os.urandom(16 if key_type == A.KEY_AES_128 else 32)
    key = alg.import_key(key_type, material)
    host = ChaCha20Poly1305(material) if key_type == A.KEY_CHACHA20 else AESGCM(material)
    for n in [x for x in ONE_SHOT if x <= alg.max_aead_text(b"a" * 20)] + [
        alg.max_aead_text(b"a" * 20)
    ]:
        nonce, aad, pt = os.urandom(12), rng.randbytes(rng.choice([0, 1, 20])), rng.randbytes(n)
        ct = alg.encrypt(key, nonce, pt, aad)
        assert ct == host.encrypt(nonce, pt, aad), n
        assert alg.decrypt(key, nonce, ct, aad) == pt
        tampered = bytearray(ct)
        tampered[rng.randrange(len(ct))] ^= 1 << rng.randrange(8)
        with pytest.raises(A.VerificationError) as e:
            alg.decrypt(key, nonce, bytes(tampered), aad)
        assert e.value.sw == A.SW_VERIFICATION_FAILED and e.value.data == b""  # no plaintext leaks
    # A generated key encrypts and decrypts too (its value never leaves the card).
    generated = alg.generate_key(key_type)
    assert alg.decrypt(generated, b"n" * 12, alg.encrypt(generated, b"n" * 12, b"text")) == b"text"


def test_sha3_agrees_with_hashlib(alg: A.Algorithms) -> None:
    for n in ONE_SHOT + STREAMED:
        data = os.urandom(n)
        assert alg.digest(data) == hashlib.sha3_256(data).digest(), n


@pytest.mark.parametrize(
    ("key_type", "name", "length"),
    [(A.KEY_HMAC_SHA256, "sha256", 64), (A.KEY_HMAC_SHA512, "sha512", 128)],
)
def test_hmac_agrees_with_hmac(alg: A.Algorithms, key_type: int, name: str, length: int) -> None:
    for key_length in (1, 32, length):
        material = os.urandom(key_length)
        key = alg.import_key(key_type, material)
        for n in ONE_SHOT + STREAMED:
            data = os.urandom(n)
            expected = hmac.new(material, data, name).digest()
            assert alg.mac(key, data) == expected, (key_length, n)
            assert alg.verify_mac(key, data, expected)
            assert not alg.verify_mac(key, data, expected[:-1] + bytes([expected[-1] ^ 1]))
        alg.delete_key(key)


@pytest.mark.parametrize(
    ("key_type", "name", "block"),
    [(A.KEY_HMAC_SHA256, "sha256", 64), (A.KEY_HMAC_SHA512, "sha512", 128)],
)
def test_hmac_keys_longer_than_the_block(
    alg: A.Algorithms, key_type: int, name: str, block: int
) -> None:
    """RFC 2104 §2: a key longer than the block is hashed first. The card does it at import, for
    keys up to HMAC_MAX_KEY_LENGTH; ``hmac`` does it on the host, and the MACs agree."""
    for key_length in sorted({block, block + 1, 100, A.HMAC_MAX_KEY_LENGTH}):
        if key_length > A.HMAC_MAX_KEY_LENGTH:
            continue  # SHA-512's block (128) is already the most a key can be
        material = os.urandom(key_length)
        key = alg.import_key(key_type, material)
        for n in (0, 64, 3000, 3905):  # one command and streamed
            data = os.urandom(n)
            expected = hmac.new(material, data, name).digest()
            assert alg.mac(key, data) == expected, (key_length, n)
            assert alg.verify_mac(key, data, expected)
        alg.delete_key(key)
    with pytest.raises(A.AlgorithmError) as e:
        alg.import_key(key_type, os.urandom(A.HMAC_MAX_KEY_LENGTH + 1))
    assert e.value.sw == 0x6700
    assert len(alg.mac(alg.generate_key(key_type), b"x")) == block // 2  # the card goes on


def test_ecdsa_public_key_verifies_only(alg: A.Algorithms) -> None:
    """KEY_EC_P256_PUBLIC: a host key's public half on the card verifies what the host signs,
    one-shot and streamed; it does not sign; points off P-256 are refused at import."""
    host = ec.generate_private_key(ec.SECP256R1())
    key = alg.import_ec_public_key(host.public_key())
    point = host.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert key.key_type == A.KEY_EC_P256_PUBLIC and key.public_key == point
    for n in (0, 1, 255, 256, 3000, 3903, 8000):
        data = os.urandom(n)
        signature = host.sign(data, ec.ECDSA(hashes.SHA256()))
        assert alg.verify(key, data, signature), n
        assert not alg.verify(key, data + b"!", signature), n
    with pytest.raises(A.KeyTypeError):
        alg.sign(key, b"x")
    with pytest.raises(A.KeyTypeError):
        alg.sign(key, os.urandom(8000))  # streamed: refused at INIT
    with pytest.raises(A.KeyTypeError):
        alg.generate_key(A.KEY_EC_P256_PUBLIC)

    # A card key pair's signature, checked with its public key imported alone.
    pair = alg.generate_key(A.KEY_EC_P256)
    assert pair.public_key is not None
    public = alg.import_ec_public_key(pair.public_key)
    assert alg.verify(public, b"signed on the card", alg.sign(pair, b"signed on the card"))
    alg.delete_key(public)

    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    x_is_p = b"\x04" + p.to_bytes(32, "big") + point[33:]
    for bad in (off_curve, x_is_p, b"\x04" + bytes(64)):
        with pytest.raises(A.AlgorithmError) as e:
            alg.import_ec_public_key(bad)
        assert e.value.sw == 0x6A80 and e.value.data == b""
    with pytest.raises(ValueError):  # compressed: the host API takes the uncompressed form only
        alg.import_ec_public_key(
            host.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
            )
        )
    with pytest.raises(ValueError):
        alg.import_ec_public_key(ec.generate_private_key(ec.SECP384R1()).public_key())
    assert alg.verify(key, b"still", host.sign(b"still", ec.ECDSA(hashes.SHA256())))


def test_ecdsa_agrees_with_cryptography(alg: A.Algorithms) -> None:
    key = alg.generate_key(A.KEY_EC_P256)
    assert key.public_key is not None
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key.public_key)
    host = ec.generate_private_key(ec.SECP256R1())
    imported = alg.import_ec_key(host)
    for n in ONE_SHOT + STREAMED:
        data = os.urandom(n)
        public.verify(alg.sign(key, data), data, ec.ECDSA(hashes.SHA256()))
        assert alg.verify(imported, data, host.sign(data, ec.ECDSA(hashes.SHA256())))
        assert not alg.verify(imported, data + b"!", host.sign(data, ec.ECDSA(hashes.SHA256())))


def test_import_refuses_tampered_wrap(alg: A.Algorithms) -> None:
    tampered = bytearray(
        A.wrap_key(alg.wrap_key_of(A.ALG_AES_GCM), A.ALG_AES_GCM, A.KEY_AES_128, bytes(16))
    )
    tampered[-1] ^= 1
    with pytest.raises(A.VerificationError):
        alg.call(A.ALG_AES_GCM, A.INS_KEY_IMPORT, bytes(tampered), p1=A.KEY_AES_128)
    # Wrapped for another key type (the AAD binds it): refused.
    blob = A.wrap_key(alg.wrap_key_of(A.ALG_AES_GCM), A.ALG_AES_GCM, A.KEY_AES_256, bytes(16))
    with pytest.raises(A.VerificationError):
        alg.call(A.ALG_AES_GCM, A.INS_KEY_IMPORT, blob, p1=A.KEY_AES_128)
