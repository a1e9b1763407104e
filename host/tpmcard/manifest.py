"""The suite manifest: package and applet AIDs, shared with build.gradle and the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from tpmcard import paths


@dataclass(frozen=True)
class AppletEntry:
    name: str
    class_name: str
    aid: bytes


@dataclass(frozen=True)
class PackageEntry:
    name: str
    java_package: str
    aid: bytes
    version: str
    applets: tuple[AppletEntry, ...]


@dataclass(frozen=True)
class SuiteManifest:
    rid: bytes
    packages: tuple[PackageEntry, ...]

    def applet(self, name: str) -> AppletEntry:
        for package in self.packages:
            for applet in package.applets:
                if applet.name == name:
                    return applet
        raise KeyError(f"no applet named {name!r} in the suite manifest")

    def package(self, name: str) -> PackageEntry:
        for package in self.packages:
            if package.name == name:
                return package
        raise KeyError(f"no package named {name!r} in the suite manifest")

    def applets(self) -> list[AppletEntry]:
        return [a for p in self.packages for a in p.applets]


def applet_aid(name: str) -> bytes:
    """The AID of the suite's applet ``name`` (applets/manifest.json, the one list of AIDs)."""
    return load().applet(name).aid


@lru_cache(maxsize=1)
def load() -> SuiteManifest:
    raw = json.loads(paths.manifest_path().read_text())
    return SuiteManifest(
        rid=bytes.fromhex(raw["rid"]),
        packages=tuple(
            PackageEntry(
                name=p["name"],
                java_package=p["java_package"],
                aid=bytes.fromhex(p["aid"]),
                version=p["version"],
                applets=tuple(
                    AppletEntry(a["name"], a["class"], bytes.fromhex(a["aid"]))
                    for a in p["applets"]
                ),
            )
            for p in raw["packages"]
        ),
    )
