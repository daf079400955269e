"""Benchmark: 1.1 coherence over 1M x 768 float32 vectors, beside a per-pair Python loop (same run).

    python benchmarks/bench_coherence.py [--rows 1000000] [--loop-pairs 20000]

Reports seconds for: one memory pass (the bandwidth floor), lvmgate's consecutive-pair pass
(lag 1 only), the full 1.1 metric (lags 1..5, null, bootstrap, worst pairs), and the loop
(timed on a subset and extrapolated per pair).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.metrics.coherence import coherence


def synthetic_index(n: int, rng: np.random.Generator) -> ArticleIndex:
    lengths = np.clip(rng.lognormal(np.log(17), 0.55, size=n // 5).astype(np.int64), 3, 150)
    lengths = lengths[np.cumsum(lengths) <= n]
    lengths = np.append(lengths, n - lengths.sum()) if lengths.sum() < n else lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ci = np.arange(n) - np.repeat(offsets[:-1], lengths)
    return ArticleIndex(np.array([f"a{i}" for i in range(len(lengths))], dtype=object), offsets, ci)


def loop_coherence(bank: np.ndarray, index: ArticleIndex, max_pairs: int) -> tuple[float, int]:
    """The naive tool: a Python loop over consecutive pairs inside articles."""
    done, total = 0, 0.0
    for a in range(index.n_articles):
        for i in range(index.offsets[a], index.offsets[a + 1] - 1):
            u, v = bank[i], bank[i + 1]
            total += float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
            done += 1
            if done >= max_pairs:
                return total / done, done
    return total / max(done, 1), done


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--loop-pairs", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((args.rows, args.dim), dtype=np.float32)  # (N, D)
    index = synthetic_index(args.rows, rng)
    gb = bank.nbytes / 1e9
    floor = best_of(lambda: bank.sum(axis=1))
    lag1 = best_of(lambda: coherence(bank, index, max_lag=1, order_lag=1, null_pairs=2000, resamples=0))
    full = best_of(lambda: coherence(bank, index), repeat=2)
    t = time.perf_counter()
    _, pairs = loop_coherence(bank, index, args.loop_pairs)
    per_pair = (time.perf_counter() - t) / pairs
    n_pairs = args.rows - index.n_articles
    print(
        f"bank: {args.rows:,} x {args.dim} float32 = {gb:.2f} GB, {index.n_articles:,} articles, {n_pairs:,} pairs"
    )
    print(f"{'what':<44} {'seconds':>9} {'GB/s':>7}")
    print(f"{'one read pass (bank.sum(axis=1)), the floor':<44} {floor:9.3f} {gb / floor:7.1f}")
    print(f"{'lvmgate consecutive pairs (lag 1)':<44} {lag1:9.3f} {gb / lag1:7.1f}")
    print(f"{'lvmgate full 1.1 (lags 1-5, null, bootstrap)':<44} {full:9.3f} {gb / full:7.1f}")
    est = per_pair * n_pairs
    print(f"{'per-pair Python loop (extrapolated)':<44} {est:9.1f} {gb / est:7.3f}")
    print(f"loop: {per_pair * 1e6:.2f} us/pair over {pairs:,} pairs; lag-1 speed-up {est / lag1:,.0f}x")


if __name__ == "__main__":
    main()
