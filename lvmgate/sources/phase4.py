"""Phase-4 artifacts: production data (4.1), production metrics (4.3), the deployment checklist (4.4)
and the final verdict. The numbers come from lvmgate.readiness; this module only finds the inputs.

Where the inputs come from:
- 4.1: the prepared production set named by --data.
- 4.3: --lvm-model, benchmarked on held-out windows: --test-set (a prepared NAME_test.npz), else
  --val-data, else the test (or val) split of --data's set; --sample-size caps the queries (default
  the plan's 10,000). Cached in the artifacts folder by model digest, split file and bank fingerprint.
- 4.4: export.json, quantize.json and loadtest.json in the deployment folder: the option
  `deploy_dir` (a plugin option --deploy-dir, when the plugin passes it), else $LVMGATE_DEPLOY_DIR,
  else artifacts/deploy (relative to the working directory), as `lvmgate readiness` writes them.
- final: 4.3 and 4.4 as above; BLEU-4 from plan 2.3's comparison artifact made for this model (the
  option `reconstruction`, $LVMGATE_RECONSTRUCTION, ARTIFACTS/DATASET/reconstruction.json or
  ARTIFACTS/reconstruction_lvm_vs_vec2text.json, first found), else the nearest-decoder BLEU-4 that
  the 4.3 benchmark measures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lvmgate.artifacts import GateContext, Source, fmt, register
from lvmgate.criteria import criteria_dict
from lvmgate.results import human_bytes

BENCH_FORMAT = "lvmgate.production-bench/1"  # part of the 4.3 cache key: bump when the artifact changes


def _resamples(ctx: GateContext) -> int:
    return int(ctx.policy.params.get("bootstrap_resamples", 1000))


def _bank(ctx: GateContext, split: str | None = None) -> tuple[str | None, str | None, str | None]:
    """(store URL, dataset, fingerprint) of the bank: --store/--dataset, else the prepared set's meta."""
    from lvmgate.sequences.loader import meta_path_for, read_meta
    from lvmgate.stores import open_store

    store, dataset = ctx.store_url, ctx.dataset
    source = split or ctx.options.get("data") or ctx.options.get("val_data")
    if not dataset and source:
        bank = read_meta(meta_path_for(source)).get("bank") or {}
        dataset, store = bank.get("dataset"), store or bank.get("store")
    if not dataset:
        return store, None, None
    st = open_store(store)
    try:
        return store, dataset, st.require(dataset).fingerprint
    finally:
        st.close()


# -- 4.1 production data -----------------------------------------------------------------------------
def _production_data(ctx: GateContext) -> tuple[dict, bool]:
    """4.1: the set named by --data, checked fresh each run (cheap, like 2.1)."""
    from lvmgate.io import write_json
    from lvmgate.readiness import production_data

    data = ctx.options["data"]
    pd = production_data(data, store=ctx.store_url, resamples=_resamples(ctx), seed=ctx.seed)
    art = {
        "tool": "production_data",
        "provenance": ctx.provenance(
            "production_data",
            sample_size=sum(pd.n_windows.values()),
            params={"data": str(data)},
            dataset=pd.dataset,
        ),
        "result": pd.to_dict(),
        "criteria": criteria_dict(pd.criteria()),
    }
    write_json(ctx.path_for("production_data"), art)
    return art, True


def _production_data_findings(r: dict) -> list[str]:
    aug = r["augment"]
    aug_text = (
        f"mask {aug.get('mask_frac')}, noise sigma {aug.get('noise_sigma')}, within-context shuffle "
        f"{aug.get('shuffle')} (p {aug.get('shuffle_prob')})"
        if aug.get("enabled")
        else "none"
    )
    return [
        f"4.1 production set {Path(r['data']).name}: context {r['context_window']} (plan 12), stride "
        f"{r['stride']} (plan 6), val share {r['val_fraction']:.3f} (plan 0.05); windows "
        + ", ".join(f"{k} {v:,}" for k, v in r["n_windows"].items())
        + f"; augmentation: {aug_text}."
    ]


# -- 4.3 production metrics --------------------------------------------------------------------------
def _production_bench(ctx: GateContext) -> tuple[dict, bool]:
    """4.3: the whole-bank `next` benchmark of --lvm-model on held-out windows (cached by model digest)."""
    from lvmgate import __version__
    from lvmgate.io import file_sha256
    from lvmgate.lvm.heldout import held_out_split
    from lvmgate.readiness import PLAN_QUERIES, model_identity, production_bench

    spec = ctx.options["lvm_model"]
    split, how = held_out_split(
        test_set=ctx.options.get("test_set"),
        val_data=ctx.options.get("val_data"),
        data=ctx.options.get("data"),
    )
    store, dataset, fingerprint = _bank(ctx, split)
    n = int(ctx.options.get("sample_size") or PLAN_QUERIES)
    identity = model_identity(spec)
    key = {
        "format": BENCH_FORMAT,
        "model_digest": identity.digest,
        "split": str(Path(split).resolve()),
        "split_sha256": file_sha256(split),
        "dataset": dataset,
        "fingerprint": fingerprint,
        "n": n,
        "k": 10,
        "seed": ctx.seed,
        "resamples": _resamples(ctx),
        "lvmgate_version": __version__,
    }

    def compute() -> dict:
        bench = production_bench(
            spec,
            split,
            split_source=how,
            store=store,
            dataset=dataset,
            n=n,
            resamples=_resamples(ctx),
            seed=ctx.seed,
        )
        return {
            "tool": "production_bench",
            "provenance": ctx.provenance(
                "production_bench",
                sample_size=bench.n_queries,
                params={**key, "lvm_model": str(spec)},
                dataset=dataset,
                store=store,
                fingerprint=fingerprint,
            ),
            "result": bench.to_dict(),
            "criteria": criteria_dict(bench.criteria()),
        }

    return ctx.cached("production_bench", key, compute)


def _production_bench_findings(r: dict) -> list[str]:
    lat = r["latency_ms"]
    out = [
        f"4.3 next-chunk retrieval over the whole bank ({r['bank_rows']:,} rows) on {r['n_queries']:,} held-out "
        f"windows from {r['n_articles']:,} articles ({r['split_source']}): LVM Recall@10 (hit@10) "
        f"{fmt(r['recall_at_10'])}"
        + (
            f" vs {fmt(r['vec_recall_at_10'])} for the last context vector"
            if r.get("vec_recall_at_10")
            else ""
        )
        + f"; graded recall@10 {fmt(r['recall_at_10_graded'])}; R-precision {fmt(r['r_precision'])}; "
        f"raw P@10 {fmt(r['precision_at_10_raw'])} (at most {r['precision_ceiling']:.2f} with <= 3 relevant rows).",
        f"4.3 latency one query alone: p50 {lat['p50_ms']:.2f} ms, p95 {lat['p95_ms']:.2f} ms "
        f"(prediction {r['predict_ms_per_query']:.3f} ms/query in batches); memory to serve "
        f"{human_bytes(r['memory_bytes'])} (index + model); model {r['model']['digest']} "
        f"({r['model']['kind']}, {r['model']['params'] or 0:,} params, trained {r['model']['trained']}).",
    ]
    b = r.get("bleu")
    if b:
        out.append(
            f"LVM through the nearest decoder (a retrieval check, not the final BLEU-4): BLEU-4 {fmt(b['bleu4'])} on {b['n_items']} held-out windows; "
            f"the decoded chunk is the true next chunk for {b['decoded_is_true_next']:.1%}."
        )
    out += [f"Warning: {w}" for w in r.get("warnings") or []]
    return out


# -- 4.4 deployment checklist ------------------------------------------------------------------------
def deploy_dir(ctx: GateContext) -> str:
    from lvmgate.readiness import DEFAULT_DEPLOY_DIR

    return ctx.options.get("deploy_dir") or os.environ.get("LVMGATE_DEPLOY_DIR") or DEFAULT_DEPLOY_DIR


def _deployment(ctx: GateContext) -> tuple[dict, bool]:
    """4.4: the deployment artifacts for --lvm-model (read each run: they are small)."""
    from lvmgate.readiness import deployment_checklist, model_identity

    spec = ctx.options["lvm_model"]
    _, dataset, fingerprint = _bank(ctx)
    checklist = deployment_checklist(deploy_dir(ctx), model_identity(spec), fingerprint=fingerprint)
    art = {
        "tool": "deployment",
        "provenance": ctx.provenance(
            "deployment",
            params={
                "deploy_dir": checklist.deploy_dir,
                "lvm_model": str(spec),
                "model_digest": checklist.model.digest,
            },
            dataset=dataset,
            fingerprint=fingerprint,
        ),
        "result": checklist.to_dict(),
        "criteria": criteria_dict(checklist.criteria()),
    }
    return art, True


def _deployment_findings(r: dict) -> list[str]:
    out = []
    for name, st in r["artifacts"].items():
        if st["fresh"]:
            out.append(
                f"4.4 {name}: {st['path']} (model {st['model_digest']}, made {st['created_at'] or '?'})."
            )
        else:
            out.append(f"4.4 {name}: not used: {st['reason']}.")
    rss = (r.get("details") or {}).get("server_rss_bytes")
    if rss:
        out.append(f"4.4 server resident memory after the load test: {human_bytes(rss)}.")
    return out


# -- the final verdict -------------------------------------------------------------------------------
def reconstruction_candidates(ctx: GateContext) -> list[Any]:
    """Where plan 2.3's comparison may be, in order: the option, the environment, the 2.3 gate's cache
    (ARTIFACTS/DATASET/reconstruction.json, DATASET from --dataset or the prepared set's bank), and the
    plan's --output name in the artifacts folder."""
    from lvmgate.readiness import RECONSTRUCTION_FILE

    _, dataset, _ = _bank(ctx)
    return [
        p
        for p in (
            ctx.options.get("reconstruction"),
            os.environ.get("LVMGATE_RECONSTRUCTION"),
            ctx.artifacts_dir / dataset / "reconstruction.json" if dataset else None,
            ctx.path_for("reconstruction"),
            ctx.artifacts_dir / RECONSTRUCTION_FILE,
        )
        if p
    ]


def _final_verdict(ctx: GateContext) -> tuple[dict, bool]:
    """The plan's "Success Criteria (Final)" over the 4.3 and 4.4 artifacts and the vec2text BLEU-4 of
    plan 2.3. Without --lvm-model nothing was measured: every criterion is not measured, and the
    verdict is "not production-ready"."""
    from lvmgate.readiness import BleuChoice, choose_bleu, final_verdict, model_identity

    spec = ctx.options.get("lvm_model")
    if spec:
        production = ctx.artifact("production_bench")
        production = {c.id: c for c in production.criteria_list()}
        load = {c.id: c for c in ctx.artifact("deployment").criteria_list()}
        bleu = choose_bleu(model_identity(spec), reconstruction_candidates(ctx))
    else:
        production, load = {}, None
        bleu = BleuChoice(None, "no --lvm-model given: not measured")
    verdict = final_verdict(production, load, bleu, ctx.policy)
    art = {
        "tool": "final_verdict",
        "provenance": ctx.provenance("final_verdict", params={"lvm_model": str(spec) if spec else None}),
        "result": verdict.to_dict(),
        "criteria": criteria_dict(verdict.criteria()),
    }
    return art, True


def _final_findings(r: dict) -> list[str]:
    return [r["statement"], f"BLEU-4 for the verdict: {r['bleu_source']}."]


PRODUCTION_DATA = register(
    Source("production_data", 4, _production_data, _production_data_findings, needs="data", sections=("4.1",))
)
PRODUCTION_BENCH = register(
    Source(
        "production_bench",
        4,
        _production_bench,
        _production_bench_findings,
        needs="lvm_model",
        sections=("4.3",),
    )
)
DEPLOYMENT = register(
    Source("deployment", 4, _deployment, _deployment_findings, needs="lvm_model", sections=("4.4",))
)
FINAL_VERDICT = register(Source("final_verdict", 4, _final_verdict, _final_findings, sections=("final",)))
