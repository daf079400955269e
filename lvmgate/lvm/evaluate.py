"""Metrics shared by the model and the baselines, on the same windows, computed the same way.

For each predictor (lvmgate.lvm.predictor: contexts (b, w, dim) -> predictions (b, dim)) over a validation split:
- cosine: mean cos(pred, next chunk);
- next_vs_context: mean of cos(pred, next) - max_j cos(pred, context_j). A copy of any context
  vector scores about cos(next, that vector) - 1, far below zero; only a prediction nearer the next
  chunk than to everything it was shown is positive;
- hit@k: the true next chunk among the top k of ALL rows of the vector bank (the plan's "Recall@k":
  with one relevant row per query, recall@k and hit@k coincide; lvmgate calls it hit@k everywhere and
  keeps recall@k for graded relevance). Each query's target gets its rank, the number of bank rows
  scoring strictly higher (ties within 1e-5 favour the target), so hit@k is mean(rank < k) for every
  k at once. This takes one pass over the bank, in blocks, for all
  predictors together: a float32 GEMM per (query block, bank block). Context rows stay candidates,
  since a copy of the input is a wrong answer;
- next-concept metrics of Meta's Large Concept Model paper (arXiv 2412.08821, section 2.4.1), for
  comparison with it: `l2` to the true next vector; `round_trip_l2`, encode(decode(pred)) vs the true
  next vector with the nearest decoder (decoding to the top-1 bank row, whose vector is the text's
  encoding); `contrastive_accuracy` (CA), the share of bank rows farther from the prediction than the
  true next, leaving out the true next and its two bank neighbours (0.5 is chance, 1 is perfect;
  "farther" by cosine, which is l2 on unit vectors), on the ranked windows like hit@k; and
  `paraphrase_ratio` (PAR), mean_w max_j cos(pred, context_j) / mean_w max_j cos(next, context_j):
  above 1 the prediction sits closer to what the model was shown than the truth does (copy-last
  scores 1 / mean max cos(next, context): 1.69-1.76 on real text). Published Base-LCM on Wikipedia-en: l2 0.229, CA 69.6%,
  PAR 1.770; diffusion LCMs CA 79-81%;
- margins between predictors, per window and paired, with article-cluster bootstrap intervals:
  windows of one article are correlated, so the bootstrap resamples articles, not windows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lvmgate.errors import InputError
from lvmgate.io import as_read_back, read_json, to_jsonable, write_json, write_npz
from lvmgate.lvm.predictor import Predictor, as_predictor
from lvmgate.results import Estimate, Result
from lvmgate.sequences.loader import SequenceSet
from lvmgate.stats import cluster_mean

EVAL_FORMAT = "lvmgate.lvm-evaluation/3"  # /2: per-k hit rates under "hit"; /3: next-concept metrics
TIE_TOLERANCE = 1e-5  # float32 GEMM vs direct dot products differ by ~1e-7 on unit vectors


def _unit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised float32 copy and a mask of usable rows (finite, non-zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    ok = np.isfinite(norms[..., 0]) & (norms[..., 0] > 0)
    out = np.divide(x, norms, out=np.zeros_like(x), where=ok[..., None])
    return out, ok


def window_scores(pred: np.ndarray, context: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos(pred, next), cos(pred, next) - max_j cos(pred, context_j)) per window, float64 (b,)."""
    p, _ = _unit(pred)  # (b, dim)
    t, _ = _unit(target)  # (b, dim)
    c, _ = _unit(context)  # (b, w, dim)
    cos_next = np.einsum("bd,bd->b", p, t, dtype=np.float64)
    cos_ctx = np.einsum("bd,bwd->bw", p, c, dtype=np.float64)  # (b, w)
    return cos_next, cos_next - cos_ctx.max(axis=1)


def full_bank_ranks(
    queries: np.ndarray,
    target_rows: np.ndarray,
    bank: np.ndarray,
    *,
    bank_block: int = 16384,
    query_block: int = 2048,
    top1: np.ndarray | None = None,
) -> np.ndarray:
    """(q,) rank of each query's target row among all bank rows by cosine (0 = best).

    The rank is the number of rows scoring more than TIE_TOLERANCE above the target. Bank rows are
    read once, block by block (a memmap is fine). Zero or non-finite rows never score.
    A zero or non-finite query, or target row, ranks last (n_rows). `top1` (q,) int64, when given,
    receives each query's best-scoring row in the same pass (the nearest decoder's answer).
    """
    q, q_ok = _unit(queries)  # (q, dim)
    target_rows = np.asarray(target_rows, dtype=np.int64)
    uniq, inv = np.unique(target_rows, return_inverse=True)
    tv, t_ok = _unit(np.asarray(bank[uniq]))  # (u, dim) one sorted read
    t_score = np.einsum("qd,qd->q", q, tv[inv])  # (q,) the target's own score
    ranks = np.zeros(len(q), dtype=np.int64)
    best = np.full(len(q), -np.inf, dtype=np.float32)
    n = int(bank.shape[0])
    for lo in range(0, n, bank_block):
        rows, ok = _unit(np.asarray(bank[lo : lo + bank_block]))  # (m, dim)
        for qlo in range(0, len(q), query_block):
            s = q[qlo : qlo + query_block] @ rows.T  # (qb, m) float32 GEMM
            s[:, ~ok] = -np.inf
            ranks[qlo : qlo + query_block] += np.count_nonzero(
                s > (t_score[qlo : qlo + query_block, None] + TIE_TOLERANCE), axis=1
            )
            if top1 is not None and s.shape[1]:
                arg = s.argmax(axis=1)  # (qb,)
                val = s[np.arange(len(s)), arg]
                better = val > best[qlo : qlo + query_block]
                best[qlo : qlo + query_block][better] = val[better]
                top1[qlo : qlo + query_block][better] = lo + arg[better]
    ranks[~q_ok | ~t_ok[inv]] = n  # nothing to find, or nothing to find it with
    return ranks


# -- evaluation of several predictors on one split ---------------------------------------------------
NEXT_CONCEPT = ("l2", "round_trip_l2", "contrastive_accuracy", "paraphrase_ratio")


def max_context_cosine(vectors: np.ndarray, context: np.ndarray) -> np.ndarray:
    """(b,) max_j cos(vectors_b, context_bj), float64."""
    v, _ = _unit(vectors)  # (b, dim)
    c, _ = _unit(context)  # (b, w, dim)
    return np.einsum("bd,bwd->bw", v, c, dtype=np.float64).max(axis=1)


def contrastive_accuracy(
    queries: np.ndarray, target_rows: np.ndarray, ranks: np.ndarray, bank: np.ndarray
) -> np.ndarray:
    """(q,) share of bank rows farther (by cosine) from each query than its target row, leaving out
    the target and its bank neighbours (rows t-1 and t+1, the LCM paper's "two neighbours"); `ranks`
    from `full_bank_ranks` on the same queries. 0.5 is chance; a query that ranks last scores 0."""
    q, _ = _unit(queries)  # (q, dim)
    n = int(bank.shape[0])
    t = np.asarray(target_rows, dtype=np.int64)
    t_score = np.einsum("qd,qd->q", q, _unit(np.asarray(bank[t]))[0])
    above = np.asarray(ranks, dtype=np.float64).copy()
    left_out = np.zeros(len(t))
    for step in (-1, 1):
        nb = t + step
        inside = (nb >= 0) & (nb < n)
        rows, ok = _unit(np.asarray(bank[np.clip(nb, 0, n - 1)]))
        s = np.einsum("qd,qd->q", q, rows)
        above -= inside & ok & (s > t_score + TIE_TOLERANCE)  # a neighbour above the target: not counted
        left_out += inside
    others = np.maximum(n - 1 - left_out, 1)
    return np.clip(1.0 - above / others, 0.0, 1.0)


def next_concept_metrics(
    scores: dict[str, np.ndarray], article: np.ndarray, ranked: np.ndarray, *, resamples: int, seed: int
) -> dict[str, Estimate]:
    """The LCM paper's l2, round-trip l2, CA and PAR from one predictor's per-window scores, with
    article-bootstrap intervals (PAR is a ratio of means: articles resampled for both together)."""
    from lvmgate.stats import cluster_bootstrap_ratio, cluster_sums

    both, _ = cluster_sums(np.stack([scores["max_ctx_pred"], scores["max_ctx_next"]], axis=1), article)
    num, den = both[:, 0], both[:, 1]  # per article, windows with both values finite
    return {
        "l2": cluster_mean(scores["l2"], article, resamples=resamples, seed=seed),
        "round_trip_l2": cluster_mean(
            scores["round_trip_l2"], article[ranked], resamples=resamples, seed=seed
        ),
        "contrastive_accuracy": cluster_mean(
            scores["contrastive"], article[ranked], resamples=resamples, seed=seed
        ),
        "paraphrase_ratio": cluster_bootstrap_ratio(num, den, resamples=resamples, seed=seed),
    }


@dataclass(frozen=True)
class PredictorMetrics(Result):
    """One predictor on one split: headline numbers with article-bootstrap intervals."""

    cosine: Estimate
    next_vs_context: Estimate
    hit: dict[str, Estimate]  # "1", "5", "10" -> hit@k over the full bank
    median_rank: float
    l2: Estimate | None = None  # next-concept metrics (LCM paper, see the module docstring)
    round_trip_l2: Estimate | None = None
    contrastive_accuracy: Estimate | None = None
    paraphrase_ratio: Estimate | None = None


@dataclass(frozen=True)
class Evaluation(Result):
    """Every predictor on the same windows; per-window scores kept (not serialised) for margins."""

    n_windows: int
    n_articles: int
    n_recall_windows: int  # windows ranked against the bank (all, or whole articles up to a cap)
    n_recall_articles: int
    bank_rows: int
    ks: tuple[int, ...]
    metrics: dict[str, PredictorMetrics]
    resamples: int = 1000
    seed: int = 0
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)
    article: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)
    recall_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False, compare=False)

    _hidden_fields = ("scores", "article", "recall_mask")

    def to_dict(self) -> dict:  # arrays stay out of JSON (and are never converted to lists)
        return {
            f.name: to_jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in self._hidden_fields
        }

    def margin(self, a: str, b: str, metric: str = "cosine") -> Estimate:
        """mean(metric of a - metric of b) over the same windows, paired, articles resampled.

        metric: "cosine", "next_vs_context" or "hit@K".
        """
        if metric.startswith("hit@"):
            k = int(metric.split("@", 1)[1])
            va = (self.scores[a]["rank"] < k).astype(np.float64)
            vb = (self.scores[b]["rank"] < k).astype(np.float64)
            arts = self.article[self.recall_mask]
        else:
            va, vb, arts = self.scores[a][metric], self.scores[b][metric], self.article
        return cluster_mean(va - vb, arts, resamples=self.resamples, seed=self.seed)

    def merged(self, other: Evaluation) -> Evaluation:
        """Both evaluations' predictors together (same windows, same recall selection)."""
        same = (
            self.n_windows == other.n_windows
            and np.array_equal(self.article, other.article)
            and np.array_equal(self.recall_mask, other.recall_mask)
            and self.bank_rows == other.bank_rows
        )
        if not same:
            raise ValueError("evaluations are over different windows; evaluate them together")
        return dataclasses.replace(
            self, metrics={**self.metrics, **other.metrics}, scores={**self.scores, **other.scores}
        )

    def save(self, path: str | os.PathLike, extra: dict | None = None) -> Path:
        """PATH.json (metrics, `extra`) and PATH.npz (per-window scores), each atomically, npz first."""
        path = Path(path)
        arrays = {f"{name}.{k}": v for name, d in self.scores.items() for k, v in d.items()}
        write_npz(path.with_suffix(".npz"), article=self.article, recall_mask=self.recall_mask, **arrays)
        return write_json(
            path.with_suffix(".json"), {"format": EVAL_FORMAT, **(extra or {}), "evaluation": self.to_dict()}
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple[Evaluation, dict]:
        """An evaluation written by `save` and the extra keys saved with it."""
        path = Path(path)
        data = read_json(path.with_suffix(".json"))
        if not isinstance(data, dict) or data.get("format") != EVAL_FORMAT:
            raise InputError(f"{path}: not an lvmgate evaluation ({EVAL_FORMAT})")
        try:
            with np.load(path.with_suffix(".npz"), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"{path.with_suffix('.npz')}: unreadable ({exc})") from None
        e = data["evaluation"]
        scores: dict[str, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            if "." in key:
                name, metric = key.rsplit(".", 1)
                scores.setdefault(name, {})[metric] = value
        metrics = {
            name: PredictorMetrics(
                cosine=Estimate.from_dict(m["cosine"]),
                next_vs_context=Estimate.from_dict(m["next_vs_context"]),
                hit={k: Estimate.from_dict(v) for k, v in m["hit"].items()},
                median_rank=float("nan") if m["median_rank"] is None else m["median_rank"],
                **{k: Estimate.from_dict(m[k]) for k in NEXT_CONCEPT if m.get(k) is not None},
            )
            for name, m in e["metrics"].items()
        }
        ev = cls(
            **{
                k: e[k]
                for k in ("n_windows", "n_articles", "n_recall_windows", "n_recall_articles", "bank_rows")
            },
            ks=tuple(e["ks"]),
            metrics=metrics,
            resamples=e["resamples"],
            seed=e["seed"],
            scores=scores,
            article=arrays["article"],
            recall_mask=arrays["recall_mask"],
        )
        return ev, {k: v for k, v in data.items() if k not in ("format", "evaluation")}


def cached_evaluation(
    path: str | os.PathLike | None,
    key: dict,
    compute: Callable[[], tuple[Evaluation, dict]],
    *,
    reuse: bool = True,
) -> tuple[Evaluation, dict]:
    """(evaluation, extra): the Evaluation saved at `path` (PATH.json + PATH.npz) when it was made
    under the same `key`, else `compute()` -> (evaluation, extra) saved with the key. The one cache
    of evaluations (baselines, grid runs); `path` None computes without caching, and a folder that
    cannot be written is evaluated, just not cached."""
    key = as_read_back(key)
    if path is not None and reuse and Path(path).with_suffix(".json").is_file():
        with contextlib.suppress(InputError, KeyError, TypeError, ValueError):
            ev, extra = Evaluation.load(path)
            if extra.get("key") == key:
                return ev, extra
    ev, extra = compute()
    extra = {**extra, "key": key}
    if path is not None:
        with contextlib.suppress(OSError):
            ev.save(path, extra)
    return ev, extra


def recall_selection(article: np.ndarray, max_windows: int | None, seed: int = 0) -> np.ndarray:
    """(N,) mask of windows to rank: all, or whole articles in seeded random order up to max_windows."""
    n = len(article)
    if max_windows is None or n <= max_windows:
        return np.ones(n, dtype=bool)
    uniq, counts = np.unique(article, return_counts=True)
    perm = np.random.default_rng([seed, 23]).permutation(len(uniq))
    upto = int(np.searchsorted(np.cumsum(counts[perm]), max_windows)) + 1
    return np.isin(article, uniq[perm[:upto]])


def evaluate_predictors(
    predictors: dict[str, Predictor | Callable[[np.ndarray], np.ndarray]],
    val: SequenceSet,
    *,
    ks: tuple[int, ...] = (1, 5, 10),
    max_recall_windows: int | None = 5000,
    batch_size: int = 1024,
    resamples: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Run every predictor (a Predictor, a torch module or a function) over `val` in order (no
    augmentation) and score them identically."""
    predictors = {name: as_predictor(p, name) for name, p in predictors.items()}
    bank = val._need_bank()
    n = len(val)
    mask = recall_selection(val.article, max_recall_windows, seed)
    per_window = ("cosine", "next_vs_context", "l2", "max_ctx_pred", "max_ctx_next")
    scores = {name: {k: np.empty(n) for k in per_window} for name in predictors}
    queries: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    for lo in range(0, n, batch_size):
        idx = np.arange(lo, min(n, lo + batch_size))
        ctx, tgt = val.gather(idx)  # (b, w, dim), (b, dim)
        for name, predict in predictors.items():
            pred = np.asarray(predict.predict(ctx), dtype=np.float32)  # (b, dim)
            cos, nvc = window_scores(pred, ctx, tgt)
            scores[name]["cosine"][idx] = cos
            scores[name]["next_vs_context"][idx] = nvc
            scores[name]["l2"][idx] = np.linalg.norm(pred.astype(np.float64) - tgt, axis=1)
            scores[name]["max_ctx_pred"][idx] = cos - nvc  # max_j cos(pred, context_j)
            scores[name]["max_ctx_next"][idx] = max_context_cosine(tgt, ctx)
            queries[name].append(pred[mask[idx]])
    targets = val.target[mask]
    names = list(predictors)
    stacked = np.concatenate([np.concatenate(queries[name]) for name in names])  # (P * r, dim)
    top1 = np.zeros(len(stacked), dtype=np.int64)
    ranks = full_bank_ranks(stacked, np.tile(targets, len(names)), bank, top1=top1)
    r = len(targets)
    metrics = {}
    for i, name in enumerate(names):
        rank = ranks[i * r : (i + 1) * r]
        scores[name]["rank"] = rank
        part = slice(i * r, (i + 1) * r)
        scores[name]["contrastive"] = contrastive_accuracy(stacked[part], targets, rank, bank)
        scores[name]["round_trip_l2"] = np.linalg.norm(
            np.asarray(bank[top1[part]], np.float64) - np.asarray(bank[targets], np.float64), axis=1
        )
        metrics[name] = PredictorMetrics(
            cosine=cluster_mean(scores[name]["cosine"], val.article, resamples=resamples, seed=seed),
            next_vs_context=cluster_mean(
                scores[name]["next_vs_context"], val.article, resamples=resamples, seed=seed
            ),
            hit={
                str(k): cluster_mean(
                    (rank < k).astype(np.float64), val.article[mask], resamples=resamples, seed=seed
                )
                for k in ks
            },
            median_rank=float(np.median(rank)) if r else float("nan"),
            **next_concept_metrics(scores[name], val.article, mask, resamples=resamples, seed=seed),
        )
    return Evaluation(
        n_windows=n,
        n_articles=len(np.unique(val.article)),
        n_recall_windows=r,
        n_recall_articles=len(np.unique(val.article[mask])),
        bank_rows=int(bank.shape[0]),
        ks=tuple(ks),
        metrics=metrics,
        resamples=resamples,
        seed=seed,
        scores=scores,
        article=val.article.copy(),
        recall_mask=mask,
    )
