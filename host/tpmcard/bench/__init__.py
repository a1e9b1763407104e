"""Measurements behind ``tpmcard bench``.

Every figure is a ratio against a baseline measured in the same run on the same machine; absolute
times are printed for context only. Benchmarks are not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """Per-call times of one measured path, in seconds."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p90(self) -> float:
        ordered = sorted(self.times)
        return ordered[int(0.9 * (len(ordered) - 1))]


def interleaved(
    paths: dict[str, Callable[[], object]],
    rounds: int,
    *,
    block: int = 100,
    warmup_seconds: float = 0.5,
) -> dict[str, Sample]:
    """Time each path ``rounds`` times, alternating blocks so drift hits every path alike.

    Each path first runs untimed for ``warmup_seconds``: the JVM behind a simulated card needs
    tens of thousands of calls before its JIT settles, and a cold path would flatter neither
    side. The garbage collector is off while timing, as in :mod:`timeit`.
    """
    times: dict[str, list[float]] = {name: [] for name in paths}
    clock = time.perf_counter
    collecting = gc.isenabled()
    gc.disable()
    try:
        for call in paths.values():
            until = clock() + warmup_seconds
            while clock() < until:
                for _ in range(50):
                    call()
        done = 0
        while done < rounds:
            n = min(block, rounds - done)
            for name, call in paths.items():
                bucket = times[name]
                warm = call  # one untimed call after switching paths: caches, branch predictors
                warm()
                for _ in range(n):
                    start = clock()
                    call()
                    bucket.append(clock() - start)
            done += n
    finally:
        if collecting:
            gc.enable()
    return {name: Sample(tuple(values)) for name, values in times.items()}
