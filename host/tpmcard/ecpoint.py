"""Uncompressed P-256 points (SEC 1 §2.3.3: 04 || X || Y, 65 bytes): the one encoder and decoder.

The card, the TPM and the wire formats all carry P-256 public keys this way.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tpmcard.constants import EC_POINT_LENGTH

__all__ = ["load_point", "point_bytes"]


def point_bytes(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> bytes:
    """04 || X || Y of a P-256 key (of its public half for a private key)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an uncompressed point; ValueError if it is not one."""
    if len(point) != EC_POINT_LENGTH or point[0] != 0x04:
        raise ValueError("not an uncompressed P-256 point (04 || X || Y, 65 bytes)")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(point))
