"""``tpmcard bench --only closures`` runs end to end (numbers are not asserted: benchmarks are
not tests): every row measured on the card, steps counted by the card, estimates present, and
the card left as it was found."""

from __future__ import annotations

from tpmcard.bench.closures import measure
from tpmcard.services.session import SecureCardSession


def test_the_closures_section_measures_every_row(secure_session: SecureCardSession) -> None:
    rows = measure(secure_session, rounds=3)
    by_name = {row["operation"]: row for row in rows}
    assert list(by_name) == [
        "HMAC-SHA-256, 32 B",
        "ECDSA sign, 32 B (ratesign)",
        "HOTP (loaded)",
        "TOTP (image)",
        "PCR gate, 3 PCRs (image)",
    ]
    for row in rows:
        if "error" in row:
            continue
        assert row["steps"] > 0 and row["closure_ms"] > 0 and row["closure_apdus"] >= 1
        assert row["closure_estimate_ms"] > row["steps"] * 0.5
    mac = by_name["HMAC-SHA-256, 32 B"]
    assert mac["steps"] == 12  # PUSHB DATA (the key), 5 operands HMAC256, 2 operands OUT, HALT
    assert mac["native_ms"] > 0 and mac["ratio"] > 0 and mac["estimate_ratio"] > 1
    assert secure_session.closures.list() == []
