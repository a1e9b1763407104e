"""``tpmcard info --json`` before and after pairing (the mobile TPM section), and ``tpmcard tpm
serve``: the embedded swtpm reachable by tpm2-tools through the printed TCTI, stopped cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tpmcard.tpm_structures import PublicArea, public_name

TPMCARD = [sys.executable, "-m", "tpmcard.cli"]


def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "TPMCARD_STATE_DIR": str(state)}
    env.pop("TPMCARD_READER", None)
    env.pop("TPMCARD_TCTI", None)
    return env


def _run(state: Path, *args: str, pin: str | None = None) -> subprocess.CompletedProcess[str]:
    fds: tuple[int, ...] = ()
    if pin is not None:
        read, write = os.pipe()
        os.write(write, f"{pin}\n".encode())
        os.close(write)
        fds = (read,)
        args = tuple(a.replace("{fd}", str(read)) for a in args)
    try:
        return subprocess.run(
            [*TPMCARD, *args], env=_env(state), capture_output=True, text=True, timeout=120,
            check=False, pass_fds=fds, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        for fd in fds:
            os.close(fd)


def test_info_json_reports_the_mobile_tpm_once_paired(tmp_path: Path) -> None:
    before = _run(tmp_path, "info", "--json")
    assert before.returncode == 0, before.stderr
    mtpm = json.loads(before.stdout)["mtpm"]
    assert mtpm["paired"] is False and "tpmcard pair" in mtpm["hint"] and "error" not in mtpm

    # Personalisation and enrolment first (docs/binding.md §8.1): the embedded swtpm's own
    # localca is its EK root here. A new card pairs only once its PIN and PUK are changed from
    # the factory defaults.
    for step in (("ca", "init"), ("ca", "install", "--pin-fd", "{fd}")):
        done = _run(tmp_path, *step, pin="123456")
        assert done.returncode == 0, done.stderr
    for option, secrets in (("--pin", "123456\n975310"), ("--puk", "12345678\n97531086")):
        extra = ("--puk",) if option == "--puk" else ()
        changed = _run(tmp_path, "pin", "change", *extra, "--pin-fd", "{fd}",
                       "--new-pin-fd", "{fd}", pin=secrets)  # fmt: skip
        assert changed.returncode == 0, changed.stderr
    roots = str(tmp_path / "swtpm" / "localca")
    paired = _run(tmp_path, "pair", "--ek-roots", roots, "--pin-fd", "{fd}", pin="975310")
    assert paired.returncode == 0, paired.stderr
    after = _run(tmp_path, "info", "--json")
    assert after.returncode == 0, after.stderr
    mtpm = json.loads(after.stdout)["mtpm"]
    assert mtpm["paired"] is True and mtpm["slot"] == 0
    for key in ("ek", "ak"):
        area = PublicArea.parse(bytes.fromhex(mtpm[key]["public"]))
        assert area.public_key() is not None
        assert bytes.fromhex(mtpm[key]["name"]) == public_name(
            len(area.raw).to_bytes(2, "big") + area.raw
        )
    assert mtpm["host_tpm"]["embedded"] is True
    assert mtpm["host_tpm"]["tcti"].startswith("swtpm:host=127.0.0.1,port=")
    assert "tpmcard tpm serve" in mtpm["host_tpm"]["note"]


def _serve(state: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*TPMCARD, "tpm", "serve"], env=_env(state), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    tcti = process.stdout.readline().strip()
    assert tcti.startswith("swtpm:host=127.0.0.1,port="), process.stderr
    return process, tcti


def _tools(tcti: str, *argv: str) -> str:
    result = subprocess.run(
        argv, env={**os.environ, "TPM2TOOLS_TCTI": tcti}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_tpm_serve_is_reachable_by_tpm2_tools_and_stops_saving_state(tmp_path: Path) -> None:
    process, tcti = _serve(tmp_path)
    try:
        _tools(tcti, "tpm2_pcrextend", f"8:sha256={'cd' * 32}")
        extended = _tools(tcti, "tpm2_pcrread", "sha256:8")
        assert "0x0000000000000000" not in extended
        # While it runs, the state is in use: an embedded start elsewhere says so.
        busy = _run(tmp_path, "tpm", "serve")
        assert busy.returncode == 1
        assert "in use by another tpmcard process" in " ".join(busy.stderr.split())
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "TPM2_Shutdown(STATE)" in err
    assert not (tmp_path / "swtpm" / "swtpm.pid").exists()

    process, tcti = _serve(tmp_path)  # resumed: PCR 8 kept its value (Shutdown(STATE))
    try:
        assert _tools(tcti, "tpm2_pcrread", "sha256:8") == extended
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode == 0
