"""Bootstrap intervals: coverage, pairing, cluster pooling, degenerate inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmgate.stats import (
    PairedBootstrap,
    bootstrap_mean,
    bootstrap_statistic,
    cluster_bootstrap_ratio,
    cluster_mean,
    cluster_ratio_samples,
    cluster_sums,
    paired_difference,
)


def test_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    for trial in range(200):
        x = rng.exponential(2.0, size=80)
        e = bootstrap_mean(x, resamples=400, seed=trial)
        hits += e.low <= 2.0 <= e.high
    assert 0.88 <= hits / 200 <= 0.99


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=60), st.integers(0, 10**6))
@settings(max_examples=60, deadline=None)
def test_point_inside_interval_and_bounds(values, seed):
    e = bootstrap_mean(np.array(values), resamples=200, seed=seed)
    assert min(values) - 1e-12 <= e.low <= e.high <= max(values) + 1e-12
    assert e.n == len(values)


def test_cluster_ratio_resamples_clusters_not_items():
    # two kinds of clusters: the interval must reflect between-cluster spread
    sums = np.array([10.0] * 50 + [0.0] * 50)
    counts = np.full(100, 10.0)
    e = cluster_bootstrap_ratio(sums, counts, resamples=500)
    assert e.value == 0.5 and e.low < 0.45 and e.high > 0.55 and e.n == 100


def test_pooling_beyond_max_units_keeps_the_interval_width():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 30, size=20000).astype(float)
    sums = counts * rng.normal(0.4, 0.2, size=counts.size)
    full = cluster_ratio_samples(sums, counts, 300, np.random.default_rng(1), max_units=10**9)
    pooled = cluster_ratio_samples(sums, counts, 300, np.random.default_rng(1), max_units=2000)
    assert abs(np.std(full) - np.std(pooled)) / np.std(full) < 0.25
    assert abs(np.mean(full) - np.mean(pooled)) < 3 * np.std(full)


def test_paired_statistic_on_identical_arrays_has_zero_width():
    x = np.random.default_rng(0).normal(size=100)
    e = bootstrap_statistic(lambda a, b: float(np.mean(a - b)), x, x, resamples=100)
    assert e.value == e.low == e.high == 0.0


def test_empty_and_single():
    assert np.isnan(bootstrap_mean(np.array([])).value)
    one = bootstrap_mean(np.array([3.0]))
    assert one.value == one.low == one.high == 3.0


def test_paired_bootstrap_is_paired_and_resamples_articles():
    rng = np.random.default_rng(0)
    art = np.repeat(np.arange(40), 5)
    a = rng.normal(size=200)
    boot = PairedBootstrap(art, 500, seed=1)
    assert boot.k == 40 and boot.weights.shape == (500, 40) and (boot.weights.sum(axis=1) == 40).all()
    same = boot.estimate(0.0, boot.mean_samples(a) - boot.mean_samples(a))
    assert same.low == same.high == 0.0  # the same items resampled together: no spread at all
    shifted = boot.estimate(0.1, boot.mean_samples(a + 0.1) - boot.mean_samples(a))
    assert shifted.low == pytest.approx(0.1) and shifted.high == pytest.approx(0.1)
    # two separate intervals of the same means would overlap widely; the paired difference does not
    assert boot.mean(a).high - boot.mean(a).low > 0.1


def test_cluster_sums_leave_out_non_finite_items_and_keep_columns_aligned():
    art = np.array(["b", "a", "b", "a", "c"])
    sums, counts = cluster_sums(np.array([1.0, 2.0, np.nan, 4.0, 5.0]), art)
    assert sums.tolist() == [6.0, 1.0, 5.0] and counts.tolist() == [2.0, 1.0, 1.0]  # a, b, c
    table, counts2 = cluster_sums(np.array([[1, 1], [2, 1], [3, np.inf], [4, 1], [5, 1]], float), art)
    assert table.tolist() == [[6.0, 2.0], [1.0, 1.0], [5.0, 1.0]] and counts2.tolist() == [2.0, 1.0, 1.0]


def test_cluster_mean_and_paired_difference_resample_articles():
    rng = np.random.default_rng(3)
    art = np.repeat(np.arange(30), 4)
    a = rng.normal(size=120) + np.repeat(rng.normal(size=30), 4)  # article effects: items correlate
    est = cluster_mean(a, art, resamples=400, seed=2)
    assert est.n == 30 and est.low < est.value < est.high and est.value == pytest.approx(a.mean())
    same = paired_difference(a, a, art, resamples=200)
    assert same.value == same.low == same.high == 0.0
    up = paired_difference(a + 0.5, a, art, resamples=200)
    assert up.low == pytest.approx(0.5) and up.high == pytest.approx(0.5)
