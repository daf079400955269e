"""1.1 beyond the plan: duplicate content. A chunk ingested twice (or a chunker that repeats itself)
raises mean coherence, passes every threshold of the plan and teaches the LVM to copy; `prepare` then
drops the windows it spoils. So duplicates are counted where they enter: rows whose exact text
(whitespace-normalised) or exact vector repeats an earlier row, inside one article or across
articles, with examples.

Glossary: N rows in canonical order; a row is a duplicate when an earlier row has the same text or
the same vector bytes (the first occurrence is not counted).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from lvmgate.criteria import Criterion
from lvmgate.results import Estimate, Result
from lvmgate.stats import cluster_bootstrap_ratio


@dataclass(frozen=True)
class DuplicateExample(Result):
    pos: int  # canonical position of the repeat
    first_pos: int  # of the row it repeats
    article_id: str
    first_article_id: str
    kind: str  # text | vector | text+vector
    text: str


@dataclass(frozen=True)
class DuplicateResult(Result):
    n_chunks: int
    text_duplicates: int
    vector_duplicates: int
    duplicate_rows: int  # text or vector repeats an earlier row
    within_article: int
    across_articles: int
    duplicate_pct: Estimate  # of rows, article-cluster bootstrap
    examples: tuple[DuplicateExample, ...] = field(repr=False, default=())

    _hidden_fields = ("examples",)

    def criteria(self) -> list[Criterion]:
        if self.n_chunks == 0:
            return [Criterion.not_measured("1.1.duplicate_chunks_pct", "no chunks")]
        return [
            Criterion.measured(
                "1.1.duplicate_chunks_pct",
                self.duplicate_pct,
                f"{self.text_duplicates} repeated texts, {self.vector_duplicates} repeated vectors; "
                f"{self.within_article} inside an article, {self.across_articles} across articles",
            )
        ]


def _first_of(keys: np.ndarray) -> np.ndarray:
    """(N,) position of the first row with the same key (itself for first occurrences)."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse.ravel()]


def text_keys(texts: list[str]) -> np.ndarray:
    """(N,) 16-byte keys of whitespace-normalised texts."""
    return np.array(
        [hashlib.blake2b(" ".join(t.split()).encode(), digest_size=16).digest() for t in texts], dtype="S16"
    )


def vector_first(vectors: np.ndarray, valid: np.ndarray | None = None, block: int = 65536) -> np.ndarray:
    """(N,) position of the first row with exactly the same vector (itself for first occurrences).

    Rows are keyed by two random projections (one streaming pass, GEMV speed); rows sharing a key
    are then compared exactly, so a projection collision can never make a false duplicate.
    `valid` False rows (zero / NaN: 1.1.invalid_vectors_pct's business) are never duplicates.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(12345)
    proj = rng.standard_normal((vectors.shape[1], 2))
    keys = np.empty((n, 2))
    for lo in range(0, n, block):
        keys[lo : lo + block] = np.asarray(vectors[lo : lo + block], dtype=np.float64) @ proj
    keys = np.ascontiguousarray(keys).view("V16").ravel()
    if valid is not None:
        keys = keys.copy()
        bad = ~np.asarray(valid, dtype=bool)
        keys[bad] = (
            np.ascontiguousarray(np.stack([np.full(bad.sum(), np.nan), np.arange(bad.sum())], 1))
            .view("V16")
            .ravel()
        )
    first = _first_of(keys)
    for i in np.flatnonzero(first != np.arange(n)):  # candidates: confirm exactly
        if not np.array_equal(np.asarray(vectors[i]), np.asarray(vectors[first[i]])):
            first[i] = i
    return first


def duplicate_content(
    texts: list[str],
    vectors: np.ndarray | None,
    article_of_row: np.ndarray,
    article_ids: list[str] | np.ndarray,
    *,
    positions: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    examples: int = 5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DuplicateResult:
    """Rows repeating an earlier row's text or vector (`valid` False rows: vector not compared)."""
    n = len(texts)
    article = np.asarray(article_of_row)
    positions = np.arange(n) if positions is None else np.asarray(positions)
    first_t = _first_of(text_keys(texts)) if n else np.zeros(0, dtype=np.int64)
    dup_t = first_t != np.arange(n)
    dup_v = np.zeros(n, dtype=bool)
    first_v = np.arange(n)
    if vectors is not None and n:
        first_v = vector_first(vectors, valid)
        dup_v = first_v != np.arange(n)
    dup = dup_t | dup_v
    first = np.where(dup_t, first_t, first_v)
    same_article = article[first] == article
    ids = np.asarray(article_ids)
    k = int(article.max()) + 1 if n else 0
    sums = np.bincount(article, weights=dup.astype(np.float64), minlength=k)
    counts = np.bincount(article, minlength=k).astype(np.float64)
    pct = cluster_bootstrap_ratio(
        sums, counts, resamples=resamples, confidence=confidence, seed=seed, scale=100.0
    )
    shown = []
    for i in np.flatnonzero(dup)[:examples]:
        kind = "text+vector" if dup_t[i] and dup_v[i] else "text" if dup_t[i] else "vector"
        shown.append(
            DuplicateExample(
                int(positions[i]), int(positions[first[i]]), str(ids[article[i]]), str(ids[article[first[i]]]),
                kind, texts[i][:160],
            )
        )  # fmt: skip
    return DuplicateResult(
        n_chunks=n,
        text_duplicates=int(dup_t.sum()),
        vector_duplicates=int(dup_v.sum()),
        duplicate_rows=int(dup.sum()),
        within_article=int((dup & same_article).sum()),
        across_articles=int((dup & ~same_article).sum()),
        duplicate_pct=pct if n else Estimate(float("nan"), float("nan"), float("nan"), 0),
        examples=tuple(shown),
    )
