"""Deployment profiles: the shipped ones match the manifest; malformed ones are refused."""

from __future__ import annotations

from typing import Any

import pytest
from tpmcard import manifest as suite_manifest
from tpmcard.manifest import SuiteManifest
from tpmcard.services import gp


@pytest.mark.parametrize("path", sorted(gp.profiles_dir().glob("*.json")), ids=lambda p: p.stem)
def test_shipped_profiles_match_the_manifest(path: Any) -> None:
    manifest = suite_manifest.load()
    profile = gp.load_profile(path)
    assert sorted(p.name for p in profile.packages) == sorted(p.name for p in manifest.packages)
    for package in profile.packages:
        entry = next(p for p in manifest.packages if p.name == package.name)
        assert (package.aid, package.version) == (entry.aid, entry.version)
        assert [a.applet_aid for a in package.applets] == [a.aid for a in entry.applets]
    # The manifest lists packages in dependency order (JUnit CardBytecodeCheckTest checks that
    # against the class files); a profile loads them in that order too.
    assert [p.name for p in profile.packages] == [p.name for p in manifest.packages]


def test_default_profile_gives_the_core_applet_32_random_bytes() -> None:
    core = gp.load_profile("default").package("core").applets[0]
    # The core applet takes up to 32 bytes of install-time entropy (Constants.MAX_INSTALL_ENTROPY).
    assert core.params == gp.InstallParams(random=32)
    assert core.instance_aid == core.applet_aid


def test_random_params_are_fresh() -> None:
    params = gp.InstallParams(fixed=b"\x01", random=32)
    first, second = params.materialize(), params.materialize()
    assert len(first) == 33 and first[0] == 1 and first != second


def test_instance_aid_and_privileges(two_package_manifest: SuiteManifest) -> None:
    raw = {
        "applets": {"digest": {"instance_aid": "F074706D6302000101", "privileges": ["CardReset"]}}
    }
    profile = gp.parse_profile(raw, "x", two_package_manifest)
    provider = profile.package_of_applet("digest").applets[0]
    assert provider.instance_aid.hex().upper() == "F074706D6302000101"
    assert provider.privileges == ("CardReset",)
    # load_order defaults to the manifest's order
    assert [p.name for p in profile.packages] == ["core", "provider"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"load_order": ["core"]}, "every package"),
        ({"load_order": ["core", "provider", "core"]}, "exactly once"),
        ({"applets": {"wallet": {}}}, "not in the manifest"),
        ({"applets": {"core": {"privileges": ["Root"]}}}, "privilege names"),
        ({"applets": {"core": {"params": {"hex": "zz"}}}}, "not hexadecimal"),
        ({"applets": {"core": {"params": {"random": 200}}}}, "longer than 127"),
        ({"applets": {"core": {"instance_aid": "F074"}}}, "5 to 16 bytes"),
        ({"applets": {"core": {"aid": "F074706D630100"}}}, "only privileges"),
        ({"secure_channel": "clr"}, "'enc' or 'mac'"),
        ({"package_aid": "F074706D630100"}, "unknown keys"),
    ],
)
def test_malformed_profiles(
    two_package_manifest: SuiteManifest, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(gp.ProfileError, match=message):
        gp.parse_profile(raw, "bad", two_package_manifest)


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(gp.ProfileError, match="default"):
        gp.load_profile("no-such-profile")
