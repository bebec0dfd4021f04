"""Timing code, with one policy for the whole kit: the fastest of repeated runs.

Other work on the machine (processes, interrupts, a shared memory bus) only ever adds time to a run, never
takes it away, so the fastest run is the closest measure of what the code itself costs; a median or a mean
mixes that noise in (the advice of Python's timeit). The first run also pays one-time costs (allocations,
lazy initialisation, cold caches), which the minimum drops once there are two repeats or more. Comparisons
take turns, so that a stretch of load on a shared machine slows every contender alike.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def _timed(run: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def _check_repeats(repeats: int) -> None:
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")


def fastest_seconds(run: Callable[[], object], repeats: int = 3) -> tuple[object, float]:
    """(what the last call of `run()` returned, the fastest of `repeats` calls in seconds)."""
    _check_repeats(repeats)
    result, best = None, float("inf")
    for _ in range(repeats):
        result, seconds = _timed(run)
        best = min(best, seconds)
    return result, best


def fastest_seconds_each(runs: Mapping[str, Callable[[], object]], repeats: int = 3) -> dict[str, float]:
    """The fastest of `repeats` calls of each run in seconds, by name. The runs take turns, in reverse
    order every other round, so that none always runs right after the same neighbour."""
    _check_repeats(repeats)
    best = {name: float("inf") for name in runs}
    for round_number in range(repeats):
        order = list(runs) if round_number % 2 == 0 else list(runs)[::-1]
        for name in order:
            best[name] = min(best[name], _timed(runs[name])[1])
    return best
