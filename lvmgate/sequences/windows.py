"""Training windows as integer row positions into the vector bank, never copies of vectors.

A window is `w` consecutive chunks of one article (the context) plus the chunk right after them
(the target): rows r..r+w-1 and r+w, with chunk_index rising by exactly 1 along all w+1 rows.
Starts advance by the stride inside a run of consecutive chunks; a run ends at an article boundary
or wherever chunk_index does not follow (a missing, repeated or reordered position), so no window
ever bridges an article or a hole. For clean data runs are articles and an article of L chunks
gives max(0, floor((L - w - 1) / s) + 1) windows. Construction is vectorised over runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.errors import InputError
from lvmgate.results import Result

_BLOCK = 1 << 20  # rows per block when scanning chunk_index for breaks (bounded temporaries)


def _check_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def window_counts(lengths: np.ndarray, context_window: int, stride: int) -> np.ndarray:
    """(A,) windows per run of consecutive chunks: max(0, floor((L - w - 1) / s) + 1)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    span = lengths - context_window - 1  # (A,) room left after the first window
    return np.where(span >= 0, span // stride + 1, 0)


@dataclass(frozen=True)
class Windows:
    """N windows by their first row: context = start..start+w-1, target = start+w (int64 rows)."""

    start: np.ndarray  # (N,) int64 canonical row of the first context chunk
    article: np.ndarray  # (N,) int64 article number (position in the ArticleIndex)
    context_window: int

    def __len__(self) -> int:
        return len(self.start)

    @property
    def context(self) -> np.ndarray:
        """(N, w) int64 row positions of the context chunks."""
        return self.start[:, None] + np.arange(self.context_window, dtype=np.int64)

    @property
    def target(self) -> np.ndarray:
        """(N,) int64 row position of the target chunk."""
        return self.start + self.context_window

    def rows(self) -> np.ndarray:
        """(N, w+1) int64: context rows then the target row."""
        return self.start[:, None] + np.arange(self.context_window + 1, dtype=np.int64)

    def take(self, which: np.ndarray) -> Windows:
        """The windows selected by a boolean mask or an index array (order kept)."""
        return Windows(self.start[which], self.article[which], self.context_window)


@dataclass(frozen=True)
class WindowStats(Result):
    """What building windows over a set of articles kept and skipped."""

    context_window: int
    stride: int
    n_windows: int
    n_articles: int  # articles considered
    n_articles_with_windows: int
    n_short_articles: int  # fewer than context_window + 1 chunks
    n_skipped_articles: int  # no window at all (short, or every run too short)
    n_order_breaks: int  # rows inside an article whose chunk_index is not previous + 1
    n_articles_with_breaks: int
    skipped_articles: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))

    _hidden_fields = ("skipped_articles",)


def _order_breaks(chunk_index: np.ndarray) -> np.ndarray:
    """Sorted rows r >= 1 with chunk_index[r] != chunk_index[r-1] + 1, scanned in blocks."""
    out = []
    n = len(chunk_index)
    for lo in range(1, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        step = chunk_index[lo:hi] - chunk_index[lo - 1 : hi - 1]
        out.append(np.flatnonzero(step != 1) + lo)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def build_windows(
    index: ArticleIndex,
    context_window: int,
    stride: int,
    *,
    articles: np.ndarray | None = None,
    respect_chunk_index: bool = True,
) -> tuple[Windows, WindowStats]:
    """Every window of the chosen articles (all when None), in canonical row order.

    `respect_chunk_index=False` cuts runs at article boundaries only, the way a naive tool trusts
    row order; it exists to show what the 2.1 checks catch, not for training data.
    """
    w = _check_int("context_window", context_window)
    s = _check_int("stride", stride)
    offsets = np.asarray(index.offsets, dtype=np.int64)
    n_art = len(offsets) - 1
    lengths = np.diff(offsets)
    chosen = np.ones(n_art, dtype=bool)
    if articles is not None:
        articles = np.asarray(articles, dtype=np.int64)
        if articles.size and (articles.min() < 0 or articles.max() >= n_art):
            raise InputError(f"article numbers must lie in 0..{n_art - 1}")
        chosen[:] = False
        chosen[articles] = True

    starts = offsets[:-1][lengths > 0]  # article starts
    n_breaks, arts_with_breaks = 0, 0
    if respect_chunk_index and index.n_rows:
        brk = _order_breaks(np.asarray(index.chunk_index))
        is_start = np.zeros(index.n_rows, dtype=bool)  # (n_rows,) marks: cheaper than set operations
        is_start[starts] = True
        inner = brk[~is_start[brk]]  # breaks inside articles
        inner_art = np.searchsorted(offsets, inner, side="right") - 1
        inner_art = inner_art[chosen[inner_art]]
        n_breaks = int(inner_art.size)
        arts_with_breaks = int(np.count_nonzero(np.bincount(inner_art, minlength=n_art)))
        is_start[inner] = True
        starts = np.flatnonzero(is_start)
        del is_start
    run_art = np.searchsorted(offsets, starts, side="right") - 1  # (R,) article of each run
    keep = chosen[run_art]
    starts, run_art = starts[keep], run_art[keep]
    ends = np.append(starts[1:], 0)  # next run's start (fixed below where the article ends)
    art_end = offsets[run_art + 1]
    ends = np.where((ends > starts) & (ends <= art_end), ends, art_end)
    counts = window_counts(ends - starts, w, s)  # (R,)

    total = int(counts.sum())
    if total:
        has = counts > 0
        r_start, r_count = starts[has], counts[has]
        first = np.zeros(len(r_start), dtype=np.int64)  # window number of each run's first window
        np.cumsum(r_count[:-1], out=first[1:])
        # start = cumsum of steps: s inside a run, a jump to the run's start at its first window
        steps = np.full(total, s, dtype=np.int64)
        prev_last = r_start[:-1] + s * (r_count[:-1] - 1)
        steps[first[1:]] = r_start[1:] - prev_last
        steps[0] = r_start[0]
        start = np.cumsum(steps)
        article = np.repeat(run_art[has], r_count)
    else:
        start = np.zeros(0, np.int64)
        article = np.zeros(0, np.int64)

    per_article = np.bincount(run_art, weights=counts, minlength=n_art).astype(np.int64)
    chosen_ids = np.flatnonzero(chosen)
    skipped = chosen_ids[per_article[chosen_ids] == 0]
    stats = WindowStats(
        context_window=w,
        stride=s,
        n_windows=total,
        n_articles=int(chosen_ids.size),
        n_articles_with_windows=int(chosen_ids.size - skipped.size),
        n_short_articles=int(np.count_nonzero(lengths[chosen_ids] < w + 1)),
        n_skipped_articles=int(skipped.size),
        n_order_breaks=n_breaks,
        n_articles_with_breaks=arts_with_breaks,
        skipped_articles=skipped,
    )
    return Windows(start, article, w), stats


def windows_per_article_loop(index: ArticleIndex, context_window: int, stride: int) -> list[np.ndarray]:
    """Reference: per-article Python loop building context-start rows (for tests and benchmarks)."""
    out = []
    for a in range(index.n_articles):
        lo, hi = int(index.offsets[a]), int(index.offsets[a + 1])
        out.append(np.arange(lo, hi - context_window, stride, dtype=np.int64))
    return out
