"""`lvmgate bench --dataset self|next --n 500 --topk 10 --backends vec,bm25,lex,lvm --lvm-model M --out F.jsonl`.

Plan 3.2 / 4.3 retrieval benchmark against the whole bank. `--dataset` keeps the plan's meaning,
the task (`self`: a chunk finds itself; `next`: a context window finds the chunk after it);
`--task` is the same option under a clearer name. The bank is a store dataset, named with
`--store-dataset` (or taken from the meta of `--val-data`, a prepared split whose windows become
the `next` queries). Writes one JSON line per (backend, query) to `--out` and the summary to
OUT_summary.json beside it, both atomically. Exit 0 when written, 2 on bad input; the 3.2
thresholds are judged by `lvmgate gate phase3`, not here. Definitions: docs/retrieval.md.
"""

from __future__ import annotations

import argparse

from lvmgate.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="retrieval benchmark (plan 3.2): vec / bm25 / lex / lvm against the whole bank",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        "--task",
        dest="task",
        choices=("self", "next"),
        default="self",
        help="the task, as in the plan's --dataset flag: self or next (default self)",
    )
    p.add_argument(
        "--store", metavar="URL", default=None, help="store URL (default ./artifacts/store or $LVMGATE_STORE)"
    )
    p.add_argument(
        "--store-dataset",
        metavar="NAME",
        default=None,
        help="the store dataset whose vectors and texts are the bank (default: the one --val-data names)",
    )
    p.add_argument(
        "--val-data",
        metavar="NAME_val.npz",
        default=None,
        help="next: a prepared split (lvmgate prepare) whose windows are the queries; held out from training",
    )
    p.add_argument("--n", type=int, default=500, metavar="N", help="queries (default 500)")
    p.add_argument("--topk", type=int, default=10, metavar="K", help="cutoff k of every metric (default 10)")
    p.add_argument(
        "--backends",
        default=None,
        metavar="LIST",
        help="comma-separated: vec, bm25, lex, lvm (default vec,bm25,lex, plus lvm when --lvm-model is given)",
    )
    p.add_argument(
        "--lvm-model",
        metavar="MODEL",
        default=None,
        help="predictor for the lvm backend: a checkpoint path, copy_last, context_mean or module:attribute",
    )
    p.add_argument(
        "--out",
        default="artifacts/validation/bench.jsonl",
        metavar="FILE.jsonl",
        help="per-query results (default artifacts/validation/bench.jsonl); summary at FILE_summary.json",
    )
    p.add_argument("--seed", type=int, default=0, help="query sampling and bootstrap seed (default 0)")
    p.add_argument(
        "--index",
        choices=("flat", "ivf", "hnsw"),
        default="flat",
        help="vector index for vec / lvm: flat = exact (default), ivf / hnsw = faiss approximate",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "numpy", "faiss"),
        default="auto",
        help="exact search engine (auto = numpy, measured faster here)",
    )
    p.add_argument(
        "--context-window",
        type=int,
        default=5,
        metavar="W",
        help="next without --val-data: context chunks per window; self: copies fed to the predictor (default 5)",
    )
    p.add_argument(
        "--text-query",
        choices=("last", "context"),
        default="last",
        help="bm25 / lex query text for next: the last context chunk (default) or the whole context",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        metavar="B",
        help="vec / lvm queries per search call (default 32)",
    )
    p.add_argument(
        "--latency-sample",
        type=int,
        default=32,
        metavar="N",
        help="vec / lvm: queries re-run one at a time to measure single-query latency (default 32)",
    )
    p.add_argument(
        "--resamples",
        type=int,
        default=1000,
        metavar="R",
        help="bootstrap resamples (default 1000; 0 = none)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmgate.lvm.load import load_predictor
    from lvmgate.policy import load_policy
    from lvmgate.retrieval import parse_backends, run_bench, summary_path

    if args.backends is None:
        backends = ("vec", "bm25", "lex") + (("lvm",) if args.lvm_model else ())
    else:
        backends = parse_backends(args.backends)
    predictor = None
    if "lvm" in backends:
        if not args.lvm_model:
            raise InputError(
                "backend lvm needs --lvm-model (a checkpoint, copy_last, context_mean or module:attr)"
            )
        predictor = load_predictor(args.lvm_model)
    elif args.lvm_model:
        raise InputError("--lvm-model given but lvm is not among --backends")
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if args.context_window < 1:
        raise InputError(f"--context-window must be at least 1, got {args.context_window}")
    run_ = run_bench(
        store=args.store,
        dataset=args.store_dataset,
        task=args.task,
        n=args.n,
        k=args.topk,
        backends=backends,
        predictor=predictor,
        val_data=args.val_data,
        context_window=args.context_window,
        index_kind=args.index,
        engine=args.engine,
        batch_size=args.batch_size,
        latency_sample=max(1, args.latency_sample),
        text_query=args.text_query,
        resamples=max(0, args.resamples),
        seed=args.seed,
        out=args.out,
        policy_digest=load_policy().digest,
    )
    _print(run_.summary)
    print(f"wrote {args.out} and {summary_path(args.out)}")
    return 0


def _print(summary) -> None:
    k = summary.k
    print(
        f"{summary.task}: {summary.n_queries} queries, top {k}, against all {summary.bank_rows} bank rows "
        f"({summary.query_source})"
    )
    cols = [f"recall@{k}", f"precision@{k}", f"mrr@{k}", f"ndcg@{k}", f"hit@{k}"]
    print(
        f"{'backend':<8}" + "".join(f"{c:<22}" for c in cols) + f"{'p50 ms':>9}{'p95 ms':>9}{'index MB':>10}"
    )
    for name, b in summary.backends.items():
        vals = "".join(f"{_fmt(b.metrics[c]):<22}" for c in cols)
        mb = b.index_memory_bytes / 2**20
        print(f"{name:<8}{vals}{b.latency.p50_ms:>9.1f}{b.latency.p95_ms:>9.1f}{mb:>10.1f}")
    for name, d in summary.deltas_vs_vec.items():
        e = d[f"recall@{k}"]
        h = d[f"hit@{k}"]
        print(
            f"{name} - vec: recall@{k} {e.value:+.3f} [{e.low:+.3f}, {e.high:+.3f}], "
            f"hit@{k} {h.value:+.3f} [{h.low:+.3f}, {h.high:+.3f}]"
        )
    for w in summary.warnings:
        print(f"warning: {w}")


def _fmt(e) -> str:
    return f"{e.value:.3f} [{e.low:.3f},{e.high:.3f}]"
