"""Bootstrap confidence intervals, the way every headline number in lvmgate gets its interval.

- `bootstrap_mean`: i.i.d. units (items, queries).
- `cluster_bootstrap_ratio`: per-cluster sums and counts (pairs inside articles are correlated, so
  articles are resampled, not pairs); the statistic is sum(sums) / sum(counts).
- `cluster_mean` / `paired_difference`: the mean of per-item values (or of a - b over the same
  items) with articles resampled; `cluster_sums` is the per-article table they resample.
- `PairedBootstrap`: one set of article resamples shared by many statistics (paired differences
  and ratios of anything summed per item, e.g. BLEU statistics).
- `bootstrap_statistic`: any function of one or more aligned arrays, resampled together (paired).
Percentile intervals, seeded, vectorised in blocks so that memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lvmgate.results import Estimate

DEFAULT_RESAMPLES = 1000


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN, NaN when there are none)."""
    samples = np.asarray(samples, dtype=np.float64)
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
    lo, hi = percentile_interval(samples, confidence)
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
    lo, hi = percentile_interval(means, confidence)
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
    lo, hi = percentile_interval(stats, confidence)
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
    lo, hi = percentile_interval(samples, confidence)
    return Estimate(point, lo, hi, n)


def cluster_sums(values: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts) per cluster of (n,) or (n, m) item values, clusters in sorted id order; items
    with a non-finite value (in any column) are left out of both."""
    values = np.asarray(values, dtype=np.float64)
    clusters = np.asarray(clusters)
    ok = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=1)
    _, inv = np.unique(clusters[ok], return_inverse=True)
    k = int(inv.max()) + 1 if inv.size else 0
    counts = np.bincount(inv, minlength=k).astype(np.float64)
    if values.ndim == 1:
        return np.bincount(inv, weights=values[ok], minlength=k), counts
    cols = [np.bincount(inv, weights=values[ok, j], minlength=k) for j in range(values.shape[1])]
    return np.stack(cols, axis=1).reshape(k, values.shape[1]), counts


def cluster_mean(
    values: np.ndarray, clusters: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:  # fmt: skip
    """Mean of the finite item values with an interval from resampling clusters (articles)."""
    sums, counts = cluster_sums(values, clusters)
    return cluster_bootstrap_ratio(sums, counts, resamples=resamples, seed=seed, confidence=confidence)


def paired_difference(
    a: np.ndarray, b: np.ndarray, clusters: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> Estimate:
    """mean(a - b) over the same items, interval from resampling clusters (a paired bootstrap)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return cluster_mean(diff, clusters, resamples=resamples, seed=seed)


class PairedBootstrap:
    """Replicates of statistics over items, with articles (clusters) resampled: the same resampled
    articles for every statistic, so differences and ratios are paired."""

    def __init__(self, clusters: np.ndarray, resamples: int, seed: int, confidence: float = 0.95):
        uniq, self.inv = np.unique(np.asarray(clusters), return_inverse=True)
        self.k = len(uniq)
        self.confidence = confidence
        rng = np.random.default_rng([int(seed), 23])
        b = max(0, int(resamples)) if self.k > 1 else 0
        self.weights = np.zeros((b, self.k))  # (B, k): how often each article is drawn
        for lo in range(0, b, 256):
            draw = rng.integers(0, self.k, size=(min(256, b - lo), self.k))
            rows = np.repeat(np.arange(draw.shape[0]), self.k)
            np.add.at(self.weights[lo : lo + draw.shape[0]], (rows, draw.ravel()), 1.0)
        self.counts = np.bincount(self.inv, minlength=self.k).astype(np.float64)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-article sums of (n,) or (n, m) item values."""
        values = np.asarray(values, dtype=np.float64)
        out = np.zeros((self.k, *values.shape[1:]))
        np.add.at(out, self.inv, values)
        return out

    def totals(self, values: np.ndarray) -> np.ndarray:
        """(B, ...) resampled totals of (n,) or (n, m) item values."""
        return self.weights @ self.sums(values)

    def estimate(self, point: float, samples: np.ndarray) -> Estimate:
        return from_samples(point, samples, self.k, confidence=self.confidence)

    def mean_samples(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.totals(values) / (self.weights @ self.counts)

    def mean(self, values: np.ndarray) -> Estimate:
        return self.estimate(float(np.mean(values)), self.mean_samples(values))
