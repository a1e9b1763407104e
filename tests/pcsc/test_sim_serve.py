"""`tpmcard sim serve`: the simulated card in the system's PC/SC stack, as a person starts it.

Independent PC/SC clients (opensc-tool, and pyscard in a separate process) must see a card in
"Virtual PCD 00 00", and the card must be the same one the in-process simulator opens afterwards.
The test's own private pcscd (tests/conftest.py) is not involved: the child processes get an
environment without PCSCLITE_CSOCK_NAME, so they use the system socket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.pcsc

READER = "Virtual PCD 00 00"


def system_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    env["TPMCARD_STATE_DIR"] = str(state)
    env.pop("TPMCARD_READER", None)
    return env


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no {needle!r} from `tpmcard sim serve`; it said: {''.join(seen)}")


PYSCARD_CLIENT = """
import sys
from smartcard.System import readers
from smartcard.util import toHexString
names = [str(r) for r in readers()]
reader = next(r for r in readers() if str(r) == sys.argv[1])
connection = reader.createConnection()
connection.connect()
aid = bytes.fromhex(sys.argv[2])
data, sw1, sw2 = connection.transmit([0x00, 0xA4, 0x04, 0x00, len(aid), *aid, 0x00])
key, k1, k2 = connection.transmit([0x00, 0xCA, 0x7F, 0x49, 0x00])
print(__import__("json").dumps({"readers": names, "select_sw": f"{sw1:02X}{sw2:02X}",
      "key": bytes(key).hex(), "key_sw": f"{k1:02X}{k2:02X}"}))
"""


def test_sim_serve_is_seen_by_independent_pcsc_clients(tmp_path: Path) -> None:
    from tpmcard import manifest

    env = system_env(tmp_path)
    serve = subprocess.Popen(
        [sys.executable, "-m", "tpmcard.cli", "sim", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_line(serve, "serving the simulated card", 120)

        opensc = subprocess.run(
            ["opensc-tool", "--reader", READER, "--atr"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert opensc.returncode == 0, opensc.stderr
        assert "3b:85:81:31:fe:45:80:73:80:01:c0:3c" in opensc.stdout.lower()

        core = manifest.load().applet("core").aid.hex()
        client = subprocess.run(
            [sys.executable, "-c", PYSCARD_CLIENT, READER, core],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        seen = json.loads(client.stdout)
        assert READER in seen["readers"]
        assert seen["select_sw"] == "9000" and seen["key_sw"] == "9000"
        served_key = seen["key"]
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            raise
    assert serve.returncode == 0

    # The same card, now opened in-process from the same state directory.
    code = (
        "from tpmcard.ecpoint import point_bytes\n"
        "from tpmcard.services.client import open_card\n"
        "with open_card('sim') as card:\n"
        "    print(point_bytes(card.core.identity_key()).hex())\n"
    )
    local = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert served_key.startswith("7f494386410")  # 7F49 43 { 86 41 04 ... }
    assert local.stdout.strip() == served_key[10:]
