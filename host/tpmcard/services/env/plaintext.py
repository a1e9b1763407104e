"""Where a launched environment's plaintext may go: a private directory on a memory file system,
and a tar stream's members checked before they are unpacked there (docs/portable-environment.md).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tpmcard.services.env.format import EnvError


def _mount_type(path: Path) -> str:
    """The file system type of the mount holding ``path`` (/proc/self/mountinfo)."""
    best, kind = "", ""
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as table:
        for line in table:
            left, _, right = line.partition(" - ")
            mount_point = left.split()[4].replace("\\040", " ")
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best):
                best, kind = mount_point, right.split()[0]
    return kind


def private_tmpfs(base: Path | None = None) -> Path:
    """A new 0700 directory on a memory file system (``$XDG_RUNTIME_DIR`` or /dev/shm)."""
    candidates = [base] if base is not None else []
    if base is None:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            candidates.append(Path(runtime))
        candidates.append(Path("/dev/shm"))  # noqa: S108 - mkdtemp below: private, 0700
    for candidate in candidates:
        if (
            candidate is not None
            and candidate.is_dir()
            and _mount_type(candidate)
            in (
                "tmpfs",
                "ramfs",
            )
        ):
            return Path(tempfile.mkdtemp(prefix="tpmcard-env-", dir=candidate))
    raise EnvError(
        "no memory file system (tmpfs) to unpack a directory environment into: mount one at "
        "$XDG_RUNTIME_DIR or /dev/shm",
        "tmpfs",
    )


def safe_members(tar: tarfile.TarFile, root: Path) -> Iterator[tarfile.TarInfo]:
    """Only regular files, directories and links that stay inside ``root``; no devices, no
    set-id bits (what tarfile's "data" filter does, which this Python may lack)."""
    root = root.resolve()

    def inside(path: Path) -> bool:
        return path == root or root in path.parents

    for member in tar:
        target = (root / member.name).resolve()
        if Path(member.name).is_absolute() or not inside(target):
            raise EnvError(f"the environment's tar stream names {member.name!r}, outside it")
        if member.issym() or member.islnk():
            base = target.parent if member.issym() else root
            if Path(member.linkname).is_absolute() or not inside(
                (base / member.linkname).resolve()
            ):
                raise EnvError(f"the environment's tar stream links {member.name!r} outside it")
        elif not (member.isfile() or member.isdir()):
            raise EnvError(f"the environment's tar stream holds a special file {member.name!r}")
        member.mode &= 0o777
        yield member
