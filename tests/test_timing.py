"""The kit's one timing policy: the fastest of repeated runs, comparisons taking turns."""
from __future__ import annotations

import pytest

from course_lib import timing


class FakeClock:
    """perf_counter for course_lib.timing that moves only when a run says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def run_taking(self, durations: list[float], calls: list, name: str = "run"):
        def run():
            calls.append(name)
            self.now += durations[len([c for c in calls if c == name]) - 1]
            return len(calls)
        return run


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def test_a_single_run_counts_its_fastest_repeat_not_its_median_or_mean(clock):
    calls = []
    result, seconds = timing.fastest_seconds(clock.run_taking([5.0, 1.0, 3.0], calls), repeats=3)
    assert seconds == 1.0 and len(calls) == 3 and result == 3   # the last call's result


def test_compared_runs_take_turns_in_alternating_order_and_each_counts_its_fastest(clock):
    calls = []
    runs = {"a": clock.run_taking([4.0, 2.0, 6.0], calls, "a"), "b": clock.run_taking([1.0, 7.0, 3.0], calls, "b")}
    assert timing.fastest_seconds_each(runs, repeats=3) == {"a": 2.0, "b": 1.0}
    assert calls == ["a", "b", "b", "a", "a", "b"]


@pytest.mark.parametrize("repeats", [0, -1])
def test_no_repeats_is_refused(repeats):
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        timing.fastest_seconds(lambda: None, repeats)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        timing.fastest_seconds_each({"a": lambda: None}, repeats)
