"""Reconstruction metrics (plan 1.4 / 2.3): how close decoded text is to the chunk it came from.

All scores are on the plan's 0-1 scale and come with bootstrap 95% intervals over items.

- BLEU-1 / BLEU-4 (sacrebleu, tokenizer 13a, exp smoothing, effective order, one reference).
  *Corpus* BLEU is the headline (`bleu4`): n-gram statistics summed over items, then BLEU; its
  interval resamples items and recomputes corpus BLEU from their summed statistics. Effective order
  only matters when no item has an n-gram of some order (a corpus of 1-3 token texts), where plain
  corpus BLEU-4 would be 0; otherwise it equals sacrebleu's default `corpus_score`. *Sentence* BLEU
  (as sacrebleu's `sentence_bleu`) is reported per item and as a mean.
- Exact match: `normalize_text(decoded) == normalize_text(reference)`, where normalisation is
  Unicode NFKC, case folding, every punctuation character (Unicode category P*) replaced by a space,
  whitespace runs collapsed and the ends stripped.
- Token F1: SQuAD-style bag-of-tokens F1 over the whitespace tokens of the normalised texts.
- Round-trip cosine: re-encode the decoded text with the dataset's encoder, cosine with the input
  vector (a decoded text that encodes to the zero vector, e.g. an empty one, scores 0).
- Latency per item (mean, p50, p95) and throughput, from per-batch wall times (each item of a batch
  is charged the batch time divided by its size).

Empty and whitespace-only texts: a pair whose reference and decoded text are both empty after
`str.strip()` is a perfect reconstruction (1 for BLEU, exact match and F1); if only one is empty
it scores 0. Texts are never truncated here; very long texts are scored whole.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Estimate, Result
from lvmgate.stats import bootstrap_mean, bootstrap_statistic

TOKENIZER = "13a"
SMOOTH = "exp"


# --------------------------------------------------------------------------------------------------
# BLEU
@dataclass(frozen=True)
class BleuResult(Result):
    """Corpus BLEU-n with interval, the mean sentence BLEU-n, and how they were computed."""

    order: int
    corpus: Estimate  # 0-1
    sentence_mean: Estimate  # 0-1
    signature: str  # sacrebleu's signature of the corpus metric
    sentence_signature: str
    tokenizer: str = TOKENIZER


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise InputError(f"{len(hypotheses)} decoded texts for {len(references)} references")
    for i, (h, r) in enumerate(zip(hypotheses, references)):
        if not isinstance(h, str) or not isinstance(r, str):
            raise InputError(
                f"item {i}: texts must be strings, got {type(h).__name__} and {type(r).__name__}"
            )


def _bleu(order: int, *, sentence: bool):
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=order, tokenize=TOKENIZER, smooth_method=SMOOTH, effective_order=sentence)


def bleu_statistics(
    hypotheses: Sequence[str], references: Sequence[str], order: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Per item: sentence BLEU-n on 0-1 (n,), and sacrebleu's sufficient statistics (n, 2 + 2*order).

    Statistics columns: hypothesis length, reference length, matches per order, totals per order.
    """
    _check_pairs(hypotheses, references)
    metric = _bleu(order, sentence=True)
    scores = np.empty(len(hypotheses), dtype=np.float64)
    stats = np.zeros((len(hypotheses), 2 + 2 * order), dtype=np.float64)
    for i, (h, r) in enumerate(zip(hypotheses, references)):
        s = metric.sentence_score(h, [r])
        stats[i] = [s.sys_len, s.ref_len, *s.counts, *s.totals]
        h_empty, r_empty = not h.strip(), not r.strip()
        if h_empty or r_empty:  # the documented convention; sacrebleu says 0 for both-empty too
            scores[i] = 1.0 if h_empty and r_empty else 0.0
        else:
            scores[i] = min(1.0, max(0.0, s.score / 100.0))
    return scores, stats


def corpus_bleu_from_stats(stats: np.ndarray, order: int = 4) -> float:
    """Corpus BLEU-n (0-1) from summed per-item statistics, exactly as sacrebleu computes it."""
    from sacrebleu.metrics import BLEU

    total = np.asarray(stats, dtype=np.float64).sum(axis=0)
    if total[0] == 0:  # nothing decoded at all
        return 0.0
    score = BLEU.compute_bleu(
        [int(x) for x in total[2 : 2 + order]],
        [int(x) for x in total[2 + order : 2 + 2 * order]],
        int(total[0]),
        int(total[1]),
        smooth_method=SMOOTH,
        effective_order=True,
        max_ngram_order=order,
    ).score
    return min(1.0, max(0.0, score / 100.0))


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str],
    order: int = 4,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BleuResult:
    """Corpus and mean sentence BLEU-n (0-1) with bootstrap intervals over items."""
    if order < 1:
        raise InputError("BLEU order must be at least 1")
    scores, stats = bleu_statistics(hypotheses, references, order)
    corpus = bootstrap_statistic(
        lambda s: corpus_bleu_from_stats(s, order),
        stats,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    mean = bootstrap_mean(scores, resamples=resamples, confidence=confidence, seed=seed)
    return BleuResult(
        order, corpus, mean, _signature(order, sentence=False), _signature(order, sentence=True)
    )


def _signature(order: int, *, sentence: bool) -> str:
    metric = _bleu(order, sentence=True)
    metric.sentence_score("a", ["a"])  # sacrebleu fills in the reference count on first use
    return f"BLEU-{order} {'sentence' if sentence else 'corpus'} " + metric.get_signature().format()


# --------------------------------------------------------------------------------------------------
# exact match and token F1
def normalize_text(text: str) -> str:
    """NFKC, casefold, punctuation -> space, whitespace collapsed, ends stripped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n,) 1.0 where the normalised texts are equal, else 0.0."""
    _check_pairs(hypotheses, references)
    return np.array(
        [float(normalize_text(h) == normalize_text(r)) for h, r in zip(hypotheses, references)],
        dtype=np.float64,
    )


def token_f1(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n,) bag-of-tokens F1 of the normalised texts (both empty: 1, one empty: 0)."""
    _check_pairs(hypotheses, references)
    out = np.empty(len(hypotheses), dtype=np.float64)
    for i, (h, r) in enumerate(zip(hypotheses, references)):
        ht, rt = normalize_text(h).split(), normalize_text(r).split()
        if not ht or not rt:
            out[i] = float(not ht and not rt)
            continue
        common = sum((Counter(ht) & Counter(rt)).values())
        if common == 0:
            out[i] = 0.0
            continue
        precision, recall = common / len(ht), common / len(rt)
        out[i] = 2 * precision * recall / (precision + recall)
    return out


# --------------------------------------------------------------------------------------------------
# round trip
def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) cosine of matching rows of two (n, D) arrays; 0 where either row has zero norm."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"cosine of rows needs two (n, D) arrays of one shape, got {a.shape} and {b.shape}")
    dots = np.einsum("ij,ij->i", a, b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def round_trip_cosine(
    vectors: np.ndarray, texts: Sequence[str], encoder: Any, *, batch_size: int = 64
) -> np.ndarray:
    """(n,) cosine between each input vector and `encoder.encode` of its decoded text."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise InputError(f"round trip: {len(texts)} texts for vectors of shape {vectors.shape}")
    dim = getattr(encoder, "dim", None)
    if dim is not None and dim != vectors.shape[1]:
        raise InputError(
            f"round trip: encoder {getattr(encoder, 'spec', encoder)!r} makes {dim}-D vectors, "
            f"the inputs are {vectors.shape[1]}-D"
        )
    if not len(texts):
        return np.zeros(0, dtype=np.float64)
    again = encoder.encode(list(texts), batch_size=batch_size)  # (n, D)
    return cosine_rows(vectors, again)


# --------------------------------------------------------------------------------------------------
# latency
@dataclass(frozen=True)
class LatencyStats(Result):
    """Per-item latency in seconds (amortised over batches) and items per second."""

    mean_s: Estimate
    p50_s: Estimate
    p95_s: Estimate
    throughput_per_s: Estimate
    n_items: int
    n_batches: int
    total_s: float


def per_item_latency(batch_seconds: Sequence[float], batch_sizes: Sequence[int]) -> np.ndarray:
    """(n_items,) each item's share of its batch's wall time."""
    secs = np.asarray(batch_seconds, dtype=np.float64)
    sizes = np.asarray(batch_sizes, dtype=np.int64)
    if secs.shape != sizes.shape or np.any(sizes < 0) or np.any(secs < 0):
        raise InputError("latency: need one non-negative time and size per batch")
    keep = sizes > 0
    return np.repeat(secs[keep] / sizes[keep], sizes[keep])


def latency_stats(
    batch_seconds: Sequence[float],
    batch_sizes: Sequence[int],
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> LatencyStats:
    """Mean / median / 95th-percentile latency per item and throughput, with bootstrap intervals."""
    per_item = per_item_latency(batch_seconds, batch_sizes)
    kw = {"resamples": resamples, "confidence": confidence, "seed": seed}
    mean = bootstrap_mean(per_item, **kw)
    p50 = bootstrap_statistic(lambda x: float(np.percentile(x, 50)), per_item, **kw)
    p95 = bootstrap_statistic(lambda x: float(np.percentile(x, 95)), per_item, **kw)
    inv = [1.0 / x if x > 0 else float("nan") for x in (mean.value, mean.high, mean.low)]
    throughput = Estimate(inv[0], inv[1], inv[2], mean.n, mean.method)  # 1/mean, interval mapped
    return LatencyStats(
        mean, p50, p95, throughput, int(per_item.size), len(batch_sizes), float(np.sum(batch_seconds))
    )


# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReconstructionMetrics(Result):
    """Every 1.4 reconstruction number for one decoder over n items (0-1 scale, 95% intervals)."""

    n: int
    bleu1: Estimate  # corpus BLEU-1
    bleu4: Estimate  # corpus BLEU-4 (the 1.4.bleu4 headline)
    sentence_bleu1: Estimate  # mean sentence BLEU-1
    sentence_bleu4: Estimate  # mean sentence BLEU-4
    exact_match: Estimate
    token_f1: Estimate
    round_trip_cosine: Estimate | None  # the 1.4.cosine headline; None without an encoder
    latency: LatencyStats | None
    bleu_signature: str
    sentence_bleu_signature: str
    tokenizer: str
    encoder: str | None
    n_empty_references: int
    n_empty_decoded: int


@dataclass(frozen=True)
class ItemScores(Result):
    """Per-item scores aligned with the inputs (for artifacts and worst-case listings)."""

    bleu1: np.ndarray
    bleu4: np.ndarray
    exact_match: np.ndarray
    token_f1: np.ndarray
    round_trip_cosine: np.ndarray | None


def item_scores(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    vectors: np.ndarray | None = None,
    encoder: Any = None,
) -> tuple[ItemScores, np.ndarray, np.ndarray]:
    """Per-item scores, plus the BLEU-1 and BLEU-4 sufficient statistics for corpus BLEU."""
    b1, s1 = bleu_statistics(hypotheses, references, 1)
    b4, s4 = bleu_statistics(hypotheses, references, 4)
    rt = None
    if vectors is not None and encoder is not None:
        rt = round_trip_cosine(vectors, hypotheses, encoder)
    return (
        ItemScores(b1, b4, exact_match(hypotheses, references), token_f1(hypotheses, references), rt),
        s1,
        s4,
    )


def reconstruction_metrics(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    vectors: np.ndarray | None = None,
    encoder: Any = None,
    batch_seconds: Sequence[float] | None = None,
    batch_sizes: Sequence[int] | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ReconstructionMetrics:
    """All reconstruction metrics for decoded `hypotheses` against `references` (one per item).

    With `vectors` (n, D) and an `encoder` (anything with `.encode(texts)`), the round-trip cosine
    too; with per-batch `batch_seconds` / `batch_sizes`, latency and throughput.
    """
    _check_pairs(hypotheses, references)
    scores, s1, s4 = item_scores(hypotheses, references, vectors=vectors, encoder=encoder)
    return metrics_from_items(
        scores,
        s1,
        s4,
        hypotheses=hypotheses,
        references=references,
        encoder=encoder,
        batch_seconds=batch_seconds,
        batch_sizes=batch_sizes,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def metrics_from_items(
    scores: ItemScores,
    stats1: np.ndarray,
    stats4: np.ndarray,
    *,
    hypotheses: Sequence[str],
    references: Sequence[str],
    encoder: Any = None,
    batch_seconds: Sequence[float] | None = None,
    batch_sizes: Sequence[int] | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ReconstructionMetrics:
    """Aggregate per-item scores into a ReconstructionMetrics (intervals by bootstrap over items)."""
    kw = {"resamples": resamples, "confidence": confidence, "seed": seed}
    corpus1 = bootstrap_statistic(lambda s: corpus_bleu_from_stats(s, 1), stats1, **kw)
    corpus4 = bootstrap_statistic(lambda s: corpus_bleu_from_stats(s, 4), stats4, **kw)
    latency = None
    if batch_seconds is not None and batch_sizes is not None and len(batch_sizes):
        latency = latency_stats(batch_seconds, batch_sizes, **kw)
    rt = None if scores.round_trip_cosine is None else bootstrap_mean(scores.round_trip_cosine, **kw)
    return ReconstructionMetrics(
        n=len(hypotheses),
        bleu1=corpus1,
        bleu4=corpus4,
        sentence_bleu1=bootstrap_mean(scores.bleu1, **kw),
        sentence_bleu4=bootstrap_mean(scores.bleu4, **kw),
        exact_match=bootstrap_mean(scores.exact_match, **kw),
        token_f1=bootstrap_mean(scores.token_f1, **kw),
        round_trip_cosine=rt,
        latency=latency,
        bleu_signature=_signature(4, sentence=False),
        sentence_bleu_signature=_signature(4, sentence=True),
        tokenizer=TOKENIZER,
        encoder=None if encoder is None else str(getattr(encoder, "spec", encoder)),
        n_empty_references=sum(1 for r in references if not r.strip()),
        n_empty_decoded=sum(1 for h in hypotheses if not h.strip()),
    )
