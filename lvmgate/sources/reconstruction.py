"""2.3 artifact: the LVM's predictions decoded and compared (lvmgate.compare), for --lvm-model.

The comparison is cached in the artifacts folder under a request key (model and log digests, test
set digest, the bank's current fingerprint, backends and whether vec2text weights exist, sample
size, seed, resamples, lvmgate version, policy): vec2text decoding takes hours on CPU, and a gate
re-run with the same inputs reuses it. `--recompute` ignores the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from lvmgate.artifacts import GateContext, Source, fmt, register
from lvmgate.compare import CRITERIA
from lvmgate.criteria import criteria_dict, not_measured_all
from lvmgate.lvm.checkpoint import read_training_log, stopped_run


def _sha(path: str | os.PathLike | None) -> str | None:
    from lvmgate.io import file_sha256

    return file_sha256(path) if path and Path(path).is_file() else None


def _bank_fingerprint(ctx: GateContext, test_set: str | None) -> tuple[str | None, str | None]:
    """(dataset, its current fingerprint) of the test set's bank, or (None, None) when unknown."""
    from lvmgate.errors import InputError
    from lvmgate.sequences.loader import meta_path_for, read_meta
    from lvmgate.stores import open_store

    dataset, url = ctx.dataset, ctx.store_url
    if test_set and str(test_set).endswith(".npz"):
        try:
            bank = read_meta(meta_path_for(test_set))["bank"]
        except (InputError, KeyError):
            return None, None
        dataset, url = bank.get("dataset"), ctx.store_url or bank.get("store")
    if not dataset:
        return None, None
    try:
        with open_store(url) as st:
            return dataset, st.info(dataset).fingerprint
    except InputError:
        return dataset, None


def _reconstruction(ctx: GateContext) -> tuple[dict, bool]:
    """2.3: compare_reconstruction for --lvm-model on --test-set (default: the model's own held-out
    split), --backends (default jxe,ielab; nearest always), cached under a request key."""
    from lvmgate import __version__
    from lvmgate.compare import compare_reconstruction
    from lvmgate.decoders.vec2text import weights_available
    from lvmgate.lvm.heldout import held_out_split

    model = str(ctx.options["lvm_model"])
    log = read_training_log(model)
    stopped = stopped_run(model, log)
    if stopped:
        return {
            "tool": "reconstruction",
            "provenance": ctx.provenance("reconstruction", params={"lvm_model": model}),
            "criteria": criteria_dict(not_measured_all(CRITERIA, stopped)),
            "stopped": stopped,
        }, True
    test_set = ctx.options.get("test_set")
    resolved = test_set
    if resolved is None and log is not None:
        resolved, _ = held_out_split(trained_on=(((log.get("data") or {}).get("train")) or {}).get("path"))
    dataset, fingerprint = _bank_fingerprint(ctx, resolved)
    model_path = ctx.options.get("model_path")
    params = ctx.policy.params
    request = {
        "lvm_model": str(Path(model).resolve()),
        "lvm_model_sha256": _sha(model),
        "test_set": None if resolved is None else str(Path(resolved).resolve()),
        "test_set_sha256": _sha(resolved),
        "dataset": dataset,
        "fingerprint": fingerprint,
        "backends": ctx.options.get("backends"),
        "vec2text_weights": weights_available(model_path),
        "model_path": model_path,
        "encoder": ctx.options.get("encoder"),
        "sample_size": ctx.options.get("sample_size") or params["reconstruction_sample_size"],
        "seed": ctx.seed,
        "resamples": params["bootstrap_resamples"],
        "policy_digest": ctx.policy.digest,
        "lvmgate_version": __version__,
    }
    folder = ctx.artifacts_dir / (dataset or ctx.dataset or "_")
    baseline = folder / "vec2text_baseline.json"

    def compute() -> dict:
        comp = compare_reconstruction(
            model,
            test_set,
            backends=ctx.options.get("backends"),
            store=ctx.store_url,
            dataset=ctx.dataset,
            baseline=baseline if baseline.is_file() else None,
            sample_size=request["sample_size"],
            seed=ctx.seed,
            device=ctx.options.get("device"),
            model_path=model_path,
            encoder=ctx.options.get("encoder"),
            policy=ctx.policy,
        )
        return {**comp.to_dict(), "tool": "reconstruction"}

    # a bank that cannot be fingerprinted is never trusted from the cache
    return ctx.cached(
        "reconstruction", request, compute, path=folder / "reconstruction.json", reuse=fingerprint is not None
    )


def _findings(r: dict) -> list[str]:
    from lvmgate.compare import diagnostics_text

    if r.get("stopped"):
        return [f"2.3 not run: {r['stopped']}."]
    t, s = r["test_set"], r["sample"]
    out = [
        f"2.3 test set: {s['n_windows']} windows of {s['n_articles']} held-out articles from "
        f"{Path(t['path']).name} ({t['note']}); "
        + (
            f"no article shared with the training data ({t['training_articles_from']})."
            if t.get("shared_articles") == 0
            else "disjointness from the training data not verified."
        )
    ]
    v = r["vector"]
    out.append(
        "2.3 cosine with the true next vector: "
        + ", ".join(f"{p} {fmt(v[p]['cosine'])}" for p in ("lvm", "copy_last", "context_mean"))
        + "."
    )
    if "contrastive_accuracy" in v["lvm"]:
        out.append(
            "2.3 next-concept metrics (LCM paper 2.4.1; Base-LCM: l2 0.229, CA 0.696, PAR 1.770): "
            + "; ".join(
                f"{p} l2 {v[p]['l2']['value']:.3f}, CA {v[p]['contrastive_accuracy']['value']:.3f}, "
                f"PAR {v[p]['paraphrase_ratio']['value']:.3f}"
                for p in ("lvm", "copy_last", "context_mean")
            )
            + "."
        )
    for name, d in r["decoders"].items():
        if d["status"] != "ok":
            if d["status"] != "not_requested":
                out.append(f"2.3 {name}: not run ({d['reason'][:160]}).")
            continue
        m = d["metrics"]
        rt = {p: m[p].get("round_trip_l2") for p in m}
        out.append(
            f"2.3 {name} BLEU-4: "
            + ", ".join(f"{p} {fmt(m[p]['bleu4'])}" for p in m)
            + (
                "; round-trip l2 (decoded, encoded again) "
                + ", ".join(f"{p} {fmt(v)}" for p, v in rt.items())
                if all(rt.values())
                else ""
            )
            + (
                " (context rows never an answer)"
                if name == "nearest"
                else " (truth: the true next vector decoded)"
            )
            + "."
        )
    lat = r["latency"]
    out.append(
        f"2.3 latency: LVM {lat['lvm_single_query_s']['value'] * 1000:.3g} ms per single query, "
        f"{lat['lvm_batched_per_item_s'] * 1000:.3g} ms per item batched; with decoding "
        + ", ".join(f"{k} {x * 1000:.3g} ms" for k, x in (lat.get("end_to_end_s") or {}).items())
        + "."
    )
    b = r.get("baseline_1_4")
    if b:
        out.append(
            "2.3 vs the 1.4 artifact (its own chunks, not paired): "
            + "; ".join(f"{k} BLEU-4 {fmt(x['bleu4'])}" for k, x in b["backends"].items() if x.get("bleu4"))
            + (f" ({b['note']})" if b.get("note") else "")
            + "."
        )
    out.append("2.3 " + diagnostics_text(r["diagnostics"]))
    out += [f"2.3 note: {n}" for n in r.get("notes") or []]
    return out


RECONSTRUCTION = register(
    Source("reconstruction", 2, _reconstruction, _findings, needs="lvm_model", sections=("2.3",))
)
