"""Bootstrap confidence intervals, the way every headline number in lvmgate gets its interval.

- `bootstrap_mean`: i.i.d. units (items, queries).
- `cluster_bootstrap_ratio`: per-cluster sums and counts (pairs inside articles are correlated, so
  articles are resampled, not pairs); the statistic is sum(sums) / sum(counts).
- `bootstrap_statistic`: any function of one or more aligned arrays, resampled together (paired).
Percentile intervals, seeded, vectorised in blocks so that memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lvmgate.results import Estimate

DEFAULT_RESAMPLES = 1000


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _index_blocks(n: int, resamples: int, rng: np.random.Generator, max_cells: int = 4_000_000):
    """Yield (b, n) index arrays for `resamples` resamples of n units, at most max_cells at a time."""
    per_block = max(1, max_cells // max(n, 1))
    done = 0
    while done < resamples:
        b = min(per_block, resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def from_samples(
    point: float, samples: np.ndarray, n: int, *, confidence: float = 0.95, scale: float = 1.0
) -> Estimate:
    """Estimate from a point value and its bootstrap replicates (percentile interval); with no
    replicates (resamples=0) the interval collapses to the point and the method says so."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        return Estimate(point * scale, point * scale, point * scale, n, "point")
    lo, hi = _percentiles(samples, confidence)
    return Estimate(point * scale, lo * scale, hi * scale, n)


def cluster_ratio_samples(
    sums: np.ndarray,
    counts: np.ndarray,
    resamples: int,
    rng: np.random.Generator,
    *,
    max_units: int = 4096,
) -> np.ndarray:
    """Replicates of sum(sums)/sum(counts) with clusters (rows) resampled.

    1-D inputs (k,) give (resamples,); 2-D inputs (k, m) are m ratios over the same resampled
    clusters (a paired bootstrap), giving (resamples, m). Beyond `max_units` clusters, clusters are
    first pooled at random into `max_units` groups (groups of i.i.d. clusters are i.i.d. too), which
    keeps a 1M-chunk bootstrap at a fraction of a second.
    """
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.broadcast_to(
        np.asarray(counts, dtype=np.float64).reshape(len(sums), -1)
        if sums.ndim == 2
        else np.asarray(counts, dtype=np.float64),
        sums.shape,
    )
    if len(sums) > max_units:
        group = rng.permutation(len(sums)) % max_units
        pooled_s = np.zeros((max_units, *sums.shape[1:]))
        pooled_c = np.zeros((max_units, *sums.shape[1:]))
        np.add.at(pooled_s, group, sums)
        np.add.at(pooled_c, group, counts)
        sums, counts = pooled_s, pooled_c
    width = 1 if sums.ndim == 1 else sums.shape[1]
    parts = [np.zeros((0, *sums.shape[1:]))]
    for idx in _index_blocks(len(sums), resamples, rng, max_cells=4_000_000 // width):
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append(sums[idx].sum(axis=1) / counts[idx].sum(axis=1))
    return np.concatenate(parts)


def mean_samples(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples,) bootstrap replicates of the mean of i.i.d. `values`."""
    values = np.asarray(values, dtype=np.float64).ravel()
    blocks = _index_blocks(values.size, resamples, rng)
    return np.concatenate([np.zeros(0), *(values[idx].mean(axis=1) for idx in blocks)])


def bootstrap_mean(
    values: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    scale: float = 1.0,
) -> Estimate:
    """Mean of `values` with a percentile bootstrap interval (times `scale`, e.g. 100 for %)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    n = values.size
    if n == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    point = float(values.mean())
    if n == 1 or resamples <= 0:
        return Estimate(point * scale, point * scale, point * scale, n)
    rng = np.random.default_rng(seed)
    means = np.concatenate([values[idx].mean(axis=1) for idx in _index_blocks(n, resamples, rng)])
    lo, hi = _percentiles(means, confidence)
    return Estimate(point * scale, lo * scale, hi * scale, n)


def cluster_bootstrap_ratio(
    sums: np.ndarray,
    counts: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    scale: float = 1.0,
) -> Estimate:
    """sum(sums)/sum(counts) with clusters (e.g. articles) resampled; n = number of clusters."""
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    keep = counts > 0
    sums, counts = sums[keep], counts[keep]
    k = sums.size
    if k == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    point = float(sums.sum() / counts.sum())
    if k == 1 or resamples <= 0:
        return Estimate(point * scale, point * scale, point * scale, k)
    rng = np.random.default_rng(seed)
    stats = np.concatenate(
        [sums[idx].sum(axis=1) / counts[idx].sum(axis=1) for idx in _index_blocks(k, resamples, rng)]
    )
    lo, hi = _percentiles(stats, confidence)
    return Estimate(point * scale, lo * scale, hi * scale, k)


def bootstrap_statistic(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """statistic(*arrays) with rows of all arrays resampled together (a paired bootstrap)."""
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("arrays must have the same length")
    if n == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    point = float(statistic(*arrays))
    if n == 1 or resamples <= 0:
        return Estimate(point, point, point, n)
    rng = np.random.default_rng(seed)
    samples = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, n, size=n)
        samples[i] = statistic(*(a[idx] for a in arrays))
    lo, hi = _percentiles(samples, confidence)
    return Estimate(point, lo, hi, n)
