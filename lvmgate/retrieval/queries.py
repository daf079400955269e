"""Benchmark queries with their relevance judgements, for the `self` and `next` tasks.

- `self`: a sampled chunk must find itself. Relevant: the chunk's own row (grade 3). Nothing is
  excluded. The lvm backend gets a context made of the chunk alone (its vector repeated w times),
  so that copy_last / context_mean give the chunk back exactly: a check that the predictor's output
  lives in the bank's space, not a test of prediction.
- `next`: a window of w consecutive chunks of one article predicts the chunk after it.
  Relevant (graded): the true next chunk t (grade 3), t+1 (grade 2), t+2 (grade 1), each only if it
  is in the same article and its chunk_index follows on. The window's own context rows are
  excluded from every backend's ranking (the last context vector would otherwise find itself).
Windows come from a prepared split (article-disjoint from training: use the val or test split for
an LVM) or are built from the store's articles (stride 1, never crossing an article or a hole).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.errors import InputError

NEXT_GRADES = (3, 2, 1)  # grade of the next chunk, the one after it, and the one after that
SELF_GRADE = 3
TASKS = ("self", "next")


@dataclass(frozen=True)
class QuerySet:
    """Q queries: which rows they are built from, what is relevant, what is excluded."""

    task: str
    context: np.ndarray = field(repr=False)  # (Q, w) int64 rows whose vectors feed a predictor
    query_row: np.ndarray = field(repr=False)  # (Q,) row whose vector / text is the vec / text query
    target: np.ndarray = field(repr=False)  # (Q,) the row that must be found (hit@k)
    relevant: np.ndarray = field(repr=False)  # (Q, m) int64 judged rows, -1 padded
    grades: np.ndarray = field(repr=False)  # (Q, m) int64 grades (0 on padding)
    exclude: np.ndarray = field(repr=False)  # (Q, e) int64 rows never ranked for the query
    article: np.ndarray = field(repr=False)  # (Q,) int64 article number (bootstrap clusters)
    source: str = ""

    def __len__(self) -> int:
        return len(self.target)

    @property
    def context_window(self) -> int:
        return int(self.context.shape[1])


def usable_rows(bank: np.ndarray, block: int = 65536) -> np.ndarray:
    """(N,) bool: rows whose vector is finite and not all zero (searchable and findable)."""
    ok = np.empty(bank.shape[0], dtype=bool)
    for lo in range(0, bank.shape[0], block):
        part = np.asarray(bank[lo : lo + block], dtype=np.float64)
        sq = np.einsum("ij,ij->i", part, part)
        ok[lo : lo + len(part)] = np.isfinite(sq) & (sq > 0)
    return ok


def _sample(n_avail: int, n: int, seed: int) -> np.ndarray:
    if n < 1:
        raise InputError(f"the number of queries must be at least 1, got {n}")
    if n_avail == 0:
        raise InputError("no queries can be built: nothing to sample from")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_avail, size=min(n, n_avail), replace=False))


def self_queries(
    index: ArticleIndex, n: int, *, seed: int = 0, usable: np.ndarray | None = None, context_window: int = 5
) -> QuerySet:
    """n distinct chunks (seeded) each of which must retrieve itself; unusable rows are never drawn."""
    rows = np.flatnonzero(usable) if usable is not None else np.arange(index.n_rows)
    picked = rows[_sample(rows.size, n, seed)]
    q = picked.size
    return QuerySet(
        task="self",
        context=np.repeat(picked[:, None], max(1, int(context_window)), axis=1),
        query_row=picked,
        target=picked,
        relevant=picked[:, None].copy(),
        grades=np.full((q, 1), SELF_GRADE, dtype=np.int64),
        exclude=np.zeros((q, 0), dtype=np.int64),
        article=index.article_of_row()[picked],
        source=f"{q} chunks sampled with seed {seed} from {rows.size} usable rows",
    )


def next_relevance(
    index: ArticleIndex, target: np.ndarray, grades: tuple[int, ...] = NEXT_GRADES
) -> tuple[np.ndarray, np.ndarray]:
    """(Q, len(grades)) rows t, t+1, ... and their grades; rows past the article end or a chunk_index
    hole are -1 with grade 0."""
    target = np.asarray(target, dtype=np.int64)
    art = index.article_of_row()
    ci = np.asarray(index.chunk_index, dtype=np.int64)
    m = len(grades)
    rows = target[:, None] + np.arange(m, dtype=np.int64)  # (Q, m)
    inside = rows < index.n_rows
    safe = np.where(inside, rows, 0)
    ok = inside & (art[safe] == art[target][:, None]) & (ci[safe] == ci[target][:, None] + np.arange(m))
    ok = np.logical_and.accumulate(ok, axis=1)  # stop at the first break
    g = np.where(ok, np.asarray(grades, dtype=np.int64)[None, :], 0)
    return np.where(ok, rows, -1), g


def next_queries(
    index: ArticleIndex,
    context: np.ndarray,
    target: np.ndarray,
    n: int,
    *,
    seed: int = 0,
    grades: tuple[int, ...] = NEXT_GRADES,
    source: str = "",
) -> QuerySet:
    """n windows sampled (seeded, without replacement) from (N, w) context rows and (N,) targets."""
    context = np.asarray(context, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    if context.ndim != 2 or target.shape != (len(context),):
        raise InputError("windows must be context (N, w) and target (N,) rows")
    pick = _sample(len(target), n, seed)
    ctx, tgt = context[pick], target[pick]
    rel, g = next_relevance(index, tgt, grades)
    art = index.article_of_row()
    if np.any(art[ctx] != art[tgt][:, None]):
        raise InputError("a window crosses an article boundary: these windows do not belong to this bank")
    return QuerySet(
        task="next",
        context=ctx,
        query_row=ctx[:, -1].copy(),
        target=tgt,
        relevant=rel,
        grades=g,
        exclude=ctx.copy(),
        article=art[tgt],
        source=source or f"{len(tgt)} of {len(target)} windows sampled with seed {seed}",
    )


def store_windows(
    index: ArticleIndex, context_window: int, *, usable: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every stride-1 window of the bank as (N, w) context rows and (N,) targets, never crossing an
    article or a chunk_index hole; windows touching unusable rows are left out."""
    from lvmgate.sequences import build_windows

    windows, _stats = build_windows(index, context_window, 1)
    rows = windows.rows()  # (N, w+1)
    if usable is not None and len(rows):
        windows = windows.take(usable[rows].all(axis=1))
    return windows.context, windows.target
