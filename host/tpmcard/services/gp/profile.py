"""Deployment profiles (gp/profiles/*.json): which packages and applets go on a card, with
which privileges and install parameters."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tpmcard import manifest as suite_manifest
from tpmcard import paths
from tpmcard.services.gp.errors import ProfileError

#: Privilege names gptool 19.06.16 accepts in ``--privs`` (GP Card Spec 2.3.1 §6.6.1, Table 6-1).
GP_PRIVILEGES = (
    "SecurityDomain", "DAPVerification", "DelegatedManagement", "CardLock", "CardTerminate",
    "CardReset", "CVMManagement", "MandatedDAPVerification", "TrustedPath", "AuthorizedManagement",
    "TokenVerification", "GlobalDelete", "GlobalLock", "GlobalRegistry", "FinalApplication",
    "GlobalService", "ReceiptGeneration", "CipheredLoadFileDataBlock", "ContactlessActivation",
    "ContactlessSelfActivation",
)  # fmt: skip

#: Application-specific install parameters travel in one length byte (GP CS 2.3.1 §11.5.2.3.7,
#: tag C9 inside the install parameters field); gptool wraps them itself.
MAX_INSTALL_PARAMS = 127


@dataclass(frozen=True)
class InstallParams:
    """What an applet gets as install parameters: fixed bytes, fresh random bytes, or nothing.

    Random bytes (the core applet's install-time entropy) are drawn when the plan is made, are
    never stored, and reach gptool only through its private argument channel.
    """

    fixed: bytes = b""
    random: int = 0

    def materialize(self, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
        return self.fixed + (random_bytes(self.random) if self.random else b"")

    def describe(self) -> str:
        if self.random:
            return f"{self.random} random bytes"
        return self.fixed.hex().upper() if self.fixed else "none"


@dataclass(frozen=True)
class AppletProfile:
    name: str
    class_name: str
    applet_aid: bytes
    #: The instance AID; the applet (module) AID unless the profile says otherwise.
    instance_aid: bytes
    privileges: tuple[str, ...]
    params: InstallParams


@dataclass(frozen=True)
class PackageProfile:
    name: str
    java_package: str
    aid: bytes
    version: str
    applets: tuple[AppletProfile, ...]

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, _, minor = self.version.partition(".")
        return int(major), int(minor or 0)


@dataclass(frozen=True)
class DeploymentProfile:
    name: str
    #: Packages in load order: every package comes after the packages it imports.
    packages: tuple[PackageProfile, ...]
    #: AID of the security domain to talk to; None lets gptool find the card's ISD.
    security_domain: bytes | None
    #: gptool ``--mode``: ``enc`` (C-MAC and C-ENC, the default: install parameters carry entropy)
    #: or ``mac``.
    secure_channel: str
    #: LOAD block size for readers that fail on long APDUs (gptool ``--bs``); None: gptool's.
    block_size: int | None = None

    def package(self, name: str) -> PackageProfile:
        for package in self.packages:
            if package.name == name:
                return package
        known = ", ".join(p.name for p in self.packages)
        raise ProfileError(f"no package named {name!r} in profile {self.name!r} (known: {known})")

    def package_of_applet(self, name: str) -> PackageProfile:
        for package in self.packages:
            if any(a.name == name for a in package.applets):
                return package
        raise ProfileError(f"no applet named {name!r} in profile {self.name!r}")


def profiles_dir() -> Path:
    return paths.SOURCE_ROOT / "gp" / "profiles"


def profile_path(name: str) -> Path:
    return profiles_dir() / f"{name}.json"


def _aid(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise ProfileError(f"{where} must be an AID written in hex")
    try:
        aid = bytes.fromhex(text)
    except ValueError:
        raise ProfileError(f"{where} is not hexadecimal: {text!r}") from None
    if not 5 <= len(aid) <= 16:  # ISO 7816-5 §5.2: RID (5 bytes) + PIX (0..11 bytes)
        raise ProfileError(f"{where} must be 5 to 16 bytes long, not {len(aid)}")
    return aid


def _install_params(raw: object, where: str) -> InstallParams:
    if raw is None:
        return InstallParams()
    if not isinstance(raw, dict) or not set(raw) <= {"hex", "random"}:
        raise ProfileError(f"{where} must be an object with 'hex' and/or 'random'")
    fixed = b""
    if "hex" in raw:
        try:
            fixed = bytes.fromhex(str(raw["hex"]))
        except ValueError:
            raise ProfileError(f"{where}.hex is not hexadecimal") from None
    count = raw.get("random", 0)
    if not isinstance(count, int) or count < 0:
        raise ProfileError(f"{where}.random must be a count of bytes")
    if len(fixed) + count > MAX_INSTALL_PARAMS:
        raise ProfileError(f"{where} is longer than {MAX_INSTALL_PARAMS} bytes")
    return InstallParams(fixed, count)


_APPLET_KEYS = frozenset({"privileges", "params", "instance_aid"})


def parse_profile(
    raw: Mapping[str, object], name: str, manifest: suite_manifest.SuiteManifest
) -> DeploymentProfile:
    """Check a profile (as read from JSON) against the manifest and resolve its AIDs."""
    known_keys = {"comment", "load_order", "applets", "security_domain", "secure_channel",
                  "block_size"}  # fmt: skip
    unknown = set(raw) - known_keys
    if unknown:
        raise ProfileError(f"profile {name!r}: unknown keys {sorted(unknown)}")
    by_name = {p.name: p for p in manifest.packages}
    order = raw.get("load_order", [p.name for p in manifest.packages])
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise ProfileError(f"profile {name!r}: load_order must be a list of package names")
    if sorted(order) != sorted(by_name):
        raise ProfileError(
            f"profile {name!r}: load_order {order} must name every package of the manifest "
            f"exactly once ({sorted(by_name)})"
        )
    applet_raw = raw.get("applets", {})
    if not isinstance(applet_raw, dict):
        raise ProfileError(f"profile {name!r}: applets must be an object keyed by applet name")
    manifest_applets = {a.name for p in manifest.packages for a in p.applets}
    stray = set(applet_raw) - manifest_applets
    if stray:
        raise ProfileError(f"profile {name!r}: applets {sorted(stray)} are not in the manifest")

    packages = []
    for package_name in order:
        entry = by_name[package_name]
        applets = []
        for applet in entry.applets:
            where = f"profile {name!r}, applet {applet.name!r}"
            spec = applet_raw.get(applet.name, {})
            if not isinstance(spec, dict) or not set(spec) <= _APPLET_KEYS:
                raise ProfileError(f"{where}: only privileges, params and instance_aid are known")
            privileges = spec.get("privileges", [])
            if not isinstance(privileges, list) or any(p not in GP_PRIVILEGES for p in privileges):
                raise ProfileError(
                    f"{where}: privileges must be a list of GlobalPlatform privilege names "
                    f"({', '.join(GP_PRIVILEGES)})"
                )
            instance = spec.get("instance_aid")
            instance_aid = _aid(instance, f"{where}: instance_aid") if instance else applet.aid
            applets.append(
                AppletProfile(
                    name=applet.name,
                    class_name=applet.class_name,
                    applet_aid=applet.aid,
                    instance_aid=instance_aid,
                    privileges=tuple(privileges),
                    params=_install_params(spec.get("params"), f"{where}: params"),
                )
            )
        packages.append(
            PackageProfile(entry.name, entry.java_package, entry.aid, entry.version, tuple(applets))
        )

    sd = raw.get("security_domain")
    channel = raw.get("secure_channel", "enc")
    if channel not in ("enc", "mac"):
        raise ProfileError(f"profile {name!r}: secure_channel must be 'enc' or 'mac'")
    block_size = raw.get("block_size")
    if block_size is not None and (not isinstance(block_size, int) or not 16 <= block_size <= 255):
        raise ProfileError(f"profile {name!r}: block_size must be 16..255")
    return DeploymentProfile(
        name=name,
        packages=tuple(packages),
        security_domain=_aid(sd, f"profile {name!r}: security_domain") if sd else None,
        secure_channel=str(channel),
        block_size=block_size,
    )


def load_profile(
    name_or_path: str | Path = "default", manifest: suite_manifest.SuiteManifest | None = None
) -> DeploymentProfile:
    """Load ``gp/profiles/<name>.json`` (or a JSON file given by path)."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = profile_path(str(name_or_path))
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.json")))
        raise ProfileError(f"no deployment profile {path} (profiles: {known})") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"profile {path} must hold a JSON object")
    return parse_profile(raw, path.stem, manifest or suite_manifest.load())
