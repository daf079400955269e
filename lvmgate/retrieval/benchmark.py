"""Plan 3.2: the LVM as a retriever, benchmarked on the whole bank against vec, BM25 and the token
overlap index, and against copy-last and context-mean used as predictors on the very same queries.
`benchmark_lvm` returns (result, criteria values, messages) for gate 3.2."""

from __future__ import annotations

from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.lvm.baselines import ContextMean, CopyLast
from lvmgate.lvm.load import load_predictor
from lvmgate.results import GIB, Estimate, human_bytes
from lvmgate.retrieval.bench import run_bench
from lvmgate.stats import paired_difference

RETRIEVAL_BACKENDS = ("vec", "bm25", "lex")
BENCH_QUERIES = 500  # the plan's --n 500


def benchmark_lvm(
    *,
    lvm_model: str,
    val_data: str,
    store: str | None = None,
    dataset: str | None = None,
    backends: tuple[str, ...] = RETRIEVAL_BACKENDS,
    n: int = BENCH_QUERIES,
    k: int = 10,
    resamples: int = 1000,
    seed: int = 0,
    out: str | None = None,
    latency_sample: int = 32,
) -> tuple[dict[str, Any], dict[str, Estimate | None], dict[str, str]]:
    """Plan 3.2: `run_bench` task `next` over the whole bank with the LVM against vec (and bm25, lex),
    then copy-last and context-mean as predictors on the very same queries. Returns
    (result, criteria, messages); gains are LVM minus each baseline per query, article bootstrap."""
    predictor = load_predictor(lvm_model)
    kw = dict(
        store=store, dataset=dataset, task="next", val_data=val_data, n=n, k=k, resamples=resamples, seed=seed
    )
    main = run_bench(
        backends=(*backends, "lvm"), predictor=predictor, out=out, latency_sample=latency_sample, **kw
    )
    bases = {p.name: run_bench(backends=("lvm",), predictor=p, **kw) for p in (ContextMean(), CopyLast())}
    targets = [r["target"] for r in main.records if r["backend"] == "lvm"]
    for name, run in bases.items():
        if [r["target"] for r in run.records if r["backend"] == "lvm"] != targets:
            raise InputError(f"the {name} run drew other queries than the LVM's; cannot pair them")
    articles = np.unique(
        [r["article_id"] for r in main.records if r["backend"] == "lvm"], return_inverse=True
    )[1]
    s = main.summary
    hit, rec = f"hit@{k}", f"recall@{k}"
    per_query = {b: main.per_query[b] for b in s.backends if b != "lvm"}
    per_query.update({name: run.per_query["lvm"] for name, run in bases.items()})
    lvm_q = main.per_query["lvm"]
    gains = {
        name: {
            m: paired_difference(lvm_q[m], pq[m], articles, resamples=resamples, seed=seed)
            for m in (hit, rec, f"mrr@{k}", f"ndcg@{k}")
        }
        for name, pq in per_query.items()
    }
    rows = {b: bs.to_dict() for b, bs in s.backends.items()}
    rows.update({name: run.summary.backends["lvm"].to_dict() for name, run in bases.items()})
    lvm_row = s.backends["lvm"]
    model_bytes = lvm_row.model_memory_bytes
    result = {
        "task": "next",
        "k": k,
        "metric": hit,
        "n_queries": s.n_queries,
        "n_articles": int(articles.max()) + 1 if len(articles) else 0,
        "bank_rows": s.bank_rows,
        "query_source": s.query_source,
        "relevance": s.relevance,
        "lvm_model": lvm_model,
        "val_data": str(val_data),
        "backends": rows,
        "gains": {name: {m: e.to_dict() for m, e in g.items()} for name, g in gains.items()},
        "latency_p95_ms": lvm_row.latency.p95_ms,
        "vec_latency_p95_ms": s.backends["vec"].latency.p95_ms if "vec" in s.backends else None,
        "predict_ms_per_query": lvm_row.params.get("predict_ms_per_query"),
        "model_memory_bytes": model_bytes,
        "index_memory_bytes": lvm_row.index_memory_bytes,
        "peak_rss_bytes": s.peak_rss_bytes,
        "warnings": list(s.warnings),
        "out": str(out) if out else None,
    }
    criteria: dict[str, Estimate | None] = {
        "3.2.recall_gain": gains["vec"][hit] if "vec" in gains else None,
        "3.2.recall_gain_context_mean": gains["context_mean"][hit],
        "3.2.latency_ms": Estimate.exact(lvm_row.latency.p95_ms, lvm_row.latency.n),
        "3.2.memory_gib": None if model_bytes is None else Estimate.exact(model_bytes / GIB, 1),
    }
    hits = {b: rows[b]["metrics"][hit]["value"] for b in rows}
    order = ["lvm", *(b for b in ("vec", "context_mean", "copy_last", "bm25", "lex") if b in hits)]
    hit_text = ", ".join(f"{b.replace('_', '-')} {hits[b]:.3f}" for b in order)
    where = f"{s.n_queries} queries ({s.query_source}) against all {s.bank_rows:,} bank rows"
    messages = {
        "3.2.recall_gain": f"{hit}: {hit_text}; {where}",
        "3.2.recall_gain_context_mean": f"{hit}: {hit_text}",
        "3.2.latency_ms": (
            f"p95 one query alone: LVM {lvm_row.latency.p95_ms:.2f} ms (prediction "
            f"{result['predict_ms_per_query']:.3f} ms/query in batches)"
            + (
                f", vec {result['vec_latency_p95_ms']:.2f} ms"
                if result["vec_latency_p95_ms"] is not None
                else ""
            )
            + f"; bank {s.bank_rows:,} rows"
        ),
        "3.2.memory_gib": (
            f"model parameters and buffers {human_bytes(model_bytes)}; the search index holds the bank: "
            f"{human_bytes(lvm_row.index_memory_bytes)}; process peak RSS {human_bytes(s.peak_rss_bytes)}"
            if model_bytes is not None
            else f"{lvm_model} does not report its memory"
        ),
    }
    return result, criteria, messages
