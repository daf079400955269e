"""Phase 3 artifacts: the 3.1 grid, the 3.2 whole-bank benchmark of the LVM, the 3.3 failure analysis.

Where they look (GateContext options, i.e. the plan's flags):
- the grid (3.1): `--grid DIR` when the plugin has it, else `--data DIR` when DIR is a grid folder
  (it holds grid_plan.json), else the grid that `--lvm-model` was trained in (OUT/runs/NAME/model.pt);
- the LVM (3.2, 3.3): `--lvm-model`, else the grid's best run;
- held-out windows: `--val-data` (3.2) / `--test-set` (3.3, falling back to `--val-data`), else the
  model's own test split, else its validation split (noted: the grid chose its best on it);
- the bank: `--store` / `--dataset`, else what the windows' meta names.
Each artifact is written to ARTIFACTS/<dataset>/<name>.json and reused while its key (model and
file digests, dataset fingerprint, sample, seed, version) matches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lvmgate.artifacts import SOURCES, GateContext, Source, fmt, not_measured_artifact, register
from lvmgate.criteria import Criterion, criteria_dict
from lvmgate.errors import InputError
from lvmgate.results import GIB, Estimate, human_bytes

RETRIEVAL_BACKENDS = ("vec", "bm25", "lex")
DECODER_BACKENDS = ("nearest", "jxe", "ielab")
BENCH_QUERIES = 500  # the plan's --n 500
ANALYSIS_ITEMS = 1000  # the plan's wikipedia_test_1k


def _resamples(ctx: GateContext) -> int:
    return int(ctx.policy.param("bootstrap_resamples"))


def _cached(ctx: GateContext, name: str, key: dict[str, Any]) -> dict | None:
    from lvmgate.io import read_json

    path = ctx.path_for(name)
    if ctx.recompute or not path.is_file():
        return None
    try:
        cached = read_json(path)
    except InputError:
        return None
    return cached if isinstance(cached, dict) and cached.get("key") == key else None


# -- 3.1 grid -----------------------------------------------------------------------------------------
def grid_dir(ctx: GateContext) -> Path | None:
    """The grid folder for this run (see module doc), or None when nothing points at one."""
    from lvmgate.grid import find_grid_dir, is_grid_dir

    given = ctx.options.get("grid")
    if given:
        if not is_grid_dir(given):
            raise InputError(f"--grid {given}: not a grid folder (no grid_plan.json; run `lvmgate grid`)")
        return Path(given)
    data = ctx.options.get("data")
    if data and Path(data).is_dir():
        if not is_grid_dir(data):
            raise InputError(f"--data {data}: a folder but not a grid (no grid_plan.json)")
        return Path(data)
    return find_grid_dir(ctx.options.get("lvm_model"))


def _grid(ctx: GateContext) -> tuple[dict, bool]:
    """3.1: the grid's summary recomputed from its files (each run's evaluation is cached in its folder)."""
    from lvmgate.grid import summarize_grid
    from lvmgate.io import write_json

    folder = grid_dir(ctx)
    if folder is None:
        reason = "no grid given: pass --grid GRID_DIR (the --out-dir of `lvmgate grid`) or a grid run as --lvm-model"
        return not_measured_artifact(SOURCES["grid_search"], reason), True
    summary = summarize_grid(
        folder,
        resamples=_resamples(ctx),
        seed=ctx.seed,
        max_recall_windows=ctx.policy.param("recall_max_windows"),
    )
    art = {
        "tool": "grid_search",
        "provenance": ctx.provenance(
            "grid_search", sample_size=summary.n_planned, params={"grid": str(folder.resolve())}
        ),
        "result": summary.to_dict(),
        "criteria": criteria_dict(grid_criteria(summary)),
        "facts": {
            "n_planned": summary.n_planned,
            "n_completed": summary.n_completed,
            "design": summary.design,
        },
    }
    write_json(ctx.path_for("grid_search"), art)
    return art, True


def grid_criteria(summary) -> list[Criterion]:
    """The 3.1 criteria of a GridSummary (best-run margins not measured when no run qualifies)."""
    ex = Estimate.exact
    finished = summary.n_completed + summary.n_failed
    bad = [r for r in summary.runs if r.status == "failed" or (r.status == "completed" and r.red_flags)]
    unfinished = [r for r in summary.runs if r.status in ("interrupted", "pending")]
    best = summary.best_run
    criteria: dict[str, Estimate | None] = {
        "3.1.completed_runs": ex(summary.n_completed, summary.n_planned),
        "3.1.finished_pct": ex(100.0 * finished / max(summary.n_planned, 1), summary.n_planned),
        "3.1.flagged_pct": ex(100.0 * len(bad) / finished, finished) if finished else None,
        "3.1.best_margin_copy_last": best.margin_copy_last if best else None,
        "3.1.best_margin_context_mean": best.margin_context_mean if best else None,
    }

    def why(r) -> str:
        if r.red_flags:
            f = r.red_flags[-1]
            return f"{r.name}: {f['code']} (epoch {f['epoch']}): {f['message']}"
        return f"{r.name}: {r.reason}"

    messages = {
        "3.1.completed_runs": f"{summary.n_completed} of {summary.n_planned} planned runs completed",
        "3.1.finished_pct": (
            f"unfinished: {', '.join(f'{r.name} ({r.status})' for r in unfinished)}"
            if unfinished
            else f"all {summary.n_planned} planned runs finished"
        ),
        "3.1.flagged_pct": "; ".join(why(r) for r in bad)
        if bad
        else ("no run failed or raised a red flag" if finished else "no run has finished yet"),
    }
    if best:
        for base, e in (("copy_last", best.copy_last_cosine), ("context_mean", best.context_mean_cosine)):
            messages[f"3.1.best_margin_{base}"] = (
                f"best run {best.name}: val cosine {best.val_cosine.value:.3f} vs {base.replace('_', '-')} "
                f"{e.value:.3f} on {best.val_windows:,} windows of {best.val_articles:,} held-out articles"
            )
    else:
        reason = (
            "no run completed without red flags: nothing to choose"
            if summary.n_completed
            else "no run completed: nothing to choose"
        )
        messages["3.1.best_margin_copy_last"] = messages["3.1.best_margin_context_mean"] = reason
    return [
        Criterion.not_measured(cid, messages[cid])
        if v is None
        else Criterion.measured(cid, v, messages.get(cid, ""))
        for cid, v in criteria.items()
    ]


def _grid_findings(r: dict) -> list[str]:
    out = [
        f"3.1 grid {r['source']} ({r['design']}): {r['n_planned']} runs, {r['n_completed']} completed "
        f"({r['n_flagged']} with red flags), {r['n_failed']} failed, {r['n_unfinished']} unfinished; "
        f"selection metric {r['metric']}."
    ]
    for run in r["runs"][:5]:
        if run.get("margin"):
            p = run["params"]
            out.append(
                f"Run {run['name']} (ctx {p['context_window']}, lr {p['lr']:g}, batch {p['batch_size']}, "
                f"{p['model_size']}, {p['epochs']} epochs): val cosine {run['val_cosine']['value']:.3f}, "
                f"margin over {run['stronger_baseline'].replace('_', '-')} {fmt(run['margin'])}"
                + (f", {run['train_seconds']:.1f} s" if run.get("train_seconds") is not None else "")
                + ("" if run["eligible"] else " (red flags: not eligible)")
                + "."
            )
    if r.get("best"):
        lead = r.get("best_vs_runner_up")
        out.append(
            f"Best configuration: {r['best']}"
            + (
                f"; lead over {r['runner_up']} {fmt(lead)} ({r['comparison']} article bootstrap)"
                + ("; not distinguishable from it" if lead["low"] <= 0 else "")
                if lead
                else ""
            )
            + "."
        )
    return out


# -- held-out windows and the model ------------------------------------------------------------------------
def lvm_model(ctx: GateContext) -> tuple[str | None, str]:
    """(--lvm-model, or the grid's best run's model, and where it came from)."""
    given = ctx.options.get("lvm_model")
    if given:
        return str(given), "--lvm-model"
    art = ctx.artifact("grid_search")
    result = art.get("result") or {}
    if result.get("best"):
        best = next(r for r in result["runs"] if r["name"] == result["best"])
        return best["model"], f"the grid's best run ({best['name']})"
    return None, "no --lvm-model and no grid with a best run"


def held_out(ctx: GateContext, model: str, option: str | None, flag: str) -> tuple[str, str]:
    """(split file, how it was chosen) for the model: the option, else its test split, else its val split."""
    from lvmgate.lvm.checkpoint import find_training_log
    from lvmgate.sequences import meta_path_for, read_meta

    if option:
        return str(option), f"given as {flag}"
    log_path = find_training_log(model)
    if not log_path.is_file():
        raise InputError(
            f"{model} has no training log beside it: pass --val-data / --test-set (held-out windows)"
        )
    from lvmgate.io import read_json

    val = ((read_json(log_path).get("data") or {}).get("val") or {}).get("path")
    if not val or not Path(val).is_file():
        raise InputError(
            f"the validation file {val!r} recorded for {model} is gone: pass --val-data / --test-set"
        )
    mpath = meta_path_for(val)
    test = (read_meta(mpath).get("splits") or {}).get("test")
    if test:
        how = "the model's test split, never used for training or selection"
        return str(mpath.parent / test["file"]), how
    return (
        val,
        "the model's validation split; the grid chose its best run on it, so the numbers are optimistic",
    )


def _bank(ctx: GateContext, split: str) -> tuple[str | None, str]:
    """(store, dataset) for a split: --store / --dataset, else the split's meta."""
    from lvmgate.sequences import meta_path_for, read_meta

    meta = read_meta(meta_path_for(split))
    dataset = ctx.dataset or meta["bank"]["dataset"]
    if dataset != meta["bank"]["dataset"]:
        raise InputError(f"{split} was prepared on dataset {meta['bank']['dataset']!r}, not {dataset!r}")
    return ctx.store_url or meta["bank"].get("store"), dataset


def _file_key(path: str) -> dict[str, Any]:
    from lvmgate.io import file_sha256

    p = Path(path)
    return {
        "path": str(p.resolve()) if p.exists() else path,
        "sha256": file_sha256(p) if p.is_file() else None,
    }


# -- 3.2 benchmark ------------------------------------------------------------------------------------------
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
    import numpy as np

    from lvmgate.lvm.baselines import ContextMean, CopyLast
    from lvmgate.lvm.load import load_predictor
    from lvmgate.retrieval import run_bench
    from lvmgate.stats import paired_difference

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


def _benchmark(ctx: GateContext) -> tuple[dict, bool]:
    """3.2: the benchmark of the LVM (cached while the model, windows, bank and settings match)."""
    from lvmgate import __version__
    from lvmgate.io import write_json

    model, model_source = lvm_model(ctx)
    if model is None:
        return not_measured_artifact(SOURCES["retrieval_benchmark"], model_source), True
    split, how = held_out(ctx, model, ctx.options.get("val_data"), "--val-data")
    store, dataset = _bank(ctx, split)
    given = [b.strip() for b in (ctx.options.get("backends") or "").split(",") if b.strip()]
    backends = tuple(b for b in RETRIEVAL_BACKENDS if b in given) or RETRIEVAL_BACKENDS
    if "vec" not in backends:
        backends = ("vec", *backends)
    n = int(ctx.options.get("sample_size") or BENCH_QUERIES)
    key = {
        "model": _file_key(model) if Path(model).exists() else {"spec": model},
        "split": _file_key(split),
        "dataset": dataset,
        "fingerprint": _fingerprint(store, dataset),
        "backends": list(backends),
        "n": n,
        "seed": ctx.seed,
        "resamples": _resamples(ctx),
        "lvmgate_version": __version__,
    }
    cached = _cached(ctx, "retrieval_benchmark", key)
    if cached is not None:
        return cached, False
    out = ctx.path_for("retrieval_benchmark").with_name("bench_next_lvm.jsonl")
    result, criteria, messages = benchmark_lvm(
        lvm_model=model, val_data=split, store=store, dataset=dataset, backends=backends, n=n,
        resamples=_resamples(ctx), seed=ctx.seed, out=str(out),
    )  # fmt: skip
    result.update(model_source=model_source, split_source=how)
    art = {
        "tool": "retrieval_benchmark",
        "key": key,
        "provenance": ctx.provenance(
            "retrieval_benchmark",
            sample_size=result["n_queries"],
            params=key,
            dataset=dataset,
            store=store,
            fingerprint=key["fingerprint"],
        ),
        "result": result,
        "criteria": criteria_dict(
            [
                Criterion.not_measured(k, messages.get(k) or "not measurable for this model")
                if v is None
                else Criterion.measured(k, v, messages.get(k, ""))
                for k, v in criteria.items()
            ]
        ),
    }
    write_json(ctx.path_for("retrieval_benchmark"), art)
    return art, True


def _fingerprint(store: str | None, dataset: str) -> str:
    from lvmgate.stores import open_store

    with open_store(store) as st:
        return st.require(dataset).fingerprint


def _benchmark_findings(r: dict) -> list[str]:
    k = r["k"]
    g = r["gains"]
    rows = r["backends"]
    out = [
        f"3.2 next-chunk retrieval, {r['n_queries']} queries from {r['n_articles']} held-out articles "
        f"({r['split_source']}) against all {r['bank_rows']:,} bank rows; model {Path(r['lvm_model']).name} "
        f"({r['model_source']}). Recall@10 is read as hit@{k} (the true next chunk in the top {k}); "
        f"graded recall@{k} also credits the two chunks after it.",
        "hit@10 / recall@10 by backend: "
        + "; ".join(
            f"{b.replace('_', '-')} {fmt(rows[b]['metrics'][f'hit@{k}'])} / {rows[b]['metrics'][f'recall@{k}']['value']:.3f}"
            for b in rows
        )
        + ".",
        "LVM gain in hit@10 (paired, article bootstrap): "
        + "; ".join(f"vs {b.replace('_', '-')} {fmt(v[f'hit@{k}'])}" for b, v in g.items())
        + ".",
    ]
    cl, vec = rows.get("copy_last"), rows.get("vec")
    if cl and vec and cl["metrics"][f"hit@{k}"]["value"] == vec["metrics"][f"hit@{k}"]["value"]:
        out.append("Copy-last retrieves exactly like vec (its query is the last context vector), as it must.")
    beats = [b for b in ("bm25", "lex", "context_mean") if b in g and g[b][f"hit@{k}"]["high"] < 0]
    if beats:
        out.append(
            f"Beats the LVM at hit@{k}: {', '.join(beats)}: the model misses what a simpler method finds."
        )
    out += [f"Warning: {w}" for w in r.get("warnings") or []]
    return out


# -- 3.3 failure analysis --------------------------------------------------------------------------------------
def _failures(ctx: GateContext) -> tuple[dict, bool]:
    """3.3: the failure analysis of the LVM on held-out items (cached like 3.2)."""
    from lvmgate import __version__
    from lvmgate.analysis import run_failure_analysis
    from lvmgate.decoders.vec2text import weights_available
    from lvmgate.io import write_json

    model, model_source = lvm_model(ctx)
    if model is None:
        return not_measured_artifact(SOURCES["failure_analysis"], model_source), True
    flag = "--test-set" if ctx.options.get("test_set") else "--val-data"
    test_set, how = held_out(ctx, model, ctx.options.get("test_set") or ctx.options.get("val_data"), flag)
    given = [b.strip() for b in (ctx.options.get("backends") or "").split(",") if b.strip()]
    asked = [b for b in given if b in DECODER_BACKENDS]  # the first one named decodes
    model_path = ctx.options.get("model_path")
    if asked and (asked[0] == "nearest" or weights_available(model_path)):
        decoder, fallback = asked[0], None
    elif not asked and weights_available(model_path):
        decoder, fallback = "jxe", None
    else:  # as in 1.4: vec2text without weights is recorded as not run, not an input error
        decoder = "nearest"
        fallback = (
            "vec2text weights not found, so decoder failures come from nearest, which decodes a true vector "
            "to its own text: the overlap is a floor, not the plan's vec2text comparison (docs/decoders.md)"
        )
    store = ctx.store_url
    dataset = ctx.dataset
    if test_set.endswith(".npz"):
        store, dataset = _bank(ctx, test_set)
    elif not dataset:
        raise InputError("a JSONL --test-set names chunks of a dataset: give --dataset")
    n = int(ctx.options.get("sample_size") or ANALYSIS_ITEMS)
    key = {
        "model": _file_key(model) if Path(model).exists() else {"spec": model},
        "test_set": _file_key(test_set),
        "dataset": dataset,
        "fingerprint": _fingerprint(store, dataset),
        "decoder": decoder,
        "n": n,
        "seed": ctx.seed,
        "resamples": _resamples(ctx),
        "lvmgate_version": __version__,
    }
    cached = _cached(ctx, "failure_analysis", key)
    if cached is not None:
        return cached, False
    p = ctx.policy
    art = run_failure_analysis(
        lvm_model=model, test_set=test_set, output=ctx.path_for("failure_analysis"),
        store=store, dataset=dataset, decoder=decoder, model_path=model_path, device=ctx.options.get("device"),
        sample_size=n, bleu_bar=p["1.4.bleu4"].pass_at, cosine_bar=p["2.3.lvm_cosine"].pass_at,
        resamples=_resamples(ctx), seed=ctx.seed, plots=False,
    )  # fmt: skip
    r = art["result"]
    r.update(model_source=model_source, split_source=how, decoder_fallback=fallback)
    crit = [
        Criterion.measured(
            "3.3.items",
            Estimate.exact(r["n_items"], r["n_items"]),
            f"{r['n_items']} items from {r['n_articles']} articles ({how})",
        )
    ]
    for name, g in r["groupings"].items():
        crit.append(
            Criterion.measured(
                f"3.3.compared_groups[{name}]",
                Estimate.exact(g["compared_groups"], len(g["groups"])),
                ", ".join(f"{x['label']} n={x['n']}" for x in g["groups"]),
            )
        )
    o = r.get("overlap")
    cid = "3.3.compared_groups[decoder]"
    if fallback:
        crit.append(Criterion.not_measured(cid, fallback))
    elif o:
        crit.append(
            Criterion.measured(
                cid,
                Estimate.exact(o["compared_groups"], 2),
                f"{o['decoder']} on {o['n']} items: LVM failures {o['lvm_failures']}, successes "
                f"{o['n'] - o['lvm_failures']}, decoder failures {o['decoder_failures']}",
            )
        )
    else:
        crit.append(Criterion.not_measured(cid, "no decoder was run"))
    prov = art.get("provenance") or {}
    provenance = ctx.provenance(
        "failure_analysis", sample_size=r["n_items"], params=key, dataset=dataset, store=store,
        fingerprint=key["fingerprint"],
    )  # fmt: skip
    out = {
        **art,
        "key": key,
        "provenance": provenance,
        "analysis_provenance": prov,
        "criteria": criteria_dict(crit),
    }
    write_json(ctx.path_for("failure_analysis"), out)
    return out, True


def _failure_findings(r: dict) -> list[str]:
    from lvmgate.analysis import findings

    out = findings(r)
    out.insert(1, f"3.3 test items: {r['source']} ({r['split_source']}); model {r['model_source']}.")
    if r.get("decoder_fallback"):
        out.append(f"Note: {r['decoder_fallback']}.")
    return out


GRID_SEARCH = register(Source("grid_search", 3, _grid, _grid_findings, ("grid_search",), sections=("3.1",)))
RETRIEVAL_BENCHMARK = register(
    Source(
        "retrieval_benchmark", 3, _benchmark, _benchmark_findings, ("retrieval_benchmark",), sections=("3.2",)
    )
)
FAILURE_ANALYSIS = register(
    Source("failure_analysis", 3, _failures, _failure_findings, ("failure_analysis",), sections=("3.3",))
)
