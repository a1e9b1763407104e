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

import re
from collections.abc import Callable
from dataclasses import dataclass

from tpmcard.services.gp.capfile import (  # noqa: F401 - the package API
    CapInfo,
    PackageRef,
    cap_dir,
    cap_path,
    check_cap,
    check_load_order,
    dependents,
    parse_cap,
    read_cap,
    read_suite_caps,
)
from tpmcard.services.gp.errors import (  # noqa: F401 - the package API
    CapFileError,
    CardKeyError,
    GpError,
    GpToolError,
    GpToolMissingError,
    ProfileError,
)
from tpmcard.services.gp.keys import (  # noqa: F401 - the package API
    GP_TEST_KEY,
    KDF_ENV,
    KEY_DEK_ENV,
    KEY_ENC_ENV,
    KEY_ENV,
    KEY_FILE_ENV,
    KEY_MAC_ENV,
    KEY_VERSION_ENV,
    CardKeys,
    KeyDiversification,
    load_card_keys,
    read_key_file,
)
from tpmcard.services.gp.plans import (  # noqa: F401 - the package API
    SECRET_OPTIONS,
    GpInvocation,
    install_parameters_field,
    plan_install,
    plan_list,
    plan_uninstall,
    plan_upgrade,
    resolve_reader_name,
)
from tpmcard.services.gp.profile import (  # noqa: F401 - the package API
    GP_PRIVILEGES,
    MAX_INSTALL_PARAMS,
    AppletProfile,
    DeploymentProfile,
    InstallParams,
    PackageProfile,
    load_profile,
    parse_profile,
    profile_path,
    profiles_dir,
)
from tpmcard.services.gp.tool import (  # noqa: F401 - the package API
    GP_CLASSPATH_ENV,
    GP_JAR_ENV,
    GPTOOL_MAIN,
    GpResult,
    GpTool,
    execute,
    gp_classpath_file,
)


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


@dataclass(frozen=True)
class RegistryEntry:
    """One entry of gptool's ``--list``: ``kind`` ISD, APP, PKG, ...; its AID and state, and the
    indented details below it (``Privs``, ``Version``, ``Applet``: repeated keys as lists)."""

    kind: str
    aid: bytes
    state: str
    details: dict[str, list[str]]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "aid": self.aid.hex().upper(),
            "state": self.state,
            **{key.lower(): values for key, values in self.details.items()},
        }


_ENTRY = re.compile(r"^(?P<kind>[A-Z]{2,4}):\s+(?P<aid>[0-9A-Fa-f]+)\s*(?:\((?P<state>[^)]*)\))?")
_DETAIL = re.compile(r"^\s+(?P<key>[A-Za-z][\w ]*?):\s*(?P<value>.*?)\s*$")


def parse_listing(text: str) -> list[RegistryEntry]:
    """The entries of gptool's ``--list`` output (lines it prints around them are skipped)."""
    entries: list[RegistryEntry] = []
    for line in text.splitlines():
        entry = _ENTRY.match(line)
        if entry is not None:
            entries.append(
                RegistryEntry(entry["kind"], bytes.fromhex(entry["aid"]), entry["state"] or "", {})
            )
            continue
        detail = _DETAIL.match(line)
        if detail is not None and entries and detail["value"]:
            entries[-1].details.setdefault(detail["key"], []).append(detail["value"])
    return entries


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
