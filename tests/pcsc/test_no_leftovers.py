"""Nothing tpmcard starts outlives the command: no pcscd, swtpm or JVM, no temporary directory,
whether the command succeeds or is interrupted with Ctrl-C (SIGINT).

Each command runs with its state directory and $TMPDIR under the test's own directory, so every
process it starts names that directory on its command line (pcscd's configuration, swtpm's and
the served card's state); afterwards no process may name it and $TMPDIR must be empty.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.pcsc

TPMCARD = [sys.executable, "-m", "tpmcard.cli"]


def environment(root: Path) -> dict[str, str]:
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    env.pop("TPMCARD_READER", None)
    env.pop("TPMCARD_TCTI", None)
    env.update({"TPMCARD_STATE_DIR": str(root / "state"), "TMPDIR": str(root / "tmp")})
    return env


def processes_naming(marker: Path) -> list[str]:
    """The running processes that name ``marker`` on their command line or hold a file under it
    open (a system pcscd that the command started writes its log there): ours."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            command = raw.replace(b"\0", b" ").decode(errors="replace")
            files = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if str(marker) in command or any(str(marker) in f for f in files):
            found.append(f"{pid}: {command}")
    return found


def assert_nothing_left(root: Path) -> None:
    deadline = time.monotonic() + 10  # a stopped child may take a moment to be reaped
    while processes_naming(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_naming(root) == []
    assert sorted(p.name for p in (root / "tmp").iterdir()) == []


@pytest.fixture
def short_root() -> Iterator[Path]:
    """A directory with a short name: the private pcscd's socket path must fit a sockaddr_un."""
    root = Path(tempfile.mkdtemp(prefix="tpmcard-t-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_bench_leaves_no_pcscd_swtpm_jvm_or_directory(short_root: Path) -> None:
    tmp_path = short_root
    result = subprocess.run(
        [*TPMCARD, "bench", "--only", "binding-pcsc", "--rounds", "10", "--json"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"error"' not in result.stdout, result.stdout
    assert_nothing_left(tmp_path)


def test_demo_leaves_no_swtpm_jvm_or_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [*TPMCARD, "demo"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert_nothing_left(tmp_path)


def test_interrupted_sim_serve_leaves_nothing(tmp_path: Path) -> None:
    serve = subprocess.Popen(
        [*TPMCARD, "sim", "serve"],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert serve.stdout is not None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = serve.stdout.readline()
            if "serving the simulated card" in line or (not line and serve.poll() is not None):
                break
        assert serve.poll() is None, "sim serve ended before serving"
        assert processes_naming(tmp_path)  # the served card's JVM names its state directory
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            raise
    assert_nothing_left(tmp_path)
