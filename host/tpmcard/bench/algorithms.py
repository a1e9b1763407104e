"""Provider throughput through the session, beside the same algorithm in ``cryptography`` on the
host, measured in the same run and reported as a ratio (card time / host time).

``measure(algorithms)`` takes a :class:`tpmcard.services.algorithms.Algorithms` over any session
(the bound secure session in production; the test bridge in tests). Data larger than one command is
streamed (digest, MAC, sign); AEAD is one-shot only, so 64 KiB of AEAD is 17 commands of at most
``max_aead_text`` bytes each, as an application would send it."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from tpmcard.services import algorithms as A

SIZES = (1024, 65536)

#: The provider (by bench name) of each registry AID, to report what each one runs.
PROVIDERS = {
    A.AID_AES_GCM: "aes-256-gcm",
    A.AID_CHACHA20_POLY1305: "chacha20-poly1305",
    A.AID_SHA3: "sha3-256",
    A.AID_HMAC: "hmac-sha256",
    A.AID_ECDSA_P256: "ecdsa-p256-sha256",
}
#: The providers that have both a native and a software implementation (docs/algorithms.md).
BOTH = (A.AID_AES_GCM, A.AID_SHA3)


def _time(fn: Callable[[], object], min_seconds: float = 0.2, max_rounds: int = 200) -> float:
    """Seconds per call: repeat until min_seconds have passed (at least 2 calls)."""
    rounds, start = 0, time.perf_counter()
    while True:
        fn()
        rounds += 1
        elapsed = time.perf_counter() - start
        if (elapsed >= min_seconds and rounds >= 2) or rounds >= max_rounds:
            return elapsed / rounds


def _aead_pieces(alg: A.Algorithms, data: bytes) -> list[bytes]:
    n = alg.max_aead_text()
    return [data[i : i + n] for i in range(0, len(data), n)] or [b""]


Case = tuple[str, Callable[[], object], Callable[[], object]]


def measure(
    alg: A.Algorithms, sizes: tuple[int, ...] = SIZES, min_seconds: float = 0.2
) -> list[dict[str, Any]]:
    """One row per (provider, size): what the provider runs (native or software, as it chose at
    install), card and host seconds, MB/s, ratio."""
    rows: list[dict[str, Any]] = []
    runs = {PROVIDERS[p.aid]: p.implementation_name for p in alg.list() if p.aid in PROVIDERS}
    nonce = b"\x00" * 12
    aes_key, chacha_key, mac_key = os.urandom(32), os.urandom(32), os.urandom(32)
    card_aes = alg.import_key(A.KEY_AES_256, aes_key)
    card_chacha = alg.import_key(A.KEY_CHACHA20, chacha_key)
    card_mac = alg.import_key(A.KEY_HMAC_SHA256, mac_key)
    card_ec = alg.generate_key(A.KEY_EC_P256)
    host_ec = ec.generate_private_key(ec.SECP256R1())
    aes, chacha = AESGCM(aes_key), ChaCha20Poly1305(chacha_key)

    def _cases(data: bytes, pieces: list[bytes]) -> list[Case]:
        # The closures bind this call's data and pieces (not a loop variable).
        return [
            (
                "aes-256-gcm",
                lambda: [alg.encrypt(card_aes, nonce, p) for p in pieces],
                lambda: [aes.encrypt(nonce, p, None) for p in pieces],
            ),
            (
                "chacha20-poly1305",
                lambda: [alg.encrypt(card_chacha, nonce, p) for p in pieces],
                lambda: [chacha.encrypt(nonce, p, None) for p in pieces],
            ),
            ("sha3-256", lambda: alg.digest(data), lambda: hashlib.sha3_256(data).digest()),
            (
                "hmac-sha256",
                lambda: alg.mac(card_mac, data),
                lambda: hmac.new(mac_key, data, "sha256").digest(),
            ),
            (
                "ecdsa-p256-sha256",
                lambda: alg.sign(card_ec, data),
                lambda: host_ec.sign(data, ec.ECDSA(hashes.SHA256())),
            ),
        ]

    try:
        for size in sizes:
            data = os.urandom(size)
            pieces = _aead_pieces(alg, data)
            cases = _cases(data, pieces)
            for name, card, host in cases:
                card_s = _time(card, min_seconds)
                host_s = _time(host, min_seconds, max_rounds=100000)
                rows.append(
                    {
                        "provider": name,
                        "implementation": runs.get(name, "?"),
                        "bytes": size,
                        "card_s": card_s,
                        "host_s": host_s,
                        "card_mb_s": size / card_s / 1e6,
                        "host_mb_s": size / host_s / 1e6,
                        "ratio": card_s / host_s,
                    }
                )
    finally:
        for key in (card_aes, card_chacha, card_mac, card_ec):
            alg.delete_key(key)
    return rows
