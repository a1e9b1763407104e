"""tpmcard.constants mirrors tpmcard.core.Constants: read the compiled Java class through JPype.

Every public static final byte/short field of the Java class must be in the Python module with
the same value, and the Python module must have no upper-case name the Java class lacks.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tpmcard import constants


@pytest.fixture(scope="module")
def java(java_constants: Callable[[str], dict[str, int]]) -> dict[str, int]:
    return java_constants("tpmcard.core.Constants")


def python_constants() -> dict[str, int]:
    return {k: v for k, v in vars(constants).items() if k.isupper() and isinstance(v, int)}


def test_every_java_constant_is_mirrored_with_its_value(java: dict[str, int]) -> None:
    assert len(java) > 80  # the core applet's and the binding's names
    python = python_constants()
    missing = sorted(set(java) - set(python))
    assert not missing, f"in Constants.java but not in tpmcard.constants: {missing}"
    wrong = {k: (hex(java[k]), hex(python[k])) for k in java if python[k] != java[k]}
    assert not wrong, f"values differ (Java, Python): {wrong}"


def test_python_has_no_name_that_java_lacks(java: dict[str, int]) -> None:
    extra = sorted(set(python_constants()) - set(java))
    assert not extra, f"in tpmcard.constants but not in Constants.java: {extra}"


def test_sizes_that_the_protocol_derives_agree(java: dict[str, int]) -> None:
    assert java["SM_MAX_PAYLOAD"] + java["SM_OVERHEAD"] == java["MAX_COMMAND_DATA"]
    assert java["MAX_RESPONSE_DATA"] == java["MAX_COMMAND_DATA"]
    assert java["MAX_PLAIN_DATA"] == java["SM_MAX_PAYLOAD"]
