"""Batch inference: model backends, the per-batch pipeline (predict + whole-bank search + texts),
an asyncio micro-batcher with a bounded queue, and the throughput-versus-batch-size curve.

- search: exact cosine top-k over the whole bank, either lvmgate.retrieval's `ExactIndex` (numpy
  float32 GEMM) or `Bf16ExactIndex` (bf16 GEMM shortlist, float32 re-scoring, certified exact, with a
  float32 fallback for the rare query the certificate cannot vouch for); `build_search("auto")` times both.
- `Engine.run`: one micro-batch of requests, each (n_i, w_i, D), grouped by window length, predicted
  and searched together; returns each request's vectors, neighbour rows, scores and texts.
- `MicroBatcher`: requests queue on the event loop and are drained into batches of up to `max_batch`
  contexts (after waiting at most `max_wait` for more), computed one batch at a time on a worker
  thread; a full queue refuses at once (`QueueFull`), a request that waited too long gets `QueueTimeout`.
- `batch_curve`: sequences/s and ms per batch at each batch size, with or without the search.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.lvm.predictor import random_contexts
from lvmgate.results import Result

SEARCH_ENGINES = ("auto", "numpy", "bf16")  # all exact


# -- search ------------------------------------------------------------------------------------------
BF16_U = 2.0**-8  # unit roundoff of bfloat16 (8 significant bits)


class Bf16ExactIndex:
    """Exact cosine top-k over the whole bank, computed fast: a bfloat16 GEMM (3-4x faster than float32
    on CPUs with AVX512-BF16) shortlists `k + extra` rows per query, which are re-scored in float32.

    Certificate: for unit q and bank row b, q.b - q16.b16 = (q - q16).b16 + q.(b - b16), so
    |q.b - p| <= |q - q16| max|b16| + max|b - b16| (+ float32 accumulation, d 2^-23), where p is the
    float32-accumulated product that torch rounds to the bf16 score s16 (|p - s16| <= u|p|). A row
    outside the shortlist has s16 <= v, the shortlist's lowest bf16 score, so its true score is at most
    v + u|v|/(1-u) + that bound. When the k-th re-scored score is above it, the answer is exactly the
    float32 top-k; otherwise the query is searched again in float32 over the whole bank (`fallbacks`).
    Assumes the bf16 GEMM accumulates in float32 (oneDNN and torch's CPU kernels do)."""

    kind = "bf16-certified"

    def __init__(self, bank: np.ndarray, *, extra: int = 64):
        import torch

        self._torch = torch
        b = np.asarray(bank, dtype=np.float32)
        norms = np.linalg.norm(b, axis=1)
        self._ok = np.isfinite(norms) & (norms > 0)  # (N,) unusable rows never match
        unit = np.zeros_like(b)
        unit[self._ok] = b[self._ok] / norms[self._ok, None]
        self.unit = unit  # (N, D) float32, normalised
        self.bank16 = torch.from_numpy(unit).to(torch.bfloat16)  # (N, D) bfloat16
        b16 = self.bank16.float().numpy()
        self._b16_norm = float(np.linalg.norm(b16, axis=1).max())  # max |b16|
        self._b_err = float(np.linalg.norm(unit - b16, axis=1).max())  # max |b - b16|
        self.n_rows, self.dim = int(b.shape[0]), int(b.shape[1])
        self.n_usable = int(self._ok.sum())
        self.extra = int(extra)
        self._dead = torch.from_numpy(~self._ok)
        self._has_dead = self.n_usable < self.n_rows
        self.queries = 0
        self.fallbacks = 0

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores (q, k) float32, rows (q, k) int64), best first; -inf / -1 where nothing is left."""
        torch = self._torch
        q = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        q = np.divide(q, norms, out=np.zeros_like(q), where=norms > 0)  # (q, D) unit (or zero)
        ex = None if exclude is None else np.asarray(exclude, dtype=np.int64).reshape(len(q), -1)
        kk = min(self.n_rows, k + self.extra + (0 if ex is None else ex.shape[1]))
        with torch.inference_mode():
            q16 = torch.from_numpy(q).to(torch.bfloat16)  # (q, D)
            q_err = np.linalg.norm(q - q16.float().numpy(), axis=1)  # (q,) |q - q16|
            s = (q16 @ self.bank16.T).float()  # (q, N) bf16 scores
            if self._has_dead:
                s.masked_fill_(self._dead, float("-inf"))
            if ex is not None:
                _mask_rows(s.numpy(), ex)
            top = torch.topk(s, kk, dim=1)
            v = top.values[:, -1].numpy().astype(np.float64)  # (q,) lowest bf16 score shortlisted
            cand = top.indices.numpy()  # (q, kk)
        # (q,) no row outside the shortlist can score above this
        bound = (
            v + BF16_U * np.abs(v) / (1 - BF16_U) + q_err * self._b16_norm + self._b_err + self.dim * 2.0**-23
        )
        exact = np.einsum("qd,qkd->qk", q, self.unit[cand])  # (q, kk) float32 re-scoring
        exact[~self._ok[cand]] = -np.inf
        if ex is not None:
            exact[(cand[:, :, None] == ex[:, None, :]).any(axis=2)] = -np.inf
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(exact, order, axis=1).astype(np.float32)
        rows = np.take_along_axis(cand, order, axis=1).astype(np.int64)
        if kk < self.n_rows:  # with the whole bank shortlisted there is nothing outside to fear
            unsure = np.flatnonzero(~(scores[:, -1] > bound))
            if unsure.size:
                self.fallbacks += int(unsure.size)
                s_u, r_u = self._exact(q[unsure], k, None if ex is None else ex[unsure])
                scores[unsure], rows[unsure] = s_u, r_u
        self.queries += len(q)
        rows[~np.isfinite(scores)] = -1
        return scores, rows

    def _exact(self, q: np.ndarray, k: int, ex: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Plain float32 top-k over the whole bank for the queries the certificate could not vouch for."""
        s = q @ self.unit.T  # (u, N)
        s[:, ~self._ok] = -np.inf
        if ex is not None:
            _mask_rows(s, ex)
        kk = min(k, self.n_rows)
        part = (
            np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            if kk < self.n_rows
            else np.tile(np.arange(self.n_rows), (len(q), 1))
        )
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        scores = np.full((len(q), k), -np.inf, np.float32)
        rows = np.full((len(q), k), -1, np.int64)
        scores[:, :kk] = np.take_along_axis(ps, order, axis=1)
        rows[:, :kk] = np.take_along_axis(part, order, axis=1)
        return scores, rows

    def memory_bytes(self) -> int:
        return int(self.unit.nbytes + self.bank16.numel() * 2)

    def params(self) -> dict[str, Any]:
        return {
            "index": self.kind,
            "exact": True,
            "shortlist_extra": self.extra,
            "queries": self.queries,
            "fallbacks": self.fallbacks,
        }


def _mask_rows(scores: np.ndarray, exclude: np.ndarray) -> None:
    """Set scores[i, exclude[i, j]] = -inf in place for every valid (>= 0) excluded row."""
    qi, col = np.nonzero(exclude >= 0)
    scores[qi, exclude[qi, col]] = -np.inf


def _time_search(index: Any, q: np.ndarray, repeats: int = 5) -> float:
    index.search(q, 10)
    t = time.perf_counter()
    for _ in range(repeats):
        index.search(q, 10)
    return (time.perf_counter() - t) / repeats


def build_search(bank: np.ndarray, engine: str = "auto") -> Any:
    """The whole-bank exact index the server uses: `numpy` (lvmgate.retrieval's ExactIndex, float32
    GEMM), `bf16` (Bf16ExactIndex: certified bf16 shortlist), or `auto`: whichever is faster here on a
    batch of 16 queries (bf16 matmul is slow on CPUs without native support)."""
    from lvmgate.retrieval.search import ExactIndex

    if engine == "numpy":
        return ExactIndex(bank, "numpy")
    if engine == "bf16":
        return Bf16ExactIndex(bank)
    if engine == "auto":
        numpy_index, bf16_index = ExactIndex(bank, "numpy"), Bf16ExactIndex(bank)
        rng = np.random.default_rng(0)
        q = np.asarray(bank[rng.integers(0, len(bank), 16)], dtype=np.float32)
        q = q + rng.standard_normal(q.shape).astype(np.float32) * 0.01
        return bf16_index if _time_search(bf16_index, q) < _time_search(numpy_index, q) else numpy_index
    raise InputError(f"unknown search engine {engine!r} (use {', '.join(SEARCH_ENGINES)})")


# -- one batch of work -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """What one request gets back: (n, D) vectors and (n, k) neighbour rows, scores and texts."""

    vectors: np.ndarray
    rows: np.ndarray
    scores: np.ndarray
    texts: list[list[str]]


class Engine:
    """Predict + whole-bank search + texts for a list of requests, each (n_i, w_i, D) contexts."""

    def __init__(
        self,
        predictor: Any,
        index: Any,
        texts: Callable[[np.ndarray], list[str]],
        *,
        dim: int,
    ):
        self.predictor = predictor
        self.index = index
        self.texts = texts
        self.dim = int(dim)

    def predict(self, contexts: list[np.ndarray]) -> list[np.ndarray]:
        """Each request's (n_i, D) predictions; same-length windows run as one model call."""
        by_len: dict[int, list[int]] = collections.defaultdict(list)
        for i, c in enumerate(contexts):
            by_len[c.shape[1]].append(i)
        out: list[np.ndarray | None] = [None] * len(contexts)
        for idx in by_len.values():
            stacked = (
                np.concatenate([contexts[i] for i in idx]) if len(idx) > 1 else contexts[idx[0]]
            )  # (B, w, D)
            pred = np.asarray(self.predictor.predict(stacked), dtype=np.float32)  # (B, D)
            if pred.shape != (stacked.shape[0], self.dim):
                raise RuntimeError(
                    f"predictor returned shape {pred.shape}, expected {(stacked.shape[0], self.dim)}"
                )
            if not np.isfinite(pred).all():
                raise RuntimeError("the model produced NaN or infinite predictions")
            lo = 0
            for i in idx:
                n = contexts[i].shape[0]
                out[i] = pred[lo : lo + n]
                lo += n
        return out  # type: ignore[return-value]

    def run(self, contexts: list[np.ndarray], top_ks: Sequence[int]) -> list[Prediction]:
        preds = self.predict(contexts)
        allq = np.concatenate(preds) if len(preds) > 1 else preds[0]  # (Q, D)
        k = max(top_ks)
        scores, rows = self.index.search(allq, k)  # (Q, k) each
        uniq = np.unique(rows[rows >= 0])
        text_of = dict(zip(uniq.tolist(), self.texts(uniq))) if uniq.size else {}
        results, lo = [], 0
        for p, kk in zip(preds, top_ks):
            r, s = rows[lo : lo + len(p), :kk], scores[lo : lo + len(p), :kk]
            lo += len(p)
            results.append(Prediction(p, r, s, [[text_of.get(int(x), "") for x in line] for line in r]))
        return results


# -- micro-batching ----------------------------------------------------------------------------------
class QueueFull(Exception):
    """The bounded queue has no room: answer 429 now rather than later."""


class QueueTimeout(Exception):
    """The request waited in the queue longer than its deadline: answer 503."""


@dataclass
class _Job:
    payload: Any
    n: int
    future: asyncio.Future
    t_enqueue: float


@dataclass
class BatchStats:
    """What the batcher reports after each batch (for metrics and the batch log line)."""

    size: int  # contexts in the batch
    requests: int
    queue_wait_max_s: float
    compute_s: float
    queue_depth: int
    expired: int = 0
    error: str | None = None


class MicroBatcher:
    """Collect concurrent requests into batches of up to `max_batch` contexts; `max_queue` bounds the
    contexts waiting (memory stays bounded, overload answers at once). Runs on one event loop."""

    def __init__(
        self,
        fn: Callable[[list[Any]], list[Any]],
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.002,
        max_queue: int = 1024,
        timeout_s: float = 10.0,
        on_batch: Callable[[BatchStats], None] | None = None,
    ):
        if max_batch < 1 or max_queue < 1:
            raise InputError("max_batch and max_queue must be at least 1")
        self.fn = fn
        self.max_batch, self.max_wait_s = int(max_batch), float(max_wait_s)
        self.max_queue, self.timeout_s = int(max_queue), float(timeout_s)
        self.on_batch = on_batch
        self._queue: collections.deque[_Job] = collections.deque()
        self._pending = 0  # contexts waiting
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lvmgate-batch")
        self.batches = 0

    @property
    def depth(self) -> int:
        """Contexts waiting in the queue (not counting the batch being computed)."""
        return self._pending

    def start(self) -> None:
        self._event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(QueueTimeout("server shutting down"))
        self._queue.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, payload: Any, n: int = 1) -> Any:
        """Queue one request of `n` contexts and wait for its result (QueueFull when no room)."""
        if self._event is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self._pending + n > self.max_queue:
            raise QueueFull(f"queue full ({self._pending} contexts waiting, limit {self.max_queue})")
        loop = asyncio.get_running_loop()
        job = _Job(payload, n, loop.create_future(), loop.time())
        self._queue.append(job)
        self._pending += n
        self._event.set()
        return await job.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._event is not None
        while True:
            if not self._queue:
                self._event.clear()
                await self._event.wait()
            if self.max_wait_s > 0 and self._pending < self.max_batch:
                await asyncio.sleep(self.max_wait_s)  # let concurrent requests join this batch
            batch, n, expired = [], 0, 0
            now = loop.time()
            while self._queue and (not batch or n + self._queue[0].n <= self.max_batch):
                job = self._queue.popleft()
                self._pending -= job.n
                if job.future.done():  # the client went away
                    continue
                if now - job.t_enqueue > self.timeout_s:
                    job.future.set_exception(QueueTimeout(f"waited over {self.timeout_s:g} s in the queue"))
                    expired += 1
                    continue
                batch.append(job)
                n += job.n
            if not batch:
                continue
            t0 = time.perf_counter()
            error = None
            try:
                results = await loop.run_in_executor(self._executor, self.fn, [j.payload for j in batch])
            except Exception as exc:  # the model or search failed: every request of the batch gets it
                error = f"{type(exc).__name__}: {exc}"
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            else:
                for job, res in zip(batch, results):
                    if not job.future.done():
                        job.future.set_result(res)
            self.batches += 1
            if self.on_batch is not None:
                self.on_batch(
                    BatchStats(
                        n,
                        len(batch),
                        max(now - j.t_enqueue for j in batch),
                        time.perf_counter() - t0,
                        self._pending,
                        expired,
                        error,
                    )
                )


# -- throughput versus batch size ----------------------------------------------------------------------
@dataclass(frozen=True)
class BatchPoint(Result):
    batch_size: int
    ms_per_batch: float  # median over repeats
    ms_per_sequence: float
    sequences_per_s: float
    repeats: int


@dataclass(frozen=True)
class BatchCurve(Result):
    """Throughput of batched inference at each batch size (the plan's "batch inference optimized")."""

    model: str
    window: int
    dim: int
    includes_search: bool
    bank_rows: int | None
    threads: int
    points: tuple[BatchPoint, ...]
    best_batch_size: int
    best_sequences_per_s: float
    speedup_vs_batch1: float  # best throughput / throughput at batch size 1 (or the smallest tried)
    params: dict[str, Any] = field(default_factory=dict)


def batch_curve(
    predictor: Any,
    *,
    window: int,
    dim: int = 768,
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    index: Any = None,
    k: int = 10,
    min_seconds: float = 0.25,
    min_repeats: int = 3,
    seed: int = 0,
) -> BatchCurve:
    """Time predict (and, with `index`, the whole-bank top-k search) at each batch size."""

    sizes = sorted({int(b) for b in batch_sizes})
    if not sizes or sizes[0] < 1:
        raise InputError("batch sizes must be positive integers")
    x_all = random_contexts(sizes[-1], window, dim, seed=seed)  # (Bmax, w, D)

    def step(x: np.ndarray) -> None:
        pred = predictor.predict(x)
        if index is not None:
            index.search(np.asarray(pred, dtype=np.float32), k)

    points = []
    for b in sizes:
        x = x_all[:b]
        step(x)  # warm-up
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
            t = time.perf_counter()
            step(x)
            times.append(time.perf_counter() - t)
        med = float(np.median(times))
        points.append(BatchPoint(b, med * 1e3, med * 1e3 / b, b / med, len(times)))
    best = max(points, key=lambda p: p.sequences_per_s)
    threads = _threads()
    return BatchCurve(
        getattr(predictor, "name", type(predictor).__name__),
        int(window),
        int(dim),
        index is not None,
        getattr(index, "n_rows", None),
        threads,
        tuple(points),
        best.batch_size,
        best.sequences_per_s,
        best.sequences_per_s / points[0].sequences_per_s,
        {"k": k, "min_seconds": min_seconds, "seed": seed},
    )


def _threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a core dependency
        return 1
