"""The embedded TPM: process lifecycle, ports, persistence across processes, failure modes."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tpmcard.errors import TpmError
from tpmcard.tpm import swtpm as swtpm_module
from tpmcard.tpm.adapter import Tpm
from tpmcard.tpm.swtpm import Swtpm

pytestmark = pytest.mark.tpm

ZERO = bytes(32)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _bindable(port: int) -> bool:
    """Free for a new listener (as servers bind: TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not swtpm_module._alive(pid):
            return True
        time.sleep(0.02)
    return False


def _raw_get_random_rc(port: int) -> int:
    """TPM2_GetRandom(8) marshalled by hand (Part 3 §16.1), to see the TPM's state untouched."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack(">HIIH", 0x8001, 12, 0x17B, 8))
        _tag, size, rc = struct.unpack(">HII", sock.recv(10))
        return int(rc)


def test_start_listens_on_an_adjacent_loopback_pair_and_stop_releases_everything(
    tmp_path: Path,
) -> None:
    instance = Swtpm(tmp_path / "state").start()
    try:
        pid, port = instance.pid, instance.port
        assert pid is not None and port is not None
        assert instance.running
        assert instance.ctrl_port == port + 1
        assert instance.tcti == f"swtpm:host=127.0.0.1,port={port}"
        assert _accepts(port) and _accepts(port + 1)
        assert int(instance.pid_file.read_text()) == pid
        assert instance.resumed is False  # a fresh TPM has no state to resume
    finally:
        instance.stop()
    assert not instance.running and instance.port is None
    assert _gone(pid)
    assert not instance.pid_file.exists()
    assert _bindable(port) and _bindable(port + 1)
    instance.stop()  # idempotent


def test_start_retries_when_its_ports_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real = swtpm_module._free_port_pair
        offers = iter([taken, taken - 1])  # data port taken, then control port taken

        def offer() -> int:
            return next(offers, None) or real()

        monkeypatch.setattr(swtpm_module, "_free_port_pair", offer)
        with Swtpm(tmp_path / "state") as instance:
            assert instance.port not in (taken, taken - 1)
            assert _accepts(instance.port or 0)


def test_missing_swtpm_binary_raises_an_actionable_tpm_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(TpmError) as raised:
        Swtpm(tmp_path / "state").start()
    assert "apt install swtpm" in str(raised.value)
    assert raised.value.rc is None
    with pytest.raises(TpmError):
        Tpm.open(state_dir=tmp_path / "state")


def test_one_state_dir_serves_one_process_at_a_time(tmp_path: Path) -> None:
    with Swtpm(tmp_path / "a") as first, Swtpm(tmp_path / "b") as other:
        assert first.port != other.port
        with pytest.raises(TpmError, match="in use"):
            Swtpm(tmp_path / "a").start()
        with pytest.raises(TpmError, match="in use"):
            Swtpm(tmp_path / "a").reset()  # must not wipe state under a running TPM
        assert first.running


def test_reset_gives_a_fresh_tpm(tmp_path: Path) -> None:
    with Swtpm(tmp_path / "state") as instance:
        with Tpm.open(instance.tcti) as tpm:
            tpm.pcr_extend(8, b"\x01" * 32)
            srk_child = tpm.create_p256_key()
        instance.reset()
        assert instance.running and instance.resumed is False
        with Tpm.open(instance.tcti) as tpm:
            assert tpm.pcr_read([8]) == {8: ZERO}
            with pytest.raises(TpmError):  # new seeds: the old blob no longer loads
                tpm.load(srk_child)


def test_an_unstarted_tpm_is_started_by_the_adapter(tmp_path: Path) -> None:
    with Swtpm(tmp_path / "state", startup=False) as instance:
        assert instance.port is not None
        assert _raw_get_random_rc(instance.port) == 0x100  # TPM_RC_INITIALIZE
        with Tpm.open(instance.tcti) as tpm:
            assert len(tpm.get_random(16)) == 16
        assert _raw_get_random_rc(instance.port) == 0


def test_unreachable_tcti_raises_tpm_error_with_rc() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TpmError) as raised:
        Tpm.open(f"swtpm:host=127.0.0.1,port={port}")
    assert raised.value.rc == 0xA000A  # TSS2_TCTI_RC_IO_ERROR


_CHILD = textwrap.dedent(
    """
    import json, sys
    from tpmcard.tpm.adapter import Tpm
    from tpmcard.tpm.swtpm import Swtpm
    action = sys.argv[1]
    if action == "reset":
        Swtpm().reset()
    with Tpm.open() as tpm:
        if action == "extend":
            tpm.pcr_extend(8, bytes.fromhex(sys.argv[2]))
            tpm.pcr_extend(16, bytes.fromhex(sys.argv[2]))
        values = tpm.pcr_read([8, 16])
        print(json.dumps({"resumed": tpm.swtpm.resumed, "state": str(tpm.swtpm.state_dir),
                          "pcrs": {str(k): v.hex() for k, v in values.items()}}))
    """
)


def _child(state: Path, *args: str) -> dict[str, object]:
    env = dict(os.environ, TPMCARD_STATE_DIR=str(state))
    env.pop("TPMCARD_TCTI", None)
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_pcrs_persist_across_processes_until_reset(tmp_path: Path) -> None:
    measurement = b"\x5a" * 32
    first = _child(tmp_path, "extend", measurement.hex())
    second = _child(tmp_path, "read")
    third = _child(tmp_path, "read")
    fresh = _child(tmp_path, "reset")

    assert first["state"] == str(tmp_path / "swtpm")
    pcrs1, pcrs2, pcrs3 = first["pcrs"], second["pcrs"], third["pcrs"]
    assert isinstance(pcrs1, dict) and isinstance(pcrs2, dict) and isinstance(pcrs3, dict)
    assert pcrs1["8"] != ZERO.hex()
    assert pcrs2["8"] == pcrs1["8"] and pcrs3["8"] == pcrs1["8"]
    assert second["resumed"] is True and third["resumed"] is True
    # PC Client: PCR 16 (debug) is not a "saved" PCR, so every Startup resets it.
    assert pcrs1["16"] != ZERO.hex() and pcrs2["16"] == ZERO.hex()
    assert fresh["resumed"] is False and fresh["pcrs"] == {"8": ZERO.hex(), "16": ZERO.hex()}


def test_a_killed_parent_takes_its_swtpm_along(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from tpmcard.tpm.adapter import Tpm
        tpm = Tpm.open(state_dir=sys.argv[1])
        print(tpm.swtpm.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        swtpm_pid = int(parent.stdout.readline())
        assert swtpm_module._alive(swtpm_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _gone(swtpm_pid), "swtpm outlived its SIGKILLed parent"
    with Swtpm(tmp_path / "state"):  # and the state dir is free again
        pass


def test_an_orphaned_swtpm_is_stopped_by_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    port = swtpm_module._free_port_pair()
    command = (
        f"swtpm socket --tpm2 --tpmstate dir={state},mode=0600 "
        f"--server type=tcp,port={port},bindaddr=127.0.0.1 "
        f"--ctrl type=tcp,port={port + 1},bindaddr=127.0.0.1 "
        f"--flags not-need-init,startup-clear --pid file={state / 'swtpm.pid'} &"
    )
    subprocess.run(["sh", "-c", command], check=True, start_new_session=True)  # noqa: S602
    deadline = time.monotonic() + 5
    while not (state / "swtpm.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    orphan = int((state / "swtpm.pid").read_text())
    stat = Path(f"/proc/{orphan}/stat").read_text()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == 1, "the test needs a reparented process"
    with Swtpm(state) as instance:
        assert instance.pid != orphan
        assert _gone(orphan, timeout=0.1)
