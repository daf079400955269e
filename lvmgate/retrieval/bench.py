"""The 3.2 retrieval benchmark: backends vec / bm25 / lex / lvm against the whole bank.

    run = bench(bank, texts, index, queries, backends=("vec", "lvm"), predictor=CopyLast(), k=10)
    run.summary.backends["lvm"].metrics["hit@10"]          # Estimate with a bootstrap interval
    run.summary.deltas_vs_vec["lvm"]["recall@10"]          # paired lvm - vec difference
    run = run_bench(store=URL, dataset=NAME, task="next", val_data="ctx5_val.npz", out="bench.jsonl")

Backends (every one ranks every row of the bank; none sees a candidate subset):
- vec:  exact cosine search (or IVF / HNSW) with the query row's vector: the chunk itself for
        `self`, the last context vector for `next`.
- bm25: BM25Okapi over every chunk's text; lex: Jaccard token overlap. Query text: the query row's
        text (`text_query="last"`, default: the same information the vec query has) or the whole
        context's texts joined (`"context"`).
- lvm:  the predictor's output for the window's context vectors, searched like vec.
Queries and relevance are defined in lvmgate.retrieval.queries; for `next` every backend's ranking
excludes the window's own context rows. Metrics: lvmgate.retrieval.metrics.

Latency is single-query latency: bm25 / lex answer one query per call and every call is timed;
vec / lvm answer all queries in batches of `batch_size` (the results and `queries_per_s`), then
the first `latency_sample` queries once more one at a time (the latency percentiles; a query
waiting in a batch of b would see about the whole batch's time instead). Queries are given as bank
vectors, so vec's latency excludes encoding the query text; lvm's includes the prediction. Memory: bytes the index
needs resident (the bank itself for exact numpy search), plus the model's own `memory_bytes()`
for lvm when the predictor reports it, plus the process's peak RSS.

Long on purpose: the benchmark runner and its store-level wrapper share the per-backend loop,
the records and the summary; one file keeps the measured path readable end to end.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.errors import InputError
from lvmgate.io import atomic_open, portable_url, to_jsonable, write_json
from lvmgate.lvm.predictor import Predictor, as_predictor, check_prediction, model_memory
from lvmgate.results import Estimate, Result
from lvmgate.retrieval.bm25 import BM25Index, TermMatrix, tokenize, tokenize_all
from lvmgate.retrieval.lex import LexIndex
from lvmgate.retrieval.metrics import Latency, ir_metrics, latency_summary, summarize
from lvmgate.retrieval.queries import (
    NEXT_GRADES,
    TASKS,
    QuerySet,
    next_queries,
    self_queries,
    store_windows,
    usable_rows,
)
from lvmgate.retrieval.search import VectorIndex, build_index
from lvmgate.stats import DEFAULT_RESAMPLES, paired_difference

BACKENDS = ("vec", "bm25", "lex", "lvm")
TEXT_QUERIES = ("last", "context")
RELEVANCE = {
    "self": "the query chunk's own row (grade 3); nothing excluded",
    "next": (
        "the true next chunk (grade 3), the chunk after it (grade 2) and the one after that (grade 1), "
        "each only inside the same article with consecutive chunk_index; the window's context rows are "
        "excluded from every ranking"
    ),
}


@dataclass(frozen=True)
class BackendSummary(Result):
    """One backend's metrics over all queries (Estimates: mean with a 95% article-bootstrap interval)."""

    backend: str
    n_queries: int
    metrics: dict[str, Estimate]
    latency: Latency
    queries_per_s: float
    index_memory_bytes: int
    model_memory_bytes: int | None
    build_seconds: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchSummary(Result):
    """The benchmark's summary: per backend, and each backend's paired difference from vec."""

    task: str
    k: int
    n_queries: int
    bank_rows: int
    backends: dict[str, BackendSummary]
    deltas_vs_vec: dict[str, dict[str, Estimate]]
    relevance: str
    query_source: str
    config: dict[str, Any]
    peak_rss_bytes: int
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchRun:
    """The summary plus one record per (backend, query), as written to the JSONL file."""

    summary: BenchSummary
    records: list[dict[str, Any]] = field(repr=False)
    per_query: dict[str, dict[str, np.ndarray]] = field(repr=False, default_factory=dict)


def parse_backends(spec: str | Sequence[str]) -> tuple[str, ...]:
    """'vec,bm25' -> ('vec', 'bm25'); unknown or repeated names are InputErrors."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s) for s in spec]
    names = [s for s in names if s]
    if not names:
        raise InputError("no backends given (choose from vec, bm25, lex, lvm)")
    bad = [s for s in names if s not in BACKENDS]
    if bad:
        raise InputError(f"unknown backend(s) {', '.join(bad)} (choose from {', '.join(BACKENDS)})")
    if len(set(names)) != len(names):
        raise InputError(f"backend listed twice in {','.join(names)}")
    return tuple(names)


def _peak_rss() -> int:
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(ru if sys.platform == "darwin" else ru * 1024)


def _query_texts(texts: Sequence[str], queries: QuerySet, mode: str) -> list[str]:
    if mode == "last":
        return [texts[int(r)] for r in queries.query_row]
    if queries.task == "self":
        return [texts[int(r)] for r in queries.query_row]
    return [" ".join(texts[int(r)] for r in ctx) for ctx in queries.context]


def _gather(bank: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """bank[rows] for any-shaped int rows, one sorted read."""
    uniq, inv = np.unique(rows.ravel(), return_inverse=True)
    vecs = np.asarray(bank[uniq], dtype=np.float32)
    return vecs[inv].reshape(*rows.shape, bank.shape[1])


def _run_vectors(
    index: VectorIndex,
    make: Callable[[np.ndarray], np.ndarray],
    queries: QuerySet,
    k: int,
    batch_size: int,
    latency_sample: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """All queries in batches (the results and the throughput), then the first `latency_sample`
    queries again one at a time (the latency). Returns scores (Q, k), rows (Q, k), latency (Q,)
    seconds (NaN where not measured), total batched seconds, predict seconds."""
    q = len(queries)
    scores = np.empty((q, k), dtype=np.float32)
    rows = np.empty((q, k), dtype=np.int64)
    predict_s = 0.0
    t_all = time.perf_counter()
    for lo in range(0, q, batch_size):
        sl = slice(lo, min(q, lo + batch_size))
        vecs, dt = _timed(make, np.arange(sl.start, sl.stop))
        predict_s += dt
        scores[sl], rows[sl] = index.search(vecs, k, exclude=queries.exclude[sl])
    total = time.perf_counter() - t_all
    lat = np.full(q, np.nan)
    for i in range(min(q, latency_sample)):
        t0 = time.perf_counter()
        index.search(make(np.array([i])), k, exclude=queries.exclude[i : i + 1])
        lat[i] = time.perf_counter() - t0
    return scores, rows, lat, total, predict_s


def _timed(fn: Callable[[np.ndarray], np.ndarray], arg: np.ndarray) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn(arg)
    return out, time.perf_counter() - t0


def _run_text(
    engine: BM25Index | LexIndex, tokens: list[list[str]], queries: QuerySet, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    q = len(queries)
    scores = np.empty((q, k))
    rows = np.empty((q, k), dtype=np.int64)
    lat = np.empty(q)
    for i in range(q):
        t0 = time.perf_counter()
        scores[i], rows[i] = engine.search([tokens[i]], k, exclude=queries.exclude[i : i + 1])
        lat[i] = time.perf_counter() - t0
    return scores, rows, lat, float(lat.sum())


def bench(
    bank: np.ndarray,
    texts: Sequence[str] | None,
    index: ArticleIndex,
    queries: QuerySet,
    *,
    backends: Sequence[str] = ("vec", "bm25", "lex"),
    predictor: Predictor | None = None,
    k: int = 10,
    index_kind: str = "flat",
    engine: str = "auto",
    batch_size: int = 32,
    latency_sample: int = 32,
    text_query: str = "last",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    vector_index: VectorIndex | None = None,
    provenance: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> BenchRun:
    """Run every backend on the same queries against the whole (N, D) bank; see the module doc."""
    backends = parse_backends(backends)
    k = int(k)
    if k < 1:
        raise InputError(f"--topk must be at least 1, got {k}")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    if text_query not in TEXT_QUERIES:
        raise InputError(f"text query must be one of {', '.join(TEXT_QUERIES)}, got {text_query!r}")
    if getattr(bank, "ndim", 0) != 2 or bank.shape[0] != index.n_rows:
        raise InputError(f"bank shape {getattr(bank, 'shape', None)} does not match {index.n_rows} rows")
    if "lvm" in backends and predictor is None:
        raise InputError("backend lvm needs a predictor (--lvm-model)")
    if predictor is not None:
        predictor = as_predictor(predictor)
    needs_text = {"bm25", "lex"} & set(backends)
    if needs_text and (texts is None or len(texts) != index.n_rows):
        raise InputError(f"backends {', '.join(sorted(needs_text))} need the text of every bank row")
    n_rows, dim = int(bank.shape[0]), int(bank.shape[1])

    results: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    info: dict[str, dict[str, Any]] = {}
    if {"vec", "lvm"} & set(backends):
        t0 = time.perf_counter()
        vindex = vector_index or build_index(bank, index_kind, engine=engine)
        vbuild = time.perf_counter() - t0 if vector_index is None else 0.0
        vmem = vindex.memory_bytes()
        if "vec" in backends:

            def own(i: np.ndarray) -> np.ndarray:
                return _gather(bank, queries.query_row[i])  # (b, D)

            results["vec"] = _run_vectors(vindex, own, queries, k, batch_size, latency_sample)[:4]
            info["vec"] = dict(build=vbuild, mem=vmem, model=None, params=vindex.params())
        if "lvm" in backends:
            assert predictor is not None
            name = getattr(predictor, "name", type(predictor).__name__)

            def predicted(i: np.ndarray) -> np.ndarray:
                ctx = _gather(bank, queries.context[i])  # (b, w, D)
                return check_prediction(predictor.predict(ctx), len(i), dim, name)

            *res, predict_s = _run_vectors(vindex, predicted, queries, k, batch_size, latency_sample)
            results["lvm"] = tuple(res)
            params = {
                **vindex.params(),
                "predictor": name,
                "predict_ms_per_query": 1000 * predict_s / len(queries),
            }
            info["lvm"] = dict(build=vbuild, mem=vmem, model=model_memory(predictor), params=params)
    if needs_text:
        assert texts is not None
        t0 = time.perf_counter()
        terms = TermMatrix(tokenize_all(texts))
        q_tokens = [tokenize(t) for t in _query_texts(texts, queries, text_query)]
        tok_s = time.perf_counter() - t0
        for name in ("bm25", "lex"):
            if name not in backends:
                continue
            t0 = time.perf_counter()
            eng: BM25Index | LexIndex = BM25Index(terms) if name == "bm25" else LexIndex(terms)
            build = tok_s + time.perf_counter() - t0
            results[name] = _run_text(eng, q_tokens, queries, k)
            params = {**eng.params(), "text_query": text_query}
            info[name] = dict(build=build, mem=eng.memory_bytes(), model=None, params=params)

    per_query: dict[str, dict[str, np.ndarray]] = {}
    summaries: dict[str, BackendSummary] = {}
    for i, name in enumerate(backends):
        _, r, lat, total = results[name]
        m = ir_metrics(r, queries.relevant, queries.grades, k, target=queries.target)
        per_query[name] = m
        summaries[name] = BackendSummary(
            backend=name,
            n_queries=len(queries),
            metrics=summarize(m, queries.article, resamples=resamples, seed=seed + 101 * i),
            latency=latency_summary(lat),
            queries_per_s=float(len(queries) / max(total, 1e-12)),
            index_memory_bytes=int(info[name]["mem"]),
            model_memory_bytes=info[name]["model"],
            build_seconds=float(info[name]["build"]),
            params=info[name]["params"],
        )
    deltas: dict[str, dict[str, Estimate]] = {}
    if "vec" in per_query:
        for name in backends:
            if name == "vec":
                continue
            deltas[name] = {
                metric: paired_difference(
                    per_query[name][metric],
                    per_query["vec"][metric],
                    queries.article,
                    resamples=resamples,
                    seed=seed,
                )
                for metric in per_query[name]
            }
    config = {
        "task": queries.task,
        "n_queries": len(queries),
        "k": k,
        "backends": list(backends),
        "index": index_kind,
        "engine": engine,
        "batch_size": batch_size,
        "latency_sample": latency_sample,
        "text_query": text_query,
        "context_window": queries.context_window,
        "grades": list(NEXT_GRADES) if queries.task == "next" else [3],
        "resamples": resamples,
        "seed": seed,
    }
    summary = BenchSummary(
        task=queries.task,
        k=k,
        n_queries=len(queries),
        bank_rows=n_rows,
        backends=summaries,
        deltas_vs_vec=deltas,
        relevance=RELEVANCE[queries.task],
        query_source=queries.source,
        config=config,
        peak_rss_bytes=_peak_rss(),
        warnings=list(warnings),
        provenance=dict(provenance or {}),
    )
    records = _records(backends, results, per_query, queries, index)
    return BenchRun(summary, records, per_query)


def _records(backends, results, per_query, queries: QuerySet, index: ArticleIndex) -> list[dict[str, Any]]:
    out = []
    ids = index.ids
    for name in backends:
        s, r, lat, _ = results[name]
        m = per_query[name]
        for i in range(len(queries)):
            rel = [[int(a), int(g)] for a, g in zip(queries.relevant[i], queries.grades[i]) if a >= 0]
            keep = r[i] >= 0
            rec: dict[str, Any] = {
                "backend": name,
                "task": queries.task,
                "query": i,
                "article_id": str(ids[queries.article[i]]),
                "query_row": int(queries.query_row[i]),
                "target": int(queries.target[i]),
            }
            if queries.task == "next":
                rec["context"] = queries.context[i].tolist()
            rec.update(
                relevant=rel,
                ranked=r[i][keep].tolist(),
                scores=[round(float(x), 6) for x in s[i][keep]],
                latency_ms=round(float(lat[i]) * 1000.0, 4) if np.isfinite(lat[i]) else None,
            )
            rec.update({key: to_jsonable(float(v[i])) for key, v in m.items()})
            out.append(rec)
    return out


def summary_path(out: str | os.PathLike) -> Path:
    """bench.jsonl -> bench_summary.json (beside it)."""
    p = Path(out)
    return p.with_name(p.stem + "_summary.json")


def write_run(run: BenchRun, out: str | os.PathLike) -> tuple[Path, Path]:
    """Per-query JSONL at `out` and the summary at `summary_path(out)`, each written atomically."""
    with atomic_open(out, "w", encoding="utf-8") as fh:
        for rec in run.records:
            fh.write(json.dumps(rec))
            fh.write("\n")
    return Path(out), write_json(summary_path(out), run.summary)


def _read_texts(store: Any, dataset: str, n_rows: int) -> list[str]:
    texts: list[str] = []
    for batch in store.iter_batches(dataset, vectors=False, tmd=False):
        if batch.text is None or int(batch.pos[0]) != len(texts):
            raise InputError(f"dataset {dataset!r}: rows came back out of order while reading texts")
        texts.extend(batch.text)
    if len(texts) != n_rows:
        raise InputError(f"dataset {dataset!r}: read {len(texts)} texts for {n_rows} rows")
    return texts


def run_bench(
    *,
    store: str | None = None,
    dataset: str | None = None,
    task: str = "self",
    n: int = 500,
    k: int = 10,
    backends: Sequence[str] | str = ("vec", "bm25", "lex"),
    predictor: Predictor | None = None,
    val_data: str | os.PathLike | None = None,
    context_window: int = 5,
    index_kind: str = "flat",
    engine: str = "auto",
    batch_size: int = 32,
    latency_sample: int = 32,
    text_query: str = "last",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    policy_digest: str = "",
) -> BenchRun:
    """The benchmark on a store's dataset (the bank), queries per `task`; writes `out` when given.

    For `next`, `val_data` (a prepared split, e.g. NAME_val.npz) supplies the windows and names the
    store and dataset; without it windows are built from every article of the dataset.
    """
    from lvmgate.results import Provenance
    from lvmgate.sequences import SequenceSet, meta_path_for, read_meta
    from lvmgate.stores import open_store

    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (use {' or '.join(TASKS)})")
    backends = parse_backends(backends)
    if val_data is not None and task != "next":
        raise InputError("--val-data supplies next-chunk windows: use it with --task next")
    meta = None
    if val_data is not None:
        meta = read_meta(meta_path_for(val_data))
        dataset = dataset or meta["bank"]["dataset"]
        store = store or meta["bank"].get("store")
        if dataset != meta["bank"]["dataset"]:
            raise InputError(
                f"{val_data} was prepared on dataset {meta['bank']['dataset']!r}, not {dataset!r}"
            )
    if not dataset:
        raise InputError("name the bank's dataset (--store-dataset NAME)")
    warnings: list[str] = []
    st = open_store(store)
    try:
        info = st.require(dataset)
        if info.dim is None:
            raise InputError(f"dataset {dataset!r} has no vectors (ingest it with --vectors or --encoder)")
        if meta is not None and info.fingerprint != meta["bank"].get("fingerprint"):
            raise InputError(f"dataset {dataset!r} changed since {val_data} was prepared; prepare it again")
        index = st.articles(dataset)
        bank = st.vectors(dataset)
        texts = _read_texts(st, dataset, info.n_rows) if {"bm25", "lex"} & set(backends) else None
        url = st.url
    finally:
        st.close()
    usable = usable_rows(bank)
    if int((~usable).sum()):
        warnings.append(
            f"{int((~usable).sum())} bank rows are NaN/inf or all zero: never retrieved or queried"
        )
    if task == "self":
        queries = self_queries(index, n, seed=seed, usable=usable, context_window=context_window)
    elif val_data is not None:
        split = SequenceSet.load(val_data, bank=bank)
        ctx, tgt = split.context, split.target
        queries = next_queries(
            index,
            ctx,
            tgt,
            n,
            seed=seed,
            source=f"{min(n, len(tgt))} of {len(tgt)} windows of {val_data} ({split.split})",
        )
        if split.split == "train" and "lvm" in backends:
            warnings.append(f"{val_data} is the training split: lvm numbers are not held out")
    else:
        ctx, tgt = store_windows(index, context_window, usable=usable)
        queries = next_queries(
            index,
            ctx,
            tgt,
            n,
            seed=seed,
            source=f"{min(n, len(tgt))} of {len(tgt)} stride-1 windows of {dataset}",
        )
        if "lvm" in backends:
            warnings.append(
                "next-chunk windows built from the whole dataset, not a held-out split: articles may overlap "
                "the LVM's training data (pass --val-data NAME_val.npz)"
            )
    prov = Provenance(
        tool="bench",
        dataset=dataset,
        store=portable_url(url),
        fingerprint=info.fingerprint,
        sample_size=len(queries),
        seed=seed,
        params={
            "task": task,
            "n": n,
            "k": k,
            "backends": list(backends),
            "index": index_kind,
            "val_data": str(val_data) if val_data else None,
            "predictor": getattr(predictor, "name", None),
        },
        policy_digest=policy_digest,
    )
    run = bench(
        bank,
        texts,
        index,
        queries,
        backends=backends,
        predictor=predictor,
        k=k,
        index_kind=index_kind,
        engine=engine,
        batch_size=batch_size,
        latency_sample=latency_sample,
        text_query=text_query,
        resamples=resamples,
        seed=seed,
        provenance=prov.to_dict(),
        warnings=warnings,
    )
    if out is not None:
        write_run(run, out)
    return run
