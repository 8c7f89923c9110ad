"""Histograms: percentiles, and merging that equals having recorded everything in one place."""

from __future__ import annotations

import random

import pytest

from dbplex.bench import histogram as hdr
from dbplex.bench.recorder import Phase, Recorder, merge_phases
from dbplex.bench.results import PhaseStats


def _recorder(values: list[int], *, op: str = "read", errors: int = 0) -> Recorder:
    recorder = Recorder(open_loop=False)
    rec = recorder.op(op)
    for value in values:
        hdr.record(rec.latency, value)
        rec.count += 1
        recorder.units += 1
    for _ in range(errors):
        rec.error(ConnectionError("refused by postgresql://app:hunter2@db/app"))
    return recorder


def _stats(recorder: Recorder, duration_s: float) -> PhaseStats:
    phase = Phase("run")
    phase.add_recorder(recorder)
    return phase.stats(duration_s=duration_s, complete=True)


def test_percentiles_within_the_histogram_resolution() -> None:
    histogram = hdr.new()
    for us in range(1, 100_001):
        hdr.record(histogram, us)
    summary = hdr.summarize(histogram)
    assert summary.count == 100_000
    for value, exact in ((summary.p50_us, 50_000), (summary.p99_us, 99_000), (summary.p999_us, 99_900)):
        assert value == pytest.approx(exact, rel=0.001)
    assert summary.max_us == pytest.approx(100_000, rel=0.001)


def test_values_beyond_the_range_are_clamped_not_lost() -> None:
    histogram = hdr.new()
    hdr.record(histogram, 10 * hdr.HIGHEST_US)
    assert histogram.get_total_count() == 1


def test_merging_encoded_histograms_equals_recording_everything_once() -> None:
    rng = random.Random(1)
    parts = [[int(rng.expovariate(1 / 500)) + 1 for _ in range(5000)] for _ in range(4)]
    together = hdr.new()
    encoded = []
    for part in parts:
        histogram = hdr.new()
        for value in part:
            hdr.record(histogram, value)
            hdr.record(together, value)
        encoded.append(hdr.encode(histogram))
    assert hdr.summarize(hdr.merge(encoded)) == hdr.summarize(together)


def test_merged_percentiles_are_not_averaged_percentiles() -> None:
    fast, slow = [100] * 990, [100] * 900 + [10_000] * 100
    phase = merge_phases(
        [
            _stats(_recorder(fast), 1.0),
            _stats(_recorder(slow), 1.0),
        ],
        duration_s=2.0,
        concurrent=False,
    )
    p99 = phase.ops_by_type["read"].latency.summary.p99_us
    assert p99 == pytest.approx(10_000, rel=0.001)  # the mean of the two p99s would say about 5 ms


def test_phase_counts_errors_apart_and_scrubs_their_messages() -> None:
    phase = Phase("run")
    phase.add_recorder(_recorder([100] * 10, errors=3))
    phase.add_recorder(_recorder([200] * 10, op="update"))
    stats = phase.stats(duration_s=2.0, complete=True)
    assert (stats.ops, stats.errors, stats.throughput) == (20, 3, 10.0)
    read = stats.ops_by_type["read"]
    assert (read.count, read.errors, read.error_types) == (10, 3, {"ConnectionError": 3})
    assert "hunter2" not in read.first_errors["ConnectionError"]
    assert read.latency.summary.count == 10  # failed operations stay out of the latency histogram
    assert stats.latency is not None and stats.latency.summary.count == 20


def test_processes_add_throughput_and_rounds_average_it() -> None:
    one = _stats(_recorder([100] * 100), 1.0)
    side_by_side = merge_phases([one, one], duration_s=1.0, concurrent=True)
    one_after_another = merge_phases([one, one], duration_s=2.0, concurrent=False)
    assert (side_by_side.ops, side_by_side.throughput) == (200, 200.0)
    assert (one_after_another.ops, one_after_another.throughput) == (200, 100.0)
