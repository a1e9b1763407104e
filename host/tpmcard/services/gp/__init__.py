"""Deploying the applet suite to a card through its GlobalPlatform card manager.

The card work is done by GlobalPlatformPro (``gptool`` 19.06.16, main class
``pro.javacard.gp.GPTool``) in a child JVM; this module decides what to ask of it:

* the **deployment profile** (``gp/profiles/*.json``): per applet its privileges and install
  parameters, per card the security domain and the secure-channel level, and the load order of the
  packages. Package and applet AIDs are not repeated there: they come from the suite manifest
  (``applets/manifest.json``), the one source of AIDs;
* the **CAP files** (``applets/build/cap/<package>.cap``, written by ``gradle cap``), read here
  (JCVM 3.0.5 §6.3-6.6) so that a CAP whose AIDs or imports do not match the manifest is refused
  before anything is sent to a card;
* the **card keys**, from a key file or the environment (never from tpmcard's command line), and
  handed to gptool so that they appear neither in its argv nor in its environment (see
  :class:`GpTool`);
* the **reader**: a PC/SC reader name, chosen as for every tpmcard command (name, unique part of a
  name, or index) and always passed explicitly, because gptool without ``--reader`` acts on every
  reader that holds a card.

The ``plan_*`` functions are pure: they return the gptool argument lists (:class:`GpInvocation`)
and touch neither cards nor files; :func:`execute` runs a plan. The click
commands (``tpmcard gp ...``) live in the CLI and only call these functions.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from tpmcard import manifest as suite_manifest
from tpmcard import paths
from tpmcard.errors import NoReaderError, NotSupportedError, TpmcardError
from tpmcard.transport import SIM_READER
from tpmcard.transport.pcsc import choose_reader  # pure; pyscard is loaded only on use

# ---------------------------------------------------------------------------------------------
# Errors


class GpError(TpmcardError):
    """Deployment to a card failed or cannot start."""


class ProfileError(GpError):
    """The deployment profile is malformed or does not match the suite manifest."""


class CardKeyError(GpError):
    """The card keys are missing, malformed, or stored unsafely."""


class CapFileError(GpError):
    """A CAP file is missing, malformed, or does not match the suite manifest."""


class GpToolMissingError(GpError):
    """GlobalPlatformPro (or a Java runtime for it) cannot be found."""


class GpToolError(GpError):
    """gptool ran and failed. ``returncode`` and ``output`` (stdout + stderr) tell how."""

    def __init__(self, purpose: str, returncode: int, output: str) -> None:
        self.purpose = purpose
        self.returncode = returncode
        self.output = output
        last = output.strip().splitlines()[-1] if output.strip() else "(no output)"
        super().__init__(
            f"gptool failed while it tried to {purpose} (exit status {returncode}): {last}. "
            "Run again with -v to see its full output."
        )


# ---------------------------------------------------------------------------------------------
# Card keys

#: The GlobalPlatform test key (40..4F) that development cards ship with. Used only when the user
#: asks for it by name (``default``): a wrong key counts as a failed authentication, and a card
#: that sees too many locks its card manager for good.
GP_TEST_KEY = bytes(range(0x40, 0x50))

KEY_FILE_ENV = "TPMCARD_GP_KEY_FILE"
KEY_ENV = "TPMCARD_GP_KEY"
KEY_ENC_ENV = "TPMCARD_GP_KEY_ENC"
KEY_MAC_ENV = "TPMCARD_GP_KEY_MAC"
KEY_DEK_ENV = "TPMCARD_GP_KEY_DEK"
KDF_ENV = "TPMCARD_GP_KDF"
KEY_VERSION_ENV = "TPMCARD_GP_KEY_VERSION"

#: 3DES (SCP02) keys are 16 bytes; SCP03 takes AES-128, -192 or -256 (GP Amd D §4.1).
_KEY_LENGTHS = (16, 24, 32)


class KeyDiversification(Enum):
    """How the card derives its own keys from the master key (gptool ``--emv`` etc.)."""

    NONE = "none"
    EMV = "emv"
    VISA2 = "visa2"
    KDF3 = "kdf3"


@dataclass(frozen=True, repr=False)
class CardKeys:
    """The keys of the card's security domain: one master key, or separate ENC/MAC/DEK keys.

    The repr never shows key material.
    """

    enc: bytes
    mac: bytes
    dek: bytes
    #: True when the three keys are one master key (passed to gptool as ``--key``).
    master: bool = False
    diversification: KeyDiversification = KeyDiversification.NONE
    #: Key version number (KVN) of the key set; None lets gptool take the card's.
    version: int | None = None
    #: Key check value of the master key (3 bytes), checked by gptool before it authenticates.
    kcv: bytes | None = None
    #: Where the keys came from, for messages ("key file /x", "TPMCARD_GP_KEY").
    source: str = ""

    def __repr__(self) -> str:
        kind = "master key" if self.master else "ENC/MAC/DEK keys"
        return (
            f"CardKeys(<{kind} from {self.source or 'caller'} redacted>, "
            f"diversification={self.diversification.value}, version={self.version})"
        )

    __str__ = __repr__

    @classmethod
    def from_master(
        cls,
        key: bytes,
        diversification: KeyDiversification = KeyDiversification.NONE,
        version: int | None = None,
        kcv: bytes | None = None,
        source: str = "",
    ) -> CardKeys:
        _check_key_length(key, "master key")
        return cls(key, key, key, True, diversification, version, kcv, source)

    @classmethod
    def from_parts(
        cls,
        enc: bytes,
        mac: bytes,
        dek: bytes,
        diversification: KeyDiversification = KeyDiversification.NONE,
        version: int | None = None,
        source: str = "",
    ) -> CardKeys:
        for name, key in (("ENC", enc), ("MAC", mac), ("DEK", dek)):
            _check_key_length(key, f"{name} key")
        return cls(enc, mac, dek, False, diversification, version, None, source)

    def gptool_args(self) -> list[str]:
        """gptool 19.06.16 options for these keys. Secret: hand them only to :class:`GpTool`."""
        if self.master:
            args = ["--key", self.enc.hex().upper()]
            if self.kcv is not None:
                args += ["--kcv", self.kcv.hex().upper()]
        else:
            args = [
                "--key-enc", self.enc.hex().upper(),
                "--key-mac", self.mac.hex().upper(),
                "--key-dek", self.dek.hex().upper(),
            ]  # fmt: skip
        if self.diversification is not KeyDiversification.NONE:
            args.append("--" + self.diversification.value)
        if self.version is not None:
            args += ["--key-ver", str(self.version)]
        return args


def _check_key_length(key: bytes, what: str) -> None:
    if len(key) not in _KEY_LENGTHS:
        raise CardKeyError(
            f"the card's {what} must be 16, 24 or 32 bytes (32, 48 or 64 hex digits), "
            f"not {len(key)} bytes"
        )


def _parse_key(value: str, what: str, source: str) -> bytes:
    text = value.strip()
    if text.lower() == "default":
        return GP_TEST_KEY
    text = re.sub(r"[\s:]", "", text)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        # Never echo the value: it may be a key with a typo in it.
        raise CardKeyError(f"the {what} in {source} is not hexadecimal") from None
    _check_key_length(key, f"{what} in {source}")
    return key


def _parse_diversification(value: str | None, source: str) -> KeyDiversification:
    if value is None or not value.strip():
        return KeyDiversification.NONE
    try:
        return KeyDiversification(value.strip().lower())
    except ValueError:
        names = ", ".join(d.value for d in KeyDiversification)
        raise CardKeyError(
            f"unknown key diversification {value.strip()!r} in {source}; use one of {names}"
        ) from None


def _parse_version(value: str | None, source: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        version = int(value.strip(), 0)
    except ValueError:
        raise CardKeyError(f"the key version in {source} is not a number") from None
    if not 0 <= version <= 0xFF:
        raise CardKeyError(f"the key version in {source} must be 0..255")
    return version


def _keys_from_mapping(
    values: Mapping[str, str], source: str, names: Mapping[str, str]
) -> CardKeys:
    """Build keys from ``values`` whose entries are named as in ``names`` (role -> name)."""
    master = values.get(names["key"])
    parts = {role: values.get(names[role]) for role in ("enc", "mac", "dek")}
    given_parts = [role for role, value in parts.items() if value]
    diversification = _parse_diversification(values.get(names["kdf"]), source)
    version = _parse_version(values.get(names["version"]), source)
    if master and given_parts:
        raise CardKeyError(
            f"{source} gives both a master key ({names['key']}) and separate keys; give one or "
            "the other"
        )
    if master:
        kcv_text = values.get(names["kcv"]) if "kcv" in names else None
        kcv = None
        if kcv_text:
            try:
                kcv = bytes.fromhex(kcv_text.strip())
            except ValueError:
                raise CardKeyError(f"the key check value in {source} is not hexadecimal") from None
            if len(kcv) != 3:
                raise CardKeyError(f"the key check value in {source} must be 3 bytes")
        return CardKeys.from_master(
            _parse_key(master, "master key", source), diversification, version, kcv, source
        )
    if given_parts:
        missing = [names[role] for role in ("enc", "mac", "dek") if not parts[role]]
        if missing:
            raise CardKeyError(f"{source} lacks {', '.join(missing)}: give all three keys")
        enc, mac, dek = (
            _parse_key(parts[role] or "", f"{role.upper()} key", source)
            for role in ("enc", "mac", "dek")
        )
        return CardKeys.from_parts(enc, mac, dek, diversification, version, source)
    raise CardKeyError(f"{source} holds no key")


def read_key_file(path: Path) -> CardKeys:
    """Read a key file: ``name = value`` lines, ``#`` comments.

    Names: ``key`` (one master key) or ``enc``, ``mac`` and ``dek``; optional ``kdf``
    (none, emv, visa2, kdf3), ``version`` (the key version number) and ``kcv`` (master key check
    value). A key may be written ``default`` for the GlobalPlatform test key 40..4F. The file must
    be readable by its owner only, as ssh requires of private keys.
    """
    source = f"key file {path}"
    try:
        st = path.stat()
    except OSError as exc:
        raise CardKeyError(f"cannot read the {source}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CardKeyError(
            f"the {source} can be read by other users; run `chmod 600 {path}` and rotate the "
            "card keys if others may have read it"
        )
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("key", "enc", "mac", "dek", "kdf", "version", "kcv"):
            raise CardKeyError(
                f"line {number} of the {source} is not 'key|enc|mac|dek|kdf|version|kcv = value'"
            )
        if name in values:
            raise CardKeyError(f"the {source} gives {name} twice (line {number})")
        values[name] = value.strip()
    names = {n: n for n in ("key", "enc", "mac", "dek", "kdf", "version", "kcv")}
    return _keys_from_mapping(values, source, names)


def load_card_keys(environ: Mapping[str, str] | None = None) -> CardKeys:
    """The card keys, from ``$TPMCARD_GP_KEY_FILE`` or from the environment.

    Environment: ``TPMCARD_GP_KEY`` (master key) or ``TPMCARD_GP_KEY_ENC``/``_MAC``/``_DEK``, with
    ``TPMCARD_GP_KDF`` and ``TPMCARD_GP_KEY_VERSION``. Keys are never taken from tpmcard's command
    line, where every user of the machine could read them.
    """
    env = os.environ if environ is None else environ
    key_file = env.get(KEY_FILE_ENV)
    env_names = {
        "key": KEY_ENV, "enc": KEY_ENC_ENV, "mac": KEY_MAC_ENV, "dek": KEY_DEK_ENV,
        "kdf": KDF_ENV, "version": KEY_VERSION_ENV,
    }  # fmt: skip
    in_env = [n for n in (KEY_ENV, KEY_ENC_ENV, KEY_MAC_ENV, KEY_DEK_ENV) if env.get(n)]
    if key_file:
        if in_env:
            raise CardKeyError(
                f"both {KEY_FILE_ENV} and {', '.join(in_env)} are set; unset one of them"
            )
        return read_key_file(Path(key_file).expanduser())
    if not in_env:
        raise CardKeyError(
            f"no card keys: put them in a key file (chmod 600) and set {KEY_FILE_ENV} to its "
            f"path, or set {KEY_ENV} (or {KEY_ENC_ENV}, {KEY_MAC_ENV} and {KEY_DEK_ENV}). "
            f"For a development card that still has the GlobalPlatform test keys: {KEY_ENV}=default"
        )
    return _keys_from_mapping(dict(env), "the environment", env_names)


# ---------------------------------------------------------------------------------------------
# Deployment profile

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


# ---------------------------------------------------------------------------------------------
# CAP files (JCVM 3.0.5 §6)

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


# ---------------------------------------------------------------------------------------------
# Readers


def resolve_reader_name(spec: str | None, readers: Sequence[str]) -> str:
    """The exact PC/SC reader name for ``spec``: a name, a unique part of one, or an index, by the
    same rules as every tpmcard command (:func:`tpmcard.transport.pcsc.choose_reader`).

    Card management never picks a reader by itself, and the in-process simulator (``sim``, the
    CLI's default) has no card manager. gptool takes only exact names, and without ``--reader``
    it acts on every reader that holds a card.
    """
    if not spec:
        raise NoReaderError(
            "name the reader that holds the card (--reader or TPMCARD_READER: a name, part of one, "
            "or an index); card management never picks a reader by itself"
        )
    if spec.strip().lower() == SIM_READER:
        raise NotSupportedError(
            "the in-process simulator has no GlobalPlatform card manager; name the PC/SC reader "
            "that holds the card (docs/deployment.md)"
        )
    return choose_reader(list(readers), spec)


# ---------------------------------------------------------------------------------------------
# Plans: what to ask of gptool (pure)


#: gptool options whose value is secret: card keys, and install parameters (install-time entropy).
SECRET_OPTIONS = frozenset({"--key", "--key-enc", "--key-mac", "--key-dek", "--kcv", "--params"})


@dataclass(frozen=True, repr=False)
class GpInvocation:
    """One run of gptool: one secure-channel session with the card.

    ``args`` holds key material and install parameters: hand it only to :class:`GpTool`, and
    show :meth:`redacted` instead.
    """

    purpose: str
    args: tuple[str, ...]

    def redacted(self) -> list[str]:
        shown = list(self.args)
        for i, arg in enumerate(self.args[:-1]):
            if arg in SECRET_OPTIONS:
                shown[i + 1] = "<redacted>"
        return shown

    def __repr__(self) -> str:
        return f"GpInvocation({self.purpose!r}, {' '.join(self.redacted())})"


class _ArgsBuilder:
    def __init__(self) -> None:
        self.args: list[str] = []

    def add(self, *args: str) -> _ArgsBuilder:
        self.args.extend(args)
        return self

    def build(self, purpose: str) -> GpInvocation:
        return GpInvocation(purpose, tuple(self.args))


def _session(profile: DeploymentProfile, keys: CardKeys, reader: str) -> _ArgsBuilder:
    builder = _ArgsBuilder().add("--reader", reader)
    if profile.security_domain is not None:
        builder.add("--sdaid", profile.security_domain.hex().upper())
    builder.add(*keys.gptool_args())
    builder.add("--mode", profile.secure_channel)
    if profile.block_size is not None:
        builder.add("--bs", str(profile.block_size))
    return builder


def install_parameters_field(params: bytes) -> bytes:
    """The INSTALL command's install parameters field for application-specific parameters:
    C9 Lc data (GP CS 2.3.1 §11.5.2.3.7); the card hands ``data`` to the applet's install().

    Always wrapped here: gptool 19.06.16 wraps ``--params`` itself only when the first byte is not
    C9, so random bytes that happen to start with C9 would otherwise reach the card unwrapped.
    """
    if len(params) > MAX_INSTALL_PARAMS:
        raise ProfileError(f"install parameters longer than {MAX_INSTALL_PARAMS} bytes")
    return bytes([0xC9, len(params)]) + params


def _install_package(
    profile: DeploymentProfile,
    package: PackageProfile,
    cap: Path,
    keys: CardKeys,
    reader: str,
    random_bytes: Callable[[int], bytes],
) -> list[GpInvocation]:
    """LOAD the package, then INSTALL [for install and make selectable] each applet.

    gptool runs ``--load`` before ``--create`` in one session, so the first applet shares the
    load's session; gptool creates one instance per run, so further applets get their own.
    """
    runs = []
    first = True
    for applet in package.applets:
        builder = _session(profile, keys, reader)
        if first:
            builder.add("--load", str(cap))
        builder.add(
            "--package", package.aid.hex().upper(),
            "--applet", applet.applet_aid.hex().upper(),
            "--create", applet.instance_aid.hex().upper(),
        )  # fmt: skip
        if applet.privileges:
            builder.add("--privs", ",".join(applet.privileges))
        params = applet.params.materialize(random_bytes)
        if params:
            builder.add("--params", install_parameters_field(params).hex().upper())
        what = f"install applet {applet.name!r} ({applet.instance_aid.hex().upper()})"
        runs.append(builder.build(f"load package {package.name!r} and {what}" if first else what))
        first = False
    if first:  # a library package: load only
        builder = _session(profile, keys, reader).add("--load", str(cap))
        runs.append(builder.build(f"load package {package.name!r}"))
    return runs


def _delete_packages(
    profile: DeploymentProfile, names: Sequence[str], keys: CardKeys, reader: str
) -> GpInvocation:
    """DELETE each package with its instances (GP CS 2.3.1 §11.2.2.1: P2 bit 'delete related
    objects'), dependents first. gptool deletes a package AID with its related objects and only
    warns about a package that is not on the card, so uninstalling twice is harmless."""
    builder = _session(profile, keys, reader)
    for name in names:
        builder.add("--delete", profile.package(name).aid.hex().upper())
    return builder.build("delete package(s) " + ", ".join(repr(n) for n in names))


def plan_install(
    profile: DeploymentProfile,
    caps: Mapping[str, CapInfo],
    keys: CardKeys,
    reader: str,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[GpInvocation]:
    """Load and install every package of the profile, in load order."""
    runs: list[GpInvocation] = []
    for package in profile.packages:
        runs += _install_package(
            profile, package, caps[package.name].path, keys, reader, random_bytes
        )
    return runs


def plan_uninstall(profile: DeploymentProfile, keys: CardKeys, reader: str) -> list[GpInvocation]:
    """Delete every package of the profile (and so every instance), dependents first."""
    names = [p.name for p in reversed(profile.packages)]
    return [_delete_packages(profile, names, keys, reader)]


def plan_upgrade(
    profile: DeploymentProfile,
    caps: Mapping[str, CapInfo],
    name: str,
    keys: CardKeys,
    reader: str,
    with_dependents: bool = False,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[GpInvocation]:
    """Replace one package (named by package or applet name) and reinstall its applets.

    Other packages and their applets' data stay. The upgraded package's own applets start afresh:
    a card deletes an instance's data with it (GP CS 2.3.1 §11.2; GlobalPlatformPro 19.06.16 has
    no Executable Load File Upgrade, GP Amendment H). A card refuses to delete a package that
    another package imports, so those dependents must go too: only with ``with_dependents``.
    """
    try:
        package = profile.package(name)
    except ProfileError:
        package = profile.package_of_applet(name)
    deps = dependents(profile, caps, package.name)
    if deps and not with_dependents:
        raise GpError(
            f"package {package.name!r} is imported by {', '.join(repr(d) for d in deps)}; a card "
            "refuses to delete a package that others import. Upgrade with dependents (their "
            "applets are reinstalled and lose their data too), or upgrade only packages no "
            "other package imports"
        )
    replaced = [package.name] + deps  # load order: the package, then what imports it
    runs = [_delete_packages(profile, list(reversed(replaced)), keys, reader)]
    for replaced_name in replaced:
        replaced_package = profile.package(replaced_name)
        runs += _install_package(
            profile, replaced_package, caps[replaced_name].path, keys, reader, random_bytes
        )
    return runs


def plan_list(profile: DeploymentProfile, keys: CardKeys, reader: str) -> list[GpInvocation]:
    """List the card's registry: security domains, load files, applets (GET STATUS)."""
    return [_session(profile, keys, reader).add("--list").build("list the card's contents")]


# ---------------------------------------------------------------------------------------------
# Running gptool

GPTOOL_MAIN = "pro.javacard.gp.GPTool"
GP_CLASSPATH_ENV = "TPMCARD_GP_CLASSPATH"
GP_JAR_ENV = "TPMCARD_GP_JAR"
#: Debian's pcsc-lite, for the JDK's java.smartcardio (gptool's PC/SC access).
_PCSCLITE = Path("/usr/lib/x86_64-linux-gnu/libpcsclite.so.1")


def gp_classpath_file() -> Path:
    """Written by ``gradle gpClasspath``: gptool and its dependency jars, one per line."""
    return paths.build_dir() / "gp-classpath.txt"


def _quote_argfile(arg: str) -> str:
    # The java launcher's @argfile syntax: a double-quoted token may hold spaces and '#';
    # backslash escapes inside quotes. Line breaks cannot be part of an argument there.
    if "\n" in arg or "\r" in arg:
        raise GpError("a gptool argument may not contain a line break")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class GpResult:
    purpose: str
    returncode: int
    output: str


class GpTool:
    """GlobalPlatformPro in a child JVM, given its arguments through a private channel.

    gptool 19.06.16 reads keys only from its command line (``--key``...) or from the variables
    ``GP_KEY_ENC``/``_MAC``/``_DEK``, and install parameters only from ``--params``: a command line
    every user of the machine can read (``ps``, ``/proc/PID/cmdline``). So the main class and all
    its arguments go through a java launcher argument file (``java -cp CP @FILE``, JDK 9+) that
    is a named pipe in a directory only we can open: the child's argv shows ``@<path>`` only, the
    arguments never touch a disk, and the pipe is gone when gptool runs. What remains: the JVM
    holds the keys in its memory while it runs, like any tool that uses them.
    """

    def __init__(
        self,
        classpath: Sequence[Path],
        java: str | None = None,
        jvm_options: Sequence[str] = (),
        main_class: str = GPTOOL_MAIN,
    ) -> None:
        if not classpath:
            raise GpToolMissingError("the gptool class path is empty")
        self.classpath = tuple(classpath)
        self.java = java or _find_java()
        options = list(jvm_options)
        if _PCSCLITE.exists() and not any("smartcardio.library" in o for o in options):
            options.append(f"-Dsun.security.smartcardio.library={_PCSCLITE}")
        self.jvm_options = tuple(options)
        self.main_class = main_class

    @classmethod
    def from_build(cls, environ: Mapping[str, str] | None = None) -> GpTool:
        """gptool from ``$TPMCARD_GP_JAR`` (GlobalPlatformPro's own gp.jar), from
        ``$TPMCARD_GP_CLASSPATH``, or from the class path ``gradle gpClasspath`` resolved."""
        env = os.environ if environ is None else environ
        if env.get(GP_JAR_ENV):
            jar = Path(env[GP_JAR_ENV]).expanduser()
            if not jar.is_file():
                raise GpToolMissingError(f"{GP_JAR_ENV}={jar}: no such file")
            return cls([jar])
        if env.get(GP_CLASSPATH_ENV):
            return cls([Path(p) for p in env[GP_CLASSPATH_ENV].split(os.pathsep) if p])
        listing = gp_classpath_file()
        if not listing.is_file():
            raise GpToolMissingError(
                f"GlobalPlatformPro is not set up: run `gradle gpClasspath` (it writes {listing}), "
                f"or point {GP_JAR_ENV} at a gp.jar (docs/deployment.md)"
            )
        jars = [Path(line) for line in listing.read_text().splitlines() if line.strip()]
        missing = [str(j) for j in jars if not j.exists()]
        if missing:
            raise GpToolMissingError(
                f"{listing} names missing jars ({', '.join(missing)}); run `gradle gpClasspath`"
            )
        return cls(jars)

    def command_line(self, argfile: Path) -> list[str]:
        """The child's whole argv: nothing secret in it."""
        classpath = os.pathsep.join(str(p) for p in self.classpath)
        return [self.java, *self.jvm_options, "-cp", classpath, f"@{argfile}"]

    def child_environment(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Our environment less the keys (ours and gptool's own variables) and gptool's reader
        and domain overrides: the plan says which reader and domain, nothing else does."""
        env = dict(os.environ if environ is None else environ)
        for name in list(env):
            if name.startswith(("TPMCARD_GP_", "GP_")):
                del env[name]
        return env

    def run(self, invocation: GpInvocation, timeout: float = 300.0) -> GpResult:
        """Run one invocation; raise :class:`GpToolError` unless gptool exits with 0."""
        result = self._run(invocation.args, invocation.purpose, timeout)
        if result.returncode != 0:
            raise GpToolError(invocation.purpose, result.returncode, result.output)
        return result

    def version(self, timeout: float = 120.0) -> str:
        """gptool's ``--version`` text (no card needed)."""
        result = self._run(("--version",), "report its version", timeout)
        if result.returncode != 0:
            raise GpToolError("report its version", result.returncode, result.output)
        return result.output.strip()

    def cap_info(self, cap: Path, timeout: float = 120.0) -> str:
        """gptool's view of a CAP file (``--cap X --info``; no card needed)."""
        result = self._run(("--cap", str(cap), "--info"), f"read {cap}", timeout)
        if result.returncode != 0:
            raise GpToolError(f"read {cap}", result.returncode, result.output)
        return result.output

    def _run(self, args: Sequence[str], purpose: str, timeout: float) -> GpResult:
        content = "\n".join(_quote_argfile(a) for a in (self.main_class, *args)) + "\n"
        workdir = Path(tempfile.mkdtemp(prefix="tpmcard-gp-"))  # mode 0700
        pipe = workdir / "args"
        try:
            os.mkfifo(pipe, 0o600)
            try:
                process = subprocess.Popen(
                    self.command_line(pipe),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=self.child_environment(),
                    text=True,
                )
            except FileNotFoundError:
                raise GpToolMissingError(
                    f"no Java runtime at {self.java!r}: install openjdk-17-jre-headless"
                ) from None
            output: list[str] = []
            reader = threading.Thread(
                target=lambda: output.append(process.stdout.read() if process.stdout else ""),
                daemon=True,
            )
            reader.start()
            try:
                self._feed(pipe, content.encode(), process, timeout)
                process.wait(timeout=timeout)
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                reader.join(timeout=10)
            return GpResult(purpose, process.returncode, "".join(output))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _feed(pipe: Path, content: bytes, process: subprocess.Popen[str], timeout: float) -> None:
        """Write the arguments into the pipe once the launcher opens it for reading.

        A non-blocking open fails with ENXIO until the reader is there; polling it lets us notice
        a JVM that died before reading (a bad class path, no Java) instead of hanging.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: nobody has opened it for reading yet
                    raise
            if process.poll() is not None:
                return  # it exited without reading the arguments; its output says why
            if time.monotonic() > deadline:
                raise GpError("gptool did not start within the time limit")
            time.sleep(0.01)
        try:
            os.set_blocking(fd, True)
            view = memoryview(content)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise GpToolMissingError("no `java` on PATH: install openjdk-17-jre-headless")
    return found


def execute(
    invocations: Iterable[GpInvocation],
    tool: GpTool,
    progress: Callable[[GpInvocation], None] | None = None,
) -> list[GpResult]:
    """Run a plan in order; stop at the first failure (raised as :class:`GpToolError`)."""
    results = []
    for invocation in invocations:
        if progress is not None:
            progress(invocation)
        results.append(tool.run(invocation))
    return results


# ---------------------------------------------------------------------------------------------
# The operations the CLI offers


def install(
    reader: str,
    profile: DeploymentProfile | None = None,
    keys: CardKeys | None = None,
    tool: GpTool | None = None,
    progress: Callable[[GpInvocation], None] | None = None,
) -> list[GpResult]:
    """Load and install the whole suite onto the card in ``reader`` (an exact reader name)."""
    profile = profile or load_profile()
    caps = read_suite_caps(profile)
    plan = plan_install(profile, caps, keys or load_card_keys(), reader)
    return execute(plan, tool or GpTool.from_build(), progress)


def uninstall(
    reader: str,
    profile: DeploymentProfile | None = None,
    keys: CardKeys | None = None,
    tool: GpTool | None = None,
    progress: Callable[[GpInvocation], None] | None = None,
) -> list[GpResult]:
    """Delete the whole suite (packages, applets and their data) from the card."""
    profile = profile or load_profile()
    plan = plan_uninstall(profile, keys or load_card_keys(), reader)
    return execute(plan, tool or GpTool.from_build(), progress)


def upgrade(
    reader: str,
    name: str,
    with_dependents: bool = False,
    profile: DeploymentProfile | None = None,
    keys: CardKeys | None = None,
    tool: GpTool | None = None,
    progress: Callable[[GpInvocation], None] | None = None,
) -> list[GpResult]:
    """Replace one package (by package or applet name); see :func:`plan_upgrade`."""
    profile = profile or load_profile()
    caps = read_suite_caps(profile)
    plan = plan_upgrade(profile, caps, name, keys or load_card_keys(), reader, with_dependents)
    return execute(plan, tool or GpTool.from_build(), progress)


def list_card(
    reader: str,
    profile: DeploymentProfile | None = None,
    keys: CardKeys | None = None,
    tool: GpTool | None = None,
) -> str:
    """gptool's listing of the card's registry."""
    profile = profile or load_profile()
    plan = plan_list(profile, keys or load_card_keys(), reader)
    (result,) = execute(plan, tool or GpTool.from_build())
    return result.output
