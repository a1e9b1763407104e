"""Reading CAP files (JCVM 3.0.5 §6): AIDs, versions and imports, checked against the manifest,
and read the same way by com.github.martinpaljak:capfile, an independent parser."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from capfiles import (
    CORE_AID,
    CORE_APPLET,
    JAVACARD_FRAMEWORK,
    PROVIDER_AID,
    PROVIDER_APPLET,
    build_cap,
    write_cap,
)
from hypothesis import given
from hypothesis import strategies as st
from tpmcard import paths
from tpmcard.services import gp

aids = st.binary(min_size=5, max_size=16)


def test_reads_package_applets_and_imports(two_package_caps: dict[str, gp.CapInfo]) -> None:
    core, provider = two_package_caps["core"], two_package_caps["provider"]
    assert core.package == gp.PackageRef(CORE_AID, 1, 0)
    assert core.applets == (CORE_APPLET,)
    assert core.exports and core.format_version == (2, 1)
    assert provider.package == gp.PackageRef(PROVIDER_AID, 1, 2)
    assert provider.applets == (PROVIDER_APPLET,)
    assert provider.imports == (
        gp.PackageRef(JAVACARD_FRAMEWORK, 1, 6),
        gp.PackageRef(CORE_AID, 1, 0),
    )
    assert not provider.exports


@given(
    aid=aids,
    version=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    applets=st.lists(aids, max_size=4),
    imports=st.lists(st.tuples(aids, st.integers(0, 255), st.integers(0, 255)), max_size=6),
)
def test_round_trip(
    aid: bytes,
    version: tuple[int, int],
    applets: list[bytes],
    imports: list[tuple[bytes, int, int]],
) -> None:
    cap = gp.parse_cap(build_cap("x.y", aid, version, applets, imports))
    assert cap.package == gp.PackageRef(aid, *version)
    assert list(cap.applets) == applets
    assert [(r.aid, r.major, r.minor) for r in cap.imports] == imports


@given(st.binary(max_size=300))
def test_garbage_header_is_a_cap_file_error(header: bytes) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a/javacard/Header.cap", header)
        archive.writestr("a/javacard/Applet.cap", header[::-1])
        archive.writestr("a/javacard/Import.cap", header[1:])
    try:
        gp.parse_cap(out.getvalue())
    except gp.CapFileError:
        pass


def test_not_a_cap_file(tmp_path: Path) -> None:
    with pytest.raises(gp.CapFileError, match="not a ZIP"):
        gp.parse_cap(b"PK but not really")
    with pytest.raises(gp.CapFileError, match="gradle cap"):
        gp.read_cap(tmp_path / "missing.cap")


def test_cap_that_differs_from_the_manifest_is_refused(
    tmp_path: Path, two_package_profile: gp.DeploymentProfile
) -> None:
    core = two_package_profile.package("core")
    wrong_version = gp.read_cap(
        write_cap(tmp_path / "a.cap", "tpmcard.core", CORE_AID, (1, 1), [CORE_APPLET])
    )
    with pytest.raises(gp.CapFileError, match="version 1.1, manifest 1.0"):
        gp.check_cap(wrong_version, core)
    wrong_applet = gp.read_cap(
        write_cap(tmp_path / "b.cap", "tpmcard.core", CORE_AID, (1, 0), [PROVIDER_APPLET])
    )
    with pytest.raises(gp.CapFileError, match="applets F074706D63020001"):
        gp.check_cap(wrong_applet, core)
    wrong_package = gp.read_cap(
        write_cap(tmp_path / "c.cap", "tpmcard.core", PROVIDER_AID, (1, 0), [CORE_APPLET])
    )
    with pytest.raises(gp.CapFileError, match="package AID F074706D630200"):
        gp.check_cap(wrong_package, core)


def test_import_of_a_newer_core_than_built_is_refused(
    tmp_path: Path,
    two_package_profile: gp.DeploymentProfile,
    two_package_caps: dict[str, gp.CapInfo],
) -> None:
    # Converted against core 1.3's export file, but the core CAP is 1.0: the card would refuse
    # the LOAD (JCVM §4.5.2), so the host refuses first.
    provider = gp.read_cap(
        write_cap(
            tmp_path / "p.cap", "tpmcard.provider", PROVIDER_AID, (1, 2), [PROVIDER_APPLET],
            [(CORE_AID, 1, 3)],
        )
    )  # fmt: skip
    caps = {**two_package_caps, "provider": provider}
    with pytest.raises(gp.CapFileError, match="imports 'core' 1.3"):
        gp.check_load_order(two_package_profile, caps)


def test_dependents(
    two_package_profile: gp.DeploymentProfile, two_package_caps: dict[str, gp.CapInfo]
) -> None:
    assert gp.dependents(two_package_profile, two_package_caps, "core") == ["provider"]
    assert gp.dependents(two_package_profile, two_package_caps, "provider") == []


def capfile_classpath() -> str:
    listing = paths.build_dir() / "capfile-classpath.txt"
    assert listing.is_file(), f"no {listing}: run scripts/setup.sh (gradle capfileClasspath)"
    return ":".join(line for line in listing.read_text().splitlines() if line)


def test_capfile_reads_what_we_read(
    two_package_caps: dict[str, gp.CapInfo],
) -> None:
    """The same CAP files through capfile 21.04.05's dump (pro.javacard.CAPFileTool)."""
    for cap in two_package_caps.values():
        dump = subprocess.run(
            ["java", "-cp", capfile_classpath(), "pro.javacard.CAPFileTool", str(cap.path)],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip
        lines = dump.splitlines()
        package_line = next(line for line in lines if line.startswith("Package:"))
        assert cap.package.aid.hex().upper() in package_line
        assert package_line.endswith(f" v{cap.package.major}.{cap.package.minor}")
        applet_lines = [line.split()[1] for line in lines if line.startswith("Applet:")]
        assert applet_lines == [a.hex().upper() for a in cap.applets]
        import_lines = [line.split()[1:3] for line in lines if line.startswith("Import:")]
        assert import_lines == [[r.aid.hex().upper(), f"v{r.major}.{r.minor}"] for r in cap.imports]
