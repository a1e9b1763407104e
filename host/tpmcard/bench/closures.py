"""Closures against the same operation as a native card command, measured in the same run, and an
estimate of both on a real card from JCAlgTest's per-operation times (docs/closures.md "Cost").

``measure(session)`` takes a secured session (``tpmcard.connect()``'s, or the bench's throw-away
paired card) and compares, on its card:

* HMAC-SHA-256 of 32 bytes: a loaded closure (``HMAC256`` over its argument, key in its code)
  against the HMAC provider's MAC (``session.algorithms``, the same key imported);
* ECDSA P-256 signature of 32 bytes: the ``ratesign`` example (its clock and epoch arithmetic,
  ``CSIGN``, store write) against the same count-limited key's own KEY USE sign;
* HOTP, TOTP and the PCR gate: the examples alone (no native command does what they do).

Each row has the closure's steps as the card counted them (the smallest step limit that lets
the run finish, found by running it with lower limits: exact, not modelled) and the APDUs per
call (``session.exchanges``). ``ratio`` = closure / native median in the simulator; jCardSim
runs the interpreter on the host's JIT, so the ``estimate_ms`` columns (a J3R180 from JCAlgTest,
see :data:`J3R180`) are what a card would show.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tpmcard.bench import interleaved
from tpmcard.services.closures import Builder, PlainImage, assemble
from tpmcard.services.closures import examples as E
from tpmcard.services.closures.session import ClosureError, ClosuresSession

#: Per-operation times of an NXP JCOP4 J3R180 (JCAlgTest, crocs-muni/jcalgtest_results, as in
#: docs/algorithms.md §7), milliseconds. ``step`` and ``div32`` are estimates from JCAlgTest's
#: bytecode benchmark SWAlgs_xor (16 byte operations in 1.45 ms: ~0.09 ms per interpreted byte
#: operation): a closure step (fetch, effect table, bounds, three stack reads, switch, write)
#: is taken as 6 of them, a DIV32 as its 32 bit steps of 1 each, an ADD32 as 4.
J3R180 = {
    "step": 0.54,
    "div32": 2.9,
    "add32": 0.36,
    "digest": 6.3,  # SHA-256 / SHA-1 update of up to 256 bytes; doFinal 7.9 for 256 bytes
    "ecdsa_sign": 40.0,  # init 8 + sign 32
    "apdu": 10.0,  # one APDU with secure messaging, docs/algorithms.md §7
}

HMAC_BYTES = 32
NAME_HMAC = "benchmac"


def hmac_closure(key: bytes, size: int = HMAC_BYTES) -> PlainImage:
    """HMAC-SHA-256(key, argument of ``size`` bytes): the argument at 0, the key after it."""
    b = Builder(NAME_HMAC, stack=6, memory=size + len(key) + 32, output=32, steps=20)
    b.pushb(size).data(key)
    b.pushb(size + len(key)).pushb(size).pushb(len(key)).pushb(0).arglen().hmac256()
    b.pushb(size + len(key)).pushb(32).out().halt()
    return b.image()


def steps_used(closures: ClosuresSession, image: PlainImage, args: bytes, *, loaded: bool) -> int:
    """The steps a run of ``image`` with ``args`` takes on the card: the smallest step limit
    that does not stop it with SW_CLOSURE_STEPS (the run's other effects happen each time it
    finishes: use a throw-away card). ``loaded``: run by name (load, run, remove per try)."""

    def finishes(limit: int) -> bool:
        trial = PlainImage(replace(image.header, steps=limit), image.code)
        try:
            if loaded:
                closures.load(trial)
                try:
                    closures.run(image.header.name, args)
                finally:
                    closures.remove(image.header.name)
            else:
                closures.run_image(trial, args)
        except ClosureError as exc:
            if exc.violation == "steps":
                return False
            raise
        return True

    low, high = 1, image.header.steps  # finishes(high) is the caller's claim
    while low < high:
        middle = (low + high) // 2
        if finishes(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _apdus(session: Any, call: Callable[[], object]) -> int:
    before = session.exchanges
    call()
    return int(session.exchanges - before)


def _estimate(ops: dict[str, int]) -> float:
    return sum(J3R180[name] * count for name, count in ops.items())


@dataclass(frozen=True)
class Timing:
    """How long to measure each path: ``rounds`` timed calls after ``warmup_seconds``."""

    rounds: int = 30
    warmup_seconds: float = 0.2


def _row(
    session: Any,
    name: str,
    closure: Callable[[], object],
    native: Callable[[], object] | None,
    timing: Timing,
    steps: int,
    ops: dict[str, int],
    native_ops: dict[str, int] | None,
) -> dict[str, Any]:
    paths = {"closure": closure} | ({"native": native} if native else {})
    samples = interleaved(paths, timing.rounds, block=10, warmup_seconds=timing.warmup_seconds)
    row: dict[str, Any] = {
        "operation": name,
        "steps": steps,
        "closure_ms": samples["closure"].median * 1e3,
        "closure_apdus": _apdus(session, closure),
    }
    card = ops | {"step": steps, "apdu": row["closure_apdus"]}
    row["closure_estimate_ms"] = _estimate(card)
    if native is not None and native_ops is not None:
        row["native_ms"] = samples["native"].median * 1e3
        row["native_apdus"] = _apdus(session, native)
        row["ratio"] = samples["closure"].median / samples["native"].median
        row["native_estimate_ms"] = _estimate(native_ops | {"apdu": row["native_apdus"]})
        row["estimate_ratio"] = row["closure_estimate_ms"] / row["native_estimate_ms"]
    return row


def measure(session: Any, rounds: int = 30, warmup_seconds: float = 0.2) -> list[dict[str, Any]]:
    """One row per operation (see the module's docstring). Leaves the card's closures and keys
    as it found them."""
    timing = Timing(rounds, warmup_seconds)
    from tpmcard.services import algorithms as A

    closures: ClosuresSession = session.closures
    rows: list[dict[str, Any]] = []
    key, data = os.urandom(32), os.urandom(HMAC_BYTES)

    # HMAC-SHA-256: closure vs the HMAC provider (both: 4 digest calls over the same bytes).
    image = hmac_closure(key)
    steps = steps_used(closures, image, data, loaded=True)
    closures.load(image)
    card_key = session.algorithms.import_key(A.KEY_HMAC_SHA256, key)
    try:
        expected = hmac.new(key, data, "sha256").digest()
        if (
            closures.run(NAME_HMAC, data) != expected
            or session.algorithms.mac(card_key, data) != expected
        ):
            raise AssertionError("closure and provider disagree with HMAC-SHA-256")
        rows.append(
            _row(
                session,
                f"HMAC-SHA-256, {HMAC_BYTES} B",
                lambda: closures.run(NAME_HMAC, data),
                lambda: session.algorithms.mac(card_key, data),
                timing,
                steps,
                {"digest": 4},
                {"digest": 4},
            )
        )
    finally:
        session.algorithms.delete_key(card_key)
        closures.remove(NAME_HMAC)

    rows.append(_signer_row(session, closures, timing))
    rows += _example_rows(session, closures, timing)
    return rows


def _signer_row(session: Any, closures: ClosuresSession, timing: Timing) -> dict[str, Any]:
    """ratesign (LIMIT high, so that the bench is not refused) vs KEY USE sign of its key (no auth
    value on either path: the bench's key needs no owner)."""
    from tpmcard.services.counted_keys import KeyKind

    name = "ECDSA sign, 32 B (ratesign)"
    counted = session.counted_keys
    # The closure's store counts every signature of this session's epoch: stay below LIMIT.
    timing = Timing(min(timing.rounds, 10_000), timing.warmup_seconds)
    key = counted.create(KeyKind.ECDSA_P256, uses=8 * timing.rounds + 2000)
    message = os.urandom(32)
    try:
        image = assemble(E.source("ratesign", LIMIT=32767, PERIOD=1, HANDLE=key.handle))
        steps = steps_used(closures, image, message, loaded=True)
        closures.load(image)
        try:
            return _row(
                session,
                name,
                lambda: closures.run("ratesign", message),
                lambda: counted.sign(key.handle, message),
                timing,
                steps,
                {"div32": 8, "ecdsa_sign": 1},
                {"ecdsa_sign": 1},
            )
        finally:
            closures.remove("ratesign")
    finally:
        counted.delete(key.handle)


def _example_rows(session: Any, closures: ClosuresSession, timing: Timing) -> list[dict[str, Any]]:
    """HOTP (loaded), TOTP and the PCR gate (host-held images): closure only."""
    rows = []
    hotp = assemble(E.source("hotp"))
    steps = steps_used(closures, hotp, b"", loaded=True)
    closures.load(hotp)
    try:
        rows.append(
            _row(
                session,
                "HOTP (loaded)",
                lambda: closures.run("hotp"),
                None,
                timing,
                steps,
                {"digest": 4, "div32": 6, "add32": 2},
                None,
            )
        )
    finally:
        closures.remove("hotp")
    totp = assemble(E.source("totp"))
    sealed = closures.seal(totp)
    now = (1_234_567_890).to_bytes(8, "big")
    rows.append(
        _row(
            session,
            "TOTP (image)",
            lambda: closures.run_image(sealed, now),
            None,
            timing,
            steps_used(closures, totp, now, loaded=False),
            {"digest": 4, "div32": 12},
            None,
        )
    )
    indices = (0, 7, 9)
    view = dict(session.host_pcrs) | session.mtpm.pcr_read(range(9, 24))
    gate = assemble(
        E.source(
            "pcrgate",
            INDICES=indices,
            EXPECTED=E.pcr_policy_digest(view, indices),
            SECRET=b"bench secret",
        )
    )
    sealed_gate = closures.seal(gate)
    if closures.run_image(sealed_gate) != b"bench secret":
        raise AssertionError("the PCR gate refused the view it was built from")
    rows.append(
        _row(
            session,
            "PCR gate, 3 PCRs (image)",
            lambda: closures.run_image(sealed_gate),
            None,
            timing,
            steps_used(closures, gate, b"", loaded=False),
            {"digest": 3},
            None,
        )
    )
    return rows
