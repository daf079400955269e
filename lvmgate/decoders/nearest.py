"""Nearest-neighbour decoder: the text of the most cosine-similar row of the corpus's own vector bank.

Always searches the whole bank (the real project's retrieval looked like 75% Hit@5 on a candidate
subset and was 0.65% on the full bank). Exact search, two engines behind one interface:

- `numpy` (default): blocked float32 GEMM over the bank + argmax / argpartition per block; works on
  a memory-mapped bank without copying it, and was the faster one here (see `benchmark` and
  docs/decoders.md: ~5x faster than faiss IndexFlatIP on these 2 cores).
- `faiss`: IndexFlatIP over a normalised in-memory copy of the bank (faiss-cpu).

Rows of the bank that are NaN/inf or all zero never match. `exclude` removes one row per query
(its own row, for held-out evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lvmgate.decoders.base import Decoded, Decoder, check_queries
from lvmgate.errors import InputError

METHODS = ("numpy", "faiss")
_SCORE_CELLS = 4_000_000
DEFAULT_METHOD = "numpy"  # measured faster here for exact inner-product search (docs/decoders.md)


class NearestDecoder(Decoder):
    """Exact cosine nearest neighbour over a whole (N, D) bank; texts by row."""

    name = "nearest"
    default_batch_size = 256

    def __init__(
        self,
        bank: np.ndarray,
        texts: Sequence[str] | Callable[[np.ndarray], list[str]],
        *,
        method: str = DEFAULT_METHOD,
        block_rows: int = 65536,
        batch_size: int | None = None,
        source: str = "",
    ):
        if method not in METHODS:
            raise InputError(f"nearest: unknown search method {method!r} (use {' or '.join(METHODS)})")
        if getattr(bank, "ndim", 0) != 2 or bank.shape[0] == 0:
            raise InputError(
                f"nearest: the bank must be a non-empty (N, D) array, got {getattr(bank, 'shape', None)}"
            )
        if not callable(texts) and len(texts) != bank.shape[0]:
            raise InputError(f"nearest: {len(texts)} texts for a bank of {bank.shape[0]} vectors")
        self.bank = bank  # (N, D), possibly a read-only memmap
        self.dim = int(bank.shape[1])
        self.n_rows = int(bank.shape[0])
        self.method = method
        self.block_rows = max(1, int(block_rows))
        self.default_batch_size = int(batch_size or self.default_batch_size)
        self.source = source
        self._texts = texts
        self._inv_norm = _inverse_norms(bank, self.block_rows)  # (N,) float32, 0 for unusable rows
        self._dead = np.flatnonzero(self._inv_norm == 0)  # rows that never match
        self._faiss_index = None

    @classmethod
    def from_store(cls, store: Any, dataset: str, **kwargs: Any) -> NearestDecoder:
        """A decoder over the dataset's whole vector bank (memory-mapped where the store can)."""
        bank = store.vectors(dataset)
        return cls(bank, lambda rows: store.texts(dataset, rows), source=f"{store.url}#{dataset}", **kwargs)

    def params(self) -> dict[str, Any]:
        return {
            "decoder": self.name,
            "method": self.method,
            "bank_rows": self.n_rows,
            "dim": self.dim,
            "unusable_bank_rows": int(self._dead.size),
            "similarity": "cosine",
            "source": self.source,
        }

    # -- search --------------------------------------------------------------------------------
    def search(
        self, queries: np.ndarray, k: int = 1, *, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k bank rows by cosine: (scores (q, k) float32, rows (q, k) int64), best first.

        `exclude` (q,) holds one bank row per query never to return (-1: none). Slots with no
        usable row (k larger than the usable bank) hold score -inf and row -1.
        """
        q = check_queries(queries, self.dim, self.name)
        k = int(k)
        if k < 1:
            raise InputError("nearest: k must be at least 1")
        norms = np.linalg.norm(q, axis=1, keepdims=True)  # (q, 1)
        q = np.divide(q, norms, out=np.zeros_like(q), where=norms > 0)
        ex = None if exclude is None else np.asarray(exclude, dtype=np.int64).reshape(-1)
        if ex is not None and ex.shape[0] != q.shape[0]:
            raise InputError(f"nearest: exclude has {ex.shape[0]} entries for {q.shape[0]} queries")
        if self.method == "faiss":
            return self._search_faiss(q, k, ex)
        return self._search_numpy(q, k, ex)

    def _search_numpy(self, q: np.ndarray, k: int, ex: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        nq = q.shape[0]
        best_s = np.full((nq, k), -np.inf, dtype=np.float32)  # (q, k)
        best_i = np.full((nq, k), -1, dtype=np.int64)  # (q, k)
        rows_q = np.arange(nq)
        # keep the (q, b) score block near 16 MB so it stays in cache-friendly territory
        step = int(min(self.block_rows, max(4096, _SCORE_CELLS // max(nq, 1))))
        for lo in range(0, self.n_rows, step):
            hi = min(lo + step, self.n_rows)
            block = np.asarray(self.bank[lo:hi], dtype=np.float32)  # (b, D)
            with np.errstate(invalid="ignore", over="ignore"):
                s = q @ block.T  # (q, b)
            s *= self._inv_norm[lo:hi]  # cosine: queries are unit, bank rows scaled by 1/|row|
            dead = self._dead[(self._dead >= lo) & (self._dead < hi)] - lo
            if dead.size:
                s[:, dead] = -np.inf  # NaN / zero rows never match
            if ex is not None:
                hit = (ex >= lo) & (ex < hi)
                s[rows_q[hit], ex[hit] - lo] = -np.inf
            b = hi - lo
            if k == 1:
                j = np.argmax(s, axis=1)  # (q,)
                top_s = s[rows_q, j][:, None]
                top_i = (j + lo)[:, None]
            else:
                kk = min(k, b)
                part = (
                    np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < b else np.tile(np.arange(b), (nq, 1))
                )
                top_s = np.take_along_axis(s, part, axis=1)
                top_i = part + lo
            cand_s = np.concatenate([best_s, top_s], axis=1)  # (q, k + kk)
            cand_i = np.concatenate([best_i, top_i], axis=1)
            order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(cand_s, order, axis=1)
            best_i = np.take_along_axis(cand_i, order, axis=1)
        best_i[~np.isfinite(best_s)] = -1
        return best_s, best_i

    def _build_faiss(self):
        import faiss

        index = faiss.IndexFlatIP(self.dim)
        for lo in range(0, self.n_rows, self.block_rows):
            hi = min(lo + self.block_rows, self.n_rows)
            block = np.asarray(self.bank[lo:hi], dtype=np.float32)
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0) * self._inv_norm[lo:hi, None]
            index.add(np.ascontiguousarray(block, dtype=np.float32))  # unusable rows are zero: score 0
        return index

    def _search_faiss(self, q: np.ndarray, k: int, ex: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._faiss_index is None:
            self._faiss_index = self._build_faiss()
        extra = self._dead.size + (1 if ex is not None else 0)
        kk = min(self.n_rows, k + extra)
        scores, rows = self._faiss_index.search(np.ascontiguousarray(q), kk)  # (q, kk)
        rows = rows.astype(np.int64)
        bad = np.isin(rows, self._dead) | (rows < 0)
        if ex is not None:
            bad |= rows == ex[:, None]
        scores = np.where(bad, -np.inf, scores).astype(np.float32)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(scores, order, axis=1)
        best_i = np.take_along_axis(rows, order, axis=1)
        if best_s.shape[1] < k:
            pad = k - best_s.shape[1]
            best_s = np.pad(best_s, ((0, 0), (0, pad)), constant_values=-np.inf)
            best_i = np.pad(best_i, ((0, 0), (0, pad)), constant_values=-1)
        best_i[~np.isfinite(best_s)] = -1
        return best_s, best_i

    # -- decoding ------------------------------------------------------------------------------
    def _decode_batch(self, vectors: np.ndarray, exclude: np.ndarray | None = None) -> list[Decoded]:
        scores, rows = self.search(vectors, 1, exclude=exclude)  # (b, 1) each
        rows1 = rows[:, 0]
        found = rows1 >= 0
        texts = self._text_of(rows1[found]) if found.any() else []
        it = iter(texts)
        out = []
        for s, r, ok in zip(scores[:, 0].tolist(), rows1.tolist(), found.tolist()):
            if ok:
                out.append(Decoded(next(it), min(1.0, max(-1.0, float(s))), int(r)))  # float32 rounding
            else:
                out.append(Decoded("", float("nan"), None, "no usable bank row"))
        return out

    def _text_of(self, rows: np.ndarray) -> list[str]:
        if callable(self._texts):
            return list(self._texts(rows))
        return [self._texts[int(r)] for r in rows]

    def close(self) -> None:
        self._faiss_index = None


def _inverse_norms(bank: np.ndarray, block_rows: int) -> np.ndarray:
    """(N,) float32: 1/|row| for usable rows, 0 for rows that are NaN/inf or all zero; streamed."""
    out = np.empty(bank.shape[0], dtype=np.float32)
    for lo in range(0, bank.shape[0], block_rows):
        part = np.asarray(bank[lo : lo + block_rows], dtype=np.float64)  # (b, D)
        sq = np.einsum("ij,ij->i", part, part)
        ok = np.isfinite(sq) & (sq > 0)
        out[lo : lo + len(part)] = np.where(ok, 1.0 / np.sqrt(np.where(ok, sq, 1.0)), 0.0)
    return out


# --------------------------------------------------------------------------------------------------
def benchmark(
    n_bank: int = 20000,
    dim: int = 768,
    n_queries: int = 1024,
    *,
    batch_size: int = 256,
    methods: Sequence[str] = METHODS,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Queries per second of exact top-1 cosine search per method on a random (n_bank, dim) bank.

    Also checks that the methods agree on the answers (they must: both are exact).
    """
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((n_bank, dim), dtype=np.float32)
    queries = bank[rng.integers(0, n_bank, n_queries)] + 0.1 * rng.standard_normal(
        (n_queries, dim), dtype=np.float32
    )
    texts = [""] * n_bank
    out: dict[str, Any] = {"n_bank": n_bank, "dim": dim, "n_queries": n_queries, "batch_size": batch_size}
    answers = {}
    for method in methods:
        dec = NearestDecoder(bank, texts, method=method)
        t0 = time.perf_counter()
        dec.search(queries[:batch_size])  # warm-up (faiss builds its index here)
        build = time.perf_counter() - t0
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = [dec.search(queries[i : i + batch_size])[1][:, 0] for i in range(0, n_queries, batch_size)]
            best = min(best, time.perf_counter() - t0)
        answers[method] = np.concatenate(rows)
        out[method] = {"queries_per_s": n_queries / best, "seconds": best, "first_call_s": build}
    if len(answers) > 1:
        ref = next(iter(answers.values()))
        out["agree"] = all(bool(np.array_equal(ref, a)) for a in answers.values())
    try:
        import faiss

        out["faiss_threads"] = faiss.omp_get_max_threads()
    except ImportError:  # pragma: no cover
        pass
    return out
