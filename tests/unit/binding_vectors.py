"""Loads tests/vectors/binding.json and builds the fixed keys, card model and TPM it describes."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from card_model import CardModel
from cryptography.hazmat.primitives.asymmetric import ec
from fake_tpm import FakeTpm

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "binding.json"


@functools.cache
def load() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def private(scalar_hex: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(scalar_hex, 16), ec.SECP256R1())


def tpm() -> FakeTpm:
    v = load()
    pcrs = {int(i): h(x) for i, x in v["tpm"]["pcr_values"].items()}
    return FakeTpm(
        pcrs,
        v["tpm"]["policy_pcrs"],
        binding=private(v["keys"]["binding_private"]),
        ak=private(v["keys"]["ak_private"]),
        ca=private(v["keys"]["attestation_ca_private"]),
    )


def card(
    challenges: list[bytes] | None = None,
    ephemerals: list[ec.EllipticCurvePrivateKey] | None = None,
) -> CardModel:
    """The vector card: its identity key, and the challenges and ephemerals it will draw."""
    v = load()
    queue: Iterator[bytes] = iter(challenges or [])

    def random(n: int) -> bytes:
        value = next(queue)
        assert len(value) == n
        return value

    return CardModel(
        private(v["keys"]["card_identity_private"]),
        random=random,
        ephemerals=iter(ephemerals) if ephemerals else None,
        ca_point=h(v["keys"]["attestation_ca_point"]),
    )
