"""Exact and approximate top-k search over a large bank, numpy and faiss side by side in one run.

    .venv/bin/python benchmarks/bench_search.py --rows 1000000 --dim 768 --json /tmp/search.json

Bank: clustered unit vectors (a mixture of `--clusters` Gaussian centres plus noise, like topical
chunk embeddings; uniform random vectors have no structure for IVF to use). Queries: fresh draws
from the same mixture (not copies of bank rows, which would make every index look perfect). Measured, for each engine / index:
- exact `flat`: lvmgate's numpy engine (blocked GEMM + argpartition) and faiss IndexFlatIP, at
  batch 1 (single-query latency) and batch `--batch` (throughput); their answers must agree;
- approximate `ivf` (nprobe sweep) and `hnsw` (efSearch sweep, on the first `--hnsw-rows` rows
  because its build is slow on 2 cores): queries/s and recall@k of the exact top k.
Prints a table and writes JSON. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time

import numpy as np

from lvmgate.retrieval.search import ExactIndex, HNSWIndex, IVFIndex


def clustered(n: int, centres: np.ndarray, noise: float, rng, block: int = 100_000) -> np.ndarray:
    """n unit vectors: a random centre plus Gaussian noise (`noise` x the centre scale per dimension)."""
    dim = centres.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        part = centres[rng.integers(0, len(centres), hi - lo)]
        part += noise * rng.standard_normal((hi - lo, dim), dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        out[lo:hi] = part
    return out


def time_search(index, queries: np.ndarray, k: int, batch: int, repeats: int = 1) -> tuple[float, np.ndarray]:
    """Best-of-`repeats` seconds to answer all queries in batches; and the rows found."""
    best, rows = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = [index.search(queries[i : i + batch], k)[1] for i in range(0, len(queries), batch)]
        best = min(best, time.perf_counter() - t0)
        rows = np.concatenate(out)
    return best, rows


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=2.0, help="noise scale relative to the centres")
    ap.add_argument("--queries", type=int, default=256)
    ap.add_argument("--single", type=int, default=16, help="queries timed one at a time (latency)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", default="8,32,64")
    ap.add_argument("--hnsw-rows", type=int, default=200_000)
    ap.add_argument("--ef", default="32,64,128")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: faiss_flat, ivf, hnsw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    import faiss

    out: dict = {
        "rows": args.rows,
        "dim": args.dim,
        "queries": args.queries,
        "batch": args.batch,
        "k": args.k,
        "cpus": os.cpu_count(),
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
        "load_average_before": os.getloadavg(),
    }
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.clusters, args.dim)).astype(np.float32)
    bank = clustered(args.rows, centres, args.noise, rng)
    queries = clustered(args.queries, centres, args.noise, rng)  # fresh draws, not copies of bank rows
    out["generate_s"] = time.perf_counter() - t0
    print(f"bank {bank.shape} float32 ({bank.nbytes / 2**30:.2f} GiB) in {out['generate_s']:.1f}s")

    rows_exact = None
    for engine in ("numpy", "faiss"):
        if engine == "faiss" and "faiss_flat" in skip:
            continue
        t0 = time.perf_counter()
        idx = ExactIndex(bank, engine)
        idx.search(queries[:1], args.k)  # faiss copies and normalises the bank on first use
        build = time.perf_counter() - t0
        single_s, _ = time_search(idx, queries[: args.single], args.k, 1)
        batch_s, rows = time_search(idx, queries, args.k, args.batch)
        gflops = 2 * args.queries * args.rows * args.dim / batch_s / 1e9
        res = {
            "build_s": build,
            "single_query_ms": 1000 * single_s / args.single,
            "batch_qps": args.queries / batch_s,
            "batch_ms_per_batch": 1000 * batch_s / -(-args.queries // args.batch),
            "gflops": gflops,
            "memory_bytes": idx.memory_bytes(),
        }
        if rows_exact is None:
            rows_exact = rows
        else:
            res["agrees_with_numpy"] = recall(rows, rows_exact)
        out[f"flat_{engine}"] = res
        print(f"flat/{engine}: {res}")
        del idx
        gc.collect()

    if "ivf" not in skip:
        t0 = time.perf_counter()
        ivf = IVFIndex(bank, nlist=args.nlist, nprobe=1, seed=args.seed)
        out["ivf_build_s"] = time.perf_counter() - t0
        out["ivf_memory_bytes"] = ivf.memory_bytes()
        print(f"ivf nlist={args.nlist}: built in {out['ivf_build_s']:.1f}s")
        for nprobe in map(int, args.nprobe.split(",")):
            ivf.index.nprobe = nprobe
            s, rows = time_search(ivf, queries, args.k, args.batch)
            res = {"qps": args.queries / s, "recall_at_k": recall(rows, rows_exact)}
            out[f"ivf_nprobe{nprobe}"] = res
            print(f"ivf nprobe={nprobe}: {res}")
        del ivf
        gc.collect()

    if "hnsw" not in skip:
        n_h = min(args.hnsw_rows, args.rows)
        sub = bank[:n_h]
        exact_sub = ExactIndex(sub, "numpy")
        _, rows_sub = time_search(exact_sub, queries, args.k, args.batch)
        t0 = time.perf_counter()
        hnsw = HNSWIndex(sub, m=32, ef_construction=40, ef_search=32)
        out["hnsw_rows"] = n_h
        out["hnsw_build_s"] = time.perf_counter() - t0
        out["hnsw_memory_bytes"] = hnsw.memory_bytes()
        print(f"hnsw on {n_h} rows: built in {out['hnsw_build_s']:.1f}s")
        for ef in map(int, args.ef.split(",")):
            hnsw._hnsw.hnsw.efSearch = ef
            s, rows = time_search(hnsw, queries, args.k, args.batch)
            res = {"qps": args.queries / s, "recall_at_k": recall(rows, rows_sub)}
            out[f"hnsw_ef{ef}"] = res
            print(f"hnsw efSearch={ef}: {res}")
        s, _ = time_search(exact_sub, queries, args.k, args.batch)
        out["hnsw_subset_exact_numpy_qps"] = args.queries / s
    out["load_average_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
