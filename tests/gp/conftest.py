"""Fixtures for the deployment tests: a two-package suite (the real core package and a throwaway
provider that imports it), its CAP files, and card keys. Nothing here needs a card or a reader."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tpmcard.manifest import AppletEntry, PackageEntry, SuiteManifest
from tpmcard.services import gp

sys.path.insert(0, str(Path(__file__).parent))
from capfiles import (  # noqa: E402
    CORE_AID,
    CORE_APPLET,
    JAVACARD_FRAMEWORK,
    KEY,
    PROVIDER_AID,
    PROVIDER_APPLET,
    write_cap,
)


@pytest.fixture
def two_package_manifest() -> SuiteManifest:
    return SuiteManifest(
        rid=bytes.fromhex("F074706D63"),
        packages=(
            PackageEntry(
                "core", "tpmcard.core", CORE_AID, "1.0",
                (AppletEntry("core", "tpmcard.core.CoreApplet", CORE_APPLET),),
            ),
            PackageEntry(
                "provider", "tpmcard.provider", PROVIDER_AID, "1.2",
                (AppletEntry("digest", "tpmcard.provider.DigestApplet", PROVIDER_APPLET),),
            ),
        ),
    )  # fmt: skip


@pytest.fixture
def two_package_profile(two_package_manifest: SuiteManifest) -> gp.DeploymentProfile:
    raw = {
        "load_order": ["core", "provider"],
        "secure_channel": "enc",
        "applets": {
            "core": {"params": {"random": 32}},
            "digest": {"privileges": ["CardReset"], "params": {"hex": "0102"}},
        },
    }
    return gp.parse_profile(raw, "test", two_package_manifest)


@pytest.fixture
def two_package_caps(
    tmp_path: Path, two_package_profile: gp.DeploymentProfile
) -> dict[str, gp.CapInfo]:
    core = write_cap(
        tmp_path / "core.cap", "tpmcard.core", CORE_AID, (1, 0), [CORE_APPLET],
        [(JAVACARD_FRAMEWORK, 1, 6)], exports=True,
    )  # fmt: skip
    provider = write_cap(
        tmp_path / "provider.cap", "tpmcard.provider", PROVIDER_AID, (1, 2), [PROVIDER_APPLET],
        [(JAVACARD_FRAMEWORK, 1, 6), (CORE_AID, 1, 0)],
    )  # fmt: skip
    caps = {"core": gp.read_cap(core), "provider": gp.read_cap(provider)}
    for package in two_package_profile.packages:
        gp.check_cap(caps[package.name], package)
    gp.check_load_order(two_package_profile, caps)
    return caps


@pytest.fixture
def keys() -> gp.CardKeys:
    return gp.CardKeys.from_master(KEY, source="test")
