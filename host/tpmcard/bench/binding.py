"""The binding's cost: handshake latency split into TPM, card and host time, APDUs per
handshake, and secure-messaging throughput as a ratio to plain ECHO in the same run.

Entry point for ``tpmcard bench`` (the lead's cli/bench.py)::

    from functools import partial
    import tpmcard
    from tpmcard.bench.binding import measure_binding

    result = measure_binding(partial(tpmcard.connect, connection=conn, tpm=tpm), rounds=20)

``session_factory(**hooks)`` must open a :class:`~tpmcard.services.session.SecureCardSession` and
accept the keyword arguments ``wrap_connection`` and ``wrap_tpm`` of :func:`tpmcard.connect`; pass
it an open card connection and an open ``Tpm`` (``connection=``, ``tpm=``) so that each round
measures the handshake, not starting a JVM or a swtpm. The host must already be paired with the
card.

What is timed: a wrapper around the card connection sums the time spent in ``transmit`` ("card":
the card's work plus the transport), a proxy around the TPM sums the time of every TPM call
("tpm": PCR read, 2 ECDH_ZGen, Quote), and "host" is the rest of ``connect()`` (software ECDH,
KDFs, CMACs, encoding, the pairing record). All figures are medians over ``rounds``.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tpmcard import constants as C
from tpmcard.errors import TpmcardError
from tpmcard.services.core import CoreSession
from tpmcard.transport.base import Connection

#: Payload sizes of the throughput comparison (plain ECHO takes at most 4096 bytes, and so does
#: a protected command's payload).
SIZES = (0, 16, 255, 1024, C.SM_MAX_PAYLOAD)

SessionFactory = Callable[..., Any]


class TimedConnection(Connection):
    """A Connection that counts APDUs and the time spent waiting for the card."""

    def __init__(self, inner: Connection, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner = inner
        self.name = inner.name
        self._clock = clock
        self.seconds = 0.0
        self.apdus = 0

    def transmit(self, apdu: bytes) -> bytes:
        start = self._clock()
        try:
            return self.inner.transmit(apdu)
        finally:
            self.seconds += self._clock() - start
            self.apdus += 1

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    @property
    def supports_extended(self) -> bool:
        return self.inner.supports_extended

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()


class TimedTpm:
    """A proxy for a ``Tpm`` that times every method call (by name)."""

    def __init__(self, inner: Any, clock: Callable[[], float] = time.perf_counter) -> None:
        self._inner = inner
        self._clock = clock
        self.seconds = 0.0
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._clock()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds += self._clock() - start
                self.calls[name] += 1

        return timed


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def _collecting(make: Callable[[Any], Any], into: list[Any]) -> Callable[[Any], Any]:
    """A wrap_* hook for connect(): wraps with ``make`` and keeps the wrapper in ``into``."""

    def wrap(inner: Any) -> Any:
        into.append(make(inner))
        return into[-1]

    return wrap


def measure_handshake(session_factory: SessionFactory, rounds: int = 20) -> dict[str, Any]:
    """``rounds`` connects (after one untimed): median total, TPM, card and host time, APDUs."""
    totals: list[float] = []
    tpm_times: list[float] = []
    card_times: list[float] = []
    apdus: list[int] = []
    calls: Counter[str] = Counter()
    for index in range(rounds + 1):
        connection_timer: list[TimedConnection] = []
        tpm_timer: list[TimedTpm] = []
        wrap_connection = _collecting(TimedConnection, connection_timer)
        wrap_tpm = _collecting(TimedTpm, tpm_timer)
        start = time.perf_counter()
        session = session_factory(wrap_connection=wrap_connection, wrap_tpm=wrap_tpm)
        elapsed = time.perf_counter() - start
        # Read the timers before SESSION CLOSE goes through them.
        tpm_seconds = sum(t.seconds for t in tpm_timer)
        card_seconds = sum(c.seconds for c in connection_timer)
        apdu_count = sum(c.apdus for c in connection_timer)
        round_calls = Counter[str]()
        for t in tpm_timer:
            round_calls.update(t.calls)
        session.close()
        if index == 0:
            continue  # warm-up: first key loads, JIT
        totals.append(elapsed)
        tpm_times.append(tpm_seconds)
        card_times.append(card_seconds)
        apdus.append(apdu_count)
        calls.update(round_calls)
    hosts = [t - a - b for t, a, b in zip(totals, tpm_times, card_times, strict=True)]
    return {
        "rounds": rounds,
        "total_ms": _ms(statistics.median(totals)),
        "tpm_ms": _ms(statistics.median(tpm_times)),
        "card_ms": _ms(statistics.median(card_times)),
        "host_ms": _ms(statistics.median(hosts)),
        "apdus": statistics.median(apdus),
        "apdus_list": "SELECT, SESSION INIT, SESSION AUTH (+ chaining/61xx if any)",
        "tpm_calls_per_handshake": {k: v / rounds for k, v in sorted(calls.items())},
    }


def _echo_block(echo: Callable[[bytes], bytes], data: bytes, count: int) -> list[float]:
    clock = time.perf_counter
    out = []
    for _ in range(count):
        start = clock()
        echo(data)
        out.append(clock() - start)
    return out


def measure_throughput(
    session_factory: SessionFactory,
    sizes: tuple[int, ...] = SIZES,
    rounds: int = 200,
    *,
    block: int = 50,
) -> dict[str, Any]:
    """Protected ECHO against plain ECHO of the same payload on the same card connection.

    A plain command ends a session, so the two alternate in blocks of ``block`` calls: a
    session, a block of protected ECHOs, the session ended (``detach_card``), a block of plain
    ECHOs on the same card, and again. ``ratio`` = plain time / protected time (throughput of
    secure messaging relative to plain; 1.0 would be free).
    """
    out: dict[str, Any] = {}
    collecting = gc.isenabled()
    for size in sizes:
        data = bytes((i * 29 + 7) & 0xFF for i in range(size))
        protected: list[float] = []
        plain: list[float] = []
        done = -block  # one untimed block each first
        while done < rounds:
            session = session_factory()
            owned = session.owns_connection
            try:
                if session.core.echo(data) != data:
                    raise TpmcardError(f"protected ECHO of {size} bytes came back altered")
                gc.disable()
                try:
                    times = _echo_block(session.core.echo, data, block)
                finally:
                    if collecting:
                        gc.enable()
                card = session.detach_card()
            except BaseException:
                session.close()
                raise
            try:
                core = CoreSession(card.apdu.send_apdu)
                if core.echo(data) != data:
                    raise TpmcardError(f"plain ECHO of {size} bytes came back altered")
                gc.disable()
                try:
                    plain_times = _echo_block(core.echo, data, block)
                finally:
                    if collecting:
                        gc.enable()
            finally:
                if owned:
                    card.close()
            if done >= 0:
                protected += times
                plain += plain_times
            done += block
        p, s = statistics.median(plain), statistics.median(protected)
        out[str(size)] = {
            "plain_us": round(p * 1e6, 1),
            "secure_us": round(s * 1e6, 1),
            "ratio": round(p / s, 3),
        }
    return out


def measure_binding(
    session_factory: SessionFactory,
    rounds: int = 20,
    *,
    sizes: tuple[int, ...] = SIZES,
    echo_rounds: int = 200,
) -> dict[str, Any]:
    """Handshake latency split (``rounds`` handshakes) and secure-messaging throughput against
    plain ECHO (``echo_rounds`` calls per size and path). Plain dicts; see the module docstring.

    Returns ``{"handshake": {total_ms, tpm_ms, card_ms, host_ms, apdus, ...},
    "throughput": {"<size>": {plain_us, secure_us, ratio}}, "target_ratio": 0.7}``.
    """
    return {
        "handshake": measure_handshake(session_factory, rounds),
        "throughput": measure_throughput(session_factory, sizes, echo_rounds),
        "target_ratio": 0.7,
    }
