"""Binding scenarios run against the Java card code in jCardSim, with the real host library.

Run by tests/sim/test_binding_jcardsim.py in a subprocess of its own: it compiles the binding
classes and the test-only BindingTestApplet with javac, starts a JVM with exactly those and the
jCardSim jar (JPype allows one JVM per process, so this keeps clear of other simulator tests),
and prints one JSON line per scenario. Usable by hand: ``python tests/sim/binding_scenario.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
sys.path.insert(0, str(ROOT / "host"))

from fake_tpm import FakeTpm  # noqa: E402
from tpmcard.channel import (  # noqa: E402
    PcrPolicy,
    change_pin,
    list_pairings,
    open_session,
    pair,
    pin_status,
    unblock_pin,
    unpair,
)
from tpmcard.channel import binding_constants as C  # noqa: E402
from tpmcard.errors import ApduError, ChannelError, InvalidPinError, PinBlockedError  # noqa: E402
from tpmcard.tpm.errors import TpmPolicyError  # noqa: E402

MAIN = ROOT / "applets" / "src" / "main" / "java" / "tpmcard" / "core"
TEST = ROOT / "applets" / "src" / "test" / "java" / "tpmcard" / "core"
SOURCES = [
    MAIN / f"{n}.java"
    for n in (
        "BindingConstants",
        "BindingHandler",
        "Kdf",
        "Pairings",
        "PinStore",
        "SecureChannel",
        "TpmAttest",
        "P256",
        "ConstantTime",
        "Constants",
    )
]
SOURCES.append(TEST / "BindingTestApplet.java")
AID = "F074706D63FF00B1"  # test-only applet


def jcardsim_jar() -> str:
    listing = ROOT / "applets" / "build" / "sim-classpath.txt"
    if listing.exists():
        for line in listing.read_text().splitlines():
            if "jcardsim" in line and Path(line.strip()).exists():
                return line.strip()
    for base in (Path.home() / ".gradle" / "caches", Path.home() / ".m2" / "repository"):
        for jar in sorted(base.glob("**/jcardsim-3.0.6.0.jar")):
            return str(jar)
    raise SystemExit("jcardsim-3.0.6.0.jar not found: run `gradle assemble` first")


class Card:
    def __init__(self, jpype: object) -> None:
        import jpype as jp

        self.jp = jp
        simulator_class = jp.JClass("com.licel.jcardsim.base.Simulator")
        runtime = jp.JClass("com.licel.jcardsim.base.SimulatorRuntime")()
        self.aid = jp.JClass("com.licel.jcardsim.utils.AIDUtil").create(AID)
        self.sim = simulator_class(runtime)
        self.sim.installApplet(self.aid, jp.JClass("tpmcard.core.BindingTestApplet"))
        self.select()
        self.identity = self.send_apdu(0x00, 0xCA, 0x7F, 0x49)[5:]

    def select(self) -> None:
        assert self.sim.selectApplet(self.aid)

    def reset(self) -> None:
        self.sim.reset()
        self.select()

    def transmit(self, cla: int, ins: int, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
        apdu = bytes([cla, ins, p1, p2])
        apdu += (
            (b"\x00" + len(data).to_bytes(2, "big") + data + b"\x00\x00")
            if data
            else b"\x00\x00\x00"
        )
        raw = bytes(self.sim.transmitCommand(self.jp.JArray(self.jp.JByte)(apdu)))
        return raw[:-2], int.from_bytes(raw[-2:], "big")

    def send_apdu(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0
    ) -> bytes:
        out, sw = self.transmit(cla, ins, p1, p2, bytes(data))
        if sw != 0x9000:
            raise ApduError(sw, out, message=f"card answered {sw:04X}")
        return out


PCRS = {i: hashlib.sha256(b"boot %d" % i).digest() for i in range(24)}


def setup(
    card: Card, policy_pcrs: tuple[int, ...] = (7,), **kw: object
) -> tuple[FakeTpm, PcrPolicy]:
    tpm = FakeTpm(PCRS, policy_pcrs, **kw)  # type: ignore[arg-type]
    return tpm, PcrPolicy.from_values(tpm.pcrs, policy_pcrs, bool(kw.get("with_auth_value")))


def expect(exc: type[BaseException], fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except exc as e:
        return e
    raise AssertionError(f"expected {exc.__name__}")


def pair_session_echo(card: Card) -> None:
    tpm, policy = setup(card, (0, 7, 14), with_auth_value=True)
    pairing = pair(card.send_apdu, tpm, card.identity, "123456", policy)
    table = list_pairings(card.send_apdu)
    assert [(s.slot, s.binding_name, s.policy) for s in table.slots] == [
        (0, tpm.binding_name, policy)
    ]
    with open_session(card.send_apdu, tpm, pairing) as session:
        for n in (0, 1, 15, 16, 17, 100, 4096):
            payload = bytes((i * 7 + n) & 0xFF for i in range(n))
            assert session.send_apdu(0x80, 0xEE, 0, 0, payload) == payload, n
        assert session.send_apdu(0x00, 0xCA, 0x7F, 0x49).endswith(card.identity)
        e = expect(ApduError, lambda: session.send_apdu(0x80, 0x99, 0, 0, b""))
        assert e.sw == 0x6D00  # the inner status word, protected; the session stays
        assert session.send_apdu(0x80, 0xEE, 0, 0, b"still open") == b"still open"
    # closed on the card too: an unprotected command is served normally again
    assert list_pairings(card.send_apdu).capacity == C.PAIRING_SLOTS


def pin_lockout_survives_reset(card: Card) -> None:
    tpm, policy = setup(card)
    for left in (2, 1):
        e = expect(
            InvalidPinError, lambda: pair(card.send_apdu, tpm, card.identity, "000000", policy)
        )
        assert e.attempts_remaining == left  # type: ignore[attr-defined]
    card.reset()
    assert pin_status(card.send_apdu) == 1
    expect(PinBlockedError, lambda: pair(card.send_apdu, tpm, card.identity, "000000", policy))
    card.reset()
    expect(PinBlockedError, lambda: pair(card.send_apdu, tpm, card.identity, "123456", policy))
    e = expect(
        InvalidPinError, lambda: unblock_pin(card.send_apdu, card.identity, "00000000", "4321")
    )
    assert e.attempts_remaining == 4  # type: ignore[attr-defined]
    unblock_pin(card.send_apdu, card.identity, "12345678", "4321")
    assert pin_status(card.send_apdu) == 3 and pin_status(card.send_apdu, C.P2_PUK) == 5
    change_pin(card.send_apdu, card.identity, "4321", "24680135")
    assert pair(card.send_apdu, tpm, card.identity, "24680135", policy).slot == 0


def table_full_duplicate_unpair(card: Card) -> None:
    tpms = []
    for i in range(C.PAIRING_SLOTS):
        tpm, policy = setup(card)
        assert pair(card.send_apdu, tpm, card.identity, "123456", policy).slot == i
        tpms.append((tpm, policy))
    tpm, policy = setup(card)
    expect(ChannelError, lambda: pair(card.send_apdu, tpm, card.identity, "123456", policy))
    unpair(card.send_apdu, card.identity, "123456", 3)
    expect(
        ChannelError, lambda: pair(card.send_apdu, tpms[0][0], card.identity, "123456", tpms[0][1])
    )
    assert pair(card.send_apdu, tpm, card.identity, "123456", policy).slot == 3
    assert len(list_pairings(card.send_apdu).slots) == C.PAIRING_SLOTS


def wrong_pcr_state(card: Card) -> None:
    tpm, policy = setup(card, (7,))
    pairing = pair(card.send_apdu, tpm, card.identity, "123456", policy)
    saved = tpm.pcrs[7]
    tpm.extend(7, b"unsigned kernel")
    expect(TpmPolicyError, lambda: open_session(card.send_apdu, tpm, pairing))
    tpm.pcrs[7] = saved
    real_quote = tpm.quote

    def lying_quote(nonce: bytes, pcrs: object) -> object:  # quote with PCR 7 changed
        tpm.pcrs[7] = bytes(32)
        try:
            return real_quote(nonce, pcrs)  # type: ignore[arg-type]
        finally:
            tpm.pcrs[7] = saved

    tpm.quote = lying_quote  # type: ignore[method-assign]
    from dataclasses import replace

    forged = replace(pairing, policy=PcrPolicy((7,), hashlib.sha256(bytes(32)).digest()))
    e = expect(ChannelError, lambda: open_session(card.send_apdu, tpm, forged))
    assert "refused the session" in str(e)
    tpm.quote = real_quote  # type: ignore[method-assign]
    open_session(card.send_apdu, tpm, pairing).close()


def tampering_ends_the_session(card: Card) -> None:
    tpm, policy = setup(card)
    pairing = pair(card.send_apdu, tpm, card.identity, "123456", policy)
    flips = {"n": 0}

    def tampering(
        cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0
    ) -> bytes:
        if cla & 0x04 and flips["n"] == 1:
            data = data[:-1] + bytes([data[-1] ^ 1])
        if cla & 0x04:
            flips["n"] += 1
        return card.send_apdu(cla, ins, p1, p2, data, le)

    session = open_session(tampering, tpm, pairing)
    assert session.send_apdu(0x80, 0xEE, 0, 0, b"one") == b"one"
    expect(ChannelError, lambda: session.send_apdu(0x80, 0xEE, 0, 0, b"two"))
    expect(ChannelError, lambda: session.send_apdu(0x80, 0xEE, 0, 0, b"three"))
    # the card ended it too: a replay of a protected command gets the uniform answer
    _, sw = card.transmit(0x84, 0xEE, 0, 0, bytes(24))
    assert sw == 0x6982
    # and an unprotected command during a session ends it
    again = open_session(card.send_apdu, tpm, pairing)
    assert card.transmit(0x80, 0x52, 0, 0, b"")[1] == 0x6982
    expect(ChannelError, lambda: again.send_apdu(0x80, 0xEE, 0, 0, b"x"))


def handshake_order_and_replay(card: Card) -> None:
    tpm, policy = setup(card)
    pairing = pair(card.send_apdu, tpm, card.identity, "123456", policy)
    log: list[tuple[int, int, int, int, bytes]] = []

    def recording(
        cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = 0
    ) -> bytes:
        log.append((cla, ins, p1, p2, data))
        return card.send_apdu(cla, ins, p1, p2, data, le)

    open_session(recording, tpm, pairing).close()
    init, auth = log[0], log[1]
    assert card.transmit(*auth)[1] == 0x6982  # SESSION AUTH without its SESSION INIT
    card.transmit(*init)
    assert card.transmit(*auth)[1] == 0x6982  # replayed: the card's ephemeral is new
    card.transmit(*init)
    card.transmit(0x80, 0x52, 0, 0, b"")
    assert card.transmit(*auth)[1] == 0x6982  # not directly after SESSION INIT
    assert card.transmit(0x80, 0x56, 7, 0, init[4])[1] == 0x6982  # empty slot
    assert card.transmit(0x80, 0x56, 0, 0, init[4][:-1])[1] == 0x6982  # truncated
    off_curve = init[4][:-1] + bytes([init[4][-1] ^ 1])
    assert card.transmit(0x80, 0x56, 0, 0, off_curve)[1] == 0x6982  # not a P-256 point
    open_session(card.send_apdu, tpm, pairing).close()


SCENARIOS = [
    pair_session_echo,
    pin_lockout_survives_reset,
    table_full_duplicate_unpair,
    wrong_pcr_state,
    tampering_ends_the_session,
    handshake_order_and_replay,
]


def main() -> None:
    import jpype

    jar = jcardsim_jar()
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            ["javac", "-nowarn", "-encoding", "UTF-8", "-cp", jar, "-d", out, *map(str, SOURCES)],
            check=True,
            capture_output=True,
        )
        jpype.startJVM(classpath=[jar, out], convertStrings=False)
        for scenario in SCENARIOS:
            try:
                scenario(Card(jpype))
                result = {"scenario": scenario.__name__, "ok": True}
            except Exception:  # report every failure, keep going
                result = {
                    "scenario": scenario.__name__,
                    "ok": False,
                    "error": traceback.format_exc(),
                }
            print(json.dumps(result), flush=True)
    os._exit(0)  # the JVM's non-daemon threads must not keep the process alive


if __name__ == "__main__":
    main()
