"""Retrieval against the whole bank (plan 3.2): vector search, BM25, token overlap, IR metrics, benchmark.

- search:     exact cosine top-k (numpy GEMM blocks, or faiss flat), faiss IVF / HNSW as options
- bm25:       BM25Okapi (rank-bm25's variant) as a precomputed sparse weight matrix
- lex:        Jaccard token overlap
- metrics:    recall / precision / MRR / nDCG@k with graded relevance, hit@k, latency percentiles
- predictors: the Predictor protocol (contexts (B, w, D) -> (B, D)), copy_last and context_mean
- queries:    `self` and `next` queries with graded relevance
- bench:      `bench` (arrays) and `run_bench` (a store, writes JSONL + summary)
See docs/retrieval.md for definitions and measured speeds.
"""

from lvmgate.retrieval.bench import (
    BACKENDS,
    BackendSummary,
    BenchRun,
    BenchSummary,
    bench,
    parse_backends,
    run_bench,
    summary_path,
    write_run,
)
from lvmgate.retrieval.bm25 import BM25Index, TermMatrix, tokenize
from lvmgate.retrieval.lex import LexIndex
from lvmgate.retrieval.metrics import Latency, ir_metrics, latency_summary, summarize
from lvmgate.retrieval.queries import QuerySet, next_queries, self_queries, store_windows, usable_rows
from lvmgate.retrieval.search import ExactIndex, HNSWIndex, IVFIndex, VectorIndex, build_index, topk_dense

__all__ = [
    "BACKENDS",
    "BM25Index",
    "BackendSummary",
    "BenchRun",
    "BenchSummary",
    "ExactIndex",
    "HNSWIndex",
    "IVFIndex",
    "Latency",
    "LexIndex",
    "QuerySet",
    "TermMatrix",
    "VectorIndex",
    "bench",
    "build_index",
    "ir_metrics",
    "latency_summary",
    "next_queries",
    "parse_backends",
    "run_bench",
    "self_queries",
    "store_windows",
    "summarize",
    "summary_path",
    "tokenize",
    "topk_dense",
    "usable_rows",
    "write_run",
]
