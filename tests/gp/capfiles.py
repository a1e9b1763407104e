"""Synthetic CAP files for the tests: the components a card manager reads, laid out as
JCVM 3.0.5 §6 specifies. No converter is needed (and none is reachable on CI); the components
that hold code are present but empty, so these files are fit for parsers, not for cards."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

#: The suite used by the deployment tests: the real core package and a throwaway provider.
CORE_AID = bytes.fromhex("F074706D630100")
CORE_APPLET = bytes.fromhex("F074706D63010001")
PROVIDER_AID = bytes.fromhex("F074706D630200")
PROVIDER_APPLET = bytes.fromhex("F074706D63020001")
JAVACARD_FRAMEWORK = bytes.fromhex("A0000000620101")

#: A key that is not the GlobalPlatform test key, so tests notice one standing in for the other.
KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")

#: Components in the order of JCVM 3.0.5 §6.2 (tag values 1..11).
COMPONENT_ORDER = (
    "Header", "Directory", "Applet", "Import", "ConstantPool", "Class", "Method",
    "StaticField", "RefLocation", "Export", "Descriptor",
)  # fmt: skip
_TAGS = {name: tag for tag, name in enumerate(COMPONENT_ORDER, start=1)}


def component(name: str, body: bytes) -> bytes:
    """u1 tag, u2 size, info[size] (JCVM §6.1)."""
    return bytes([_TAGS[name]]) + len(body).to_bytes(2, "big") + body


def package_info(aid: bytes, major: int, minor: int) -> bytes:
    return bytes([minor, major, len(aid)]) + aid


def build_cap(
    java_package: str,
    aid: bytes,
    version: tuple[int, int],
    applets: list[bytes] = (),  # type: ignore[assignment]
    imports: list[tuple[bytes, int, int]] = (),  # type: ignore[assignment]
    exports: bool = False,
    format_version: tuple[int, int] = (2, 1),
) -> bytes:
    flags = (0x02 if exports else 0) | (0x04 if applets else 0)
    header = (
        (0xDECAFFED).to_bytes(4, "big")
        + bytes([format_version[1], format_version[0], flags])
        + package_info(aid, *version)
    )
    parts = {"Header": component("Header", header)}
    if applets:
        body = bytes([len(applets)])
        for index, applet in enumerate(applets):
            body += bytes([len(applet)]) + applet + (index * 4).to_bytes(2, "big")
        parts["Applet"] = component("Applet", body)
    imports = list(imports)
    body = bytes([len(imports)])
    for import_aid, major, minor in imports:
        body += package_info(import_aid, major, minor)
    parts["Import"] = component("Import", body)
    # Directory: component sizes (u2 x 11 in format 2.1), static field sizes, import count,
    # applet count, custom count (JCVM §6.4). Sizes are the bodies written here.
    sizes = b"".join(
        (len(parts[n]) - 3 if n in parts else 0).to_bytes(2, "big") for n in COMPONENT_ORDER
    )
    static_field_size = bytes(6)
    directory = sizes + static_field_size + bytes([len(imports), len(applets), 0])
    parts["Directory"] = component("Directory", directory)
    for name in ("ConstantPool", "Class", "Method", "StaticField", "RefLocation", "Descriptor"):
        parts[name] = component(name, bytes(2))
    folder = java_package.replace(".", "/") + "/javacard/"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        for name in COMPONENT_ORDER:
            if name in parts:
                archive.writestr(folder + name + ".cap", parts[name])
    return out.getvalue()


def write_cap(path: Path, *args: object, **kwargs: object) -> Path:
    path.write_bytes(build_cap(*args, **kwargs))  # type: ignore[arg-type]
    return path
