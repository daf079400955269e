"""Benchmark: window construction at the plan's full scale (10M chunks, context 12, stride 6).

Builds a synthetic ArticleIndex whose article lengths are lognormal like Wikipedia's (mean ~20
chunks, long tail), then measures in one run:
- `build_windows` (vectorised over runs of consecutive chunks): seconds and tracemalloc peak;
- materialising the (N, w) int64 context array the NPZ stores;
- the per-article Python loop, timed on a subset of articles and extrapolated linearly to all;
- the per-row content hashing of `prepare` (one pass over the bank), on a slice, extrapolated;
- the seeded hash ranking used by --limit and the splits, over every article id;
- `prepare_sequences` end to end on a smaller 768-D bank (--e2e-chunks, 1% of rows planted as
  copies of their predecessor so the dedup paths run), whose time is dominated by the bank pass.

    .venv/bin/python benchmarks/bench_windows.py [--chunks 10000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.sequences.content import scan_rows
from lvmgate.sequences.prepare import PrepareParams, prepare_sequences
from lvmgate.sequences.splits import article_rank_keys
from lvmgate.sequences.windows import build_windows, window_counts, windows_per_article_loop


def synthetic_index(n_chunks: int, mean_len: float = 20.0, sigma: float = 1.0, seed: int = 0) -> ArticleIndex:
    """Articles with lognormal lengths (mean ~mean_len) totalling exactly n_chunks rows."""
    rng = np.random.default_rng(seed)
    mu = np.log(mean_len) - sigma**2 / 2
    n_guess = int(n_chunks / mean_len * 1.2) + 10
    lengths = np.maximum(1, np.round(rng.lognormal(mu, sigma, n_guess))).astype(np.int64)
    cum = np.cumsum(lengths)
    a = int(np.searchsorted(cum, n_chunks)) + 1
    lengths = lengths[:a]
    lengths[-1] -= int(cum[a - 1] - n_chunks)
    offsets = np.zeros(a + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chunk_index = np.arange(n_chunks, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    ids = np.array([f"wiki-{i:07d}" for i in range(a)], dtype=object)
    return ArticleIndex(ids, offsets, chunk_index)


def measure(fn, *args, **kwargs):
    """(result, seconds, tracemalloc peak bytes) of one call."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=10_000_000)
    ap.add_argument("--context-window", type=int, default=12)
    ap.add_argument("--stride", type=int, default=6)
    ap.add_argument("--loop-articles", type=int, default=20_000, help="subset timed for the Python loop")
    ap.add_argument("--hash-rows", type=int, default=131_072, help="rows of a 768-D bank hashed")
    ap.add_argument("--e2e-chunks", type=int, default=300_000, help="rows of the end-to-end run (0: skip)")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()
    w, s = args.context_window, args.stride
    mib = 2**20

    t0 = time.perf_counter()
    index = synthetic_index(args.chunks)
    t_index = time.perf_counter() - t0
    index_bytes = index.offsets.nbytes + index.chunk_index.nbytes
    lengths = index.lengths
    expected = int(window_counts(lengths, w, s).sum())

    (windows, stats), t_build, peak_build = measure(build_windows, index, w, s)
    assert len(windows) == expected, (len(windows), expected)
    out_bytes = windows.start.nbytes + windows.article.nbytes
    context, t_ctx, peak_ctx = measure(lambda: windows.context)
    npz_bytes = context.nbytes + windows.target.nbytes + windows.article.nbytes
    del context

    k = min(args.loop_articles, index.n_articles)
    sub = ArticleIndex(index.ids[:k], index.offsets[: k + 1], index.chunk_index[: index.offsets[k]])
    t0 = time.perf_counter()
    starts = windows_per_article_loop(sub, w, s)
    loop_ctx = [st[:, None] + np.arange(w) for st in starts]  # the loop also builds each context block
    t_loop_sub = time.perf_counter() - t0
    assert sum(len(x) for x in loop_ctx) == int(window_counts(lengths[:k], w, s).sum())
    t_loop = t_loop_sub * index.n_articles / k

    rng = np.random.default_rng(1)
    bank = rng.standard_normal((args.hash_rows, 768)).astype(np.float32)
    _, t_hash, _ = measure(scan_rows, bank)
    t_hash_full = t_hash * args.chunks / args.hash_rows

    _, t_rank, _ = measure(article_rank_keys, index.ids, 0, "split")
    del bank

    e2e = {}
    if args.e2e_chunks:
        small = synthetic_index(args.e2e_chunks, seed=2)
        bank = rng.standard_normal((args.e2e_chunks, 768)).astype(np.float32)
        dup = np.flatnonzero(rng.random(args.e2e_chunks) < 0.01)
        dup = dup[dup > 0]
        bank[dup] = bank[dup - 1]
        params = PrepareParams(w, s, val_split=0.05, test_split=0.05, seed=0)
        prepared, t_e2e, peak_e2e = measure(prepare_sequences, small, bank, params)
        c = prepared.counts
        e2e = {
            "e2e_chunks": args.e2e_chunks,
            "e2e_windows": c.n_windows,
            "e2e_dropped_repeated": c.n_dropped_repeated,
            "e2e_dropped_duplicate": c.n_dropped_duplicate,
            "e2e_prepare_s": round(t_e2e, 3),
            "e2e_peak_mib_excl_bank": round(peak_e2e / mib, 1),
            "e2e_extrapolated_s_at_chunks": round(t_e2e * args.chunks / args.e2e_chunks, 1),
        }

    res = {
        "machine": f"{platform.machine()} {platform.python_version()} numpy {np.__version__}",
        "chunks": args.chunks,
        "articles": index.n_articles,
        "mean_article_len": float(lengths.mean()),
        "short_articles": stats.n_short_articles,
        "context_window": w,
        "stride": s,
        "windows": len(windows),
        "index_build_s": round(t_index, 3),
        "index_arrays_mib": round(index_bytes / mib, 1),
        "build_windows_s": round(t_build, 3),
        "build_windows_peak_mib": round(peak_build / mib, 1),
        "build_peak_over_index_arrays": round(peak_build / index_bytes, 2),
        "windows_arrays_mib": round(out_bytes / mib, 1),
        "context_materialise_s": round(t_ctx, 3),
        "context_peak_mib": round(peak_ctx / mib, 1),
        "npz_arrays_mib": round(npz_bytes / mib, 1),
        "loop_articles_timed": k,
        "loop_subset_s": round(t_loop_sub, 3),
        "loop_extrapolated_s": round(t_loop, 2),
        "speedup_vs_loop": round(t_loop / (t_build + t_ctx), 1),
        "hash_rows_timed": args.hash_rows,
        "hash_subset_s": round(t_hash, 3),
        "hash_extrapolated_s_768d": round(t_hash_full, 1),
        "rank_keys_all_articles_s": round(t_rank, 3),
        **e2e,
    }
    width = max(map(len, res))
    for key, value in res.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
