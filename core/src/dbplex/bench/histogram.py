"""HdrHistograms of microseconds: recording, encoding, merging, percentiles.

The only module that imports ``hdrh`` (the ``hdrhistogram`` distribution, in ``dbplex[bench]``).
Memory per histogram is fixed (about 190 KiB at 3 significant digits up to an hour), whatever
the number of operations recorded.
"""

from __future__ import annotations

from collections.abc import Iterable

from dbplex.bench.results import Histogram, Summary
from dbplex.errors import DbplexError

try:
    from hdrh.histogram import HdrHistogram
except ImportError:  # pragma: no cover - depends on the installation
    raise DbplexError(
        "dbplex bench needs its extra: pip install 'dbplex[bench]' (hdrhistogram for latencies, matplotlib for plots)"
    ) from None

#: microseconds: from 1 µs to one hour, to 3 significant digits (0.1 % resolution).
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)

__all__ = ["HdrHistogram", "encode", "merge", "new", "record", "summarize", "to_data"]


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record(histogram: HdrHistogram, us: int) -> None:
    """Record ``us`` microseconds; anything beyond an hour counts as an hour rather than vanish."""
    histogram.record_value(us if us < HIGHEST_US else HIGHEST_US)


def encode(histogram: HdrHistogram) -> str:
    encoded: bytes = histogram.encode()
    return encoded.decode("ascii")


def merge(histograms: Iterable[HdrHistogram | str]) -> HdrHistogram:
    """One histogram holding every value of ``histograms`` (objects or encoded text)."""
    merged = new()
    for histogram in histograms:
        if isinstance(histogram, str):
            merged.decode_and_add(histogram)
        else:
            merged.add(histogram)
    return merged


def summarize(histogram: HdrHistogram) -> Summary:
    count = histogram.get_total_count()
    if not count:
        return Summary()
    values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
    return Summary(
        count=count,
        min_us=histogram.get_min_value(),
        mean_us=round(histogram.get_mean_value(), 1),
        p50_us=values[50.0],
        p90_us=values[90.0],
        p95_us=values[95.0],
        p99_us=values[99.0],
        p999_us=values[99.9],
        max_us=histogram.get_max_value(),
    )


def to_data(histogram: HdrHistogram) -> Histogram:
    """The stored form: summary plus encoding."""
    return Histogram(summary=summarize(histogram), encoded=encode(histogram))
