"""1.3 Chunk boundaries: sentence-complete endings %, average length, chunks under 50 / over 1000 chars.

Whether a chunk ends a sentence is decided by `lvmgate.sentences.ends_sentence` (abbreviations,
decimals, initials and closing quotes handled), not by `text.endswith('.')`. Intervals resample
articles, since one chunker setting shapes every chunk of an article.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from lvmgate.criteria import Criterion
from lvmgate.policy import criterion_ids
from lvmgate.results import Estimate, Result
from lvmgate.sentences import boundary_reason, ends_sentence
from lvmgate.stats import cluster_ratio_samples, from_samples

LENGTH_EDGES = (0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 1000, 1500, 2000, 10**9)


@dataclass(frozen=True)
class ChunkExample(Result):
    pos: int
    article_id: str
    chunk_index: int
    length: int
    reason: str
    text: str  # the end of the chunk (where the boundary is), at most 160 characters


@dataclass(frozen=True)
class BoundaryResult(Result):
    n_chunks: int
    n_articles: int
    sentence_complete_pct: Estimate
    mean_length_chars: Estimate
    median_length_chars: float
    short_chunks: int
    long_chunks: int
    short_chunks_pct: Estimate
    long_chunks_pct: Estimate
    short_chars: int
    long_chars: int
    reasons: dict = field(default_factory=dict)  # boundary_reason -> count
    length_histogram: dict = field(repr=False, default_factory=dict)
    incomplete_examples: tuple[ChunkExample, ...] = field(repr=False, default=())
    short_examples: tuple[ChunkExample, ...] = field(repr=False, default=())
    long_examples: tuple[ChunkExample, ...] = field(repr=False, default=())

    _hidden_fields = ("length_histogram", "incomplete_examples", "short_examples", "long_examples")

    def criteria(self) -> list[Criterion]:
        m = Criterion.measured
        if self.n_chunks == 0:
            return [Criterion.not_measured(c, "no chunks") for c in criterion_ids("1.3")]
        return [
            m("1.3.sentence_complete_pct", self.sentence_complete_pct, f"{self.n_chunks:,} chunks"),
            m(
                "1.3.mean_length_chars",
                self.mean_length_chars,
                f"median {self.median_length_chars:.0f} chars",
            ),
            m(
                "1.3.short_chunks_pct",
                self.short_chunks_pct,
                f"{self.short_chunks} chunks under {self.short_chars}",
            ),
            m(
                "1.3.long_chunks_pct",
                self.long_chunks_pct,
                f"{self.long_chunks} chunks over {self.long_chars}",
            ),
        ]


def chunk_boundaries(
    texts: list[str],
    article_of_row: np.ndarray,
    *,
    positions: np.ndarray | None = None,
    article_ids: np.ndarray | None = None,
    chunk_index: np.ndarray | None = None,
    short_chars: int = 50,
    long_chars: int = 1000,
    examples: int = 5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BoundaryResult:
    """Boundary statistics of `texts` (N chunks), with article-cluster bootstrap intervals."""
    n = len(texts)
    article = np.asarray(article_of_row, dtype=np.int64)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    complete = np.fromiter((ends_sentence(t) for t in texts), dtype=bool, count=n)
    short = lengths < short_chars
    long_ = lengths > long_chars
    n_art = int(article.max()) + 1 if n else 0
    per = np.stack(
        [
            np.bincount(article, weights=w.astype(np.float64), minlength=n_art)
            for w in (complete, lengths, short, long_)
        ],
        axis=1,
    )  # (A, 4)
    counts = np.bincount(article, minlength=n_art).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = per.sum(axis=0) / counts.sum()
    keep = counts > 0
    samples = (
        cluster_ratio_samples(
            per[keep], np.repeat(counts[keep, None], 4, axis=1), resamples, np.random.default_rng(seed)
        )
        if keep.sum() > 1
        else np.tile(point, (2, 1))
    )

    def est(j: int, scale: float = 1.0) -> Estimate:
        return from_samples(
            float(point[j]), samples[:, j], int(keep.sum()), confidence=confidence, scale=scale
        )

    pos = np.arange(n) if positions is None else np.asarray(positions)

    def pick(mask: np.ndarray) -> tuple[ChunkExample, ...]:
        out = []
        for i in np.flatnonzero(mask)[:examples]:
            t = texts[i]
            out.append(
                ChunkExample(
                    int(pos[i]),
                    str(article_ids[article[i]]) if article_ids is not None else str(article[i]),
                    int(chunk_index[i]) if chunk_index is not None else -1,
                    int(lengths[i]),
                    boundary_reason(t),
                    t if len(t) <= 160 else "..." + t[-157:],
                )
            )
        return tuple(out)

    reasons = Counter(boundary_reason(texts[i]) for i in np.flatnonzero(~complete))
    reasons.update({"complete": int(complete.sum())})
    hist, _ = np.histogram(lengths, bins=LENGTH_EDGES)
    return BoundaryResult(
        n_chunks=n,
        n_articles=int(keep.sum()),
        sentence_complete_pct=est(0, 100.0),
        mean_length_chars=est(1),
        median_length_chars=float(np.median(lengths)) if n else float("nan"),
        short_chunks=int(short.sum()),
        long_chunks=int(long_.sum()),
        short_chunks_pct=est(2, 100.0),
        long_chunks_pct=est(3, 100.0),
        short_chars=short_chars,
        long_chars=long_chars,
        reasons=dict(reasons),
        length_histogram={
            "edges": [*LENGTH_EDGES[:-1], int(lengths.max()) + 1 if n else 0],
            "counts": hist.tolist(),
        },
        incomplete_examples=pick(~complete),
        short_examples=pick(short),
        long_examples=pick(long_),
    )
