"""The benchmark helper runs end to end (numbers are not asserted: benchmarks are not tests)."""

from __future__ import annotations

from tpmcard.bench.algorithms import measure
from tpmcard.services import algorithms as A


def test_measure_reports_every_provider(alg: A.Algorithms) -> None:
    rows = measure(alg, sizes=(1024,), min_seconds=0.0)
    assert {r["provider"] for r in rows} == {
        "aes-256-gcm",
        "chacha20-poly1305",
        "sha3-256",
        "hmac-sha256",
        "ecdsa-p256-sha256",
    }
    assert all(r["card_s"] > 0 and r["host_s"] > 0 and r["ratio"] > 0 for r in rows)
    chosen = {p.name: p.implementation_name for p in alg.list()}
    assert {r["implementation"] for r in rows} <= {"native", "software"}
    assert all(r["implementation"] in chosen.values() for r in rows)
    assert len(alg.list()) == 5  # keys it made are deleted again; registry untouched
