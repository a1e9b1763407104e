#!/usr/bin/env python3
"""Writes tests/vectors/closure_examples.json: the example closures (host/tpmcard/services/
closures/examples, docs/closures.md "Examples") as the assembler makes them, with the answers
they must give on a card. The JUnit ClosureExamplesTest and tests/closures/test_examples.py
run the same images.

The answers are the RFCs' own tables (RFC 4226 Appendix D; RFC 6238 Appendix B, SHA-1 and
SHA-256), not computed here; tests/closures/test_example_vectors.py checks them once more with
``cryptography``'s HOTP and TOTP. Running this again reproduces the file byte for byte (a test
checks that). Run: ``.venv/bin/python tests/vectors/make_closure_examples.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tpmcard.services.closures import assemble
from tpmcard.services.closures import examples as E

OUT = Path(__file__).with_name("closure_examples.json")

#: RFC 4226 Appendix D: HOTP codes for counters 0..9, key "12345678901234567890".
HOTP = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]
#: RFC 6238 Appendix B: (Unix time, 8-digit TOTP) for SHA-1 and SHA-256, T0 = 0, X = 30 s.
TOTP_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
TOTP_SHA256 = [
    (59, "46119246"),
    (1111111109, "68084774"),
    (1111111111, "67062674"),
    (1234567890, "91819424"),
    (2000000000, "90698825"),
    (20000000000, "77737706"),
]

#: The session's host PCRs 0..8 in the JUnit test (ServiceCard.openSession): PCR i is
#: SHA-256("host pcr " || i); the card's PCRs 9..23 start at zero.
PCRGATE_INDICES = (0, 7, 9)
PCRGATE_SECRET = b"pcr-gated secret"


#: The rate-limited signer's key: a fresh card's first count-limited key (slot 0, generation 1),
#: with an auth value only the closure knows.
RATESIGN_HANDLE = 0x8C000001
RATESIGN_KEY_AUTH = b"rate-limit auth!"


def host_pcr(i: int) -> bytes:
    return hashlib.sha256(b"host pcr " + bytes([i])).digest()


def image(source: str) -> str:
    return assemble(source).encode().hex()


def build() -> dict[str, Any]:
    view = {i: host_pcr(i) for i in range(9)} | {i: bytes(32) for i in range(9, 24)}
    expected = E.pcr_policy_digest(view, PCRGATE_INDICES)
    return {
        "hotp": {
            "image": image(E.source("hotp")),
            "key": b"12345678901234567890".hex(),
            "codes": HOTP,
        },
        "totp": {
            "image": image(E.source("totp")),
            "key": b"12345678901234567890".hex(),
            "vectors": [{"time": str(t), "code": c} for t, c in TOTP_SHA1],
        },
        "totp256": {
            "image": image(E.source("totp256")),
            "key": b"12345678901234567890123456789012".hex(),
            "vectors": [{"time": str(t), "code": c} for t, c in TOTP_SHA256],
        },
        "ratesign": {
            "image": image(
                E.source(
                    "ratesign",
                    LIMIT=3,
                    PERIOD=3600,
                    HANDLE=RATESIGN_HANDLE,
                    KEYAUTH=RATESIGN_KEY_AUTH,
                )
            ),
            "limit": 3,
            "period_seconds": 3600,
            "handle": f"{RATESIGN_HANDLE:08x}",
            "key_auth": RATESIGN_KEY_AUTH.hex(),
        },
        "pcrgate": {
            "image": image(
                E.source(
                    "pcrgate", INDICES=PCRGATE_INDICES, EXPECTED=expected, SECRET=PCRGATE_SECRET
                )
            ),
            "indices": list(PCRGATE_INDICES),
            "host_pcrs": [host_pcr(i).hex() for i in range(9)],
            "expected": expected.hex(),
            "secret": PCRGATE_SECRET.hex(),
        },
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1) + "\n")


if __name__ == "__main__":
    main()
