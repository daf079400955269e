"""1.1 Sequential coherence: cosine of consecutive chunk vectors, inside articles only.

The plan's mean / high % / low % are reported with article-level (cluster) bootstrap intervals, and
beside them the numbers a mean alone cannot show:
- the null: the same cosine for random pairs of the same dataset, and the lift over it (an
  anisotropic embedding space makes every pair look "coherent");
- the decay curve cos(v_i, v_i+k), k = 1..K inside articles, and the order margin
  cos(lag 1) - cos(lag k): if chunk order was lost inside articles, neighbours are no closer than
  chunks k apart even though every same-article pair still looks topical;
- integrity of positions (duplicate / missing chunk_index) and invalid vectors (zero / NaN rows),
  which are reported and excluded, never averaged in silently;
- the worst pairs, for "investigate outliers".

Glossary: N rows (chunks) in canonical order, A articles, D dimensions, K = max lag.
All work is blockwise over the (N, D) bank: one pass over memory, pairs as index arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.criteria import Criterion
from lvmgate.metrics.duplicates import DuplicateResult
from lvmgate.results import Estimate, Result
from lvmgate.stats import cluster_ratio_samples, from_samples, mean_samples

HIST_EDGES = np.round(np.linspace(-1.0, 1.0, 81), 4)  # 0.025-wide bins


@dataclass(frozen=True)
class WorstPair(Result):
    pos_a: int  # canonical position of the first chunk (in the dataset)
    pos_b: int
    article_id: str
    chunk_a: int
    chunk_b: int
    cosine: float
    text_a: str | None = None
    text_b: str | None = None


@dataclass(frozen=True)
class CoherenceResult(Result):
    """Everything 1.1 reports; `to_dict()` is the artifact body."""

    n_articles: int
    n_chunks: int
    n_pairs: int  # valid consecutive pairs inside articles
    mean: Estimate
    median: float
    high_pct: Estimate
    low_pct: Estimate
    null_mean: Estimate
    null_median: float
    lift: Estimate
    decay: tuple[Estimate, ...]  # lag 1..K
    order_lag: int
    order_margin: Estimate  # cos(lag 1) - cos(lag order_lag), paired by article
    zero_rows: int
    nan_rows: int
    invalid_pct: Estimate
    pairs_excluded_invalid: int
    duplicate_positions: int  # rows whose chunk_index repeats the previous row's in its article
    position_gaps: int  # rows whose chunk_index skips ahead of the previous row's by > 1
    integrity_pct: Estimate
    high_pair: float
    low_pair: float
    histogram: dict = field(repr=False, default_factory=dict)
    worst_pairs: tuple[WorstPair, ...] = field(repr=False, default=())
    duplicates: DuplicateResult | None = None  # filled by lvmgate.validation (needs the texts)

    _hidden_fields = ("histogram", "worst_pairs")

    def criteria(self) -> list[Criterion]:
        """1.1's criteria (the duplicate-content one comes from lvmgate.metrics.duplicates)."""
        m = Criterion.measured
        if self.n_pairs == 0:
            why = (
                f"no valid consecutive pair inside an article among {self.n_chunks:,} chunks of "
                f"{self.n_articles:,} articles (single-chunk articles, or every vector invalid)"
            )
            pair_ids = ("1.1.mean_similarity", "1.1.high_coherence_pct", "1.1.low_coherence_pct")
            pair_ids += ("1.1.lift_over_random", "1.1.order_margin")
            out = [Criterion.not_measured(cid, why) for cid in pair_ids]
        else:
            where = f"{self.n_pairs:,} consecutive pairs in {self.n_articles:,} articles"
            out = [
                m("1.1.mean_similarity", self.mean, where),
                m(
                    "1.1.high_coherence_pct",
                    self.high_pct,
                    f"pairs with cosine >= {self.high_pair:g}; {where}",
                ),
                m("1.1.low_coherence_pct", self.low_pct, f"pairs with cosine < {self.low_pair:g}; {where}"),
                m("1.1.lift_over_random", self.lift, f"random pairs: {self.null_mean}"),
                m("1.1.order_margin", self.order_margin, f"k = {self.order_lag}")
                if self.order_margin.n
                else Criterion.not_measured(
                    "1.1.order_margin", f"no article has {self.order_lag + 1} or more valid chunks"
                ),
            ]
        out += [
            m(
                "1.1.order_integrity_pct",
                self.integrity_pct,
                f"{self.duplicate_positions} repeated, {self.position_gaps} skipped positions",
            ),
            m(
                "1.1.invalid_vectors_pct",
                self.invalid_pct,
                f"{self.zero_rows} zero rows, {self.nan_rows} NaN rows",
            ),
        ]
        if self.duplicates is None:
            out.append(Criterion.not_measured("1.1.duplicate_chunks_pct", "texts were not read"))
        else:
            out += self.duplicates.criteria()
        return out


def _lag_dots(
    bank: np.ndarray, rows: np.ndarray | None, lo: int, hi: int, n: int, lags: int
) -> tuple[np.ndarray, np.ndarray]:
    """Squared norms (b,) and lag dot products (lags, b) for local rows lo..hi-1 (b = hi - lo).

    Lag-k entries whose partner lies beyond the last row are NaN. Rows are read once; each small
    block stays in cache while its lags are computed.
    """
    end = min(n, hi + lags)
    block = np.asarray(bank[lo:end] if rows is None else bank[rows[lo:end]], dtype=np.float32)  # (b+K, D)
    b = hi - lo
    sq = np.vecdot(block[:b], block[:b])  # (b,)
    dots = np.full((lags, b), np.nan, dtype=np.float32)
    for k in range(1, lags + 1):
        m = min(b, len(block) - k)
        if m > 0:
            dots[k - 1, :m] = np.vecdot(block[:m], block[k : k + m])
    return sq, dots


def coherence(
    bank: np.ndarray,
    index: ArticleIndex,
    *,
    rows: np.ndarray | None = None,
    high_pair: float = 0.3,
    low_pair: float = 0.2,
    max_lag: int = 5,
    order_lag: int = 3,
    null_pairs: int = 20000,
    worst: int = 10,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    block_rows: int = 1024,
) -> CoherenceResult:
    """Coherence of the rows `index` describes; local row r is bank row `rows[r]` (identity if None)."""
    n = index.n_rows
    if rows is not None and len(rows) != n:
        raise ValueError("rows must map every row of the index")
    if not 1 <= order_lag <= max_lag:
        raise ValueError("order_lag must be between 1 and max_lag")
    article = index.article_of_row()  # (N,)
    a_count = index.n_articles
    ci = index.chunk_index
    # integrity of positions (chunk_index sorted inside articles by canonical order)
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = article[1:] == article[:-1]
    step = np.zeros(n, dtype=np.int64)
    step[1:] = ci[1:] - ci[:-1]
    duplicates = int(np.count_nonzero(same_prev & (step == 0)))
    gaps = int(np.count_nonzero(same_prev & (step > 1)))

    # streaming pass: per-article sums for every lag, high/low counts for lag 1, invalid rows
    lag_sum = np.zeros((a_count, max_lag))
    lag_cnt = np.zeros((a_count, max_lag))
    high_cnt = np.zeros(a_count)
    low_cnt = np.zeros(a_count)
    hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64)
    lag_dots = {k: np.full(max(n - k, 0), np.nan, dtype=np.float32) for k in range(1, max_lag + 1)}
    valid_row = np.zeros(n, dtype=bool)
    zero_rows = nan_rows = 0
    excluded = 0
    norms = np.zeros(n, dtype=np.float64)
    for lo in range(0, n, block_rows):
        hi = min(n, lo + block_rows)
        sq, dots = _lag_dots(bank, rows, lo, hi, n, max_lag)
        finite = np.isfinite(sq)
        nan_rows += int(np.count_nonzero(~finite))
        zero_rows += int(np.count_nonzero(sq == 0))
        valid_row[lo:hi] = finite & (sq > 0)
        norms[lo:hi] = np.sqrt(np.where(valid_row[lo:hi], sq, np.nan))
        for k in range(1, max_lag + 1):  # cosines need the partner's norm: divided after the pass
            top = min(hi, n - k)
            if top > lo:
                lag_dots[k][lo:top] = dots[k - 1, : top - lo]

    lag1_cos = None
    for k in range(1, max_lag + 1):
        d = lag_dots[k]
        if n <= k:
            continue
        pair_ok = (article[k:] == article[:-k]) & valid_row[:-k] & valid_row[k:]
        same_art = article[k:] == article[:-k]
        cos = d[: n - k].astype(np.float64) / (norms[:-k] * norms[k:])
        if k == 1:
            excluded = int(np.count_nonzero(same_art & ~pair_ok))
        art = article[:-k][pair_ok]
        c = cos[pair_ok]
        lag_sum[:, k - 1] = np.bincount(art, weights=c, minlength=a_count)
        lag_cnt[:, k - 1] = np.bincount(art, minlength=a_count)
        if k == 1:
            lag1_cos = c
            high_cnt = np.bincount(art, weights=(c >= high_pair), minlength=a_count)
            low_cnt = np.bincount(art, weights=(c < low_pair), minlength=a_count)
            hist = np.histogram(np.clip(c, -1, 1), bins=HIST_EDGES)[0]
            worst_pairs = _worst(c, np.flatnonzero(pair_ok), worst, index, article, rows)
    if lag1_cos is None:
        lag1_cos = np.zeros(0)
        worst_pairs = ()

    # null: random pairs of distinct valid rows anywhere in the sample
    rng = np.random.default_rng(seed)
    valid_idx = np.flatnonzero(valid_row)
    null_cos = np.zeros(0)
    if valid_idx.size >= 2:
        a = valid_idx[rng.integers(0, valid_idx.size, null_pairs)]
        b = valid_idx[rng.integers(0, valid_idx.size, null_pairs)]
        keep = a != b
        a, b = a[keep], b[keep]
        va = np.asarray(bank[a if rows is None else rows[a]], dtype=np.float64)
        vb = np.asarray(bank[b if rows is None else rows[b]], dtype=np.float64)
        null_cos = np.einsum("ij,ij->i", va, vb) / (norms[a] * norms[b])
    null_hist = np.histogram(np.clip(null_cos, -1, 1), bins=HIST_EDGES)[0]

    # bootstrap: articles resampled together for every article-level statistic (paired)
    brng = np.random.default_rng([seed, 1])
    stat_sums = np.column_stack([lag_sum, high_cnt, low_cnt])  # (A, K + 2)
    stat_cnts = np.column_stack([lag_cnt, lag_cnt[:, 0], lag_cnt[:, 0]])
    has_pairs = stat_cnts[:, 0] > 0
    point = _ratio(stat_sums, stat_cnts)
    samples = (
        cluster_ratio_samples(stat_sums[has_pairs], stat_cnts[has_pairs], resamples, brng)
        if has_pairs.sum() > 1
        else np.zeros((0, stat_sums.shape[1]))  # one article: no interval, the point stands alone
    )
    n_art = int(has_pairs.sum())
    null_samples = (
        mean_samples(null_cos, resamples, np.random.default_rng([seed, 2]))
        if null_cos.size > 1
        else np.zeros(0)
    )
    null_point = float(null_cos.mean()) if null_cos.size else float("nan")
    # order margin: only articles long enough to have a lag-`order_lag` pair contribute
    both = (lag_cnt[:, 0] > 0) & (lag_cnt[:, order_lag - 1] > 0)
    om_s = np.column_stack([lag_sum[both, 0], lag_sum[both, order_lag - 1]])
    om_c = np.column_stack([lag_cnt[both, 0], lag_cnt[both, order_lag - 1]])
    om_point = float(np.subtract(*_ratio(om_s, om_c))) if both.any() else float("nan")
    if both.sum() > 1:
        om = cluster_ratio_samples(om_s, om_c, resamples, np.random.default_rng([seed, 3]))
        order_margin = from_samples(om_point, om[:, 0] - om[:, 1], int(both.sum()), confidence=confidence)
    else:
        order_margin = Estimate(om_point, float("nan"), float("nan"), int(both.sum()))

    def est(col: int, scale: float = 1.0) -> Estimate:
        return from_samples(float(point[col]), samples[:, col], n_art, confidence=confidence, scale=scale)

    k = max_lag
    m = min(len(samples), len(null_samples))
    lift_samples = samples[:m, 0] - null_samples[:m]
    invalid = zero_rows + nan_rows
    return CoherenceResult(
        n_articles=a_count,
        n_chunks=n,
        n_pairs=int(lag1_cos.size),
        mean=est(0),
        median=float(np.median(lag1_cos)) if lag1_cos.size else float("nan"),
        high_pct=est(k, 100.0),
        low_pct=est(k + 1, 100.0),
        null_mean=from_samples(null_point, null_samples, int(null_cos.size), confidence=confidence),
        null_median=float(np.median(null_cos)) if null_cos.size else float("nan"),
        lift=from_samples(float(point[0]) - null_point, lift_samples, n_art, confidence=confidence),
        decay=tuple(est(j) for j in range(k)),
        order_lag=order_lag,
        order_margin=order_margin,
        zero_rows=zero_rows,
        nan_rows=nan_rows,
        invalid_pct=Estimate.exact(100.0 * invalid / max(n, 1), n),
        pairs_excluded_invalid=excluded,
        duplicate_positions=duplicates,
        position_gaps=gaps,
        integrity_pct=Estimate.exact(100.0 * (duplicates + gaps) / max(n, 1), n),
        high_pair=high_pair,
        low_pair=low_pair,
        histogram={"edges": HIST_EDGES.tolist(), "consecutive": hist.tolist(), "null": null_hist.tolist()},
        worst_pairs=worst_pairs,
    )


def _ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums.sum(axis=0) / counts.sum(axis=0)


def _worst(cos: np.ndarray, first: np.ndarray, k: int, index: ArticleIndex, article: np.ndarray, rows):
    """The k lowest-cosine consecutive pairs, with positions and chunk indices."""
    if cos.size == 0 or k <= 0:
        return ()
    k = min(k, cos.size)
    part = np.argpartition(cos, k - 1)[:k]
    take = part[np.argsort(cos[part], kind="stable")]
    out = []
    for t in take:
        i = int(first[t])
        pos_a = int(i if rows is None else rows[i])
        pos_b = int(i + 1 if rows is None else rows[i + 1])
        out.append(
            WorstPair(
                pos_a,
                pos_b,
                str(index.ids[article[i]]),
                int(index.chunk_index[i]),
                int(index.chunk_index[i + 1]),
                float(cos[t]),
            )
        )
    return tuple(out)
