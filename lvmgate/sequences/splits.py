"""Article sampling (--limit) and article-disjoint train/val/test splits, deterministic for a seed.

Both rank articles by a keyed hash of (seed, purpose, article_id), not by a permutation of row
numbers, so an article's rank depends on its own id only: the same seed gives the same choice in
any process, a larger --limit takes a superset of a smaller one, and an article keeps its split
(away from the boundary) as the dataset grows between phases.

Splits are by article, sized in windows: articles in hash order fill val until its share of windows
is closest to --val-split, then test likewise, the rest is train. Window shares thus land within
one article's windows of the request while no article is ever in two splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from lvmgate.errors import InputError

SPLITS = ("train", "val", "test")


def article_rank_keys(ids: Sequence[str] | np.ndarray, seed: int, purpose: str) -> np.ndarray:
    """(A,) uint64 keyed hash of each article id; sort ascending to rank articles."""
    prefix = f"lvmgate/{purpose}/{int(seed)}/".encode()
    blake = hashlib.blake2b
    # O(articles), not O(chunks): ~0.5 us per id
    items = ids.tolist() if isinstance(ids, np.ndarray) else ids
    digests = b"".join([blake(prefix + str(aid).encode(), digest_size=8).digest() for aid in items])
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def select_articles(ids: Sequence[str] | np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Sorted article numbers of `limit` articles chosen by hash rank (all when None or >= A)."""
    n = len(ids)
    if limit is None or limit >= n:
        return np.arange(n, dtype=np.int64)
    if isinstance(limit, bool) or limit < 1:
        raise InputError(f"--limit must be a positive number of articles, got {limit}")
    keys = article_rank_keys(ids, seed, "limit")
    chosen = np.argsort(keys, kind="stable")[:limit]
    return np.sort(chosen).astype(np.int64)


def check_fractions(val_split: float, test_split: float) -> None:
    """Fractions must be in [0, 1) with val + test < 1 (something must be left to train on)."""
    for name, v in (("--val-split", val_split), ("--test-split", test_split)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise InputError(f"{name} must be a number, got {v!r}")
        if not 0.0 <= v < 1.0:
            raise InputError(f"{name} must be in [0, 1), got {v}")
    if val_split + test_split >= 1.0:
        raise InputError(
            f"--val-split + --test-split must be below 1 to leave training data, got {val_split + test_split:g}"
        )


def _take_prefix(cum: np.ndarray, target: float, lo: int, leave: int) -> int:
    """End (exclusive) of the prefix starting at lo whose windows come closest to `target`."""
    base = cum[lo - 1] if lo > 0 else 0
    hi_max = len(cum) - leave  # keep at least `leave` articles for later splits
    want = base + target
    k = int(np.searchsorted(cum, want, side="left"))  # first end with cum >= want
    best = min(max(k + 1, lo + 1), hi_max)
    if best - 1 > lo and abs(cum[best - 2] - want) <= abs(cum[best - 1] - want):
        best -= 1
    return best


def assign_splits(
    ids: Sequence[str] | np.ndarray,
    articles: np.ndarray,
    windows: np.ndarray,
    *,
    val_split: float,
    test_split: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Sorted article numbers per split ("train", "val", "test" when asked), disjoint by construction.

    `articles` (K,) are candidate article numbers, `windows` (K,) their window counts; `ids` is the
    dataset's full id array (indexed by article number).
    """
    check_fractions(val_split, test_split)
    articles = np.asarray(articles, dtype=np.int64)
    windows = np.asarray(windows, dtype=np.int64)
    keep = windows > 0
    articles, windows = articles[keep], windows[keep]
    wanted = [("val", val_split), ("test", test_split)]
    wanted = [(n, f) for n, f in wanted if f > 0]
    if len(articles) < len(wanted) + 1:
        raise InputError(
            f"{len(articles)} article(s) with windows cannot fill train + {len(wanted)} held-out split(s); "
            "lower --context-window or add articles"
        )
    keys = article_rank_keys(np.asarray(ids, dtype=object)[articles], seed, "split")
    order = np.argsort(keys, kind="stable")
    ranked, cum = articles[order], np.cumsum(windows[order])
    total = int(cum[-1])
    out: dict[str, np.ndarray] = {}
    lo = 0
    for i, (name, frac) in enumerate(wanted):
        leave = len(wanted) - i  # later held-out splits + train each keep >= 1 article
        hi = _take_prefix(cum, frac * total, lo, leave)
        out[name] = np.sort(ranked[lo:hi])
        lo = hi
    out["train"] = np.sort(ranked[lo:])
    return {name: out[name] for name in SPLITS if name in out}
