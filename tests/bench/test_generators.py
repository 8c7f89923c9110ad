"""Key choosers: YCSB's distributions, reproducible from a seed."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from dbplex.bench import generators as g
from dbplex.bench import stream, workload

N = 20_000


def _fnv1a_reference(n: int) -> int:
    """FNV-1a 64 over the 8 little-endian bytes of ``n``, then Java's Math.abs of the signed result."""
    digest = 0xCBF29CE484222325
    for byte in n.to_bytes(8, "little"):
        digest = ((digest ^ byte) * 0x100000001B3) % (1 << 64)
    signed = digest - (1 << 64) if digest >= 1 << 63 else digest
    return abs(signed)


def test_fnv_hash_gives_ycsb_key_names() -> None:
    assert all(g.fnv64(n) == _fnv1a_reference(n) for n in (0, 1, 255, 256, 123_456_789, 2**40 + 7))
    assert all(0 <= g.fnv64(n) < 1 << 63 for n in range(1000))
    assert len({g.fnv64(n) for n in range(10_000)}) == 10_000
    assert g.key_name(7, hashed=False, zeropadding=4) == "user0007"
    assert g.key_name(7, hashed=True, zeropadding=1) == f"user{g.fnv64(7)}"


def test_zeta_by_euler_maclaurin_matches_the_direct_sum() -> None:
    n, theta = 200_000, 0.99
    direct = math.fsum(i**-theta for i in range(1, n + 1))
    assert g.zeta(n, theta) == pytest.approx(direct, rel=1e-12)


def test_zeta_continues_from_a_partial_sum() -> None:
    assert g.zeta(1500, 0.99, 1000, g.zeta(1000, 0.99)) == pytest.approx(g.zeta(1500, 0.99), rel=1e-12)


def _zipf_probability(rank: int, items: int, theta: float = g.ZIPFIAN_CONSTANT) -> float:
    return (1 / rank**theta) / g.zeta(items, theta)


def test_zipfian_follows_the_zipf_law_at_the_head() -> None:
    rng = random.Random(1)
    chooser = g.Zipfian(0, 1000)
    counts = Counter(chooser.next(rng) for _ in range(N))
    for rank in (1, 2):  # the generator is exact for the two most popular items
        assert counts[rank - 1] / N == pytest.approx(_zipf_probability(rank, 1000), abs=0.01)
    assert counts[0] > counts[1] > counts[10] > counts[500]
    assert all(0 <= k < 1000 for k in counts)


def test_zipfian_item_count_can_grow() -> None:
    rng = random.Random(2)
    chooser = g.Zipfian(0, 10)
    assert max(chooser.next(rng) for _ in range(2000)) <= 9
    values = [chooser.next(rng, 1000) for _ in range(5000)]
    assert max(values) > 9 and max(values) < 1000
    assert chooser.zetan == pytest.approx(g.zeta(1000, g.ZIPFIAN_CONSTANT), rel=1e-12)


def test_scrambled_zipfian_is_skewed_but_spreads_hot_keys() -> None:
    rng = random.Random(3)
    chooser = g.ScrambledZipfian(100, 1000)
    counts = Counter(chooser.next(rng) for _ in range(N))
    assert all(100 <= k < 1100 for k in counts)
    hottest = [k for k, _ in counts.most_common(10)]
    assert counts.most_common(1)[0][1] / N > 0.03  # far above uniform's 0.001
    assert hottest != sorted(hottest) or max(hottest) - min(hottest) > 100  # not clustered at the start


def test_uniform_is_flat() -> None:
    rng = random.Random(4)
    counts = Counter(g.Uniform(0, 9).next(rng) for _ in range(N))
    assert set(counts) == set(range(10))
    assert all(abs(c / N - 0.1) < 0.02 for c in counts.values())


def test_hotspot_sends_the_hot_share_to_the_hot_set() -> None:
    rng = random.Random(5)
    chooser = g.Hotspot(0, 999, hot_data=0.2, hot_ops=0.8)
    values = [chooser.next(rng) for _ in range(N)]
    hot = sum(1 for v in values if v < 200) / N
    assert hot == pytest.approx(0.8, abs=0.02)
    assert min(values) == 0 and max(values) > 900


def test_discrete_respects_weights_and_skips_zero() -> None:
    rng = random.Random(6)
    chooser = g.Discrete([(0, 0.5), (1, 0.0), (2, 0.5)])
    counts = Counter(chooser.next(rng) for _ in range(N))
    assert set(counts) == {0, 2}
    assert counts[0] / N == pytest.approx(0.5, abs=0.02)


def test_insert_counter_makes_keys_readable_only_when_all_before_are_acknowledged() -> None:
    counter = g.InsertCounter(100)
    assert counter.last == 99
    first, second, third = counter.next(), counter.next(), counter.next()
    counter.acknowledge(second)
    assert counter.last == 99
    counter.acknowledge(first)
    assert counter.last == 101
    counter.acknowledge(third)
    assert counter.last == 102


def test_insert_counter_interleaves_processes() -> None:
    counter = g.InsertCounter(1001, step=2)
    assert [counter.next() for _ in range(3)] == [1001, 1003, 1005]
    counter.acknowledge(1001)
    counter.acknowledge(1003)
    assert counter.last == 1003


def _ops(resolved: workload.Resolved, seed_thread: int, n: int = 500) -> list[stream.Planned]:
    w = resolved.workload
    ops = stream.OpStream(w, stream.insert_counter(w), stream.stream_rng(w.seed, "run", 0, seed_thread))
    return [ops.next() for _ in range(n)]


def test_a_seed_gives_the_same_operations_every_time() -> None:
    resolved = workload.load("a")
    assert _ops(resolved, 0) == _ops(resolved, 0)
    assert _ops(resolved, 0) != _ops(resolved, 1)
    assert _ops(workload.load("a", {"seed": "2"}), 0) != _ops(resolved, 0)


def test_operation_mix_follows_the_proportions() -> None:
    planned = _ops(workload.load("a"), 0, 4000)
    kinds = Counter(stream.OP_NAMES[kind] for kind, _, _ in planned)
    assert set(kinds) == {"read", "update"}
    assert kinds["read"] / 4000 == pytest.approx(0.5, abs=0.04)


def test_reads_only_touch_loaded_keys() -> None:
    resolved = workload.load("c", {"recordcount": "50"})
    loaded = set(stream.load_keys(resolved.workload, 0, 1))
    assert len(loaded) == 50
    assert all(args[1] in loaded for _, args, _ in _ops(resolved, 0, 2000))


def test_load_keys_are_shared_out_without_overlap() -> None:
    w = workload.load("a", {"recordcount": "103"}).workload
    parts = [stream.load_keys(w, p, 4) for p in range(4)]
    assert sum(len(p) for p in parts) == 103
    assert set().union(*map(set, parts)) == set(stream.load_keys(w, 0, 1))


def test_latest_favours_recent_inserts() -> None:
    w = workload.load("d", {"recordcount": "1000", "insertorder": "ordered"}).workload
    counter = stream.insert_counter(w)
    ops = stream.OpStream(w, counter, random.Random(7))
    ages = []
    for _ in range(5000):
        kind, args, inserted = ops.next()
        if kind == stream.INSERT:
            counter.acknowledge(inserted)
        else:
            ages.append(counter.last - int(args[1].removeprefix("user")))
    assert min(ages) == 0
    assert sum(1 for age in ages if age == 0) / len(ages) == pytest.approx(_zipf_probability(1, 1000), abs=0.03)
    assert sorted(ages)[len(ages) // 2] < 50  # half the reads go to the 50 newest of 1000+ records


def test_scan_lengths_stay_in_range_and_fields_follow_readallfields() -> None:
    resolved = workload.load("e", {"readallfields": "false"})
    for kind, args, _ in _ops(resolved, 0, 1000):
        if kind == stream.SCAN:
            _, _, length, fields = args
            assert 1 <= length <= 100
            assert fields is not None and len(fields) == 1


def test_values_have_the_field_layout() -> None:
    resolved = workload.load("a", {"fieldcount": "3", "fieldlength": "7", "writeallfields": "false"})
    for kind, args, _ in _ops(resolved, 0, 200):
        if kind == stream.UPDATE:
            values = args[2]
            assert len(values) == 1
            ((name, value),) = values.items()
            assert name in {"field0", "field1", "field2"} and len(value) == 7 and value.isprintable()
