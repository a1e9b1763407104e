"""`tpmcard env pack|launch|attest|show` and `tpmcard verify` as a user runs them (CliRunner;
``open_host`` gives the test card's secured session and the test TPM, everything below the CLI
is the real route): a file and a directory come out exactly, a qcow2 passes `qemu-img check`,
--writeback keeps changes, the quote passes tpm2_checkquote and `tpmcard verify`, which also
checks PCR 9 against the image."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from tpmcard.cli import cli
from tpmcard.cli import env as cli_env
from tpmcard.cli import mtpm as cli_mtpm

from .conftest import ENV_PIN, OWNER_AUTH

if TYPE_CHECKING:
    from conftest import BoundCard

NONCE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def pin_fd(*lines: bytes) -> int:
    read, write = os.pipe()
    os.write(write, b"".join(line + b"\n" for line in lines))
    os.close(write)
    return read


@pytest.fixture
def run(fresh_host: BoundCard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path / "state"))

    @contextlib.contextmanager
    def open_host(opts: object) -> Iterator[tuple[object, object]]:
        @contextlib.contextmanager
        def connect(card_id: bytes | None) -> Iterator[object]:
            with fresh_host.connect() as session:
                yield session

        yield fresh_host.tpm, connect

    @contextlib.contextmanager
    def open_mtpm(opts: object) -> Iterator[object]:
        with fresh_host.connect() as session:
            yield session.mtpm

    monkeypatch.setattr(cli_env, "open_host", open_host)
    monkeypatch.setattr(cli_mtpm, "open_mtpm", open_mtpm)
    runner = CliRunner()

    def invoke(*args: str, status: int = 0) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == status, result.output
        return result.output

    return invoke


def test_file_round_trip_writeback_and_attest(run, fresh_host, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    image = tmp_path / "disk.env"
    fd = pin_fd(ENV_PIN, ENV_PIN)
    run(
        "env",
        "pack",
        str(source),
        str(image),
        "--pin-fd",
        str(fd),
        "--mtpm-pcrs",
        "10",
        "--chunk-size",
        "65536",
    )
    os.close(fd)
    assert "image_digest" in run("env", "show", str(image), "--json")

    seen = tmp_path / "seen.txt"
    fd = pin_fd(ENV_PIN)
    run(
        "env",
        "launch",
        str(image),
        "--pin-fd",
        str(fd),
        "--",
        "sh",
        "-c",
        f'sha256sum "$1" > {seen}',
        "sh",
        "{}",
    )
    os.close(fd)
    assert seen.read_text().split()[0] == hashlib.sha256(data).hexdigest()

    # The command's exit status is launch's; --writeback seals the changes back.
    fd = pin_fd(ENV_PIN)
    run(
        "env",
        "launch",
        str(image),
        "--pin-fd",
        str(fd),
        "--writeback",
        "--",
        "sh",
        "-c",
        'printf CHANGED | dd of="$1" conv=notrunc status=none; exit 3',
        "sh",
        "{}",
        status=3,
    )
    os.close(fd)
    fd = pin_fd(ENV_PIN)
    run(
        "env",
        "launch",
        str(image),
        "--pin-fd",
        str(fd),
        "--",
        "sh",
        "-c",
        f'sha256sum "$1" > {seen}',
        "sh",
        "{}",
    )
    os.close(fd)
    assert seen.read_text().split()[0] == hashlib.sha256(b"CHANGED" + data[7:]).hexdigest()

    # Attest: PCRs 0-9 quoted; tpm2_checkquote and tpmcard verify accept; PCR 9 = the image
    # launched once since the card's reset.
    fresh_host.reset()
    fd = pin_fd(ENV_PIN)
    run("env", "launch", str(image), "--pin-fd", str(fd), "--", "true")
    os.close(fd)
    run("ca", "init")
    run("mtpm", "ek-public", "--out", str(tmp_path / "ek.pem"))
    run(
        "ca",
        "issue",
        "--ek",
        str(tmp_path / "ek.pem"),
        "--card-id",
        "env",
        "--out",
        str(tmp_path / "ek.der"),
    )
    with fresh_host.connect() as session:  # owned: the owner auth goes with it
        session.mtpm.ek_cert_set((tmp_path / "ek.der").read_bytes(), OWNER_AUTH)
    out = tmp_path / "attest"
    run("env", "attest", str(image), "--nonce", NONCE, "--out", str(out))
    check = subprocess.run(
        [
            "tpm2_checkquote",
            "-u",
            str(out / "ak.pem"),
            "-m",
            str(out / "quote.msg"),
            "-s",
            str(out / "quote.sig"),
            "-f",
            str(out / "pcrs.tpm2"),  # 5.4 reads raw pcrs.bin + -l only up to 8 PCRs
            "-q",
            NONCE,
            "-g",
            "sha256",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "PCR 9 holds the environment's image digest" in run("verify", str(out), "--nonce", NONCE)
    assert "PCR 9" in run("verify", str(out), "--nonce", NONCE, "--image", str(image))
    # Another image's digest (the one before the writeback) is refused.
    other = tmp_path / "other.env"
    fd = pin_fd(ENV_PIN, ENV_PIN)
    run("env", "pack", str(source), str(other), "--pin-fd", str(fd))
    os.close(fd)
    result = CliRunner().invoke(cli, ["verify", str(out), "--nonce", NONCE, "--image", str(other)])
    assert result.exit_code == 1 and "PCR 9" in result.output


def test_qcow2_passes_qemu_img_check_after_launch(run, tmp_path: Path) -> None:
    disk = tmp_path / "vm.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    # Some data in the guest disk (qemu-io is in qemu-utils too), read back after launch.
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", str(disk)],
        check=True,
        capture_output=True,
    )
    image = tmp_path / "vm.env"
    fd = pin_fd(ENV_PIN, ENV_PIN)
    run("env", "pack", str(disk), str(image), "--pin-fd", str(fd))
    os.close(fd)
    report = tmp_path / "check.txt"
    fd = pin_fd(ENV_PIN)
    run(
        "env",
        "launch",
        str(image),
        "--pin-fd",
        str(fd),
        "--",
        "sh",
        "-c",
        f'qemu-img check -f qcow2 "$1" > {report} 2>&1 && '
        f'qemu-io -f qcow2 -c "read -P 0x5a 1M 3M" "$1" >> {report} 2>&1',
        "sh",
        "{}",
    )
    os.close(fd)
    text = report.read_text()
    assert "No errors were found on the image." in text
    assert "read 3145728/3145728 bytes" in text and "Pattern verification failed" not in text


def test_directory_round_trip(run, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    image = tmp_path / "tree.env"
    fd = pin_fd(ENV_PIN, ENV_PIN)
    run("env", "pack", str(tree), str(image), "--pin-fd", str(fd), "--chunk-size", "8192")
    os.close(fd)
    listing = tmp_path / "listing.txt"
    fd = pin_fd(ENV_PIN)
    run(
        "env",
        "launch",
        str(image),
        "--pin-fd",
        str(fd),
        "--",
        "sh",
        "-c",
        f'cd "$1" && sha256sum a.txt sub/b.bin > {listing} && df -T . | tail -1 >> {listing}',
        "sh",
        "{}",
    )
    os.close(fd)
    text = listing.read_text()
    assert hashlib.sha256(b"alpha\n").hexdigest() in text
    assert hashlib.sha256((tree / "sub" / "b.bin").read_bytes()).hexdigest() in text
    assert "tmpfs" in text  # unpacked on a memory file system
    assert not [p for p in Path("/dev/shm").glob("tpmcard-env-*")]  # and wiped  # noqa: S108


def test_cli_refusals_are_one_line_errors(run, fresh_host, tmp_path: Path) -> None:
    source = tmp_path / "disk.raw"
    source.write_bytes(os.urandom(20_000))
    image = tmp_path / "disk.env"
    fd = pin_fd(ENV_PIN, ENV_PIN)
    run("env", "pack", str(source), str(image), "--pin-fd", str(fd), "--chunk-size", "4096")
    os.close(fd)
    fd = pin_fd(b"wrong")
    out = run("env", "launch", str(image), "--pin-fd", str(fd), "--", "true", status=1)
    os.close(fd)
    assert "wrong PIN" in out and "counted" in out
    raw = bytearray(image.read_bytes())
    raw[-30] ^= 0x40
    image.write_bytes(bytes(raw))
    fd = pin_fd(ENV_PIN)
    out = run("env", "launch", str(image), "--pin-fd", str(fd), "--", "true", status=1)
    os.close(fd)
    assert "damaged or was altered" in out
    # mTPM PCR 9 is refused in a policy: it is the image's own measurement.
    result = CliRunner().invoke(cli, ["env", "pack", str(source), str(image), "--mtpm-pcrs", "9"])
    assert result.exit_code == 2 and "PCR 9" in result.output


def test_cli_move_and_import(
    fresh_host, swtpm, second_bound_card, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`tpmcard env move` on card A (owner auth and PIN from one descriptor, in that order),
    `tpmcard env import` on card B; the image then launches on B."""
    from cryptography.hazmat.primitives import serialization
    from tpmcard.services.ca import ManufacturerCa
    from tpmcard.services.mtpm_formats import public_point
    from tpmcard.services.verify import MigrationTarget

    from .conftest import reboot_host

    cards = {"now": fresh_host}

    @contextlib.contextmanager
    def open_host(opts: object) -> Iterator[tuple[object, object]]:
        card = cards["now"]

        @contextlib.contextmanager
        def connect(card_id: bytes | None) -> Iterator[object]:
            with card.connect() as session:
                yield session

        yield card.tpm, connect

    monkeypatch.setattr(cli_env, "open_host", open_host)
    runner = CliRunner()

    def run(*args: str, status: int = 0) -> str:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == status, result.output
        return result.output

    data = os.urandom(9000)
    source, image = tmp_path / "disk.raw", tmp_path / "disk.env"
    source.write_bytes(data)
    fd = pin_fd(ENV_PIN)
    run("env", "pack", str(source), str(image), "--migratable", "--pin-fd", str(fd))
    os.close(fd)

    ca = ManufacturerCa.init(tmp_path / "migration-ca")
    with second_bound_card.connect() as b:
        b.mtpm.take_ownership(b"owner B")
        ek = b.mtpm.ek_public().public_key()
        b.mtpm.ek_cert_set(
            ca.issue_ek_certificate(ek, "B").public_bytes(serialization.Encoding.DER), b"owner B"
        )
        target = MigrationTarget.collect(b.mtpm).verify(ca.certificate)
    certificate = tmp_path / "b.cert"
    certificate.write_bytes(ca.certify_migration_target(public_point(target), b"card B"))
    with fresh_host.connect() as a:
        a.mtpm.migration_anchor_set(ca.certificate.public_key(), OWNER_AUTH)

    duplicate = tmp_path / "key.dup"
    fd = pin_fd(OWNER_AUTH, ENV_PIN)
    run(
        "env",
        "move",
        str(image),
        "--target",
        str(certificate),
        str(duplicate),
        "--owner-auth-fd",
        str(fd),
        "--pin-fd",
        str(fd),
    )
    os.close(fd)

    cards["now"] = second_bound_card
    fd = pin_fd(b"owner B")
    assert "now bound to card" in run(
        "env", "import", str(image), str(duplicate), "--owner-auth-fd", str(fd)
    )
    os.close(fd)
    reboot_host(swtpm)
    second_bound_card.reset()
    seen = tmp_path / "seen.txt"
    fd = pin_fd(ENV_PIN)
    run(
        "env",
        "launch",
        str(image),
        "--pin-fd",
        str(fd),
        "--",
        "sh",
        "-c",
        f'sha256sum "$1" > {seen}',
        "sh",
        "{}",
    )
    os.close(fd)
    assert seen.read_text().split()[0] == hashlib.sha256(data).hexdigest()
