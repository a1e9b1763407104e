#!/usr/bin/env python3
"""Writes tests/vectors/quote_tokens.json: the bytes the card signs for a JWT or EAT quote
(docs/quote-formats.md) for fixed inputs.

Standalone on purpose: standard library only, without importing tpmcard, so the card's encoder
(QuoteTokenTest, JUnit) and the host's (tpmcard.services.quote_formats,
tests/unit/test_quote_formats.py)
are each checked against a third computation from the document. The JSON is written with
``json.dumps`` (compact separators, the documented key order) and the CBOR by hand from RFC 8949
heads. Run: ``.venv/bin/python tests/vectors/make_quote_token_vectors.py``; a unit test checks
that running it again gives the file byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

OUT = Path(__file__).with_name("quote_tokens.json")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25, n >> 8, n & 0xFF])


def cbor_bytes(b: bytes) -> bytes:
    return cbor_head(2, len(b)) + b


def cbor_text(t: str) -> bytes:
    return cbor_head(3, len(t)) + t.encode()


def bitmap(pcrs: list[int]) -> bytes:
    out = bytearray(3)
    for i in pcrs:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def vector(name: str, pcrs: list[int], nonce: bytes) -> dict[str, str]:
    ueid = b"\x01" + hashlib.sha256(b"ek " + name.encode()).digest()
    digest = hashlib.sha256(b"pcrs " + name.encode()).digest()
    header = json.dumps({"alg": "ES256", "typ": "JWT"}, separators=(",", ":"))
    claims = json.dumps(
        {
            "iss": "tpmcard-mtpm",
            "ueid": b64url(ueid),
            "eat_nonce": b64url(nonce),
            "pcrs": pcrs,
            "pcr_digest": b64url(digest),
        },
        separators=(",", ":"),
    )
    jws_input = f"{b64url(header.encode())}.{b64url(claims.encode())}".encode()
    payload = (
        cbor_head(5, 5)
        + cbor_head(0, 1) + cbor_text("tpmcard-mtpm")
        + cbor_head(0, 10) + cbor_bytes(nonce)
        + cbor_head(0, 256) + cbor_bytes(ueid)
        + cbor_text("pcrs") + cbor_head(4, len(pcrs)) + b"".join(cbor_head(0, i) for i in pcrs)
        + cbor_text("pcr_digest") + cbor_bytes(digest)
    )  # fmt: skip
    sig_structure = (
        cbor_head(4, 4) + cbor_text("Signature1") + cbor_bytes(bytes.fromhex("a10126"))
        + cbor_bytes(b"") + cbor_bytes(payload)
    )  # fmt: skip
    return {
        "name": name,
        "ueid": ueid.hex(),
        "selection": bitmap(pcrs).hex(),
        "pcrs": ",".join(map(str, pcrs)),
        "nonce": nonce.hex(),
        "pcr_digest": digest.hex(),
        "jwt_signing_input": jws_input.decode(),
        "eat_sig_structure": sig_structure.hex(),
    }


def main() -> None:
    vectors = [
        vector(
            "quote of 0,1,8,9,10",
            [0, 1, 8, 9, 10],
            bytes.fromhex("00112233445566778899aabbccddeeff"),
        ),
        vector("shortest nonce, one PCR", [23], bytes(range(8))),
        vector("every PCR, longest nonce", list(range(24)), bytes(range(0xC0, 0x100))),
        vector("nonce of 23 bytes: a one-byte CBOR head", [9], bytes(23)),
        vector("nonce of 24 bytes: a two-byte CBOR head", [9, 16], bytes([0xFF]) * 24),
    ]
    OUT.write_text(
        json.dumps({"comment": __doc__.splitlines()[0], "vectors": vectors}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
