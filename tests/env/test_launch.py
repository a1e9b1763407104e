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
import tpmcard.services.env.attestation as env_attest
from tpmcard.services.env import format as fmt
from tpmcard.services.env import service

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
    base = Path("/dev/shm") / f"tpmcard-test-{os.getpid()}-{tmp_path.name}"  # noqa: S108 - the test's own
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
    assert (
        launch(
            fresh_host, image, ["sha256sum", "{}"], run=lambda a, d: run_capture(a, d, out)
        ).status
        == 0
    )
    assert sha256_of(out[0]) == hashlib.sha256(data).hexdigest()


def never_run(argv: list[str], decrypted: service.Decrypted) -> int:
    raise AssertionError("the command must not run after a refusal")


@pytest.fixture
def packed(fresh_host, tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(5 * 4096 + 7)
    source = tmp_path / "disk.img"
    source.write_bytes(data)
    image = tmp_path / "disk.env"
    pack(fresh_host, source, image, chunk_size=4096, mtpm_pcrs=[10, 11])
    return image, data


def test_wrong_pin_is_refused_and_counted_by_the_lockout(fresh_host, packed, tmpfs) -> None:
    image, _ = packed
    for _ in range(16):
        with pytest.raises(service.WrongPinError) as wrong:
            launch(fresh_host, image, ["true", "{}"], pin=b"0000", tmpfs=tmpfs, run=never_run)
        assert wrong.value.reason == "pin"
    # 16 wrong PINs in a row: now even the right PIN is refused until the owner resets.
    with pytest.raises(service.PinLockedError):
        launch(fresh_host, image, ["true", "{}"], tmpfs=tmpfs, run=never_run)
    assert leftovers(tmpfs) == []
    with fresh_host.connect() as session:
        session.mtpm.da_reset(OWNER_AUTH)
    assert launch(fresh_host, image, ["true", "{}"], tmpfs=tmpfs).status == 0


def test_wrong_launcher_measurement_in_pcr_8_is_refused(fresh_host, swtpm, packed, tmpfs) -> None:
    image, _ = packed
    # Another launcher (other code) measures itself: PCR 8 is not what the image was sealed to.
    with pytest.raises(service.LauncherMeasurementError):
        launch(fresh_host, image, ["true"], code=bytes(32), tmpfs=tmpfs, run=never_run)
    assert leftovers(tmpfs) == []
    # The right launcher after that cannot repair PCR 8 until the host reboots.
    with pytest.raises(service.LauncherMeasurementError):
        launch(fresh_host, image, ["true"], tmpfs=tmpfs, run=never_run)
    reboot_host(swtpm)
    assert launch(fresh_host, image, ["true"], tmpfs=tmpfs).status == 0


def test_pcr_8_measured_by_someone_else_first_is_refused(fresh_host, packed, tmpfs) -> None:
    image, _ = packed
    fresh_host.tpm.pcr_extend(8, hashlib.sha256(b"boot loader").digest())
    with pytest.raises(service.LauncherMeasurementError):
        launch(fresh_host, image, ["true"], tmpfs=tmpfs, run=never_run)


def test_the_card_enforces_pcr_8_too(fresh_host, packed, tmpfs) -> None:
    """Without the host's early check, the card itself refuses the unseal (6985)."""
    image, _ = packed
    fresh_host.tpm.pcr_extend(8, hashlib.sha256(b"boot loader").digest())
    header = service.read_header(image)
    with fresh_host.connect() as session, pytest.raises(service.PolicyMismatchError):
        service.unseal_key(session, header, ENV_PIN)


def test_changed_mtpm_pcr_is_refused(fresh_host, packed, tmpfs) -> None:
    image, _ = packed
    with fresh_host.connect() as session:
        session.mtpm.extend(11, hashlib.sha256(b"something else ran").digest())
    with pytest.raises(service.PolicyMismatchError) as refused:
        launch(fresh_host, image, ["true"], tmpfs=tmpfs, run=never_run)
    assert refused.value.pcrs == (11,)
    header = service.read_header(image)
    with fresh_host.connect() as session, pytest.raises(service.PolicyMismatchError):
        service.unseal_key(session, header, ENV_PIN)  # and the card says so itself
    fresh_host.reset()  # mTPM PCRs back to zero: the policy's values again
    assert launch(fresh_host, image, ["true"], tmpfs=tmpfs).status == 0


def _chunks(image: Path) -> tuple[bytes, list[bytes]]:
    header = service.read_header(image)
    raw = image.read_bytes()
    step = header.chunk_size + fmt.TAG_SIZE
    body = raw[header.length :]
    return raw[: header.length], [body[i : i + step] for i in range(0, len(body), step)]


@pytest.mark.parametrize(
    "how", ["tampered", "truncated", "cut", "extended", "reordered", "dropped", "duplicated"]
)
def test_altered_chunks_are_refused(fresh_host, packed, tmpfs, how: str) -> None:
    image, _ = packed
    head, chunks = _chunks(image)
    assert len(chunks) == 6
    if how == "tampered":
        chunk = bytearray(chunks[2])
        chunk[100] ^= 1
        chunks[2] = bytes(chunk)
    elif how == "truncated":  # in the middle of the last chunk
        chunks[-1] = chunks[-1][:-5]
    elif how == "cut":  # at a chunk boundary: the last present chunk was not final
        chunks = chunks[:-1]
    elif how == "extended":  # a chunk appended after the last
        chunks.append(chunks[1])
    elif how == "reordered":
        chunks[1], chunks[2] = chunks[2], chunks[1]
    elif how == "dropped":
        del chunks[1]
    else:
        chunks.insert(2, chunks[1])
    image.write_bytes(head + b"".join(chunks))
    with pytest.raises(fmt.ImageIntegrityError) as refused:
        launch(fresh_host, image, ["true", "{}"], tmpfs=tmpfs, run=never_run)
    assert refused.value.reason == "integrity"
    assert leftovers(tmpfs) == []
    with fresh_host.connect() as session:  # PCR 9 was not extended: nothing was launched
        assert session.mtpm.pcr_read([9])[9] == bytes(32)


def test_altered_header_is_refused(fresh_host, packed, tmpfs) -> None:
    image, _ = packed
    header = service.read_header(image)
    raw = image.read_bytes()
    # A changed trailer (size) or policy fails the chunks' tags; the key is the right one.
    altered = fmt.Header(header.content, header.binding, header.size + 1, header.content_hash)
    image.write_bytes(altered.encode() + raw[header.length :])
    with pytest.raises(fmt.ImageIntegrityError):
        launch(fresh_host, image, ["true"], tmpfs=tmpfs, run=never_run)


def test_different_card_is_refused(fresh_host, swtpm, second_bound_card, packed, tmpfs) -> None:
    image, _ = packed
    reboot_host(swtpm)
    with second_bound_card.connect() as session:
        session.mtpm.take_ownership(OWNER_AUTH)
    with pytest.raises(service.WrongCardImageError):
        launch(second_bound_card, image, ["true"], tmpfs=tmpfs, run=never_run)
    # A header that names the other card: that card itself refuses the blob (6A88).
    header = service.read_header(image)
    with second_bound_card.connect() as session:
        header.binding["card_id"] = session.card_id.hex()
        with pytest.raises(service.WrongCardImageError):
            service.unseal_key(session, header, ENV_PIN)
    assert leftovers(tmpfs) == []


def test_move_to_another_card(fresh_host, swtpm, second_bound_card, tmp_path, tmpfs) -> None:
    """The migration rules of the trust issue: a move (revoked on A), to a target certified by
    the CA that A's owner trusts, with A's owner auth; an image packed without --migratable
    does not move. After the move the image opens on B and no longer on A."""
    from cryptography.hazmat.primitives import serialization
    from tpmcard.services.ca import ManufacturerCa
    from tpmcard.services.mtpm_formats import public_point
    from tpmcard.services.verify import MigrationTarget

    data = os.urandom(10_000)
    source = tmp_path / "disk.img"
    source.write_bytes(data)
    image, fixed = tmp_path / "moving.env", tmp_path / "fixed.env"
    pack(fresh_host, source, image, chunk_size=4096, migratable=True)
    pack(fresh_host, source, fixed, chunk_size=4096)

    ca = ManufacturerCa.init(tmp_path / "migration-ca")
    with second_bound_card.connect() as b:
        b.mtpm.take_ownership(b"owner B")
        ek = b.mtpm.ek_public().public_key()
        der = ca.issue_ek_certificate(ek, "B").public_bytes(serialization.Encoding.DER)
        b.mtpm.ek_cert_set(der, b"owner B")
        target = MigrationTarget.collect(b.mtpm).verify(ca.certificate)
    certificate = ca.certify_migration_target(public_point(target), b"card B")

    def export(path: Path, owner: bytes = OWNER_AUTH) -> bytes:
        return env_attest.export_key(
            fresh_host.tpm, connector(fresh_host), path, certificate, owner, ENV_PIN
        )

    # A's owner has not installed the CA as migration anchor yet: untrusted target.
    with pytest.raises(service.EnvError) as refused:
        export(image)
    assert refused.value.reason == "untrusted_target"
    with fresh_host.connect() as a:
        a.mtpm.migration_anchor_set(ca.certificate.public_key(), OWNER_AUTH)
    with pytest.raises(service.EnvError) as refused:
        export(fixed)
    assert refused.value.reason == "not_migratable"
    with pytest.raises(service.EnvError) as refused:
        export(image, b"not the owner")
    assert refused.value.reason == "owner_auth"

    duplicate = export(image)
    with second_bound_card.connect() as b:
        header = env_attest.import_key(b, image, duplicate, b"owner B")
        assert header.card_id == b.card_id
    # Launching on B (PCR 8 as after a reboot, B's mTPM PCRs zero): the original bytes.
    reboot_host(swtpm)
    second_bound_card.reset()
    out: list[bytes] = []
    launch(
        second_bound_card,
        image,
        ["sha256sum", "{}"],
        tmpfs=tmpfs,
        run=lambda a, d: run_capture(a, d, out),
    )
    assert sha256_of(out[0]) == hashlib.sha256(data).hexdigest()
    # On A it is gone: the header names B, and A revoked its blob.
    reboot_host(swtpm)
    with pytest.raises(service.WrongCardImageError):
        launch(fresh_host, image, ["true"], tmpfs=tmpfs, run=never_run)
    assert leftovers(tmpfs) == []
