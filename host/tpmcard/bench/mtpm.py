"""Mobile TPM latency against the host TPM doing the same operation, measured in the same run.

``compare(mtpm, tpm)`` times quote, extend, seal and unseal on the card's mobile TPM
(:class:`tpmcard.services.mtpm.MtpmSession`, over whatever invoke path it was built on: the secured
session, or the tests' direct stand-in) and the same four on ``tpm``
(:class:`tpmcard.tpm.adapter.Tpm`, e.g. swtpm), and reports ``ratio`` = card / TPM median.

Like for like, as far as the two designs allow: quotes of the same PCR selection and nonce;
extends of PCR 23 on both (resettable, application PCR); seal of the same 16 bytes to PCR 9
(card: encrypt-then-MAC under its storage keys; TPM: TPM2_Create of a PolicyPCR sealed object
under the SRK, so the SRK context load is included) and unseal of that blob (TPM: load, policy
session, PolicyPCR, TPM2_Unseal, flushes). The TPM's figures include tpm2-pytss and the TCP
round trips to swtpm, the card's the whole secured-session path.
"""

from __future__ import annotations

from typing import Any

from tpmcard.bench import interleaved
from tpmcard.services.mtpm import MtpmSession
from tpmcard.tpm.adapter import Tpm

PCRS = (0, 1, 8, 9, 10)
NONCE = b"\x5a" * 16
DIGEST = b"\xa5" * 32
SECRET = b"benchmark secret"


def compare(mtpm: MtpmSession, tpm: Tpm, rounds: int = 200) -> dict[str, Any]:
    ak = tpm.create_attestation_key()
    blob = mtpm.seal(SECRET, [9])
    tpm_blob = tpm.seal(SECRET, [9])
    card = interleaved(
        {
            "quote": lambda: mtpm.quote(PCRS, NONCE),
            "extend": lambda: mtpm.extend(23, DIGEST),
            "seal": lambda: mtpm.seal(SECRET, [9]),
            "unseal": lambda: mtpm.unseal(blob),
        },
        rounds,
        block=20,
    )
    host = interleaved(
        {
            "quote": lambda: tpm.quote(ak, PCRS, NONCE),
            "extend": lambda: tpm.pcr_extend(23, DIGEST),
            "seal": lambda: tpm.seal(SECRET, [9]),
            "unseal": lambda: tpm.unseal(tpm_blob),
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
