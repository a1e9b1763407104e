"""Mobile TPM latency against the host TPM doing the same operation, measured in the same run.

``compare(mtpm, tpm)`` times quote, extend, seal and unseal on the card's mobile TPM
(:class:`tpmcard.mtpm.MtpmSession`, over whatever invoke path it was built on: the secured
session, or the tests' direct stand-in) and quote and extend on ``tpm``
(:class:`tpmcard.tpm.adapter.Tpm`, e.g. swtpm). The Tpm adapter has no seal/unseal, so those two
report the card's time with no baseline (``ratio`` None) rather than a made-up one. Card PCR 23
and TPM PCR 23 are used for extends (resettable, application PCR).
"""

from __future__ import annotations

from typing import Any

from tpmcard.bench import interleaved
from tpmcard.mtpm import MtpmSession
from tpmcard.tpm.adapter import Tpm

PCRS = (0, 1, 8, 9, 10)
NONCE = b"\x5a" * 16
DIGEST = b"\xa5" * 32


def compare(mtpm: MtpmSession, tpm: Tpm, rounds: int = 200) -> dict[str, Any]:
    ak = tpm.create_attestation_key()
    blob = mtpm.seal(b"benchmark secret", [9])
    card = interleaved(
        {
            "quote": lambda: mtpm.quote(PCRS, NONCE),
            "extend": lambda: mtpm.extend(23, DIGEST),
            "seal": lambda: mtpm.seal(b"benchmark secret", [9]),
            "unseal": lambda: mtpm.unseal(blob),
        },
        rounds,
        block=20,
    )
    host = interleaved(
        {
            "quote": lambda: tpm.quote(ak, PCRS, NONCE),
            "extend": lambda: tpm.pcr_extend(23, DIGEST),
        },
        rounds,
        block=20,
    )
    out: dict[str, Any] = {}
    for name, sample in card.items():
        baseline = host.get(name)
        out[name] = {
            "mtpm_ms": sample.median * 1e3,
            "tpm_ms": baseline.median * 1e3 if baseline else None,
            "ratio": sample.median / baseline.median if baseline else None,
        }
    return out
