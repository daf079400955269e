"""BM25 over a large corpus: lvmgate's sparse BM25 against rank-bm25 (on a subset), side by side.

    .venv/bin/python benchmarks/bench_bm25.py --docs 1000000 --subset 100000 --json /tmp/bm25.json

Corpus: `--docs` documents of Zipf-distributed token ids (about `--doc-len` tokens each over a
`--vocab`-word vocabulary; the shape NOTES.md measured rank-bm25 and bm25s on), queries of
`--query-len` tokens drawn the same way. Measured:
- lvmgate BM25Index on all documents: index build, per-query latency (p50 / p95), memory;
- rank-bm25 BM25Okapi and lvmgate on the first `--subset` documents: build, per-query latency,
  and whether the two give the same top 10 (they implement the same variant);
- tokenising real text (lvmgate.synth chunks) with lvmgate's tokenizer, chunks per second.
Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from lvmgate.retrieval.bm25 import BM25Index, TermMatrix, tokenize_all


def zipf_tokens(n_docs: int, doc_len: int, vocab: int, rng) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.clip(rng.poisson(doc_len, n_docs), 1, None).astype(np.int64)
    ids = (rng.zipf(1.2, int(lengths.sum())) - 1) % vocab  # heavy head, long tail
    return ids.astype(np.int64), lengths


def query_latencies(index: BM25Index, queries: list[np.ndarray], k: int = 10) -> tuple[np.ndarray, list]:
    lat, rows = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, r = index.search([q], k)
        lat.append(time.perf_counter() - t0)
        rows.append(r[0])
    return np.array(lat), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--subset", type=int, default=100_000)
    ap.add_argument("--doc-len", type=int, default=60)
    ap.add_argument("--vocab", type=int, default=200_000)
    ap.add_argument("--query-len", type=int, default=8)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ref-queries", type=int, default=10, help="queries timed on rank-bm25 (slow)")
    ap.add_argument("--text-articles", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    out: dict = {k: v for k, v in vars(args).items() if k != "json"}
    out["load_average_before"] = os.getloadavg()

    t0 = time.perf_counter()
    ids, lengths = zipf_tokens(args.docs, args.doc_len, args.vocab, rng)
    queries = [(rng.zipf(1.2, args.query_len) - 1) % args.vocab for _ in range(args.queries)]
    out["generate_s"] = time.perf_counter() - t0
    out["tokens"] = int(lengths.sum())

    t0 = time.perf_counter()
    full = BM25Index(TermMatrix.from_ids(ids, lengths, args.vocab))
    out["lvmgate_full_build_s"] = time.perf_counter() - t0
    lat, _ = query_latencies(full, queries)
    out["lvmgate_full"] = {
        "p50_ms": float(np.percentile(lat, 50) * 1000),
        "p95_ms": float(np.percentile(lat, 95) * 1000),
        "mean_ms": float(lat.mean() * 1000),
        "memory_bytes": full.memory_bytes(),
    }
    print(
        f"lvmgate BM25 on {args.docs} docs: build {out['lvmgate_full_build_s']:.1f}s, {out['lvmgate_full']}"
    )
    del full

    n = args.subset
    sub_tokens = int(lengths[:n].sum())
    sub_ids, sub_len = ids[:sub_tokens], lengths[:n]
    t0 = time.perf_counter()
    ours = BM25Index(TermMatrix.from_ids(sub_ids, sub_len, args.vocab))
    out["lvmgate_subset_build_s"] = time.perf_counter() - t0
    lat_ours, rows_ours = query_latencies(ours, queries[: args.ref_queries])
    from rank_bm25 import BM25Okapi

    docs = [d.tolist() for d in np.split(sub_ids, np.cumsum(sub_len)[:-1])]
    t0 = time.perf_counter()
    ref = BM25Okapi(docs)
    out["rank_bm25_subset_build_s"] = time.perf_counter() - t0
    lat_ref, same = [], []
    for q, mine in zip(queries[: args.ref_queries], rows_ours):
        t0 = time.perf_counter()
        s = ref.get_scores(q.tolist())
        top = np.argsort(-s, kind="stable")[:10]
        lat_ref.append(time.perf_counter() - t0)
        top = top[s[top] > 0]  # lvmgate retrieves only documents sharing a query term
        mine = mine[mine >= 0]
        same.append(len(top) == len(mine) and bool(np.allclose(s[top], s[mine], rtol=1e-5)))
    out["subset"] = {
        "docs": n,
        "lvmgate_ms": float(np.mean(lat_ours) * 1000),
        "rank_bm25_ms": float(np.mean(lat_ref) * 1000),
        "speedup": float(np.mean(lat_ref) / np.mean(lat_ours)),
        "same_top10": float(np.mean(same)),
    }
    print(
        f"subset of {n} docs: {out['subset']}, builds {out['lvmgate_subset_build_s']:.1f}s (lvmgate) "
        f"vs {out['rank_bm25_subset_build_s']:.1f}s (rank-bm25)"
    )

    from lvmgate.synth import synthesize

    texts = [r.text for r in synthesize(args.text_articles, seed=args.seed, dim=16).records]
    t0 = time.perf_counter()
    toks = tokenize_all(texts)
    tok_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    BM25Index(toks)
    out["text"] = {
        "chunks": len(texts),
        "tokenize_chunks_per_s": len(texts) / tok_s,
        "build_from_tokens_chunks_per_s": len(texts) / (time.perf_counter() - t0),
    }
    print(f"real text: {out['text']}")
    out["load_average_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
