"""TPM2_MakeCredential in software, for a verifier that holds only an EK's public key.

TPM 2.0 Part 1 §24 "Credential Protection": the verifier picks a secret, protects it so that only
the TPM holding the endorsement key (EK) can recover it, and binds it to the Name of another
object (here the AK); TPM2_ActivateCredential releases it only if that object is loaded in the
same TPM. This module does the verifier's half with ``cryptography`` for the two EK kinds of the
TCG EK Credential Profile (2.5, §2.1.5: templates L-1, RSA 2048, and L-2, ECC NIST P-256: both
with nameAlg SHA-256 and AES-128-CFB as symmetric algorithm). No tpm2-pytss here.

    seed              RSA: 32 random bytes, RSA-OAEP(SHA-256, label "IDENTITY\\0") to the EK;
                      ECC: KDFe(SHA-256, Z, "IDENTITY", ephemeral.x, EK.x, 256) (Part 1 §11.4.10.3)
                      with an ephemeral key; the "encrypted secret" is the ephemeral point
    symKey            KDFa(SHA-256, seed, "STORAGE", Name(AK), "", 128)            (§24.4)
    encIdentity       AES-128-CFB(symKey, IV = 0, TPM2B(secret))
    HMACkey           KDFa(SHA-256, seed, "INTEGRITY", "", "", 256)                 (§24.5)
    outerHMAC         HMAC-SHA-256(HMACkey, encIdentity || Name(AK))
    credentialBlob    TPM2B_ID_OBJECT = TPM2B(TPM2B(outerHMAC) || encIdentity)
    secret            TPM2B_ENCRYPTED_SECRET
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tpmcard.tpm_structures import tpm2b

#: TCG EK Credential Profile §2.2.1.4 "Low Range": the EK certificates' NV indices.
NV_EK_CERTIFICATE_RSA = 0x01C00002
NV_EK_CERTIFICATE_ECC = 0x01C0000A
#: The EK's authPolicy in templates L-1/L-2: PolicySecret(TPM_RH_ENDORSEMENT) (§B.6.2).
EK_AUTH_POLICY = bytes.fromhex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
_SYMMETRIC_KEY_BITS = 128


def kdfa(key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """Part 1 §11.4.10.2 KDFa with SHA-256 (SP 800-108 counter mode, HMAC)."""
    out = b""
    counter = 1
    label = label + b"\0"
    while len(out) * 8 < bits:
        out += hmac.new(
            key,
            struct.pack(">I", counter) + label + context_u + context_v + struct.pack(">I", bits),
            hashlib.sha256,
        ).digest()
        counter += 1
    return out[: (bits + 7) // 8]


def kdfe(z: bytes, label: bytes, party_u: bytes, party_v: bytes, bits: int) -> bytes:
    """Part 1 §11.4.10.3 KDFe with SHA-256 (SP 800-56A concatenation KDF)."""
    out = b""
    counter = 1
    label = label + b"\0"
    while len(out) * 8 < bits:
        out += hashlib.sha256(struct.pack(">I", counter) + z + label + party_u + party_v).digest()
        counter += 1
    return out[: (bits + 7) // 8]


@dataclass(frozen=True)
class CredentialChallenge:
    """MakeCredential's output, marshalled: TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET."""

    credential_blob: bytes
    encrypted_secret: bytes


def _seed_rsa(ek: rsa.RSAPublicKey) -> tuple[bytes, bytes]:
    seed = os.urandom(32)
    encrypted = ek.encrypt(
        seed,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=b"IDENTITY\0",
        ),
    )
    return seed, encrypted


def _seed_ecc(ek: ec.EllipticCurvePublicKey) -> tuple[bytes, bytes]:
    if not isinstance(ek.curve, ec.SECP256R1):
        raise ValueError("only ECC EKs on NIST P-256 (template L-2) are supported")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    z = ephemeral.exchange(ec.ECDH(), ek)
    numbers = ephemeral.public_key().public_numbers()
    ek_x = ek.public_numbers().x.to_bytes(32, "big")
    x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
    seed = kdfe(z, b"IDENTITY", x, ek_x, 256)
    return seed, tpm2b(x) + tpm2b(y)  # TPMS_ECC_POINT


def _aes_cfb_encrypt(key: bytes, data: bytes) -> bytes:
    """AES-CFB128 with a zero IV (Part 1 §11.4.6.3), built on ECB: ``cryptography`` moved its
    CFB mode to the "decrepit" module, whose place differs between versions."""
    block = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 (CFB from ECB)
    previous, out = bytes(16), b""
    for start in range(0, len(data), 16):
        stream = block.update(previous)
        chunk = bytes(a ^ b for a, b in zip(data[start : start + 16], stream, strict=False))
        out += chunk
        previous = chunk if len(chunk) == 16 else previous
    return out


def make_credential(
    ek: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, object_name: bytes, secret: bytes
) -> CredentialChallenge:
    """Protect ``secret`` (at most 32 bytes) for the TPM holding ``ek``, bound to ``object_name``
    (the AK's Name: nameAlg || digest). TPM2_ActivateCredential returns it only there."""
    if not 1 <= len(secret) <= 32:
        raise ValueError("a credential is 1..32 bytes (TPM2B_DIGEST of SHA-256)")
    if isinstance(ek, rsa.RSAPublicKey):
        seed, encrypted = _seed_rsa(ek)
    elif isinstance(ek, ec.EllipticCurvePublicKey):
        seed, encrypted = _seed_ecc(ek)
    else:
        raise ValueError("an EK is an RSA or an ECC key")
    sym_key = kdfa(seed, b"STORAGE", object_name, b"", _SYMMETRIC_KEY_BITS)
    enc_identity = _aes_cfb_encrypt(sym_key, tpm2b(secret))
    hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", 256)
    outer = hmac.new(hmac_key, enc_identity + object_name, hashlib.sha256).digest()
    return CredentialChallenge(tpm2b(tpm2b(outer) + enc_identity), tpm2b(encrypted))
