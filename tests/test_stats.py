"""Bootstrap intervals: coverage, pairing, cluster pooling, degenerate inputs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmgate.stats import bootstrap_mean, bootstrap_statistic, cluster_bootstrap_ratio, cluster_ratio_samples


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
