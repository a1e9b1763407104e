"""``tpmcard mtpm ...`` as a user runs it: separate processes sharing one state directory (the
simulated card), paired first with ``tpmcard pair --pin-fd``, auth values on file descriptors.

The TPM is the test session's swtpm (TPMCARD_TCTI), so that tpm2-tools can extend a host PCR
between two commands; the pairing is bound to PCR 7, which no test extends. Card PCRs 9-23 are
zero at every run (each process powers the card up afresh), so the PCR a test changes to break
a seal is host PCR 8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard.tpm.swtpm import Swtpm
from tpmcard_cli import ok, run_tpmcard

if TYPE_CHECKING:
    from conftest import TestAttestation  # tests/conftest.py

pytestmark = pytest.mark.tpm

TPMCARD = [sys.executable, "-m", "tpmcard.cli"]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def state(
    swtpm: Swtpm, tmp_path_factory: pytest.TempPathFactory, attestation: TestAttestation
) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("cli-mtpm")
    attestation.install_into(directory)  # the CA, the EK roots and the swtpm's enrolled AK
    installed = _run(directory, swtpm.tcti, "ca", "install", "--pin-fd", "{fd}",
                     secrets="123456\n")  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    # A new card pairs only once its PIN and PUK are changed from the factory defaults.
    for extra, secrets in (((), "123456\n975310\n"), (("--puk",), "12345678\n97531086\n")):
        changed = _run(directory, swtpm.tcti, "pin", "change", *extra, "--pin-fd", "{fd}",
                       "--new-pin-fd", "{fd}", secrets=secrets)  # fmt: skip
        assert changed.returncode == 0, changed.stderr
    paired = _run(directory, swtpm.tcti, "pair", "--pcrs", "7", "--pin-fd", "{fd}",
                  secrets="975310\n")  # fmt: skip
    assert paired.returncode == 0, paired.stderr
    return directory, swtpm.tcti


def _run(
    directory: Path, tcti: str, *args: str, secrets: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_tpmcard(
        directory, *args, secrets=secrets, env={"TPMCARD_TCTI": tcti}, cwd=directory, timeout=120
    )


@pytest.fixture
def run(state: tuple[Path, str]) -> Run:
    directory, tcti = state

    def invoke(*args: str, secrets: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run(directory, tcti, *args, secrets=secrets)

    return invoke


def tools(tcti: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={**os.environ, "TPM2TOOLS_TCTI": tcti},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pcr_read_and_quote_checked_by_tpm2_checkquote(
    run: Run, state: tuple[Path, str], tmp_path: Path
) -> None:
    values = json.loads(ok(run("mtpm", "pcr", "read", "--pcrs", "0,8,9", "--json")))
    assert set(values) == {"0", "8", "9"} and values["9"] == "00" * 32
    nonce = os.urandom(16).hex()
    ok(run("mtpm", "quote", "--pcrs", "0,1,8,9,10", "--nonce", nonce, "--out", str(tmp_path)))
    checked = tools(
        state[1], "tpm2_checkquote", "-u", "ak.pem", "-m", "quote.msg", "-s", "quote.sig",
        "-f", "pcrs.bin", "-l", "sha256:0,1,8,9,10", "-q", nonce, "-g", "sha256", cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    wrong = tools(
        state[1], "tpm2_checkquote", "-u", "ak.pem", "-m", "quote.msg", "-s", "quote.sig",
        "-q", "00" * 16, cwd=tmp_path,
    )  # fmt: skip
    assert wrong.returncode != 0


def test_seal_unseal_with_an_auth_value_until_the_pcr_changes(
    run: Run, state: tuple[Path, str], tmp_path: Path
) -> None:
    (tmp_path / "secret").write_bytes(b"disk key \x00\xff")
    secret, blob = str(tmp_path / "secret"), str(tmp_path / "blob")
    unowned = run("mtpm", "seal", "--pcrs", "8,9", "--auth-fd", "{fd}", secret, blob,
                  secrets="pw\n")  # fmt: skip
    assert unowned.returncode == 1 and "tpmcard mtpm owner take" in unowned.stderr
    ok(run("mtpm", "owner", "take", "--owner-auth-fd", "{fd}", secrets="owner\n"))
    try:
        _seal_unseal_until_the_pcr_changes(run, state, tmp_path, secret, blob)
    finally:
        ok(run("mtpm", "owner", "clear", "--owner-auth-fd", "{fd}", secrets="owner\n"))


def _seal_unseal_until_the_pcr_changes(
    run: Run, state: tuple[Path, str], tmp_path: Path, secret: str, blob: str
) -> None:
    ok(run("mtpm", "seal", "--pcrs", "8,9", "--auth-fd", "{fd}", secret, blob, secrets="pw\n"))
    ok(run("mtpm", "unseal", "--auth-fd", "{fd}", str(tmp_path / "blob"), str(tmp_path / "back"),
           secrets="pw\n"))  # fmt: skip
    assert (tmp_path / "back").read_bytes() == b"disk key \x00\xff"
    wrong = run("mtpm", "unseal", "--auth-fd", "{fd}", str(tmp_path / "blob"), "-",
                secrets="nope\n")  # fmt: skip
    assert wrong.returncode == 1 and "the auth value is wrong" in wrong.stderr
    extended = tools(state[1], "tpm2_pcrextend", f"8:sha256={'ab' * 32}", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr
    refused = run("mtpm", "unseal", "--auth-fd", "{fd}", str(tmp_path / "blob"), "-",
                  secrets="pw\n")  # fmt: skip
    assert refused.returncode == 1 and "PCRs do not match" in refused.stderr
    # No auth value on the command line.
    assert run("mtpm", "seal", "--pcrs", "9", "--auth", "pw", "x", "y").returncode == 2


def test_owner_nv_and_counter(run: Run, tmp_path: Path) -> None:
    ok(run("mtpm", "owner", "take", "--owner-auth-fd", "{fd}", secrets="owner\n"))
    status = json.loads(ok(run("mtpm", "owner", "status", "--json")))
    assert status["owned"] and status["owner_tries_left"] == 8
    try:
        # One descriptor carries both lines: the owner auth is read first, then the index's.
        ok(run("mtpm", "nv", "define", "0x01500001", "--size", "16", "--owner-auth-fd", "{fd}",
               "--auth-fd", "{fd}", secrets="owner\nnvpw\n"))  # fmt: skip
        (tmp_path / "data").write_bytes(b"hello")
        ok(run("mtpm", "nv", "write", "0x01500001", str(tmp_path / "data"), "--offset", "2",
               "--auth-fd", "{fd}", secrets="nvpw\n"))  # fmt: skip
        ok(run("mtpm", "nv", "read", "0x01500001", str(tmp_path / "out"), "--auth-fd", "{fd}",
               secrets="nvpw\n"))  # fmt: skip
        assert (tmp_path / "out").read_bytes() == b"\0\0hello" + bytes(9)

        start = int(ok(run("mtpm", "counter", "define", "0x01500002", "--owner-auth-fd", "{fd}",
                           secrets="owner\n")))  # fmt: skip
        assert int(ok(run("mtpm", "counter", "increment", "0x01500002"))) == start + 1
        read = ok(run("mtpm", "counter", "read", "0x01500002", "-o", str(tmp_path / "c")))
        assert int(read) == start + 1
        assert (tmp_path / "c").read_bytes() == (start + 1).to_bytes(8, "big")
        listing = json.loads(ok(run("mtpm", "nv", "list", "--json")))
        assert listing == [
            {"handle": "0x01500001", "kind": "data", "size": 16},
            {"handle": "0x01500002", "kind": "counter", "size": 8},
        ]
        write = run("mtpm", "nv", "write", "0x01500002", str(tmp_path / "data"))
        assert write.returncode == 1 and "counter vs. data" in write.stderr
        ok(run("mtpm", "counter", "undefine", "0x01500002", "--owner-auth-fd", "{fd}",
               secrets="owner\n"))  # fmt: skip
        ok(run("mtpm", "nv", "undefine", "0x01500001", "--owner-auth-fd", "{fd}",
               secrets="owner\n"))  # fmt: skip
        assert json.loads(ok(run("mtpm", "nv", "list", "--json"))) == []

        wrong = run("mtpm", "owner", "clear", "--owner-auth-fd", "{fd}", secrets="x\n")
        assert wrong.returncode == 1 and "wrong owner auth: 7 tries left" in wrong.stderr
    finally:
        ok(run("mtpm", "owner", "clear", "--owner-auth-fd", "{fd}", secrets="owner\n"))
    assert not json.loads(ok(run("mtpm", "owner", "status", "--json")))["owned"]


def test_migration_through_the_cli(run: Run, tmp_path: Path) -> None:
    """The documented flow, with the card as its own target: CA -> EK certificate -> target
    file -> CA's target certificate -> trust -> export (owner auth, then the object's) ->
    import -> unseal. Refused before the CA is trusted, and for a blob not sealed migratable."""
    d = str(tmp_path)
    ok(run("ca", "init", "--force"))
    ok(run("mtpm", "owner", "take", "--owner-auth-fd", "{fd}", secrets="owner\n"))
    try:
        ok(run("mtpm", "ek-public", "--out", f"{d}/ek.pem"))
        ok(run("ca", "issue", "--ek", f"{d}/ek.pem", "--card-id", "self", "--out", f"{d}/ek.der"))
        ok(run("mtpm", "ek-cert", "set", f"{d}/ek.der", "--owner-auth-fd", "{fd}",
               secrets="owner\n"))  # fmt: skip
        ok(run("mtpm", "migrate", "target", f"{d}/target.json"))
        assert "self" in ok(run("ca", "certify-target", f"{d}/target.json", f"{d}/target.cert"))
        (tmp_path / "secret").write_bytes(b"travelling")
        ok(run("mtpm", "seal", "--pcrs", "9", "--migratable", "--auth-fd", "{fd}",
               f"{d}/secret", f"{d}/blob", secrets="pw\n"))  # fmt: skip
        ok(run("mtpm", "seal", "--pcrs", "9", "--auth-fd", "{fd}", f"{d}/secret", f"{d}/fixed",
               secrets="pw\n"))  # fmt: skip
        export = ["mtpm", "migrate", "export", "--target", f"{d}/target.cert",
                  "--owner-auth-fd", "{fd}", "--auth-fd", "{fd}"]  # fmt: skip
        untrusted = run(*export, "--sealed", f"{d}/blob", f"{d}/dup", secrets="owner\npw\n")
        assert untrusted.returncode == 1 and "not certified by the migration CA" in untrusted.stderr
        ok(run("mtpm", "migrate", "trust", "--owner-auth-fd", "{fd}", secrets="owner\n"))
        fixed = run(*export, "--sealed", f"{d}/fixed", f"{d}/dup", secrets="owner\npw\n")
        assert fixed.returncode == 1 and "--migratable" in fixed.stderr
        wrong = run(*export, "--sealed", f"{d}/blob", f"{d}/dup", secrets="owner\nguess\n")
        assert wrong.returncode == 1 and "the auth value is wrong" in wrong.stderr
        ok(run(*export, "--sealed", f"{d}/blob", f"{d}/dup", secrets="owner\npw\n"))
        ok(run("mtpm", "migrate", "import", f"{d}/dup", f"{d}/moved", "--owner-auth-fd", "{fd}",
               secrets="owner\n"))  # fmt: skip
        ok(run("mtpm", "unseal", "--auth-fd", "{fd}", f"{d}/moved", f"{d}/back", secrets="pw\n"))
        assert (tmp_path / "back").read_bytes() == b"travelling"
    finally:
        ok(run("mtpm", "owner", "clear", "--owner-auth-fd", "{fd}", secrets="owner\n"))
