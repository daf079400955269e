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
from lvmgate.results import Estimate
from lvmgate.retrieval.benchmark import BENCH_QUERIES, RETRIEVAL_BACKENDS, benchmark_lvm

DECODER_BACKENDS = ("nearest", "jxe", "ielab")
ANALYSIS_ITEMS = 1000  # the plan's wikipedia_test_1k


def _resamples(ctx: GateContext) -> int:
    return int(ctx.policy.param("bootstrap_resamples"))


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
    """(split file, how it was chosen): the option as given, else lvmgate.lvm.heldout's choice from
    the model's own prepared set (its test split, else its val split)."""
    from lvmgate.lvm.heldout import held_out_split, trained_split

    if option:
        return str(option), f"given as {flag}"
    return held_out_split(trained_on=trained_split(model).get("path"))


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
def _benchmark(ctx: GateContext) -> tuple[dict, bool]:
    """3.2: the benchmark of the LVM (cached while the model, windows, bank and settings match)."""
    from lvmgate import __version__

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

    def compute() -> dict:
        out = ctx.path_for("retrieval_benchmark").with_name("bench_next_lvm.jsonl")
        result, criteria, messages = benchmark_lvm(
            lvm_model=model, val_data=split, store=store, dataset=dataset, backends=backends, n=n,
            resamples=_resamples(ctx), seed=ctx.seed, out=str(out),
        )  # fmt: skip
        result.update(model_source=model_source, split_source=how)
        art = {
            "tool": "retrieval_benchmark",
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
        return art

    return ctx.cached("retrieval_benchmark", key, compute)


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

    def compute() -> dict:
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
            "provenance": provenance,
            "analysis_provenance": prov,
            "criteria": criteria_dict(crit),
        }
        return out

    return ctx.cached("failure_analysis", key, compute)


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
