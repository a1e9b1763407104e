"""CAP files (JCVM 3.0.5 §6): read them, check them against a profile, order their loading."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tpmcard import paths
from tpmcard.services.gp.errors import CapFileError
from tpmcard.services.gp.profile import DeploymentProfile, PackageProfile

_CAP_MAGIC = 0xDECAFFED
_TAG_HEADER, _TAG_APPLET, _TAG_IMPORT = 1, 3, 4


@dataclass(frozen=True)
class PackageRef:
    """A package AID with its version, as in a CAP file's package_info (JCVM §6.3)."""

    aid: bytes
    major: int
    minor: int

    def satisfied_by(self, other: PackageRef) -> bool:
        """Binary compatibility as the card checks it at LOAD (JCVM §4.5.2): same AID and major
        version, and a minor version at least the one this import was converted against."""
        return other.aid == self.aid and other.major == self.major and other.minor >= self.minor


@dataclass(frozen=True)
class CapInfo:
    path: Path
    package: PackageRef
    applets: tuple[bytes, ...]
    imports: tuple[PackageRef, ...]
    #: CAP file format version (major, minor): 2.1 for Java Card 3.0.5, 2.2 for 3.0.4/remote.
    format_version: tuple[int, int]
    #: Header flags (JCVM §6.3, Table 6-3): ACC_INT 0x01, ACC_EXPORT 0x02, ACC_APPLET 0x04.
    flags: int

    @property
    def exports(self) -> bool:
        return bool(self.flags & 0x02)


def _component(archive: zipfile.ZipFile, name: str) -> bytes | None:
    matches = [n for n in archive.namelist() if n.endswith("/javacard/" + name)]
    if len(matches) > 1:
        raise CapFileError(f"the CAP file holds more than one {name}")
    return archive.read(matches[0]) if matches else None


def _component_body(data: bytes, tag: int, name: str) -> bytes:
    # Every component starts with u1 tag, u2 size (JCVM §6.1).
    if len(data) < 3 or data[0] != tag:
        raise CapFileError(f"{name} does not start with tag {tag}")
    size = int.from_bytes(data[1:3], "big")
    if len(data) < 3 + size:
        raise CapFileError(f"{name} is truncated")
    return data[3 : 3 + size]


def _package_info(body: bytes, offset: int, name: str) -> tuple[PackageRef, int]:
    if offset + 3 > len(body):
        raise CapFileError(f"{name} is truncated")
    minor, major, length = body[offset], body[offset + 1], body[offset + 2]
    end = offset + 3 + length
    if not 5 <= length <= 16 or end > len(body):
        raise CapFileError(f"{name} holds an AID of impossible length {length}")
    return PackageRef(bytes(body[offset + 3 : end]), major, minor), end


def parse_cap(data: bytes, path: Path = Path("<memory>")) -> CapInfo:
    """Read the Header, Applet and Import components of a CAP file (a ZIP archive)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise CapFileError(f"{path} is not a CAP file (not a ZIP archive)") from None
    with archive:
        header = _component(archive, "Header.cap")
        if header is None:
            raise CapFileError(f"{path} has no Header component")
        body = _component_body(header, _TAG_HEADER, "Header.cap")
        # header_component: u4 magic, u1 minor, u1 major, u1 flags, package_info (JCVM §6.3)
        if len(body) < 7 or int.from_bytes(body[0:4], "big") != _CAP_MAGIC:
            raise CapFileError(f"{path}: Header.cap lacks the magic DECAFFED")
        fmt_minor, fmt_major, flags = body[4], body[5], body[6]
        package, _ = _package_info(body, 7, "Header.cap")

        applets: list[bytes] = []
        applet_data = _component(archive, "Applet.cap")
        if applet_data is not None:
            body = _component_body(applet_data, _TAG_APPLET, "Applet.cap")
            # applet_component: u1 count, {u1 AID_length, AID, u2 install_method_offset} (§6.5)
            offset = 1
            for _ in range(body[0] if body else 0):
                if offset >= len(body):
                    raise CapFileError(f"{path}: Applet.cap is truncated")
                length = body[offset]
                end = offset + 1 + length
                if not 5 <= length <= 16 or end + 2 > len(body):
                    raise CapFileError(f"{path}: Applet.cap holds an impossible AID")
                applets.append(bytes(body[offset + 1 : end]))
                offset = end + 2

        imports: list[PackageRef] = []
        import_data = _component(archive, "Import.cap")
        if import_data is not None:
            body = _component_body(import_data, _TAG_IMPORT, "Import.cap")
            # import_component: u1 count, package_info packages[count] (§6.6)
            offset = 1
            for _ in range(body[0] if body else 0):
                ref, offset = _package_info(body, offset, "Import.cap")
                imports.append(ref)
    return CapInfo(path, package, tuple(applets), tuple(imports), (fmt_major, fmt_minor), flags)


def read_cap(path: Path) -> CapInfo:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CapFileError(
            f"no CAP file {path}: build the CAP files first (`gradle cap`, docs/deployment.md)"
        ) from None
    return parse_cap(data, path)


def cap_dir() -> Path:
    """Where the CAP files are: ``$TPMCARD_CAP_DIR``, else where ``gradle cap`` writes them."""
    explicit = os.environ.get("TPMCARD_CAP_DIR")
    return Path(explicit) if explicit else paths.build_dir() / "cap"


def cap_path(package: str) -> Path:
    """Where ``gradle cap`` writes a package's CAP file."""
    return cap_dir() / f"{package}.cap"


def check_cap(cap: CapInfo, package: PackageProfile) -> None:
    """Refuse a CAP file whose package AID, version or applets differ from the manifest."""
    problems = []
    if cap.package.aid != package.aid:
        problems.append(
            f"package AID {cap.package.aid.hex().upper()}, manifest {package.aid.hex().upper()}"
        )
    if (cap.package.major, cap.package.minor) != package.version_tuple:
        problems.append(
            f"version {cap.package.major}.{cap.package.minor}, manifest {package.version}"
        )
    want = sorted(a.applet_aid for a in package.applets)
    if sorted(cap.applets) != want:
        problems.append(
            "applets " + (", ".join(a.hex().upper() for a in cap.applets) or "none")
            + ", manifest " + (", ".join(a.hex().upper() for a in want) or "none")
        )  # fmt: skip
    if problems:
        raise CapFileError(
            f"{cap.path} does not match package {package.name!r}: {'; '.join(problems)}. "
            "Rebuild it with `gradle cap`."
        )


def check_load_order(profile: DeploymentProfile, caps: Mapping[str, CapInfo]) -> None:
    """Every import of a suite package must be satisfied by a package loaded earlier (a card
    refuses a LOAD whose imports are not on the card, GP CS 2.3.1 §9.3.5)."""
    suite_aids = {p.aid: p.name for p in profile.packages}
    loaded: list[PackageRef] = []
    for package in profile.packages:
        cap = caps[package.name]
        for ref in cap.imports:
            if ref.aid not in suite_aids:
                continue  # the Java Card API, or another package already on the card
            if not any(ref.satisfied_by(have) for have in loaded):
                raise CapFileError(
                    f"package {package.name!r} imports {suite_aids[ref.aid]!r} "
                    f"{ref.major}.{ref.minor}, which the load order does not put before it with "
                    "a compatible version; fix load_order in the profile or rebuild the CAP files"
                )
        loaded.append(cap.package)


def dependents(profile: DeploymentProfile, caps: Mapping[str, CapInfo], name: str) -> list[str]:
    """Packages of the suite that import ``name``, directly or not, in load order."""
    aid_of = {p.name: p.aid for p in profile.packages}
    found: set[str] = set()
    frontier = {aid_of[name]}
    changed = True
    while changed:
        changed = False
        for package in profile.packages:
            if package.name in found or package.name == name:
                continue
            if any(ref.aid in frontier for ref in caps[package.name].imports):
                found.add(package.name)
                frontier.add(package.aid)
                changed = True
    return [p.name for p in profile.packages if p.name in found]


def read_suite_caps(
    profile: DeploymentProfile, locate: Callable[[str], Path] = cap_path
) -> dict[str, CapInfo]:
    """Read and check the CAP file of every package of the profile."""
    caps = {}
    for package in profile.packages:
        cap = read_cap(locate(package.name))
        check_cap(cap, package)
        caps[package.name] = cap
    check_load_order(profile, caps)
    return caps
