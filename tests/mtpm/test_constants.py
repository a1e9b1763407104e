"""The Python names of host/tpmcard/mtpm.py match Constants.java (read through JPype), and the
manifest lists the applet under MTPM_AID."""

from __future__ import annotations

import json

import tpmcard.mtpm as M
from tpmcard import paths

PREFIXES = ("INS_", "KEY_", "P1_", "P2_", "SW_", "NV_ATTRIBUTE_", "FORMAT_", "MIN_TOKEN_")


def test_python_constants_match_java(jvm: None) -> None:
    import jpype

    java = jpype.JClass("tpmcard.mtpm.Constants")
    names = [n for n in dir(M) if n.startswith(PREFIXES)]
    assert len(names) > 30
    for name in names:
        value = int(getattr(java, name))
        assert (value & 0xFFFF if name.startswith("SW_") else value & 0xFF) == getattr(M, name), (
            name
        )


def test_manifest_lists_the_mtpm_applet() -> None:
    manifest = json.loads(paths.manifest_path().read_text())
    (package,) = [p for p in manifest["packages"] if p["name"] == "mtpm"]
    assert package["aid"] == "F074706D630200"
    assert package["applets"][0]["aid"] == M.MTPM_AID.hex().upper()
    assert package["applets"][0]["class"] == "tpmcard.mtpm.MtpmApplet"
