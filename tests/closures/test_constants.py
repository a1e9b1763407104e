"""host/tpmcard/services/closures/constants.py and tpmcard.mtpm.ClosureConstants (read through
JPype) name the same values, both ways."""

from __future__ import annotations

from collections.abc import Callable

from tpmcard.services.closures import constants as K


def test_python_and_java_closure_constants_match(
    java_constants: Callable[[str], dict[str, int]],
) -> None:
    java = java_constants("tpmcard.mtpm.ClosureConstants")
    python = {n: v for n, v in vars(K).items() if n.isupper() and isinstance(v, int)}
    assert len(java) > 90
    assert sorted(set(java) ^ set(python)) == []
    mask = {
        n: 0xFFFF if n.startswith("SW_") or n.startswith(("MAX_", "H_", "S_")) else 0xFF
        for n in java
    }
    wrong = {n: (java[n], python[n]) for n in java if python[n] & mask[n] != java[n] & mask[n]}
    assert not wrong
