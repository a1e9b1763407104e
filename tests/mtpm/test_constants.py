"""The Python names of host/tpmcard/services/mtpm_constants.py and tpmcard.mtpm.Constants (read
through JPype) match both ways, and the manifest lists the applet under MTPM_AID."""

from __future__ import annotations

import json
from collections.abc import Callable

import tpmcard.services.mtpm as M
import tpmcard.services.mtpm_constants as K
from tpmcard import paths

PREFIXES = ("INS_", "KEY_", "P1_", "P2_", "SW_", "NV_ATTRIBUTE_", "FORMAT_", "MIN_TOKEN_")


def python_constants() -> dict[str, int]:
    return {n: v for n, v in vars(K).items() if n.startswith(PREFIXES) and isinstance(v, int)}


def test_every_java_constant_is_mirrored_with_its_value(
    java_constants: Callable[[str], dict[str, int]],
) -> None:
    java = {
        n: v for n, v in java_constants("tpmcard.mtpm.Constants").items() if n.startswith(PREFIXES)
    }
    assert len(java) > 30
    python = python_constants()
    missing = sorted(set(java) - set(python))
    assert not missing, f"in Constants.java but not in mtpm_constants.py: {missing}"
    mask = {n: 0xFFFF if n.startswith("SW_") else 0xFF for n in java}
    wrong = {
        n: (hex(java[n]), hex(python[n])) for n in java if python[n] & mask[n] != java[n] & mask[n]
    }
    assert not wrong, f"values differ (Java, Python): {wrong}"


def test_python_has_no_name_that_java_lacks(
    java_constants: Callable[[str], dict[str, int]],
) -> None:
    extra = sorted(set(python_constants()) - set(java_constants("tpmcard.mtpm.Constants")))
    assert not extra, f"in mtpm_constants.py but not in Constants.java: {extra}"


def test_manifest_lists_the_mtpm_applet() -> None:
    manifest = json.loads(paths.manifest_path().read_text())
    (package,) = [p for p in manifest["packages"] if p["name"] == "mtpm"]
    assert package["aid"] == "F074706D630200"
    assert package["applets"][0]["aid"] == M.MTPM_AID.hex().upper()
    assert package["applets"][0]["class"] == "tpmcard.mtpm.MtpmApplet"
