"""Plans: which gptool runs, with which arguments, for install, upgrade, uninstall and list
(pure: nothing runs here); and the reader a plan names."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tpmcard.errors import NoReaderError, NotSupportedError
from tpmcard.services.gp.capfile import CapInfo, dependents
from tpmcard.services.gp.errors import GpError, ProfileError
from tpmcard.services.gp.keys import CardKeys
from tpmcard.services.gp.profile import MAX_INSTALL_PARAMS, DeploymentProfile, PackageProfile
from tpmcard.transport import SIM_READER
from tpmcard.transport.pcsc import choose_reader  # pure; pyscard is loaded only on use


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
