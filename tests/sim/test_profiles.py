"""Simulated card profiles over the in-process transport (docs/simulator.md, "Card profiles").

A card made with a profile keeps it; on ``jcop4-j3r180`` GCM, SHA-3 and HMAC are
NO_SUCH_ALGORITHM from getInstance, on ``j3h145`` AES-CMAC and transient EC private keys too;
``tpmcard info --json`` and ``tpmcard sim reset --profile`` report and choose it. The probe is
the simulator's test-only applet ``tpmcard.testcard.probe.ProfileProbeApplet``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tpmcard.cli import cli
from tpmcard.transport.base import Connection
from tpmcard.transport.jcardsim import JCardSimConnection, profile_names

PROBE_AID = "F074706D63FE0001"
PRESENT = "00"
NO_SUCH_ALGORITHM = "010003"  # CryptoException.NO_SUCH_ALGORITHM
NO_TRANSIENT_SPACE = "020002"  # SystemException.NO_TRANSIENT_SPACE

# JavaCard 3.0.5 constants (javacardx.crypto.AEADCipher, javacard.security.*)
ALG_AES_GCM = 0xF3
ALG_SHA3_256 = 0x09
ALG_SHA_256 = 0x04
ALG_HMAC_SHA_256 = 0x19
ALG_AES_CMAC_128 = 0x31
ALG_ECDSA_SHA_256 = 0x21
TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT = 0x1F


def probe_manifest(directory: Path) -> Path:
    path = directory / "probe-manifest.json"
    applet = {"class": "tpmcard.testcard.probe.ProfileProbeApplet", "aid": PROBE_AID}
    path.write_text(json.dumps({"packages": [{"name": "probe", "applets": [applet]}]}))
    return path


def send(connection: Connection, apdu: str) -> str:
    response = connection.transmit(bytes.fromhex(apdu)).hex().upper()
    assert response.endswith("9000"), (apdu, response)
    return response[:-4]


def ask(connection: Connection, kind: int, algorithm: int) -> str:
    return send(connection, f"8010{kind:02X}{algorithm:02X}020000")


def transient_ec_key(connection: Connection) -> str:
    return send(connection, f"801005{TYPE_EC_FP_PRIVATE_TRANSIENT_DESELECT:02X}020100")


def check_profile(connection: Connection, profile: str) -> None:
    """What the card answers on ``profile``: the data file's algorithms, seen from card code."""
    send(connection, "00A4040008" + PROBE_AID)
    jcop = profile != "full"
    absent_on_jcop = NO_SUCH_ALGORITHM if jcop else PRESENT
    assert ask(connection, 1, ALG_AES_GCM) == absent_on_jcop
    assert ask(connection, 3, ALG_SHA3_256) == absent_on_jcop
    assert ask(connection, 2, ALG_HMAC_SHA_256) == absent_on_jcop
    assert ask(connection, 2, ALG_ECDSA_SHA_256) == PRESENT
    assert ask(connection, 3, ALG_SHA_256) == PRESENT
    on_j3h145 = NO_SUCH_ALGORITHM if profile == "j3h145" else PRESENT
    assert ask(connection, 2, ALG_AES_CMAC_128) == on_j3h145
    if profile != "full":  # jCardSim itself has no transient EC private keys
        assert transient_ec_key(connection) == on_j3h145


def test_the_profiles_are_the_data_files() -> None:
    # The default first: a J3R180, the card the suite is budgeted for (issue 9).
    assert profile_names() == ["jcop4-j3r180", "full", "j3h145"]


@pytest.mark.parametrize("profile", ["full", "jcop4-j3r180", "j3h145"])
def test_a_card_of_each_profile(jvm: None, tmp_path: Path, profile: str) -> None:
    manifest = probe_manifest(tmp_path)
    card = JCardSimConnection(tmp_path / "card", manifest=manifest, profile=profile)
    try:
        assert card.profile == profile
        check_profile(card, profile)
    finally:
        card.close()
    # The store keeps the profile: reopened without naming one, the card is still that card.
    card = JCardSimConnection(tmp_path / "card", manifest=manifest)
    try:
        assert card.profile == profile
        check_profile(card, profile)
    finally:
        card.close()


@pytest.mark.parametrize("profile", ["jcop4-j3r180", "j3h145"])
def test_the_whole_suite_installs_within_each_jcop_budget(
    jvm: None, tmp_path: Path, profile: str
) -> None:
    # Core, mobile TPM and the six providers (the suite's manifest) with the RAM rule on: every
    # applet's own install check and the simulator's budget of the profile (docs/core-applet.md
    # "Transient RAM"). On j3h145 the core takes its small RAM I/O buffer.
    card = JCardSimConnection(tmp_path / "card", profile=profile, rules="firewall,ram")
    try:
        used, budget = card.ram_in_use()
        report = card.memory_report()
    finally:
        card.close()
    assert budget == {"jcop4-j3r180": 4150, "j3h145": 1993}[profile]
    assert 0 < used <= budget
    assert report is not None
    assert report["profile"] == profile
    assert len(report["applets"]) == 8
    assert report["totals"]["transient"] <= budget


OPEN_WITH_ENVIRONMENT = """
import sys
from tpmcard.errors import SimulatorError
from tpmcard.transport.jcardsim import JCardSimConnection
try:
    card = JCardSimConnection(sys.argv[1], manifest=sys.argv[2])
except SimulatorError as error:
    print(error.kind, error)
else:
    print(card.profile, card.transmit(bytes.fromhex("00A4040008F074706D63FE0001")).hex())
    card.close()
"""


def test_the_environment_chooses_a_new_cards_profile(tmp_path: Path) -> None:
    # $TPMCARD_SIM_PROFILE is read by the JVM when it starts: a process of its own.
    manifest = probe_manifest(tmp_path)

    def open_with(profile: str) -> str:
        env = {**os.environ, "TPMCARD_SIM_PROFILE": profile}
        argv = [sys.executable, "-c", OPEN_WITH_ENVIRONMENT, str(tmp_path / "card"), str(manifest)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)  # noqa: S603
        return done.stdout.strip()

    assert open_with("j3h145") == "j3h145 9000"
    # An existing card keeps its profile: asking for another is an error, not a silent swap.
    refused = open_with("full")
    assert refused.startswith("profile ")
    assert "made with profile j3h145" in refused


def test_the_ram_budget_follows_the_profile(jvm: None, tmp_path: Path) -> None:
    card = JCardSimConnection(
        tmp_path / "card", manifest=probe_manifest(tmp_path), profile="j3h145", rules="all"
    )
    try:
        assert card.ram_in_use() == (0, 1993)
        send(card, "00A4040008" + PROBE_AID)
        assert send(card, "80200000020800") == NO_TRANSIENT_SPACE  # 2,048 bytes: over 1,993
        assert send(card, "802000000207C9") == PRESENT  # 1,993 bytes: all of it
    finally:
        card.close()


def test_ram_is_freed_when_the_applet_is_deleted(jvm: None, tmp_path: Path) -> None:
    card = JCardSimConnection(
        tmp_path / "card", manifest=probe_manifest(tmp_path), profile="jcop4-j3r180"
    )
    try:
        send(card, "00A4040008" + PROBE_AID)
        assert send(card, "80200000020FA0") == PRESENT  # 4,000 bytes
        assert card.ram_in_use() == (4000, 4150)
        card.delete_applet(bytes.fromhex(PROBE_AID))
        assert card.ram_in_use() == (0, 4150)
    finally:
        card.close()


def test_info_json_and_reset_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TPMCARD_READER", raising=False)
    monkeypatch.delenv("TPMCARD_SIM_PROFILE", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["sim", "reset", "--no-tpm", "--yes", "--profile", "full"])
    assert result.exit_code == 0, result.output
    assert "a fresh full card" in result.output
    info = runner.invoke(cli, ["info", "--json"])
    assert json.loads(info.output)["card"]["profile"] == "full", info.output
    assert "j3h145" in runner.invoke(cli, ["sim", "reset", "--help"]).output
    bad = runner.invoke(cli, ["sim", "reset", "--no-tpm", "--yes", "--profile", "jcop5"])
    assert bad.exit_code != 0
