"""binding_constants.py mirrors BindingConstants.java: same names, same values.

Read from the Java source (no JVM needed); once the lead merges both into Constants.java and
tpmcard.constants, the JPype check of those covers it instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from tpmcard.channel import binding_constants

JAVA = (
    Path(__file__).resolve().parents[2]
    / "applets"
    / "src"
    / "main"
    / "java"
    / "tpmcard"
    / "core"
    / "BindingConstants.java"
)
DECLARATION = re.compile(
    r"public static final (?:byte|short) (\w+) = (?:\((?:byte|short)\) )?(0x[0-9A-Fa-f]+|\d+);"
)


def java_constants() -> dict[str, int]:
    return {name: int(value, 0) for name, value in DECLARATION.findall(JAVA.read_text())}


def test_every_java_constant_has_the_same_python_value() -> None:
    java = java_constants()
    assert len(java) > 40
    python = {k: v for k, v in vars(binding_constants).items() if k.isupper()}
    assert java == python
