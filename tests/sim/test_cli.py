"""The ``tpmcard`` command line, run as a user runs it: separate processes, one state dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tpmcard import paths
from tpmcard_cli import run_tpmcard


def run(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_tpmcard(state, *args, check=check, timeout=120)


def info(state: Path) -> dict:
    return json.loads(run(state, "info", "--json").stdout)


def extend_pcr(state: Path, index: int) -> None:
    code = (
        "from tpmcard.tpm import Tpm\n"
        f"with Tpm.open() as tpm: tpm.pcr_extend({index}, bytes(range(32)))\n"
    )
    env = {**os.environ, "TPMCARD_STATE_DIR": str(state)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def test_state_persists_between_processes_until_reset(tmp_path: Path) -> None:
    first = info(tmp_path)
    assert "error" not in first["card"] and "error" not in first["tpm"]
    assert first["tpm"]["embedded"] is True
    second = info(tmp_path)
    assert second["card"]["identity_key"] == first["card"]["identity_key"]
    assert second["tpm"]["pcrs_sha256"] == first["tpm"]["pcrs_sha256"]

    extend_pcr(tmp_path, 8)
    third = info(tmp_path)
    assert third["tpm"]["pcrs_sha256"]["8"] != first["tpm"]["pcrs_sha256"]["8"]
    assert third["tpm"]["pcrs_sha256"]["0"] == first["tpm"]["pcrs_sha256"]["0"]
    assert third["card"]["identity_key"] == first["card"]["identity_key"]

    run(tmp_path, "sim", "reset", "--yes")
    fresh = info(tmp_path)
    assert fresh["card"]["identity_key"] != first["card"]["identity_key"]
    assert fresh["tpm"]["pcrs_sha256"]["8"] == "00" * 32


def test_reset_only_the_card(tmp_path: Path) -> None:
    first = info(tmp_path)
    extend_pcr(tmp_path, 5)
    run(tmp_path, "sim", "reset", "--yes", "--no-tpm")
    after = info(tmp_path)
    assert after["card"]["identity_key"] != first["card"]["identity_key"]
    assert after["tpm"]["pcrs_sha256"]["5"] != "00" * 32


def test_demo_runs(tmp_path: Path) -> None:
    result = run(tmp_path, "demo")
    assert "demo complete" in result.stdout
    # On the default card (a J3R180: no GCM, no SHA3) the demo says what runs in software.
    said = result.stdout.split("Computed in software", 1)[1].split(".\n", 1)[0]
    assert "aes-gcm" in said and "sha3-256" in said and "ecdsa" not in said


@pytest.mark.pcsc
def test_unknown_reader_is_a_clear_error(tmp_path: Path, pcsc_stack: object) -> None:
    result = run(tmp_path, "--reader", "no such reader", "info", "--json", check=False)
    data = json.loads(result.stdout)
    assert "no such reader" in data["card"]["error"]
    assert "Virtual PCD 00 00" in data["card"]["error"]  # it lists what exists
    result = run(tmp_path, "--reader", "no such reader", "demo", check=False)
    assert result.returncode == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_bad_tcti_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "--tcti", "swtpm:port=1", "demo", check=False)
    assert result.returncode == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_bench_json_structure(tmp_path: Path) -> None:
    result = run(tmp_path, "bench", "--only", "jcardsim", "--rounds", "20", "--json")
    data = json.loads(result.stdout)
    sizes = data["jcardsim"]["sizes"]
    assert set(sizes) == {"0", "255", "1024", "4096"}
    for row in sizes.values():
        assert row["raw_us"] > 0 and row["tpmcard_us"] > 0
        assert row["ratio"] == pytest.approx(row["tpmcard_us"] / row["raw_us"], rel=0.05)


def test_bench_algorithms_native_and_software(tmp_path: Path) -> None:
    """The algorithms section measures each provider as installed on a card that has every
    algorithm (profile full), then AES-GCM and SHA3-256 again made with the software option."""
    result = run(tmp_path, "bench", "--only", "algorithms", "--json")
    rows = json.loads(result.stdout)["algorithms"]["rows"]
    runs = {(r["provider"], r["bytes"]): set() for r in rows}
    for r in rows:
        runs[(r["provider"], r["bytes"])].add(r["implementation"])
        assert r["card_s"] > 0 and r["host_s"] > 0
    for size in (1024, 65536):
        assert runs[("aes-256-gcm", size)] == runs[("sha3-256", size)] == {"native", "software"}
        assert runs[("chacha20-poly1305", size)] == runs[("hmac-sha256", size)] == {"software"}
        assert runs[("ecdsa-p256-sha256", size)] == {"native"}


def test_help_lists_commands(tmp_path: Path) -> None:
    out = run(tmp_path, "--help").stdout
    for command in ("info", "demo", "bench", "sim"):
        assert command in out


def test_info_reports_the_memory_measured_at_install(tmp_path: Path) -> None:
    first = info(tmp_path)["card"]
    memory = first["memory"]
    assert memory is not None, first.get("memory_reason")
    # The budget is the card profile's (profiles.json; full: 32,767, jcop4-j3r180: 4,150).
    profiles = json.loads(paths.profiles_path().read_text())["profiles"]
    assert memory["profile"] == first["profile"]
    assert memory["ram_budget"] == profiles[first["profile"]]["transient_ram"]
    by_class = {a["class"]: a for a in memory["applets"]}
    core = by_class["tpmcard.core.CoreApplet"]
    parts = ("transient_reset", "transient_deselect", "crypto_ram")
    assert core["transient"] == sum(core[p] for p in parts)
    # One 736-byte RAM I/O buffer since issue 9 item 3 (two 4 KB ones before): under 4 KB.
    assert 0 < core["transient"] < 4000 and core["persistent"] > 0
    for key in ("transient_reset", "transient_deselect", "crypto_ram", "transient", "persistent"):
        assert memory["totals"][key] == sum(a[key] for a in memory["applets"])
    # A later process restores the card; the report measured at install stays.
    assert info(tmp_path)["card"]["memory"] == memory


@pytest.mark.pcsc
def test_info_over_pcsc_has_no_memory_report(tmp_path: Path, pcsc_stack: object) -> None:
    reader = pcsc_stack.reader  # type: ignore[attr-defined]
    card = json.loads(run(tmp_path, "--reader", reader, "info", "--json").stdout)["card"]
    assert card["memory"] is None
    assert "PC/SC" in card["memory_reason"]
    assert card["profile"] is None  # the card cannot be asked; the served card prints it
    assert "tpmcard sim serve" in card["profile_reason"]


def test_the_simulator_rules_reach_the_host_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TPMCARD_SIM_ENFORCE / TPMCARD_SIM_RAM_BUDGET reach the JVM of the host's card: with a
    # 100-byte RAM budget no suite installs, and the user is told why: the core's own check of
    # JCSystem.getAvailableMemory (InstallMemory.requireTransient) refuses with 6A84, as on a card.
    monkeypatch.setenv("TPMCARD_SIM_ENFORCE", "ram")
    monkeypatch.setenv("TPMCARD_SIM_RAM_BUDGET", "100")
    card = info(tmp_path)["card"]
    assert "6A84" in card["error"]
    assert "100-byte transient RAM budget" in card["error"]
