"""ECHO round trips over every transport, against raw baselines measured in the same run.

Not a test (pytest does not collect it). Run as root (it starts a private pcscd)::

    .venv/bin/python tests/pcsc/bench_transports.py [--rounds 7] [--seconds 0.3]

Rows: raw ``Simulator.transmitCommand`` through JPype (a bare jCardSim with the core applet);
``JCardSimConnection.transmit`` in the default ``watch`` save mode and in ``always`` (serialise
after every command); raw pyscard ``SCardTransmit`` over vpcd; ``PcscConnection.transmit``.
Each cell is the median over rounds of the mean round trip; rounds interleave the rows so that
machine noise hits them alike. Also: the cost of a command that changes persistent state.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SIZES = (0, 255, 1024, 4096)


def echo_command(size: int) -> bytes:
    data = bytes(i & 0xFF for i in range(size))
    if size == 0:
        return bytes.fromhex("80EE000000")
    if size < 255:
        return bytes([0x80, 0xEE, 0, 0, size]) + data + b"\x00"
    return bytes([0x80, 0xEE, 0, 0, 0]) + size.to_bytes(2, "big") + data + b"\x00\x00"


def mean_us(call: Callable[[bytes], object], command: bytes, seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            call(command)
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="per cell and round")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tpmcard-bench-"))
    from tpmcard.sim import vpcd

    pcscd = vpcd.start_private_pcscd(work / "pcscd")
    os.environ.update(pcscd.client_env)  # before this process's first PC/SC call
    vpcd.wait_for_readers(pcscd.readers, 10)
    card_process = vpcd.VpcdCardProcess(work / "vpcd-card", port=pcscd.base_port)
    reader = vpcd.vpcd_reader_name(0)
    vpcd.wait_for_card(reader)

    import jpype
    from smartcard import scard
    from tpmcard import manifest
    from tpmcard.transport.jcardsim import JCardSimConnection, start_jvm
    from tpmcard.transport.pcsc import PcscConnection

    start_jvm()
    core = manifest.load().applet("core")
    select = bytes([0, 0xA4, 4, 0, len(core.aid)]) + core.aid + b"\x00"

    simulator = jpype.JClass("com.licel.jcardsim.base.Simulator")(
        jpype.JClass("com.licel.jcardsim.base.SimulatorRuntime")()
    )
    simulator.changeProtocol("T=1")
    aid = jpype.JClass("com.licel.jcardsim.utils.AIDUtil").create(core.aid.hex())
    params = bytes([len(core.aid)]) + core.aid + b"\x01\x00\x20" + os.urandom(32)
    simulator.installApplet(aid, jpype.JClass(core.class_name), params, 0, len(params))
    simulator.transmitCommand(select)

    watch = JCardSimConnection(work / "sim-watch", save_mode="watch")
    always = JCardSimConnection(work / "sim-always", save_mode="always")
    pcsc = PcscConnection(reader)
    raw_card = PcscConnection(reader)  # its handle, driven through scard directly
    for connection in (watch, always, pcsc):
        assert connection.transmit(select)[-2:] == b"\x90\x00"

    def raw_jpype(command: bytes) -> bytes:
        return bytes(simulator.transmitCommand(command))

    def raw_pyscard(command: bytes) -> bytes:
        _hresult, response = scard.SCardTransmit(raw_card._card, raw_card._protocol, list(command))
        return bytes(response)

    rows: dict[str, Callable[[bytes], object]] = {
        "raw Simulator.transmitCommand (JPype)": raw_jpype,
        "JCardSimConnection.transmit (watch)": watch.transmit,
        "JCardSimConnection.transmit (always)": always.transmit,
        "raw pyscard SCardTransmit (vpcd)": raw_pyscard,
        "PcscConnection.transmit (vpcd)": pcsc.transmit,
    }
    for size in SIZES:
        expected = bytes(i & 0xFF for i in range(size)) + b"\x90\x00"
        for name, call in rows.items():
            assert call(echo_command(size)) == expected, name
            mean_us(call, echo_command(size), 0.05)  # warm up (JIT)

    samples: dict[tuple[str, int], list[float]] = {(r, s): [] for r in rows for s in SIZES}
    for _ in range(args.rounds):
        for size in SIZES:
            for name, call in rows.items():
                samples[(name, size)].append(mean_us(call, echo_command(size), args.seconds))
    result = {k: statistics.median(v) for k, v in samples.items()}

    width = max(len(r) for r in rows)
    print(f"ECHO round trip, microseconds (median of {args.rounds} rounds)")
    print(f"{'':{width}}  " + "  ".join(f"{s:>7}" for s in SIZES))
    for name in rows:
        print(f"{name:{width}}  " + "  ".join(f"{result[(name, s)]:7.2f}" for s in SIZES))
    for name, base in (
        ("JCardSimConnection.transmit (watch)", "raw Simulator.transmitCommand (JPype)"),
        ("JCardSimConnection.transmit (always)", "raw Simulator.transmitCommand (JPype)"),
        ("PcscConnection.transmit (vpcd)", "raw pyscard SCardTransmit (vpcd)"),
    ):
        ratios = "  ".join(f"{result[(name, s)] / result[(base, s)]:7.2f}" for s in SIZES)
        print(f"{'ratio ' + name.split('.')[0] + name[name.find('(') - 1 :]:{width}}  {ratios}")

    stats = watch.statistics()
    print(
        f"\nwatch: {stats['watched_fields']} fields, {stats['watched_arrays']} arrays "
        f"({stats['watched_array_bytes']} bytes); {stats['watch_ns'] / stats['commands']:.0f} ns "
        f"per command; store payload {stats['store_payload_bytes']} bytes"
    )
    a = always.statistics()
    print(f"always: {a['encode_ns'] / a['encodes'] / 1000:.2f} us per serialisation")

    # A command that changes persistent state: the store probe's counter (serialise + fsync).
    probe_manifest = work / "manifest.json"
    raw = json.loads(Path(manifest.paths.manifest_path()).read_text())
    probe_class = "tpmcard.sim.StoreProbeApplet"
    probe_applet = {"name": "probe", "class": probe_class, "aid": "F074706D63FF0001"}
    raw["packages"].append(
        {"name": "probe", "java_package": "tpmcard.sim", "aid": "F074706D63FF00", "version": "1.0",
         "applets": [probe_applet]}
    )  # fmt: skip
    probe_manifest.write_text(json.dumps(raw))
    with JCardSimConnection(work / "sim-probe", manifest=probe_manifest) as probe:
        probe.transmit(bytes.fromhex("00A4040008F074706D63FF0001"))
        before = probe.statistics()
        n = 200
        start = time.perf_counter()
        for _ in range(n):
            probe.transmit(bytes.fromhex("80210000011F"))
        elapsed = (time.perf_counter() - start) / n * 1e6
        after = probe.statistics()
        writes = after["writes"] - before["writes"]
        print(
            f"state-changing command: {elapsed:.0f} us per command ({writes} store writes, "
            f"{(after['write_ns'] - before['write_ns']) / max(writes, 1) / 1000:.0f} us per "
            f"write incl. fsync, {(after['encode_ns'] - before['encode_ns']) / n / 1000:.1f} us "
            f"serialising) in {work}"
        )

    for connection in (watch, always, pcsc, raw_card):
        connection.close()
    card_process.stop()
    pcscd.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
