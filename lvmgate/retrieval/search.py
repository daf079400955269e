"""Top-k cosine search over a whole vector bank: exact by default, faiss IVF / HNSW as options.

- `flat` (default, exact): the nearest-neighbour decoder's blocked search (`NearestDecoder.search`,
  reused rather than duplicated): engine `numpy` = float32 GEMM + argpartition per block over the
  bank (a memmap is read, never copied), or `faiss` = IndexFlatIP over a normalised copy. `auto`
  picks numpy: measured faster here for exact search (docs/retrieval.md, benchmarks/bench_search.py).
- `ivf`: faiss IndexIVFFlat (inner product on normalised rows), approximate; `nprobe` of `nlist` lists.
- `hnsw`: faiss IndexHNSWFlat (inner product on normalised rows), approximate; `ef_search`.
Every index searches every usable row of the bank (never a candidate subset); rows that are
NaN/inf or all zero never match. `exclude` (q, m) removes up to m rows per query from its ranking
(the query's own context rows in the `next` task); results pad with score -inf and row -1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from lvmgate.errors import InputError

INDEX_KINDS = ("flat", "ivf", "hnsw")
ENGINES = ("auto", "numpy", "faiss")
DEFAULT_ENGINE = "numpy"  # what `auto` means for exact search; see docs/retrieval.md for the numbers


class VectorIndex(Protocol):
    """What the benchmark needs from a vector index."""

    kind: str
    n_rows: int
    dim: int

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores (q, k) float32, rows (q, k) int64), best first; -inf / -1 where nothing is left."""
        ...

    def memory_bytes(self) -> int:
        """Bytes the index needs resident to answer queries (the bank itself for exact numpy)."""
        ...

    def params(self) -> dict[str, Any]: ...


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise InputError(f"queries must be (q, {dim}) vectors, got shape {q.shape}")
    return np.ascontiguousarray(q)


def _search_inputs(
    queries: np.ndarray, dim: int, exclude: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """A search's arguments checked: (q, dim) float32 queries, (q, m) exclusions, k >= 1."""
    q = _as_queries(queries, dim)
    return q, _as_exclude(exclude, len(q)), _check_k(k)


def _as_exclude(exclude: np.ndarray | None, nq: int) -> np.ndarray:
    """(q, m) int64 rows to drop per query (-1 = none); m may be 0."""
    if exclude is None:
        return np.zeros((nq, 0), dtype=np.int64)
    ex = np.asarray(exclude, dtype=np.int64)
    if ex.ndim == 1:
        ex = ex[:, None]
    if ex.ndim != 2 or ex.shape[0] != nq:
        raise InputError(f"exclude must be (q, m) rows for {nq} queries, got shape {ex.shape}")
    return ex


def drop_excluded(
    scores: np.ndarray, rows: np.ndarray, exclude: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove excluded rows from ranked (q, k') lists, keep order, cut to k (pad -inf / -1).

    Exact when k' >= k + m: at most m entries per query can go.
    """
    if exclude.shape[1] == 0:
        gone = rows < 0
    else:
        gone = (rows[:, :, None] == exclude[:, None, :]).any(axis=2) | (rows < 0)  # (q, k')
    order = np.argsort(gone, axis=1, kind="stable")[:, :k]  # kept entries first, rank order kept
    s = np.take_along_axis(scores, order, axis=1).astype(np.float32)
    r = np.take_along_axis(rows, order, axis=1).astype(np.int64)
    dead = np.take_along_axis(gone, order, axis=1)
    s[dead], r[dead] = -np.inf, -1
    if s.shape[1] < k:
        pad = k - s.shape[1]
        s = np.pad(s, ((0, 0), (0, pad)), constant_values=-np.inf)
        r = np.pad(r, ((0, 0), (0, pad)), constant_values=-1)
    return s, r


class ExactIndex:
    """Exact cosine top-k over the whole bank, through the nearest decoder's search."""

    kind = "flat"

    def __init__(self, bank: np.ndarray, engine: str = "auto", *, block_rows: int = 65536):
        from lvmgate.decoders.nearest import NearestDecoder

        if engine not in ENGINES:
            raise InputError(f"unknown search engine {engine!r} (use {', '.join(ENGINES)})")
        self.engine = DEFAULT_ENGINE if engine == "auto" else engine
        self._nn = NearestDecoder(bank, _no_texts, method=self.engine, block_rows=block_rows)
        self.bank = bank
        self.n_rows, self.dim = int(bank.shape[0]), int(bank.shape[1])

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q, ex, k = _search_inputs(queries, self.dim, exclude, k)
        if ex.shape[1] == 0:
            return self._nn.search(q, k)
        if ex.shape[1] == 1:
            return self._nn.search(q, k, exclude=ex[:, 0])
        scores, rows = self._nn.search(q, k + ex.shape[1])  # over-fetch: at most m rows per query go
        return drop_excluded(scores, rows, ex, k)

    def memory_bytes(self) -> int:
        # numpy reads the bank in place (it must be resident to be fast) plus one float32 norm per row;
        # faiss holds its own normalised float32 copy of the bank
        return int(4 * self.n_rows * self.dim + 4 * self.n_rows)

    def params(self) -> dict[str, Any]:
        return {"index": self.kind, "engine": self.engine, "exact": True}


def _no_texts(rows: np.ndarray) -> list[str]:
    return [""] * len(rows)


def _check_k(k: int) -> int:
    if int(k) < 1:
        raise InputError(f"k must be at least 1, got {k}")
    return int(k)


def _usable_normalized(bank: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows lo..hi of the bank normalised to unit length, and the (b,) mask of usable rows."""
    block = np.asarray(bank[lo:hi], dtype=np.float32)
    sq = np.einsum("ij,ij->i", block.astype(np.float64), block.astype(np.float64))
    ok = np.isfinite(sq) & (sq > 0)
    out = np.zeros_like(block)
    out[ok] = block[ok] / np.sqrt(sq[ok])[:, None].astype(np.float32)
    return out, ok


class _FaissApproxIndex:
    """Shared parts of the faiss IVF and HNSW indexes: ids are bank rows, unusable rows left out."""

    kind = "approx"

    def __init__(self, bank: np.ndarray, block_rows: int = 65536):
        self.n_rows, self.dim = int(bank.shape[0]), int(bank.shape[1])
        self.block_rows = block_rows
        self.index: Any = None

    def _add(self, bank: np.ndarray) -> None:
        for lo in range(0, self.n_rows, self.block_rows):
            hi = min(lo + self.block_rows, self.n_rows)
            block, ok = _usable_normalized(bank, lo, hi)
            ids = np.arange(lo, hi, dtype=np.int64)[ok]
            if ids.size:
                self.index.add_with_ids(np.ascontiguousarray(block[ok]), ids)

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q, ex, k = _search_inputs(queries, self.dim, exclude, k)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = np.divide(q, norms, out=np.zeros_like(q), where=norms > 0)
        kk = min(k + ex.shape[1], max(1, self.n_rows))
        scores, rows = self.index.search(np.ascontiguousarray(q), kk)
        return drop_excluded(scores, rows.astype(np.int64), ex, k)


class IVFIndex(_FaissApproxIndex):
    """faiss IndexIVFFlat on normalised rows: `nlist` k-means lists, `nprobe` searched per query."""

    kind = "ivf"

    def __init__(
        self,
        bank: np.ndarray,
        *,
        nlist: int | None = None,
        nprobe: int = 16,
        train_size: int | None = None,
        seed: int = 0,
        block_rows: int = 65536,
    ):
        import faiss

        super().__init__(bank, block_rows)
        n = self.n_rows
        # ~sqrt(N) lists (faiss suggests 1-16 x sqrt(N); more lists cost k-means time on 2 cores),
        # trained on ~50 points per list (faiss warns below 39)
        self.nlist = int(nlist or max(1, min(int(math.sqrt(n)), n // 39 or 1)))
        self.nprobe = int(min(nprobe, self.nlist))
        m = int(train_size or min(n, max(50 * self.nlist, 10000)))
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(m, n), replace=False))
        train, ok = _usable_normalized(bank[sample], 0, len(sample))
        quantizer = faiss.IndexFlatIP(self.dim)
        self.index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        self.index.cp.seed = int(seed)
        self.index.train(np.ascontiguousarray(train[ok]))
        self._quantizer = quantizer  # keep a Python reference alive as long as the index
        self._add(bank)
        self.index.nprobe = self.nprobe

    def memory_bytes(self) -> int:
        # inverted lists: one float32 vector and one int64 id per row; centroids
        return int(self.index.ntotal * (4 * self.dim + 8) + self.nlist * 4 * self.dim)

    def params(self) -> dict[str, Any]:
        return {
            "index": self.kind,
            "engine": "faiss",
            "exact": False,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
        }


class HNSWIndex(_FaissApproxIndex):
    """faiss IndexHNSWFlat on normalised rows: `m` links per node, `ef_search` at query time."""

    kind = "hnsw"

    def __init__(
        self,
        bank: np.ndarray,
        *,
        m: int = 32,
        ef_construction: int = 40,
        ef_search: int = 64,
        block_rows: int = 65536,
    ):
        import faiss

        super().__init__(bank, block_rows)
        self.m, self.ef_construction, self.ef_search = int(m), int(ef_construction), int(ef_search)
        self._hnsw = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        self._hnsw.hnsw.efConstruction = self.ef_construction
        self.index = faiss.IndexIDMap(self._hnsw)
        self._add(bank)
        self._hnsw.hnsw.efSearch = self.ef_search

    def memory_bytes(self) -> int:
        links = int(self._hnsw.hnsw.neighbors.size()) * 4  # int32 neighbour lists, all levels
        return int(self.index.ntotal * (4 * self.dim + 8) + links)

    def params(self) -> dict[str, Any]:
        return {
            "index": self.kind,
            "engine": "faiss",
            "exact": False,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }


def build_index(bank: np.ndarray, kind: str = "flat", *, engine: str = "auto", **options: Any) -> VectorIndex:
    """A vector index over the whole (N, D) bank: `flat` exact (engine numpy/faiss), `ivf` or `hnsw`."""
    if getattr(bank, "ndim", 0) != 2 or bank.shape[0] == 0:
        raise InputError(f"the bank must be a non-empty (N, D) array, got {getattr(bank, 'shape', None)}")
    if kind == "flat":
        return ExactIndex(bank, engine, **options)
    if engine not in ("auto", "faiss"):
        raise InputError(f"index {kind!r} is faiss only (engine {engine!r} given)")
    if kind == "ivf":
        return IVFIndex(bank, **options)
    if kind == "hnsw":
        return HNSWIndex(bank, **options)
    raise InputError(f"unknown index {kind!r} (use {', '.join(INDEX_KINDS)})")


def topk_each(
    scores, queries: Sequence[Any], k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k for each query of a sparse scorer: `scores(query)` gives (N,) scores over the bank.
    Returns (scores (q, k) float64, rows (q, k) int64), -inf / -1 padded."""
    out_s = np.empty((len(queries), int(k)))
    out_r = np.empty((len(queries), int(k)), dtype=np.int64)
    for i, q in enumerate(queries):
        ex = () if exclude is None else exclude[i]
        out_s[i], out_r[i] = topk_dense(scores(q), k, exclude=ex)
    return out_s, out_r


def topk_dense(
    scores: np.ndarray, k: int, *, exclude: Sequence[int] | np.ndarray = (), positive_only: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one dense (N,) score vector: (scores (k,), rows (k,)), ties broken by lower row.

    Excluded rows never appear; with `positive_only` rows scoring <= 0 (no shared term) are not
    retrieved. Missing slots hold -inf / -1. Deterministic, so rankings compare exactly.
    """
    k = _check_k(k)
    s = np.asarray(scores, dtype=np.float64)
    ex = np.asarray(exclude, dtype=np.int64)
    ex = ex[(ex >= 0) & (ex < s.size)]
    if ex.size:
        s = s.copy()
        s[ex] = -np.inf
    if positive_only:
        cand = np.flatnonzero(s > 0)
    else:
        cand = np.flatnonzero(np.isfinite(s))
    if cand.size > k:
        cs = s[cand]
        kth = np.partition(cs, cand.size - k)[cand.size - k]  # the k-th largest value
        above = cand[cs > kth]
        tied = cand[cs == kth][: k - above.size]  # cand is sorted: lowest rows first
        cand = np.concatenate([above, tied])
    order = np.lexsort((cand, -s[cand]))  # score descending, then row ascending
    rows = cand[order]
    out_s = np.full(k, -np.inf, dtype=np.float64)
    out_r = np.full(k, -1, dtype=np.int64)
    out_s[: rows.size] = s[rows]
    out_r[: rows.size] = rows
    return out_s, out_r
