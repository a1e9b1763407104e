"""Key derivation of the TPM-card binding (docs/binding.md "Key derivation").

One KDF everywhere: ANSI X9.63 with SHA-256 (SEC 1 v2 §3.6.1; NIST SP 800-56C rev. 2 §4.1,
one-step, hash option), the KDF of GP SCP11 (GP Amd F). It takes the raw ECDH x-coordinate as
input, which a PRF-based KDF (SP 800-108) may not do without a separate extraction step.

Keys are returned in ``bytearray`` objects so that :meth:`SessionKeys.wipe` can overwrite them.
That is the most Python offers: the ECDH outputs come from ``cryptography`` (and the TPM) as
immutable ``bytes``, OpenSSL keeps its own copies inside cipher contexts until they are freed, and
the interpreter may have copied any buffer. docs/binding.md "Host key lifetimes" says what this
does and does not protect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

LABEL_PIN = b"tpmcard pin v1"
LABEL_PAIRING = b"tpmcard pairing v1"
LABEL_SESSION = b"tpmcard session v1"

AES_KEY_LENGTH = 16


def x963_kdf(z: bytes | bytearray, shared_info: bytes, length: int) -> bytearray:
    """ANSI X9.63 KDF with SHA-256: H(Z || counter32 || SharedInfo) for counter = 1, 2, ..."""
    return bytearray(
        X963KDF(algorithm=hashes.SHA256(), length=length, sharedinfo=shared_info).derive(bytes(z))
    )


def wipe(*buffers: bytearray) -> None:
    """Overwrite each buffer with zeros (best effort, see the module docstring)."""
    for buffer in buffers:
        buffer[:] = bytes(len(buffer))


@dataclass(frozen=True)
class PinKeys:
    """Keys of one PIN cryptogram: encryption, MAC, and the card's receipt MAC."""

    enc: bytearray
    mac: bytearray
    receipt: bytearray

    def wipe(self) -> None:
        wipe(self.enc, self.mac, self.receipt)


@dataclass(frozen=True)
class SessionKeys:
    """Keys of one session: key confirmation, then the SCP03-style S-ENC, S-MAC, S-RMAC."""

    confirmation: bytearray
    enc: bytearray
    mac: bytearray
    rmac: bytearray

    def wipe(self) -> None:
        wipe(self.confirmation, self.enc, self.mac, self.rmac)


def _split(material: bytearray, count: int) -> list[bytearray]:
    parts = [
        bytearray(material[i * AES_KEY_LENGTH : (i + 1) * AES_KEY_LENGTH]) for i in range(count)
    ]
    wipe(material)
    return parts


def pin_shared_info(
    challenge: bytes,
    ins: int,
    p1: int,
    p2: int,
    ephemeral_point: bytes,
    card_point: bytes,
    context: bytes,
) -> bytes:
    """SharedInfo of a PIN cryptogram: label, card challenge, INS P1 P2, both points, and the
    SHA-256 of the command data that precedes the cryptogram (so the PIN authorises exactly
    that command, once)."""
    return (
        LABEL_PIN
        + challenge
        + bytes((ins, p1, p2))
        + ephemeral_point
        + card_point
        + hashlib.sha256(context).digest()
    )


def derive_pin_keys(z: bytes | bytearray, shared_info: bytes) -> PinKeys:
    enc, mac, receipt = _split(x963_kdf(z, shared_info, 3 * AES_KEY_LENGTH), 3)
    return PinKeys(enc, mac, receipt)


def derive_pairing_secret(
    z_static: bytes | bytearray, card_point: bytes, binding_name: bytes
) -> bytearray:
    """The 32-byte pairing secret from the static-static ECDH of card identity and TPM binding
    key. The card computes it once and stores it; the host recomputes it with TPM2_ECDH_ZGen
    for every session, so only a host whose PCRs satisfy the key's policy can."""
    return x963_kdf(z_static, LABEL_PAIRING + card_point + binding_name, 32)


def derive_session_keys(
    z_ephemeral: bytes | bytearray,
    z_ephemeral_static: bytes | bytearray,
    pairing_secret: bytes | bytearray,
    th1: bytes,
) -> SessionKeys:
    """Session keys from Z = Z_ee || Z_es || pairing secret and SharedInfo = label || th1."""
    z = bytearray(z_ephemeral) + bytearray(z_ephemeral_static) + bytearray(pairing_secret)
    try:
        material = x963_kdf(z, LABEL_SESSION + th1, 4 * AES_KEY_LENGTH)
    finally:
        wipe(z)
    confirmation, enc, mac, rmac = _split(material, 4)
    return SessionKeys(confirmation, enc, mac, rmac)
