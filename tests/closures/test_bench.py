"""``tpmcard bench --only closures`` runs end to end (numbers are not asserted: benchmarks are
not tests): every row measured on the card, steps counted by the card, estimates present, and
the card left as it was found (no closure, no count-limited key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpmcard.bench.closures import measure
from tpmcard.services.session import SecureCardSession

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py


def test_the_closures_section_measures_every_row(sim_bound_card: BoundCard) -> None:
    with sim_bound_card.connect() as secure_session:
        check_rows(secure_session)


def check_rows(secure_session: SecureCardSession) -> None:
    rows = measure(secure_session, rounds=3, warmup_seconds=0)
    by_name = {row["operation"]: row for row in rows}
    assert list(by_name) == [
        "HMAC-SHA-256, 32 B",
        "ECDSA sign, 32 B (ratesign)",
        "HOTP (loaded)",
        "TOTP (image)",
        "PCR gate, 3 PCRs (image)",
    ]
    for row in rows:
        assert row["steps"] > 0 and row["closure_ms"] > 0 and row["closure_apdus"] >= 1
        assert row["closure_estimate_ms"] > row["steps"] * 0.5
    mac = by_name["HMAC-SHA-256, 32 B"]
    assert mac["steps"] == 12  # PUSHB DATA (the key), 5 operands HMAC256, 2 operands OUT, HALT
    for compared in (mac, by_name["ECDSA sign, 32 B (ratesign)"]):
        assert compared["native_ms"] > 0 and compared["ratio"] > 0
        assert compared["estimate_ratio"] > 1 and compared["native_apdus"] >= 1
    assert secure_session.closures.list() == []
    assert secure_session.counted_keys.list() == []
