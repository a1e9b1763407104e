"""The in-process simulator and its card store (tpmcard.sim.SimCard through JPype)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tpmcard import manifest, paths
from tpmcard.errors import SimulatorError, TransportError
from tpmcard.transport import open_connection
from tpmcard.transport.jcardsim import JCardSimConnection, erase_card

if TYPE_CHECKING:
    from tpmcard.tpm.swtpm import Swtpm

CORE_AID = manifest.load().applet("core").aid
SELECT_CORE = bytes([0x00, 0xA4, 0x04, 0x00, len(CORE_AID)]) + CORE_AID + b"\x00"
GET_IDENTITY = bytes.fromhex("00CA7F4900")
PROBE_AID = bytes.fromhex("F074706D63FF0001")  # tpmcard.sim.StoreProbeApplet, tests only
SELECT_PROBE = bytes([0x00, 0xA4, 0x04, 0x00, len(PROBE_AID)]) + PROBE_AID


def identity_key(connection: JCardSimConnection) -> bytes:
    assert connection.transmit(SELECT_CORE)[-2:] == b"\x90\x00"
    response = connection.transmit(GET_IDENTITY)
    assert response[-2:] == b"\x90\x00", response.hex()
    assert response[:5] == bytes.fromhex("7F49438641"), response.hex()
    return response[5:-2]


def run_python(
    code: str, *, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a separate tpmcard process, its own JVM)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr}")
    return result


IDENTITY_SCRIPT = """
    import sys
    from tpmcard.transport.jcardsim import JCardSimConnection
    with JCardSimConnection(sys.argv[1] if len(sys.argv) > 1 else {state!r}) as c:
        assert c.transmit(bytes.fromhex({select!r}))[-2:] == b"\\x90\\x00"
        r = c.transmit(bytes.fromhex("00CA7F4900"))
        {extra}
        print(r[5:-2].hex())
"""


def identity_in_subprocess(state_dir: Path, extra: str = "pass") -> bytes:
    code = IDENTITY_SCRIPT.format(state=str(state_dir), select=SELECT_CORE.hex(), extra=extra)
    return bytes.fromhex(run_python(code).stdout.strip().splitlines()[-1])


def probe_manifest(tmp_path: Path) -> Path:
    """The suite manifest plus the store probe applet."""
    raw = json.loads(paths.manifest_path().read_text())
    raw["packages"].append(
        {
            "name": "probe",
            "java_package": "tpmcard.sim",
            "aid": "F074706D63FF00",
            "version": "1.0",
            "applets": [
                {
                    "name": "probe",
                    "class": "tpmcard.sim.StoreProbeApplet",
                    "aid": PROBE_AID.hex().upper(),
                }
            ],
        }
    )
    path = tmp_path / "manifest-with-probe.json"
    path.write_text(json.dumps(raw))
    return path


# --- commands ------------------------------------------------------------------------------


def test_select_answers_info_template(sim_connection: JCardSimConnection) -> None:
    response = sim_connection.transmit(SELECT_CORE)
    assert response[-2:] == b"\x90\x00"
    assert response[0] == 0xA1 and response[1] == len(response) - 4


@pytest.mark.parametrize("size", [0, 1, 254, 255, 1024, 4096])
def test_echo_round_trip(sim_connection: JCardSimConnection, size: int) -> None:
    sim_connection.transmit(SELECT_CORE)
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))
    if size == 0:
        command = bytes.fromhex("80EE000000")
    elif size < 255:
        command = bytes([0x80, 0xEE, 0, 0, size]) + data + b"\x00"
    else:  # extended (ISO 7816-4 §5.1): a 255-byte case 4S overflows jCardSim's 260-byte buffer
        command = bytes([0x80, 0xEE, 0, 0, 0]) + size.to_bytes(2, "big") + data + b"\x00\x00"
    assert sim_connection.transmit(command) == data + b"\x90\x00"


def test_atr_announces_t1_and_extended_length(sim_connection: JCardSimConnection) -> None:
    from tpmcard.transport.pcsc import atr_supports_extended, parse_atr

    protocols, _historical = parse_atr(sim_connection.atr)
    assert protocols == {1}
    assert atr_supports_extended(sim_connection.atr)
    assert sim_connection.supports_extended


def test_malformed_apdu_is_wrong_length(sim_connection: JCardSimConnection) -> None:
    assert sim_connection.transmit(bytes.fromhex("80EE00"))[-2:] == b"\x67\x00"


def test_reset_deselects(sim_connection: JCardSimConnection) -> None:
    key = identity_key(sim_connection)
    sim_connection.reset()
    assert sim_connection.transmit(GET_IDENTITY) == bytes.fromhex("6986")  # no applet selected
    assert identity_key(sim_connection) == key


def test_closed_connection_refuses(sim_connection: JCardSimConnection) -> None:
    sim_connection.close()
    sim_connection.close()  # idempotent
    with pytest.raises(TransportError):
        sim_connection.transmit(SELECT_CORE)


def test_open_connection_defaults_to_sim(
    jvm: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TPMCARD_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("TPMCARD_READER", raising=False)
    with open_connection() as connection:
        assert isinstance(connection, JCardSimConnection)
        assert connection.state_dir == tmp_path / "card"
        assert identity_key(connection)  # type: ignore[arg-type]


# --- persistence ---------------------------------------------------------------------------


def test_identity_survives_processes_and_factory_reset_replaces_it(tmp_path: Path) -> None:
    state = tmp_path / "card"
    first = identity_in_subprocess(state)
    assert len(first) == 65 and first[0] == 0x04
    assert identity_in_subprocess(state) == first
    other_card = identity_in_subprocess(tmp_path / "other-card")
    assert other_card != first  # install-time host entropy makes every card distinct
    after_reset = identity_in_subprocess(state, extra="c.factory_reset()")
    assert after_reset == first  # read before the reset, in the same process
    renewed = identity_in_subprocess(state)
    assert renewed not in (first, other_card)


def test_reopen_in_process_restores_card(jvm: None, sim_state_dir: Path) -> None:
    with JCardSimConnection(sim_state_dir, save_mode="verify") as first:
        key = identity_key(first)
    with JCardSimConnection(sim_state_dir, save_mode="verify") as second:
        assert identity_key(second) == key


def test_delete_and_create_applet(sim_connection: JCardSimConnection, sim_state_dir: Path) -> None:
    key = identity_key(sim_connection)
    others = [aid for aid in sim_connection.applet_aids() if aid != CORE_AID]
    sim_connection.delete_applet(CORE_AID)
    assert sim_connection.applet_aids() == others
    assert sim_connection.transmit(SELECT_CORE)[-2:] != b"\x90\x00"
    with pytest.raises(SimulatorError) as excinfo:
        sim_connection.delete_applet(CORE_AID)
    assert excinfo.value.kind == "card"
    sim_connection.create_applet(CORE_AID)
    assert sorted(sim_connection.applet_aids()) == sorted([*others, CORE_AID])
    created = identity_key(sim_connection)
    assert created != key  # fresh install entropy
    sim_connection.close()
    with JCardSimConnection(sim_state_dir) as reopened:
        assert identity_key(reopened) == created


def test_transient_memory_never_reaches_the_store(jvm: None, tmp_path: Path) -> None:
    pattern = b"TRANSIENT-PATTERN-" + os.urandom(14)  # 32 bytes nobody else writes
    with JCardSimConnection(
        tmp_path / "card", manifest=probe_manifest(tmp_path), save_mode="verify"
    ) as c:
        key = identity_key(c)
        # 512 bytes: the core's RAM I/O buffer takes unchained commands of up to 576 (longer
        # ones and chains go to its persistent buffer, docs/core-applet.md "Buffers and why").
        data = (pattern * 16)[:512]
        echo = bytes([0x80, 0xEE, 0, 0, 0]) + len(data).to_bytes(2, "big") + data + b"\x00\x00"
        assert c.transmit(echo) == data + b"\x90\x00"  # lands in the core applet's RAM buffer
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        assert c.transmit(bytes([0x80, 0x21, 0, 0, 32]) + pattern) == bytes.fromhex("00019000")
        assert c.transmit(bytes.fromhex("8022000000"))[:32] == pattern
        arrays, non_zero = c.transient_memory_status()
        assert arrays > 0 and non_zero > 0
        c.save()  # serialise while the RAM holds the pattern
        store = c.store_path.read_bytes()
    assert key in store  # persistent data is there, verbatim (the test can see bytes)...
    assert pattern[:16] not in store  # ...the RAM content is not
    with JCardSimConnection(tmp_path / "card", manifest=probe_manifest(tmp_path)) as c:
        arrays_after, non_zero_after = c.transient_memory_status()
        # power-on: zeroed (arrays no object refers to any more, like install scratch, are gone)
        assert 0 < arrays_after <= arrays and non_zero_after == 0
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        assert c.transmit(bytes.fromhex("8022000000"))[:-2] == bytes(128)
        assert c.transmit(bytes.fromhex("8024000000")) == bytes.fromhex("0001039000")


def test_reset_clears_ram_like_a_power_cycle(jvm: None, tmp_path: Path) -> None:
    with JCardSimConnection(
        tmp_path / "card", manifest=probe_manifest(tmp_path), save_mode="verify"
    ) as c:
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        c.transmit(bytes([0x80, 0x21, 0, 0, 4]) + b"\xaa\xbb\xcc\xdd")
        c.reset()
        assert c.transient_memory_status()[1] == 0
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        assert c.transmit(bytes.fromhex("8022000000"))[:-2] == bytes(128)


def test_session_key_and_cipher_do_not_survive_a_power_cycle(jvm: None, tmp_path: Path) -> None:
    key = os.urandom(16)
    block = bytes(16)
    with JCardSimConnection(
        tmp_path / "card", manifest=probe_manifest(tmp_path), save_mode="verify"
    ) as c:
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        assert c.transmit(bytes([0x80, 0x25, 0, 0, 16]) + key) == b"\x90\x00"
        encrypted = c.transmit(bytes([0x80, 0x26, 0, 0, 16]) + block)
        assert encrypted[-2:] == b"\x90\x00" and len(encrypted) == 18
        c.save()
        assert key not in c.store_path.read_bytes()
        c.reset()  # JC 3.0.5 Cipher: a transient key is cleared, the cipher is uninitialised
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        assert c.transmit(bytes([0x80, 0x26, 0, 0, 16]) + block) == bytes.fromhex("6985")


def test_pin_counter_survives_sigkill_right_after_the_response(tmp_path: Path) -> None:
    """A real card writes EEPROM before it answers: so must the simulator."""
    state = tmp_path / "card"
    probe = probe_manifest(tmp_path)
    code = f"""
        import os, signal
        from tpmcard.transport.jcardsim import JCardSimConnection
        c = JCardSimConnection({str(state)!r}, manifest={str(probe)!r})
        assert c.transmit(bytes.fromhex({SELECT_PROBE.hex()!r}))[-2:] == b"\\x90\\x00"
        r = c.transmit(bytes.fromhex("8020000004" + "39393939"))
        print(r.hex(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit, no JVM shutdown
    """
    for expected in ("63c2", "63c1"):
        result = run_python(code, check=False)
        assert result.returncode == -signal.SIGKILL
        assert result.stdout.strip() == expected
    with JCardSimConnection(state, manifest=probe) as c:
        assert c.transmit(SELECT_PROBE)[-2:] == b"\x90\x00"
        assert c.transmit(bytes.fromhex("8024000000")) == bytes.fromhex("0000019000")


def test_state_change_rewrites_store_and_echo_does_not(jvm: None, tmp_path: Path) -> None:
    with JCardSimConnection(tmp_path / "card", manifest=probe_manifest(tmp_path)) as c:
        c.transmit(SELECT_CORE)
        before = c.statistics()
        for _ in range(50):
            c.transmit(bytes.fromhex("80EE0000021234"))
        after_echo = c.statistics()
        assert after_echo["writes"] == before["writes"]
        assert after_echo["encodes"] == before["encodes"]
        c.transmit(SELECT_PROBE)
        c.transmit(bytes.fromhex("80210000011F"))
        assert c.statistics()["writes"] == after_echo["writes"] + 1


@pytest.mark.parametrize("save_mode", ["watch", "verify"])
def test_change_made_through_a_shareable_call_is_on_disk(
    jvm: None, swtpm: Swtpm, tmp_path: Path, save_mode: str, request: pytest.FixtureRequest
) -> None:
    """The change watch compares only the applets a command ran in (tpmcard.sim.StateWatch):
    the core's INVOKE reaches the mobile TPM through its Shareable interface, so the mobile
    TPM's NV and counter changes must be on disk when the response returns. A copy of the store
    taken right then (the original card is still open, nothing closed or flushed) has them."""
    from tpmcard.tpm.adapter import Tpm

    root_conftest = str(Path(__file__).parents[1] / "conftest.py")  # "conftest" is ambiguous
    bound_card_class = next(
        p.BoundCard
        for p in request.config.pluginmanager.get_plugins()
        if getattr(p, "__file__", None) == root_conftest
    )

    handle, counter = 0x01500011, 0x01500012
    with Tpm.open(swtpm.tcti) as tpm:
        with JCardSimConnection(tmp_path / "card", save_mode=save_mode) as link:
            assert link._card.watchUnscopedReason() is None  # scoped per applet
            attestation = request.getfixturevalue("attestation")  # the card's CA, the enrolled AK
            card = bound_card_class(
                "sim", link, tpm, tmp_path / "pairings", swtpm.tcti, attestation
            )
            with card.connect() as session:
                session.mtpm.take_ownership(b"owner")  # an auth value needs an owner
                session.mtpm.nv_define(handle, 16, b"nv", b"owner")
                session.mtpm.nv_write(handle, b"via INVOKE", 0, b"nv")
                first = session.mtpm.counter_define(counter, owner_auth=b"owner")
                for _ in range(3):
                    value = session.mtpm.counter_increment(counter)
                copy = tmp_path / "copy"
                copy.mkdir()
                (copy / link.store_path.name).write_bytes(link.store_path.read_bytes())
                echoes = link.statistics()
                session.core.echo(b"")  # touches only the core applet
                assert link.statistics()["encodes"] == echoes["encodes"] + (save_mode == "verify")
            with JCardSimConnection(copy, save_mode="verify") as clone:
                clone_card = bound_card_class.__new__(bound_card_class)
                clone_card.__dict__.update(card.__dict__, connection=clone)
                with clone_card.connect() as session:
                    assert session.mtpm.nv_read(handle, 16, 0, b"nv")[:10] == b"via INVOKE"
                    assert session.mtpm.nv_read(counter, 8, 0) == value.to_bytes(8, "big")
                    assert value > first


# --- errors --------------------------------------------------------------------------------


def test_second_process_finds_the_card_locked(
    jvm: None, sim_connection: JCardSimConnection, sim_state_dir: Path
) -> None:
    result = run_python(
        f"""
        from tpmcard.errors import SimulatorError
        from tpmcard.transport.jcardsim import JCardSimConnection
        try:
            JCardSimConnection({str(sim_state_dir)!r})
        except SimulatorError as e:
            print(e.kind)
            print(e)
        """
    )
    kind, message = result.stdout.strip().split("\n", 1)
    assert kind == "locked"
    assert f"process {os.getpid()}" in message and "pytest sim_connection" in message
    with pytest.raises(SimulatorError) as excinfo:
        erase_card(sim_state_dir)  # never under a running card
    assert excinfo.value.kind == "locked"


def test_same_process_second_open_is_locked(
    sim_connection: JCardSimConnection, sim_state_dir: Path
) -> None:
    with pytest.raises(SimulatorError) as excinfo:
        JCardSimConnection(sim_state_dir)
    assert excinfo.value.kind == "locked"
    assert "this process" in str(excinfo.value)


@pytest.mark.parametrize(
    ("damage", "kind"),
    [
        (lambda b: b"garbage" + b[7:], "corrupt"),
        (lambda b: b[: len(b) // 2], "corrupt"),
        (lambda b: b[:-40] + bytes([b[-40] ^ 1]) + b[-39:], "corrupt"),
        (lambda b: b[:16] + b"\x00\x63" + b[18:], "incompatible"),
    ],
    ids=["magic", "truncated", "bitflip", "version"],
)
def test_damaged_store_is_a_clear_error(
    jvm: None, sim_state_dir: Path, damage: object, kind: str
) -> None:
    with JCardSimConnection(sim_state_dir) as c:
        identity_key(c)
        store = c.store_path
    store.write_bytes(damage(store.read_bytes()))  # type: ignore[operator]
    with pytest.raises(SimulatorError) as excinfo:
        JCardSimConnection(sim_state_dir)
    assert excinfo.value.kind == kind
    assert "factory reset" in str(excinfo.value)
    assert "\tat " not in str(excinfo.value)  # a message, not a Java stack trace
    assert erase_card(sim_state_dir)  # the way out
    with JCardSimConnection(sim_state_dir) as renewed:
        identity_key(renewed)


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_store_from_other_applet_build_is_incompatible(jvm: None, sim_state_dir: Path) -> None:
    with JCardSimConnection(sim_state_dir) as c:
        identity_key(c)
        store = c.store_path
    data = bytearray(store.read_bytes())
    name = b"tpmcard.core.CoreApplet"
    at = data.index(struct.pack(">H", len(name)) + name) + 2 + len(name)
    data[at : at + 4] = bytes(b ^ 0xFF for b in data[at : at + 4])  # another field layout
    data[-4:] = struct.pack(">I", _crc32c(bytes(data[:-4])))
    store.write_bytes(bytes(data))
    with pytest.raises(SimulatorError) as excinfo:
        JCardSimConnection(sim_state_dir)
    assert excinfo.value.kind == "incompatible"
    assert "tpmcard.core.CoreApplet has other fields" in str(excinfo.value)


def test_missing_jars_is_an_actionable_error(tmp_path: Path) -> None:
    result = run_python(
        f"""
        from tpmcard.errors import SimulatorError
        from tpmcard.transport.jcardsim import JCardSimConnection
        try:
            JCardSimConnection({str(tmp_path / "card")!r})
        except SimulatorError as e:
            print(e)
        """,
        env={"TPMCARD_CLASSPATH": str(tmp_path / "no-such.jar")},
    )
    assert "no-such.jar" in result.stdout and "gradle assemble" in result.stdout


def test_missing_build_output_is_an_actionable_error(tmp_path: Path) -> None:
    result = run_python(
        f"""
        from pathlib import Path
        from tpmcard import paths
        from tpmcard.errors import SimulatorError
        from tpmcard.transport import jcardsim
        paths.build_dir = lambda: Path({str(tmp_path)!r})
        try:
            jcardsim.JCardSimConnection({str(tmp_path / "card")!r})
        except SimulatorError as e:
            print(e)
        """,
        env={"TPMCARD_CLASSPATH": ""},
    )
    assert "sim-classpath.txt is missing" in result.stdout and "gradle assemble" in result.stdout


def test_unknown_manifest_class_is_an_actionable_error(jvm: None, tmp_path: Path) -> None:
    raw = json.loads(paths.manifest_path().read_text())
    core = next(p for p in raw["packages"] if p["name"] == "core")
    core["applets"][0]["class"] = "tpmcard.core.NoSuchApplet"
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(SimulatorError) as excinfo:
        JCardSimConnection(tmp_path / "card", manifest=bad)
    assert excinfo.value.kind == "manifest"
    assert "tpmcard.core.NoSuchApplet" in str(excinfo.value)
    # the failed open released the lock
    with JCardSimConnection(tmp_path / "card"):
        pass


def test_missing_jvm_is_an_actionable_error(tmp_path: Path) -> None:
    result = run_python(
        f"""
        import jpype
        from tpmcard.errors import SimulatorError
        from tpmcard.transport.jcardsim import JCardSimConnection

        def no_jvm():
            raise jpype.JVMNotFoundException("no libjvm.so")

        jpype.getDefaultJVMPath = no_jvm  # as on a host without a Java runtime
        try:
            JCardSimConnection({str(tmp_path / "card")!r})
        except SimulatorError as e:
            print(e)
        """
    )
    assert "no Java runtime found" in result.stdout and "openjdk" in result.stdout.lower()
