#!/usr/bin/env python3
"""Writes tests/vectors/flexible_sealing.json: known answers for flexible sealing and unbinding
(docs/flexible-sealing.md) from fixed keys.

* ``approve``: the statement an authority signs for a configuration, and its signature
  (deterministic ECDSA, RFC 6979, so the file is reproducible);
* ``revoke``: the revoke statement and its signature;
* ``bind``: ECIES to a fixed bind key with a fixed ephemeral key and nonce: Z, K_e, K_m, the IV
  and the whole ciphertext.

Standalone on purpose: it builds every byte from the document with `cryptography` alone, without
importing tpmcard, so the card (FlexibleSealingTest, JUnit) and the host
(tpmcard.services.mtpm_flexible, tests/unit/test_flexible_vectors.py) are each checked against a
third computation. Run: ``.venv/bin/python tests/vectors/make_flexible_sealing_vectors.py``; a
unit test checks that running it again gives the file byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OUT = Path(__file__).with_name("flexible_sealing.json")


def key(scalar_hex: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(scalar_hex, 16), ec.SECP256R1())


def point(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def sign(k: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return k.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def bitmap(pcrs: list[int]) -> bytes:
    out = bytearray(3)
    for i in pcrs:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


AUTHORITY = "1f2e3d4c5b6a79880123456789abcdef00112233445566778899aabbccddeeff"
BIND = "0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829"
EPHEMERAL = "7e7d7c7b7a797877767574737271706f6e6d6c6b6a69686766656463626160ff"
PCR0 = hashlib.sha256(b"host PCR 0").digest()
EXTEND16 = hashlib.sha256(b"card PCR 16 event").digest()
PCR16 = hashlib.sha256(bytes(32) + EXTEND16).digest()  # PCR 16 extended once from zero


def approve(name: str, policy_ref: bytes, epoch: int) -> dict[str, object]:
    k = key(AUTHORITY)
    pcrs = [0, 16]
    digest = hashlib.sha256(PCR0 + PCR16).digest()
    statement = (
        b"tpmcard-approve-v1"
        + bitmap(pcrs)
        + digest
        + bytes([len(policy_ref)])
        + policy_ref
        + struct.pack(">Q", epoch)
    )
    return {
        "name": name,
        "authority_private": AUTHORITY,
        "authority_point": point(k).hex(),
        "authority_hash": hashlib.sha256(point(k)).digest().hex(),
        "pcrs": pcrs,
        "pcr0": PCR0.hex(),
        "extend16": EXTEND16.hex(),
        "pcr16": PCR16.hex(),
        "pcr_digest": digest.hex(),
        "policy_ref": policy_ref.hex(),
        "epoch": epoch,
        "statement": statement.hex(),
        "signature": sign(k, statement).hex(),
    }


def revoke(name: str, epoch: int) -> dict[str, object]:
    k = key(AUTHORITY)
    statement = b"tpmcard-revoke-v1" + struct.pack(">Q", epoch)
    return {
        "name": name,
        "authority_private": AUTHORITY,
        "authority_point": point(k).hex(),
        "epoch": epoch,
        "statement": statement.hex(),
        "signature": sign(k, statement).hex(),
    }


def bind(name: str, form: int, policy: bytes, message: bytes, nonce: bytes) -> dict[str, object]:
    card, eph = key(BIND), key(EPHEMERAL)
    header = bytes([1]) + nonce + point(eph) + bytes([form]) + policy
    z = eph.exchange(ec.ECDH(), card.public_key())
    okm = X963KDF(hashes.SHA256(), 64, b"tpmcard-bind-v1" + point(card) + header).derive(z)
    k_e, k_m = okm[:32], okm[32:]
    ecb = Cipher(algorithms.AES(k_e), modes.ECB()).encryptor()  # noqa: S305 (one IV block)
    iv = ecb.update(nonce + bytes(8)) + ecb.finalize()
    plain = struct.pack(">H", len(message)) + message
    plain += bytes(-len(plain) % 16)
    cbc = Cipher(algorithms.AES(k_e), modes.CBC(iv)).encryptor()
    body = header + cbc.update(plain) + cbc.finalize()
    mac = CMAC(algorithms.AES(k_m))
    mac.update(body)
    return {
        "name": name,
        "bind_private": BIND,
        "bind_point": point(card).hex(),
        "ephemeral_private": EPHEMERAL,
        "nonce": nonce.hex(),
        "form": form,
        "policy": policy.hex(),
        "message": message.hex(),
        "header_length": len(header),
        "z": z.hex(),
        "k_e": k_e.hex(),
        "k_m": k_m.hex(),
        "iv": iv.hex(),
        "ciphertext": (body + mac.finalize()).hex(),
    }


def main() -> None:
    any_of = bitmap([0, 16]) + bytes([2]) + bytes(32) + hashlib.sha256(PCR0 + PCR16).digest()
    authorized = hashlib.sha256(point(key(AUTHORITY))).digest() + bytes([4]) + b"bind"
    vectors = {
        "approve": [
            approve("empty policyRef, epoch 5", b"", 5),
            approve("policyRef 'vm-image', epoch 7", b"vm-image", 7),
        ],
        "revoke": [revoke("revoke below 6", 6)],
        "bind": [
            bind("no policy, 14 bytes", 0, b"", b"bound message!", bytes(range(8))),
            bind(
                "any-of two states, 30 bytes",
                1,
                any_of,
                b"a message of thirty bytes long",
                b"nonce-02",
            ),
            bind("authorized, 128 bytes", 2, authorized, bytes(range(128)), b"\xff" * 8),
        ],
    }
    OUT.write_text(json.dumps(vectors, indent=1) + "\n")


if __name__ == "__main__":
    main()
