"""IR metrics on ranked lists with graded relevance, latency percentiles, bootstrap summaries.

Per query, from its ranked rows (best first, -1 = empty slot) and its judged rows with grades:
- recall@k    = relevant rows (grade >= 1) in the top k / relevant rows judged
- precision@k = relevant rows in the top k / k            (k, not the number retrieved)
- mrr@k       = 1 / rank of the first relevant row in the top k, 0 if none
- ndcg@k      = DCG@k / ideal DCG@k, DCG = sum of grade / log2(rank + 1) (linear gains, trec_eval's
                convention; the ideal ranking puts every judged row in grade order)
- hit@k       = 1 if the query's target row (the self row, or the true next chunk) is in the top k
These are trec_eval's definitions (R@k, P@k, RR@k, nDCG@k, R(rel=3)@k in ir_measures); the tests
check them against ir_measures on the same runs. Summaries average over queries with intervals
from a bootstrap that resamples articles (queries from one article are not independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lvmgate.results import Estimate, Result
from lvmgate.stats import DEFAULT_RESAMPLES, cluster_mean

METRICS = ("recall", "precision", "mrr", "ndcg", "hit")


def gains_of(ranked: np.ndarray, rel_rows: np.ndarray, rel_grades: np.ndarray) -> np.ndarray:
    """(Q, k) grade of each ranked row (0 when not judged relevant or an empty slot)."""
    ranked = np.asarray(ranked, dtype=np.int64)  # (Q, k)
    rel_rows = np.asarray(rel_rows, dtype=np.int64)  # (Q, m), -1 padded
    rel_grades = np.asarray(rel_grades, dtype=np.int64)  # (Q, m)
    match = (ranked[:, :, None] == rel_rows[:, None, :]) & (ranked[:, :, None] >= 0)  # (Q, k, m)
    return (match * rel_grades[:, None, :]).max(axis=2, initial=0)


def ir_metrics(
    ranked: np.ndarray,
    rel_rows: np.ndarray,
    rel_grades: np.ndarray,
    k: int,
    *,
    target: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-query metric arrays {"recall@k", "precision@k", "mrr@k", "ndcg@k", "hit@k"}, each (Q,).

    `target` (Q,) defaults to each query's highest-graded judged row.
    """
    ranked = np.asarray(ranked, dtype=np.int64)[:, :k]  # (Q, k') with k' <= k
    rel_rows = np.asarray(rel_rows, dtype=np.int64)
    rel_grades = np.where(rel_rows >= 0, np.asarray(rel_grades, dtype=np.int64), 0)  # (Q, m)
    gains = gains_of(ranked, rel_rows, rel_grades)  # (Q, k')
    relevant = gains >= 1
    n_rel = (rel_grades >= 1).sum(axis=1)  # (Q,)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = relevant.sum(axis=1) / n_rel
    precision = relevant.sum(axis=1) / float(k)
    first = np.argmax(relevant, axis=1)  # (Q,) first relevant position (0 if none: masked below)
    mrr = np.where(relevant.any(axis=1), 1.0 / (first + 1.0), 0.0)
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))  # (k,)
    dcg = (gains * discount[: gains.shape[1]]).sum(axis=1)
    ideal = -np.sort(-rel_grades, axis=1)[:, :k]  # (Q, min(m, k)) grades, best first
    idcg = (ideal * discount[: ideal.shape[1]]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndcg = np.where(idcg > 0, dcg / idcg, np.nan)
    if target is None:
        target = np.take_along_axis(rel_rows, np.argmax(rel_grades, axis=1)[:, None], axis=1)[:, 0]
    hit = (ranked == np.asarray(target, dtype=np.int64)[:, None]).any(axis=1).astype(np.float64)
    return {
        f"recall@{k}": recall.astype(np.float64),
        f"precision@{k}": precision,
        f"mrr@{k}": mrr,
        f"ndcg@{k}": ndcg,
        f"hit@{k}": hit,
    }


@dataclass(frozen=True)
class Latency(Result):
    """Per-query latency percentiles in milliseconds (numpy's linear interpolation)."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float


def latency_summary(seconds: Sequence[float] | np.ndarray) -> Latency:
    """p50 / p95 / mean / max of per-query latencies given in seconds (NaN = not measured, skipped)."""
    s = np.asarray(seconds, dtype=np.float64) * 1000.0
    s = s[np.isfinite(s)]
    if s.size == 0:
        nan = float("nan")
        return Latency(0, nan, nan, nan, nan)
    p50, p95 = np.percentile(s, [50, 95])
    return Latency(int(s.size), float(p50), float(p95), float(s.mean()), float(s.max()))


def summarize(
    per_query: dict[str, np.ndarray],
    clusters: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Mean of each per-query metric with a 95% interval resampling clusters (articles); NaNs skipped."""
    clusters = np.asarray(clusters)
    return {
        name: cluster_mean(values, clusters, resamples=resamples, seed=seed + i)
        for i, (name, values) in enumerate(per_query.items())
    }
