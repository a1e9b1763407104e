"""`tpmcard mtpm quote` files checked by stock tpm2_checkquote and by `tpmcard verify` (the CA ->
EK -> AK chain too). The CLI's card is the paired card of conftest.py through a real secured
session (``open_mtpm`` yields its ``session.mtpm``; everything below the CLI is the real route)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from tpmcard.cli import cli

if TYPE_CHECKING:
    pass  # tests/conftest.py

NONCE = "00112233445566778899aabbccddeeff"
PCRS = "0,1,8,9,10"


@pytest.fixture
def run(paired_cli: Callable[..., str]) -> Callable[..., str]:
    return paired_cli


def checkquote(d: Path, nonce: str = NONCE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "tpm2_checkquote",
            "-u",
            str(d / "ak.pem"),
            "-m",
            str(d / "quote.msg"),
            "-s",
            str(d / "quote.sig"),
            "-f",
            str(d / "pcrs.bin"),
            "-l",
            f"sha256:{PCRS}",
            "-q",
            nonce,
            "-g",
            "sha256",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_quote_files_verify_with_tpm2_checkquote_and_tpmcard_verify(run, tmp_path: Path) -> None:
    run("ca", "init")
    run("mtpm", "ek-public", "--out", str(tmp_path / "ek.pem"))
    run(
        "ca",
        "issue",
        "--ek",
        str(tmp_path / "ek.pem"),
        "--card-id",
        "test",
        "--out",
        str(tmp_path / "ek.der"),
    )
    run("mtpm", "ek-cert", "set", str(tmp_path / "ek.der"))
    run("mtpm", "pcr", "extend", "9", "ab" * 32)
    out = tmp_path / "q"
    run("mtpm", "quote", "--pcrs", PCRS, "--nonce", NONCE, "--out", str(out))
    for name in ("quote.msg", "quote.sig", "ak.pem", "pcrs.bin", "ek.crt", "ak-certify.msg"):
        assert (out / name).exists()
    assert (out / "pcrs.bin").stat().st_size == 5 * 32

    ok = checkquote(out)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in run("verify", str(out), "--nonce", NONCE)

    # Wrong nonce: both refuse.
    assert checkquote(out, "ff" * 16).returncode != 0
    runner = CliRunner()
    bad = runner.invoke(cli, ["verify", str(out), "--nonce", "ff" * 16])
    assert bad.exit_code == 1 and "nonce" in bad.output

    # One altered byte anywhere in the quote: both refuse.
    original = (out / "quote.msg").read_bytes()
    for position in (0, 10, 60, len(original) - 1):
        altered = bytearray(original)
        altered[position] ^= 0x01
        (out / "quote.msg").write_bytes(bytes(altered))
        assert checkquote(out).returncode != 0, position
        assert runner.invoke(cli, ["verify", str(out), "--nonce", NONCE]).exit_code == 1, position
    (out / "quote.msg").write_bytes(original)

    # A certificate from another CA breaks the chain.
    other = tmp_path / "other"
    from tpmcard.services.ca import ManufacturerCa

    ManufacturerCa.init(other)
    result = runner.invoke(
        cli, ["verify", str(out), "--nonce", NONCE, "--ca", str(other / "ca.pem")]
    )
    assert result.exit_code == 1 and "manufacturer CA" in result.output


def test_seal_and_unseal_through_the_cli(run, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"top secret")
    run(
        "mtpm",
        "seal",
        "--pcrs",
        "0,9",
        str(tmp_path / "secret"),
        str(tmp_path / "blob"),
    )
    run("mtpm", "unseal", str(tmp_path / "blob"), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b"top secret"
    run("mtpm", "pcr", "extend", "9", "00" * 32)
    result = CliRunner().invoke(
        cli, ["mtpm", "unseal", str(tmp_path / "blob"), str(tmp_path / "x")]
    )
    assert result.exit_code == 1 and "PCRs do not match" in result.output
