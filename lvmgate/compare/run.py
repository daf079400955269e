"""Plan 2.3 end to end: decode the LVM's predictions, copy-last, context-mean and (for vec2text) the
true next vectors with each backend, score them against the true next chunk's text, bootstrap over
articles.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.compare.decode import _decode_model, _decode_nearest, _items
from lvmgate.compare.diagnostics import _baseline_reference, _diagnostics
from lvmgate.compare.inputs import ModelUnderTest, TestSet, _trained_on, load_model, load_test_set
from lvmgate.compare.judge import _criteria
from lvmgate.compare.result import (
    BACKENDS,
    FORMAT,
    KIND,
    LATENCY_QUERIES,
    PLAN_SECTION,
    PREDICTORS,
    TRUTH,
    VEC2TEXT_BACKENDS,
    DecoderComparison,
    ReconstructionComparison,
    parse_backends,
)
from lvmgate.errors import InputError
from lvmgate.io import redact_url
from lvmgate.lvm.heldout import held_out_split, shared_articles, training_articles
from lvmgate.policy import Policy, load_policy
from lvmgate.results import Estimate, Provenance
from lvmgate.stats import PairedBootstrap, bootstrap_mean


# --------------------------------------------------------------------------------------------------
# BLEU over article resamples
def _bleu_samples(boot: PairedBootstrap, stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU-4 of every replicate, from per-item sacrebleu statistics (n, 10)."""
    from lvmgate.metrics.reconstruction import corpus_bleu_from_stats

    return np.array([corpus_bleu_from_stats(t[None, :]) for t in boot.totals(stats)])


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


# --------------------------------------------------------------------------------------------------
def compare_reconstruction(
    lvm_model: str | os.PathLike,
    test_set: str | os.PathLike | None = None,
    *,
    backends: str | Sequence[str] | None = None,
    store: str | None = None,
    dataset: str | None = None,
    baseline: str | os.PathLike | None = None,
    sample_size: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    model_path: str | os.PathLike | None = None,
    encoder: str | None = None,
    context_window: int | None = None,
    batch_size: int | None = None,
    policy: Policy | None = None,
    decoders: dict[str, Any] | None = None,
    progress: bool = False,
    output: str | os.PathLike | None = None,
    latency_queries: int = LATENCY_QUERIES,
) -> ReconstructionComparison:
    """Run the 2.3 comparison (see module docstring) and return (and, given `output`, write) it.

    `backends`: vec2text presets to try besides nearest (default jxe, ielab); those whose weights
    are missing are recorded as unavailable. `decoders` supplies ready decoders by name (tests).
    `baseline`: the 1.4 artifact, reported beside the paired numbers. `latency_queries` single
    queries are timed for 2.3.latency_s. Bad input (unknown backend,
    unreadable model or test set, a test set sharing articles with the model's training data,
    mismatched dimensions or context windows) raises InputError before anything is decoded.
    """
    from lvmgate import __version__

    policy = policy or load_policy()
    seed = int(policy.param("seed") if seed is None else seed)
    resamples = int(policy.param("bootstrap_resamples"))
    confidence = float(policy.param("confidence"))
    sample_size = int(sample_size or policy.param("reconstruction_sample_size"))
    if sample_size < 1:
        raise InputError(f"--sample-size must be at least 1, got {sample_size}")
    requested = parse_backends(backends)
    model = load_model(str(lvm_model), device=device)
    notes: list[str] = []
    test_note = "given (--test-set)"
    if test_set is None:
        test_set, test_note = held_out_split(trained_on=model.train_data.get("path"))
    ts = load_test_set(
        test_set, store=store, dataset=dataset, context_window=context_window or model.context_window
    )
    try:
        return _compare(
            model, ts, test_note, requested, policy=policy, seed=seed, resamples=resamples,
            confidence=confidence, sample_size=sample_size, device=device, model_path=model_path,
            encoder=encoder, batch_size=batch_size, decoders=decoders, progress=progress,
            baseline=baseline, output=output, notes=notes, version=__version__,
            latency_queries=latency_queries,
        )  # fmt: skip
    finally:
        ts.close()


def _compare(
    model: ModelUnderTest,
    ts: TestSet,
    test_note: str,
    requested: list[str],
    *,
    policy: Policy,
    seed: int,
    resamples: int,
    confidence: float,
    sample_size: int,
    device: str | None,
    model_path: str | os.PathLike | None,
    encoder: str | None,
    batch_size: int | None,
    decoders: dict[str, Any] | None,
    progress: bool,
    baseline: str | os.PathLike | None,
    output: str | os.PathLike | None,
    notes: list[str],
    version: str,
    latency_queries: int = LATENCY_QUERIES,
) -> ReconstructionComparison:
    from lvmgate.decoders import NearestDecoder, get_decoder
    from lvmgate.decoders.vec2text import FETCH_HELP, weights_available
    from lvmgate.encoders import get_encoder
    from lvmgate.lvm.baselines import context_mean, copy_last
    from lvmgate.lvm.evaluate import max_context_cosine, window_scores
    from lvmgate.lvm.predictor import check_prediction
    from lvmgate.metrics.reconstruction import bleu_statistics, cosine_rows, token_f1

    # -- checks before any decoding ---------------------------------------------------------------
    if model.dim is not None and model.dim != ts.dim:
        raise InputError(
            f"{model.spec} predicts {model.dim}-D vectors; the test set's bank ({ts.dataset}) holds {ts.dim}-D vectors"
        )
    if model.context_window and model.context_window != ts.context_window:
        raise InputError(
            f"{model.spec} was trained on contexts of {model.context_window} chunks; {ts.path} has windows of "
            f"{ts.context_window} (prepare the test set with --context-window {model.context_window})"
        )
    trained, trained_source = training_articles(model.loaded, [ts.prepared_meta or {}])
    test_articles = set(np.unique(ts.article_ids).tolist())
    leaked = shared_articles(test_articles, trained)
    shared = None if leaked is None else len(leaked)
    shared_ids = leaked or []
    if shared:  # a STOP (2.3.shared_articles), not an input error: the report names the articles
        notes.append(
            f"--test-set {ts.path} shares {shared} of its {len(test_articles)} articles with the data "
            f"{model.spec} was trained on ({trained_source}): every number here is on seen articles; "
            "test on held-out articles (lvmgate prepare splits by article: use its _test.npz)"
        )
    enc = None
    enc_spec = encoder or ts.encoder
    if enc_spec:
        try:
            enc = get_encoder(enc_spec)
        except InputError as exc:
            notes.append(f"encoder {enc_spec!r} unavailable ({exc}): text cosine not computed")
        if enc is not None and getattr(enc, "dim", ts.dim) != ts.dim:
            raise InputError(
                f"encoder {enc_spec!r} makes {enc.dim}-D vectors; the bank holds {ts.dim}-D vectors"
            )
    else:
        notes.append(f"dataset {ts.dataset!r} declares no encoder (and none given): text cosine not computed")

    built: dict[str, Any] = {}
    status: dict[str, tuple[str, str]] = {}
    for name in BACKENDS:
        if name not in requested:
            status[name] = ("not_requested", "backend not requested (--vec2text-backends / --backends)")
            continue
        if decoders and name in decoders:
            built[name] = decoders[name]
        elif name == "nearest":
            built[name] = NearestDecoder.from_store(ts.store, ts.dataset, batch_size=batch_size)
        elif not weights_available(model_path):
            status[name] = (
                "unavailable",
                f"vec2text weights not found (jxm/gtr__nq__32 and jxm/gtr__nq__32__correct): {FETCH_HELP}",
            )
            continue
        else:
            built[name] = get_decoder(name, model_path=model_path, device=device, batch_size=batch_size)
        dim = getattr(built[name], "dim", None)
        if dim is not None and dim != ts.dim:
            raise InputError(
                f"decoder {name!r} expects {dim}-D vectors; the test set's bank holds {ts.dim}-D vectors"
            )
        status[name] = ("ok", "")

    # -- sample, predict ----------------------------------------------------------------------------
    n_all = len(ts.target)
    rng = np.random.default_rng([seed, 7])
    n = min(sample_size, n_all)
    pick = np.sort(rng.choice(n_all, size=n, replace=False))
    if n < sample_size:
        notes.append(f"the test set has {n_all} windows: all of them used instead of {sample_size}")
    ctx_rows, tgt_rows, arts = ts.context[pick], ts.target[pick], ts.article_ids[pick]
    rows = np.concatenate([ctx_rows.ravel(), tgt_rows])
    uniq, inv = np.unique(rows, return_inverse=True)
    vecs = np.asarray(ts.bank[uniq], dtype=np.float32)
    w = ts.context_window
    ctx = vecs[inv[: n * w]].reshape(n, w, -1)  # (n, w, D)
    tgt = vecs[inv[n * w :]]  # (n, D)
    t0 = time.perf_counter()
    lvm_pred = check_prediction(model.predict(ctx), n, ts.dim, model.spec)
    batch_s = (time.perf_counter() - t0) / max(n, 1)
    preds = {
        "lvm": lvm_pred,
        "copy_last": copy_last(ctx),
        "context_mean": context_mean(ctx),
        TRUTH: tgt,
    }
    single = _single_query_seconds(model, ctx[: max(1, latency_queries)])
    boot = PairedBootstrap(arts, resamples, seed, confidence)
    references = ts.texts(tgt_rows)

    vector: dict[str, dict[str, Estimate]] = {}
    cos_items: dict[str, np.ndarray] = {}
    max_next = max_context_cosine(tgt, ctx)  # (n,) the truth's nearness to its context (PAR's denominator)
    for name in PREDICTORS:
        cos, nvc = window_scores(preds[name], ctx, tgt)
        cos = np.nan_to_num(cos, nan=0.0)
        cos_items[name] = cos
        vector[name] = {
            "cosine": boot.mean(cos),
            "next_vs_context": boot.mean(np.nan_to_num(nvc, nan=-2.0)),
            **_next_concept(boot, preds[name], tgt, tgt_rows, cos - nvc, max_next, ts.bank),
        }
    margins = {
        base: boot.estimate(
            float(np.mean(cos_items["lvm"] - cos_items[base])),
            boot.mean_samples(cos_items["lvm"] - cos_items[base]),
        )
        for base in ("copy_last", "context_mean")
    }

    # -- decode ---------------------------------------------------------------------------------------
    results: dict[str, DecoderComparison] = {}
    per_item: dict[str, dict[str, dict[str, Any]]] = {}
    for name in BACKENDS:
        st, why = status[name]
        if st != "ok":
            results[name] = DecoderComparison(name, st, why)
            continue
        dec = built[name]
        names = [*PREDICTORS, *([TRUTH] if name in VEC2TEXT_BACKENDS else [])]
        try:
            decoded = {
                p: (
                    _decode_nearest(dec, preds[p], ctx_rows, ts.texts)
                    if name == "nearest"
                    else _decode_model(dec, preds[p], progress)
                )
                for p in names
            }
        except InputError:
            raise
        except Exception as exc:  # a decoder that breaks is recorded, the others still run
            results[name] = DecoderComparison(name, "failed", f"{type(exc).__name__}: {exc}", dec.params())
            continue
        metrics: dict[str, dict[str, Any]] = {}
        stats: dict[str, np.ndarray] = {}
        text_cos: dict[str, np.ndarray] = {}
        items: dict[str, dict[str, Any]] = {}
        for p in names:
            d = decoded[p]
            sent, st4 = bleu_statistics(d.texts, references, 4)
            stats[p] = st4
            f1 = token_f1(d.texts, references)
            tc = rt_l2 = None
            if enc is not None:  # the round trip: the decoded text encoded again (LCM's round-trip l2)
                again = np.asarray(enc.encode(d.texts, batch_size=64), dtype=np.float64)  # (n, D)
                tc = cosine_rows(tgt, again)
                rt_l2 = np.linalg.norm(again - tgt, axis=1)
                text_cos[p] = tc
            lat = (
                float(np.sum(d.batch_seconds) / max(1, int(np.sum(d.batch_sizes))))
                if d.batch_sizes
                else float("nan")
            )
            metrics[p] = {
                "n": n,
                "n_failed": sum(e is not None for e in d.errors),
                "bleu4": None,  # filled below from the shared replicates
                "sentence_bleu4": boot.mean(sent),
                "token_f1": boot.mean(f1),
                "text_cosine": None if tc is None else boot.mean(tc),
                "round_trip_l2": None if rt_l2 is None else boot.mean(rt_l2),
                "latency_per_item_s": lat,
            }
            items[p] = {
                "texts": d.texts,
                "rows": d.rows,
                "bleu4": sent,
                "text_cosine": tc,
                "errors": d.errors,
            }
        bleu_rep = {p: _bleu_samples(boot, stats[p]) for p in names}
        bleu_point = {p: _corpus_bleu(stats[p]) for p in names}
        for p in names:
            metrics[p]["bleu4"] = boot.estimate(bleu_point[p], bleu_rep[p])
        comps: dict[str, Estimate] = {}
        for base in ("copy_last", "context_mean"):
            comps[f"bleu4_margin_{base}"] = boot.estimate(
                bleu_point["lvm"] - bleu_point[base], bleu_rep["lvm"] - bleu_rep[base]
            )
        if TRUTH in names:
            with np.errstate(invalid="ignore", divide="ignore"):
                comps["bleu4_vs_vec2text"] = boot.estimate(
                    _ratio(bleu_point["lvm"], bleu_point[TRUTH]),
                    np.where(bleu_rep[TRUTH] > 0, bleu_rep["lvm"] / bleu_rep[TRUTH], np.nan),
                )
                if text_cos:
                    a, b = text_cos["lvm"], text_cos[TRUTH]
                    sa, sb = boot.mean_samples(a), boot.mean_samples(b)
                    comps["cosine_vs_vec2text"] = boot.estimate(
                        _ratio(float(a.mean()), float(b.mean())), np.where(sb > 0, sa / sb, np.nan)
                    )
        results[name] = DecoderComparison(name, "ok", "", dec.params(), metrics, comps)
        per_item[name] = items

    # -- 1.4 artifact, diagnostics, criteria -------------------------------------------------------
    base14 = _baseline_reference(baseline, ts)
    diagnostics = _diagnostics(model, ts, ctx, tgt, lvm_pred, boot)
    criteria = _criteria(
        results,
        vector,
        margins,
        single,
        shared,
        shared_ids,
        trained_source,
        ts,
        base14,
        diagnostics,
        policy,
        n,
    )
    prov = Provenance(
        tool="reconstruction",
        dataset=ts.dataset,
        store=redact_url(str(ts.store.url)),
        fingerprint=ts.fingerprint,
        sample_size=n,
        seed=seed,
        params={
            "lvm_model": model.info.get("path", model.spec),
            "lvm_model_sha256": model.info.get("sha256"),
            "test_set": str(Path(ts.path).resolve()),
            "test_set_sha256": ts.sha256,
            "backends": {k: v[0] for k, v in status.items()},
            "sample_size_requested": sample_size,
            "resamples": resamples,
            "encoder": enc_spec if enc is not None else None,
            "device": device,
            "baseline": None if baseline is None else str(baseline),
            "decoders": {k: getattr(v, "params", dict)() for k, v in built.items()},
        },
        policy_digest=policy.digest,
    ).to_dict()
    sample = {
        "requested": sample_size,
        "n_windows": n,
        "n_articles": boot.k,
        "windows": pick.tolist(),
        "test_set_note": test_note,
    }
    latency = {
        "lvm_single_query_s": single,
        "lvm_batched_per_item_s": batch_s,
        "end_to_end_s": {
            name: single.value + r.metrics["lvm"]["latency_per_item_s"]
            for name, r in results.items()
            if r.status == "ok"
        },
    }
    comparison = ReconstructionComparison(
        kind=KIND,
        format=FORMAT,
        plan_section=PLAN_SECTION,
        provenance=prov,
        test_set={
            **ts.describe(),
            "note": test_note,
            "training_articles_from": trained_source if trained is not None else None,
            "shared_articles": shared,
            "shared_article_ids": shared_ids[:50],
        },
        model={
            **model.info,
            "spec": model.spec,
            "kind": model.kind,
            "dim": model.dim,
            "context_window": model.context_window,
            "trained_on": _trained_on(model),
        },
        sample=sample,
        vector=vector,
        decoders=results,
        latency=latency,
        baseline_1_4=base14,
        diagnostics=diagnostics,
        criteria=criteria,
        notes=tuple(notes),
        items=tuple(_items(pick, arts, tgt_rows, references, cos_items, per_item, n)),
    )
    if output is not None:
        comparison.write(output)
    return comparison


def _next_concept(boot, pred, tgt, tgt_rows, max_pred, max_next, bank) -> dict[str, Estimate]:
    """The LCM paper's l2, CA and PAR on the sampled windows, paired with the other numbers (the same
    article resamples); lvmgate.lvm.evaluate defines them. The round-trip l2 is per decoder, below."""
    from lvmgate.lvm.evaluate import contrastive_accuracy, full_bank_ranks

    pred = np.asarray(pred, dtype=np.float32)
    ranks = full_bank_ranks(pred, tgt_rows, bank)
    l2 = np.linalg.norm(pred.astype(np.float64) - tgt, axis=1)
    par = boot.estimate(
        float(np.mean(max_pred) / np.mean(max_next)),
        boot.mean_samples(max_pred) / boot.mean_samples(max_next),
    )
    return {
        "l2": boot.mean(l2),
        "contrastive_accuracy": boot.mean(contrastive_accuracy(pred, tgt_rows, ranks, bank)),
        "paraphrase_ratio": par,
    }


def _now() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _corpus_bleu(stats: np.ndarray) -> float:
    from lvmgate.metrics.reconstruction import corpus_bleu_from_stats

    return corpus_bleu_from_stats(stats)


def _single_query_seconds(model: ModelUnderTest, ctx: np.ndarray) -> Estimate:
    """LVM forward time per query at batch size 1 (after one warm-up call), mean with interval."""
    if len(ctx) == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    model.predict(ctx[:1])
    times = []
    for i in range(len(ctx)):
        t0 = time.perf_counter()
        model.predict(ctx[i : i + 1])
        times.append(time.perf_counter() - t0)
    return bootstrap_mean(np.asarray(times), seed=0)
