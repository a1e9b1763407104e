"""A 1 GiB image packs and launches through the real command line with flat memory: each
`tpmcard` process's peak RSS (GNU time's %M, the JVM of the in-process simulated card included)
stays under 200 MB, and the launched `sha256sum {}` sees exactly the original bytes.

The CLI runs as separate processes on a state directory of its own: `tpmcard demo` pairs its
simulated card with its embedded swtpm (PCRs zero on a fresh state), as a user would start.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

GIB = 1 << 30
LIMIT_KB = 200 * 1024
TPMCARD = str(Path(sys.executable).parent / "tpmcard")


def tpmcard(state: Path, *args: str, stdin: bytes = b"", rss: Path | None = None) -> str:
    argv = [TPMCARD, *args]
    if rss is not None:
        argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss), *argv]
    result = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        env=dict(os.environ, TPMCARD_STATE_DIR=str(state), TPMCARD_READER="sim"),
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout.decode()


def write_gib(path: Path) -> str:
    """1 GiB that is not one repeated block (each MiB carries its index)."""
    block = bytearray(os.urandom(1 << 20))
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for i in range(GIB >> 20):
            block[:8] = i.to_bytes(8, "big")
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def test_one_gib_packs_and_launches_with_flat_memory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    tpmcard(state, "demo")
    tpmcard(state, "mtpm", "owner", "take", "--owner-auth-fd", "0", stdin=b"owner\n")
    source, image = tmp_path / "big.img", tmp_path / "big.env"
    expected = write_gib(source)
    pin = b"2468\n"

    pack_rss = tmp_path / "pack.rss"
    tpmcard(
        state, "env", "pack", str(source), str(image), "--pin-fd", "0", stdin=pin * 2, rss=pack_rss
    )
    source.unlink()  # only the image is left on disk
    assert image.stat().st_size > GIB

    seen = tmp_path / "seen.txt"
    launch_rss = tmp_path / "launch.rss"
    tpmcard(
        state,
        "env",
        "launch",
        str(image),
        "--pin-fd",
        "0",
        "--",
        "sh",
        "-c",
        f'sha256sum "$1" > {seen}',
        "sh",
        "{}",
        stdin=pin,
        rss=launch_rss,
    )
    assert seen.read_text().split()[0] == expected
    peaks = int(pack_rss.read_text().split()[-1]), int(launch_rss.read_text().split()[-1])
    print(f"peak RSS: pack {peaks[0] / 1024:.0f} MB, launch {peaks[1] / 1024:.0f} MB")
    assert max(peaks) < LIMIT_KB, peaks
