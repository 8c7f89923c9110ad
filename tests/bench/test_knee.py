"""Knee detection and the pool-size recommendation."""

from __future__ import annotations

import pytest

from dbplex.bench.knee import knee, noise, recommend, rule_of_thumb


def test_knee_is_the_smallest_pool_near_the_best_throughput() -> None:
    curve = [(1, 1000.0), (2, 1900.0), (4, 3000.0), (8, 3100.0), (16, 3120.0), (32, 2900.0)]
    assert knee(curve, 0.05) == 4
    assert knee(curve, 0.01) == 8


def test_knee_ignores_the_order_points_come_in() -> None:
    assert knee([(8, 100.0), (1, 50.0), (4, 99.0)], 0.05) == 4


def test_throughput_that_falls_after_a_peak_puts_the_knee_at_or_before_the_peak() -> None:
    assert knee([(1, 10.0), (2, 20.0), (4, 40.0), (8, 25.0), (16, 15.0)], 0.05) == 4


def test_flat_curve_needs_one_connection() -> None:
    assert knee([(1, 100.0), (2, 101.0), (4, 99.0)], 0.05) == 1


def test_no_points_is_an_error() -> None:
    with pytest.raises(ValueError, match="no points"):
        knee([], 0.05)


def test_recommendation_serves_the_busiest_thread_count() -> None:
    assert recommend({1: 1, 8: 4, 32: 8}) == 8


def test_rule_of_thumb() -> None:
    assert rule_of_thumb(server_cores=4, spindles=1) == 9


def test_noise_is_the_typical_spread_of_rounds() -> None:
    spreads = [[100.0, 110.0, 90.0], [200.0, 200.0, 200.0], [50.0, 60.0, 55.0]]  # 20%, 0%, 18%
    assert noise(spreads) == pytest.approx(10 / 55)
    assert noise([[100.0]]) == 0.0  # one round says nothing about noise


def test_a_noisy_sweep_does_not_chase_differences_smaller_than_its_noise() -> None:
    curve = [(1, 900.0), (2, 950.0), (4, 1000.0)]
    assert knee(curve, 0.05) == 2
    assert knee(curve, max(0.05, noise([[850.0, 1000.0, 950.0]]))) == 1
