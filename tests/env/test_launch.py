"""Pack and launch over the real route (``fresh_host``: a paired card, owned mobile TPM, host
PCRs zero), and every refusal of the issue: wrong PIN (counted by the lockout), wrong launcher
measurement in PCR 8, altered chunks, another card, a changed mobile-TPM PCR. After a refusal
nothing decrypted is left: no memfd open in this process, no tpmcard-env directory on tmpfs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard.env import format as fmt
from tpmcard.env import service

from .conftest import ENV_PIN, OWNER_AUTH, reboot_host

if TYPE_CHECKING:
    from conftest import BoundCard


def connector(card: BoundCard):
    @contextlib.contextmanager
    def connect(card_id: bytes) -> Iterator[object]:
        with card.connect() as session:
            yield session

    return connect


def leftovers(tmpfs: Path) -> list[str]:
    """What a launch may leave behind: memfds of this process, directories on the tmpfs."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if "tpmcard-env" in os.readlink(f"/proc/self/fd/{fd}"):
                found.append(f"fd {fd}")
    found += [p.name for p in tmpfs.iterdir()] if tmpfs.exists() else []
    return found


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A private directory on /dev/shm (tmpfs) for directory environments."""
    base = Path("/dev/shm") / f"tpmcard-test-{os.getpid()}-{tmp_path.name}"
    base.mkdir()
    try:
        yield base
    finally:
        for child in base.iterdir():
            subprocess.run(["rm", "-rf", str(child)], check=False)
        base.rmdir()


def pack(card: BoundCard, source: Path, image: Path, **kw) -> fmt.Header:
    with card.connect() as session:
        return service.pack(session, source, image, ENV_PIN, **kw)


def launch(card: BoundCard, image: Path, command: list[str], pin: bytes = ENV_PIN, **kw):
    return service.launch(
        image,
        command,
        host_tpm=card.tpm,
        connect=connector(card),
        read_pin=lambda: pin,
        **kw,
    )


def sha256_of(command_output: bytes) -> str:
    return command_output.split()[0].decode()


def run_capture(argv: list[str], decrypted: service.Decrypted, sink: list[bytes]) -> int:
    fds = (decrypted.fd,) if decrypted.fd is not None else ()
    result = subprocess.run(argv, pass_fds=fds, capture_output=True, check=False)
    sink.append(result.stdout)
    return result.returncode


def test_pack_launch_sha256sum_sees_the_original_bytes(fresh_host, tmp_path, tmpfs) -> None:
    data = os.urandom(3 * 4096 + 123)
    source = tmp_path / "disk.img"
    source.write_bytes(data)
    image = tmp_path / "disk.env"
    header = pack(fresh_host, source, image, chunk_size=4096, mtpm_pcrs=[10])
    assert image.read_bytes().count(data[:64]) == 0  # encrypted
    out: list[bytes] = []
    result = launch(
        fresh_host,
        image,
        ["sha256sum", "{}"],
        tmpfs=tmpfs,
        run=lambda argv, d: run_capture(argv, d, out),
    )
    assert result.status == 0
    assert sha256_of(out[0]) == hashlib.sha256(data).hexdigest()
    assert leftovers(tmpfs) == []
    # PCR 8 holds the launcher's measurement, mTPM PCR 9 the image digest.
    assert fresh_host.tpm.pcr_read([8])[8] == service.expected_pcr8(
        service.launcher_measurement(header.policy)
    )
    with fresh_host.connect() as session:
        assert session.mtpm.pcr_read([9])[9] == fmt.extend(bytes(32), header.digest)
    # A second launch in the same boot: PCR 8 is not extended again, the image opens.
    out.clear()
    assert launch(fresh_host, image, ["sha256sum", "{}"], run=lambda a, d: run_capture(a, d, out)).status == 0
    assert sha256_of(out[0]) == hashlib.sha256(data).hexdigest()
