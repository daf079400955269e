"""Phase 4 from artifacts: production data (4.1), production metrics (4.3), the deployment checklist
(4.4) and the plan's final verdict ("Success Criteria (Final)"), plus `run_readiness`, which measures
every 4.4 box for one model in one go.

The functions return values and the messages that explain them; the phase-4 gates judge each value
against the policy. The one exception is `final_verdict`, which combines five criteria into
"production-ready or not" and therefore applies the policy's `final.*` (and `4.4.load_*`) thresholds
itself, so that its statement and the gate's table agree.

- `production_data(data)`: the 2.1 checks again on the production set, the plan's augmentation as
  recorded in the set's meta (mask 10%, noise sigma 0.01, within-context shuffling) and the
  validation share (plan: 0.05).
- `production_bench(model, split)`: the retrieval benchmark's `next` task over the **whole bank**
  on held-out windows with the LVM. The plan's "Recall@10" is read as **hit@10** (the true next
  chunk among the top 10), the definition `lvmgate.lvm.evaluate` uses for gate 2.2 and the one
  docs/retrieval.md recommends for 3.2; graded recall@10 (which also credits the two chunks after
  it) is recorded beside it. "Precision@10" is read as **R-precision** (relevant rows in the top R
  / R, R = the judged relevant rows, at most 3 for `next`): raw P@10 cannot exceed 3/10 with three
  relevant rows, so a P@10 > 0.70 line could never pass; raw P@10 and its ceiling are recorded.
  Latency is the p95 of one query alone (prediction + whole-bank search), memory what serving
  needs resident: the bank index plus the model. It also decodes the LVM's predictions with the
  nearest-neighbour decoder (whole bank) for a BLEU-4 the final verdict can fall back on.
- `deployment_checklist(deploy_dir, model)`: the seven 4.4 boxes from artifacts/deploy/*.json,
  each with the artifact value behind it. An artifact made for another model (its model digest
  differs from --lvm-model's) or on another dataset never ticks a box: its value is NaN and the
  message says why.
- `final_verdict(...)`: Recall@10, BLEU-4, latency, memory and the load test; production-ready only
  when all five hold, otherwise "ship the vec2text baseline instead" with what failed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.criteria import Criterion, from_values
from lvmgate.errors import InputError
from lvmgate.io import read_json, write_json
from lvmgate.lvm.heldout import shared_articles, split_article_ids, training_articles
from lvmgate.results import GIB, Estimate, Result, human_bytes
from lvmgate.retrieval.queries import NEXT_GRADES

DEFAULT_DEPLOY_DIR = "artifacts/deploy"
DEPLOY_FILES = {"export": "export.json", "quantize": "quantize.json", "loadtest": "loadtest.json"}
RECONSTRUCTION_FILE = "reconstruction_lvm_vs_vec2text.json"  # plan 2.3's --output
PLAN_QUERIES = 10_000  # plan 4.3: RAG/bench.py --n 10000
BLEU_ITEMS = 500  # predictions decoded for the nearest-decoder BLEU-4
SHIP_BASELINE = "ship the vec2text baseline instead"
FINAL_IDS = ("final.recall_at_10", "final.bleu4", "final.latency_ms", "final.memory_gib", "final.load_test")
LOAD_IDS = ("4.4.load_qps", "4.4.load_p99_ms", "4.4.load_errors", "4.4.load_duration_s")
CHECKLIST_IDS = (
    "4.4.weights_gib",
    "4.4.onnx_max_abs_diff",
    "4.4.int8_cosine",
    "4.4.batch_speedup",
    "4.4.api_failures",
    *LOAD_IDS,
    "4.4.monitoring_failures",
)
# the plan's 4.4 checklist, box by box, and the criteria behind each
CHECKLIST = (
    ("Model weights < 4GB (compressed)", ("4.4.weights_gib",)),
    ("ONNX export successful", ("4.4.onnx_max_abs_diff",)),
    ("Quantization (INT8) tested", ("4.4.int8_cosine",)),
    ("Batch inference optimized", ("4.4.batch_speedup",)),
    ("API integration tested", ("4.4.api_failures",)),
    ("Load testing completed (1000 QPS)", LOAD_IDS),
    ("Monitoring/logging configured", ("4.4.monitoring_failures",)),
)
METRIC_FAMILIES = (
    "lvmgate_requests_total",
    "lvmgate_request_duration_seconds",
    "process_resident_memory_bytes",
)


def missing(reason: str = "not measured") -> Estimate:
    """A value that was not measured (or may not be used): NaN, which the policy never passes."""
    nan = float("nan")
    return Estimate(nan, nan, nan, 0, reason)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# -- the model the gates are about ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelIdentity(Result):
    """Which model a run is about: its weights digest ties every artifact to it."""

    spec: str
    kind: str  # checkpoint | preset | module | baseline | onnx
    digest: str  # sha256 of the weights (lvmgate.lvm.checkpoint.weights_digest), first 16 hex
    trained: bool | None
    params: int | None
    window: int | None
    dim: int


_MODELS: dict[tuple, Any] = {}


def load_model(spec: str, *, threads: int | None = None):
    """`lvmgate.lvm.load.load_model(spec)`, cached per process (a file by path, size and mtime)."""
    from lvmgate.lvm.load import load_model as load

    spec = str(spec)
    key: tuple = (spec,)
    if os.path.exists(spec):
        st = os.stat(spec)
        key = (os.path.abspath(spec), st.st_size, st.st_mtime_ns)
    if key not in _MODELS:
        _MODELS[key] = load(spec, threads=threads)
    return _MODELS[key]


def model_identity(spec: str, loaded: Any = None) -> ModelIdentity:
    """The digest of the model `spec` names: of its weights for a torch model (what a checkpoint's
    `weights_digest` records, measured here rather than trusted), of the file for an .onnx model."""
    loaded = loaded if loaded is not None else load_model(spec)
    if loaded.digest is None:
        raise InputError(f"{spec}: a numpy-only predictor has no weights to tie the deployment checks to")
    return ModelIdentity(
        spec=str(spec),
        kind=loaded.kind,
        digest=loaded.digest,
        trained=loaded.trained,
        params=loaded.params,
        window=loaded.window,
        dim=int(loaded.dim or 768),
    )


def artifact_digest(art: dict[str, Any]) -> str | None:
    """The model digest an artifact records: `model_digest` (lvmgate readiness), else the model's
    `weights_digest` (lvmgate export / quantize of a checkpoint)."""
    if not isinstance(art, dict):
        return None
    for holder in (art, art.get("result") if isinstance(art.get("result"), dict) else None):
        if not holder:
            continue
        if holder.get("model_digest"):
            return str(holder["model_digest"])
        model = holder.get("model")
        if isinstance(model, dict) and model.get("weights_digest"):
            return str(model["weights_digest"])
    return None


@dataclass(frozen=True)
class ArtifactStatus(Result):
    """One artifact file: found, for which model, and whether it may tick a box (`fresh`)."""

    name: str
    path: str
    found: bool
    model_digest: str | None
    fresh: bool
    reason: str  # why it may not be used ("" when fresh)
    created_at: str | None = None


def artifact_status(
    name: str, path: str | os.PathLike, art: dict | None, model: ModelIdentity, fingerprint: str | None = None
) -> ArtifactStatus:
    """Whether artifact `art` (read from `path`) was made for `model` (and the dataset `fingerprint`)."""
    path = str(path)
    if art is None:
        return ArtifactStatus(name, path, False, None, False, f"no {path}: run `lvmgate readiness`")
    digest = artifact_digest(art)
    prov = art.get("provenance") if isinstance(art.get("provenance"), dict) else {}
    created = prov.get("created_at")
    if digest is None:
        reason = f"{path} records no model digest: it cannot be tied to --lvm-model (run `lvmgate readiness`)"
        return ArtifactStatus(name, path, True, None, False, reason, created)
    if digest != model.digest:
        reason = (
            f"stale: {path} was made for model {digest[:12]}, not {model.digest[:12]} (--lvm-model "
            f"{model.spec}); re-run `lvmgate readiness`"
        )
        return ArtifactStatus(name, path, True, digest, False, reason, created)
    theirs = prov.get("fingerprint")
    if fingerprint and theirs and theirs != fingerprint:
        reason = (
            f"stale: {path} was measured on dataset {prov.get('dataset')!r} with fingerprint {theirs[:12]}, "
            f"not {fingerprint[:12]}; re-run `lvmgate readiness`"
        )
        return ArtifactStatus(name, path, True, digest, False, reason, created)
    return ArtifactStatus(name, path, True, digest, True, "", created)


def _read_optional(path: Path) -> dict | None:
    if not path.is_file():
        return None
    art = read_json(path)
    if not isinstance(art, dict):
        raise InputError(f"{path}: expected a JSON object")
    return art


# -- 4.1 production data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProductionData(Result):
    """The production set: its parameters, its augmentation as recorded, and the 2.1 checks on it."""

    data: str
    dataset: str | None
    context_window: int
    stride: int | None
    val_split_requested: float | None
    test_split_requested: float | None
    augment: dict[str, Any]
    val_fraction: float
    n_windows: dict[str, int]
    n_articles: dict[str, int]
    checks: dict[str, Any]  # lvmgate.metrics.sequence_checks.SequenceChecks
    check_criteria: list[Criterion]  # the 2.1 checks, as 4.1 ids

    _hidden_fields = ("checks",)

    def criteria(self) -> list[Criterion]:
        """4.1: augmentation, validation share, then the 2.1 checks as 4.1.* (lvmgate.metrics.sequence_checks)."""
        ex = Estimate.exact
        aug = self.augment
        on = bool(aug.get("enabled"))
        n = sum(self.n_windows.values())
        values = {
            "4.1.augment_enabled": ex(float(on), 1),
            "4.1.augment_mask_frac": ex(float(aug.get("mask_frac", 0.0)) if on else 0.0, 1),
            "4.1.augment_noise_sigma": ex(float(aug.get("noise_sigma", 0.0)) if on else 0.0, 1),
            "4.1.augment_shuffle_prob": ex(
                float(aug.get("shuffle_prob", 0.0)) if on and aug.get("shuffle") else 0.0, 1
            ),
            "4.1.val_fraction": ex(self.val_fraction, n),
        }
        msgs = self.messages()
        own = from_values(values, msgs)
        checks = [c.with_reason(msgs[c.id]) if c.id in msgs else c for c in self.check_criteria]
        return own + checks

    def messages(self) -> dict[str, str]:
        aug = self.augment
        on = bool(aug.get("enabled"))
        what = (
            f"augment {{mask_frac {aug.get('mask_frac')}, noise_sigma {aug.get('noise_sigma')}, "
            f"shuffle {aug.get('shuffle')}, shuffle_prob {aug.get('shuffle_prob')}}} in {Path(self.data).name}'s meta"
            if on
            else f"{Path(self.data).name} was prepared without --augment"
        )
        out = {
            k: what
            for k in (
                "4.1.augment_enabled",
                "4.1.augment_mask_frac",
                "4.1.augment_noise_sigma",
                "4.1.augment_shuffle_prob",
            )
        }
        out["4.1.val_fraction"] = (
            f"val {self.n_windows.get('val', 0):,} of {sum(self.n_windows.values()):,} windows "
            f"({self.n_articles.get('val', 0):,} articles); requested {self.val_split_requested}"
        )
        out["4.1.train_windows"] = f"context window {self.context_window}, stride {self.stride}"
        return out


def production_data(
    data: str | os.PathLike, *, store: str | None = None, resamples: int = 1000, seed: int = 0
) -> ProductionData:
    """4.1: the prepared production set `data` (any of its files), checked like 2.1, plus what the plan
    adds: augmentation recorded in the meta and the validation share."""
    from lvmgate.metrics.sequence_checks import check_sequences
    from lvmgate.sequences.loader import PreparedSet

    prepared = PreparedSet.load(data, store=store)
    checks = check_sequences(prepared, store=store, resamples=resamples, seed=seed)
    meta = prepared.meta
    params = meta.get("params") or {}
    return ProductionData(
        data=str(data),
        dataset=(meta.get("bank") or {}).get("dataset"),
        context_window=int(params.get("context_window") or checks.shape[1]),
        stride=params.get("stride"),
        val_split_requested=params.get("val_split"),
        test_split_requested=params.get("test_split"),
        augment=dict(meta.get("augment") or {"enabled": False}),
        val_fraction=float(checks.split_fractions.get("val", 0.0)),
        n_windows=dict(checks.n_windows),
        n_articles=dict(checks.n_articles),
        checks=checks.to_dict(),
        check_criteria=checks.criteria("4.1"),
    )


# -- 4.3 production metrics ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProductionBench(Result):
    """The 4.3 benchmark of one model: whole-bank `next` retrieval on held-out windows."""

    model: ModelIdentity
    split: str
    split_source: str
    dataset: str
    fingerprint: str
    bank_rows: int
    n_queries: int
    n_articles: int
    k: int
    shared_articles: int | None  # held-out articles the model was trained on (None: unknown)
    shared_articles_note: str  # where the training articles came from, or why they are unknown
    recall_at_10: Estimate  # hit@10: the true next chunk among the top 10 (the plan's Recall@10)
    recall_at_10_graded: Estimate  # relevant rows (next, +1, +2) in the top 10 / relevant judged
    precision_at_10_raw: Estimate  # relevant rows in the top 10 / 10
    precision_ceiling: float  # mean min(R, 10) / 10: the highest raw P@10 possible here
    r_precision: (
        Estimate  # the true next chunk ranked first (R-precision with R = 1): the plan's Precision@10
    )
    ndcg_at_10: Estimate
    vec_recall_at_10: Estimate | None  # hit@10 of the last context vector (the vec backend)
    latency_ms: dict[str, float]  # one query alone: p50, p95, mean, max, n
    predict_ms_per_query: float
    index_memory_bytes: int
    model_memory_bytes: int | None
    memory_bytes: int  # what serving needs resident: index + model
    peak_rss_bytes: int
    bleu: dict[str, Any] | None  # nearest-decoder BLEU-4 of the LVM's predictions (corpus Estimate)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def criteria(self) -> list[Criterion]:
        n = int(self.latency_ms.get("n", 0))
        lat = self.latency_ms.get("p95_ms")
        values = {
            "4.3.recall_at_10": self.recall_at_10,
            "4.3.precision_at_10": self.r_precision,
            "4.3.latency_ms": Estimate.exact(lat, n) if _finite(lat) else None,
            "4.3.memory_gib": Estimate.exact(self.memory_bytes / GIB, 1),
            "4.3.shared_articles": (
                None
                if self.shared_articles is None
                else Estimate.exact(self.shared_articles, self.n_articles)
            ),
        }
        return from_values(values, self.messages())

    def messages(self) -> dict[str, str]:
        where = f"{self.n_queries:,} held-out windows ({self.split_source}) over the whole bank of {self.bank_rows:,} rows"
        vec = (
            f"; vec (last context vector) {self.vec_recall_at_10.value:.3f}" if self.vec_recall_at_10 else ""
        )
        lat = self.latency_ms
        model = self.model_memory_bytes
        return {
            "4.3.recall_at_10": f"hit@10 of the true next chunk, {where}; graded recall@10 "
            f"{self.recall_at_10_graded.value:.3f}{vec}",
            "4.3.precision_at_10": f"R-precision of the true next chunk (share of queries ranking it first); "
            f"raw P@10 over t, t+1, t+2 {self.precision_at_10_raw.value:.3f} of a possible "
            f"{self.precision_ceiling:.2f}",
            "4.3.latency_ms": f"p95 of {int(lat.get('n', 0))} single queries (predict + whole-bank search); "
            f"p50 {lat.get('p50_ms', float('nan')):.2f} ms, max {lat.get('max_ms', float('nan')):.2f} ms",
            "4.3.memory_gib": f"bank index {human_bytes(self.index_memory_bytes)} + model "
            + (human_bytes(model) if model is not None else "(unknown)")
            + f"; benchmark process peak RSS {human_bytes(self.peak_rss_bytes)}",
            "4.3.shared_articles": (
                f"{self.shared_articles} of the {self.n_articles} benchmarked articles are in the model's training "
                f"data ({self.shared_articles_note})"
                if self.shared_articles is not None
                else f"cannot verify the benchmark is held out: {self.shared_articles_note}"
            ),
        }


def r_precision(
    records: Sequence[dict[str, Any]], min_grade: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query (R-precision, min(R, k) / k, article id) from benchmark records (`relevant`, `ranked`),
    the relevant rows being those graded at least `min_grade`."""
    rp, ceil, art = [], [], []
    for rec in records:
        rel = {int(r) for r, g in rec["relevant"] if g >= min_grade}
        r = len(rel)
        k = max(len(rec["ranked"]), 1)
        rp.append(len(rel & {int(x) for x in rec["ranked"][:r]}) / r if r else float("nan"))
        ceil.append(min(r, k) / k)
        art.append(rec["article_id"])
    return np.asarray(rp, dtype=np.float64), np.asarray(ceil, dtype=np.float64), np.asarray(art)


def production_bench(
    model_spec: str,
    split: str,
    *,
    split_source: str = "",
    store: str | None = None,
    dataset: str | None = None,
    n: int = PLAN_QUERIES,
    k: int = 10,
    bleu_items: int = BLEU_ITEMS,
    resamples: int = 1000,
    seed: int = 0,
    latency_sample: int = 32,
) -> ProductionBench:
    """4.3 for `model_spec` on the held-out windows of `split` (a prepared NAME_val/NAME_test.npz);
    `latency_sample` single queries give the latency percentiles."""
    from lvmgate.metrics.reconstruction import bleu
    from lvmgate.retrieval import run_bench
    from lvmgate.retrieval.metrics import summarize
    from lvmgate.sequences.loader import meta_path_for, read_meta
    from lvmgate.stores import open_store

    t0 = time.perf_counter()
    loaded = load_model(model_spec)
    identity = model_identity(model_spec, loaded)
    meta = read_meta(meta_path_for(split))
    dataset = dataset or meta["bank"]["dataset"]
    store = store or meta["bank"].get("store")
    run = run_bench(
        store=store,
        dataset=dataset,
        task="next",
        val_data=split,
        backends=("vec", "lvm"),
        predictor=loaded.predictor,
        n=n,
        k=k,
        resamples=resamples,
        seed=seed,
        latency_sample=latency_sample,
    )
    s = run.summary
    lvm = s.backends["lvm"]
    recs = [r for r in run.records if r["backend"] == "lvm"]
    # 4.3's precision: R-precision of the true next chunk (the top grade). A model that predicts the
    # next chunk exactly ranks it first; it cannot also rank t+1 and t+2 next to it (measured: a
    # perfect predictor scores ~0.4 on R-precision over t, t+1, t+2), so those are not asked of it.
    rp, _, arts = r_precision(recs, min_grade=max(NEXT_GRADES))
    _, ceil, _ = r_precision(recs)
    rp_est = summarize({"r_precision": rp}, arts, resamples=resamples, seed=seed + 7)["r_precision"]
    vec = s.backends.get("vec")
    bleu_summary = None
    if bleu_items > 0 and recs:
        bleu_summary = _nearest_bleu(
            loaded.predictor, store, dataset, recs[:bleu_items], resamples=resamples, seed=seed, bleu_fn=bleu
        )
    with contextlib.closing(open_store(store)) as st:
        fingerprint = st.info(dataset).fingerprint
    trained_on, note = training_articles(loaded, [meta])
    held = split_article_ids(meta, Path(split).name)
    bench_articles = {str(a) for a in arts.tolist()}
    if held is not None:
        bench_articles &= {str(a) for a in held}  # the split's own list, as recorded
    leaked = shared_articles(bench_articles, trained_on)
    shared = None if leaked is None else len(leaked)
    model_mem = lvm.model_memory_bytes
    return ProductionBench(
        model=identity,
        split=str(split),
        split_source=split_source or str(split),
        dataset=dataset,
        fingerprint=fingerprint,
        bank_rows=s.bank_rows,
        n_queries=s.n_queries,
        n_articles=len(set(arts.tolist())),
        k=k,
        shared_articles=shared,
        shared_articles_note=note,
        recall_at_10=lvm.metrics[f"hit@{k}"],
        recall_at_10_graded=lvm.metrics[f"recall@{k}"],
        precision_at_10_raw=lvm.metrics[f"precision@{k}"],
        precision_ceiling=float(np.mean(ceil)) if len(ceil) else float("nan"),
        r_precision=rp_est,
        ndcg_at_10=lvm.metrics[f"ndcg@{k}"],
        vec_recall_at_10=vec.metrics[f"hit@{k}"] if vec is not None else None,
        latency_ms=lvm.latency.to_dict(),
        predict_ms_per_query=float(lvm.params.get("predict_ms_per_query", float("nan"))),
        index_memory_bytes=int(lvm.index_memory_bytes),
        model_memory_bytes=model_mem,
        memory_bytes=int(lvm.index_memory_bytes + (model_mem or 0)),
        peak_rss_bytes=int(s.peak_rss_bytes),
        bleu=bleu_summary,
        warnings=list(s.warnings),
        seconds=time.perf_counter() - t0,
    )


def _nearest_bleu(
    predictor: Any,
    store: str | None,
    dataset: str,
    records: Sequence[dict[str, Any]],
    *,
    resamples: int,
    seed: int,
    bleu_fn: Callable,
) -> dict[str, Any]:
    """BLEU-4 of the LVM's predictions decoded by the nearest-neighbour decoder over the whole bank
    against the true next chunk's text. As in 2.3 (lvmgate.compare), the window's own context rows
    are never an answer: a predictor must not score by naming a chunk it was shown."""
    from lvmgate.retrieval.search import ExactIndex
    from lvmgate.stores import open_store

    with contextlib.closing(open_store(store)) as st:
        bank = st.vectors(dataset)
        ctx_rows = np.asarray([r["context"] for r in records], dtype=np.int64)  # (n, w)
        targets = np.asarray([r["target"] for r in records], dtype=np.int64)
        contexts = np.asarray(bank[ctx_rows.reshape(-1)], dtype=np.float32).reshape(*ctx_rows.shape, -1)
        preds = np.asarray(predictor.predict(contexts), dtype=np.float32)  # (n, D)
        _, rows = ExactIndex(bank, "numpy").search(preds, 1, ctx_rows)  # (n, 1)
        decoded_rows = rows[:, 0]
        hyps = [""] * len(decoded_rows)
        found = np.flatnonzero(decoded_rows >= 0)
        for i, text in zip(found.tolist(), st.texts(dataset, decoded_rows[found])):
            hyps[i] = text
        refs = st.texts(dataset, targets)
    result = bleu_fn(hyps, refs, 4, resamples=resamples, seed=seed)
    return {
        "decoder": "nearest (whole bank, context rows excluded)",
        "n_items": len(hyps),
        "bleu4": result.corpus.to_dict(),
        "sentence_bleu4": result.sentence_mean.to_dict(),
        "signature": result.signature,
        "decoded_is_true_next": float(np.mean(decoded_rows == targets)),
    }


# -- 2.3's comparison artifact, when present -----------------------------------------------------------
# where the LVM's BLEU-4 sits in a 2.3 artifact (lvmgate.compare.ReconstructionComparison): per decoder,
# vec2text decoders first (the plan's "better than vec2text"), then the nearest decoder
_BLEU_PATHS = (
    ("jxe", ("decoders", "jxe", "metrics", "lvm", "bleu4")),
    ("ielab", ("decoders", "ielab", "metrics", "lvm", "bleu4")),
)  # vec2text only: nearest's BLEU is retrieval hit@1, never the final verdict's BLEU


def _dig(obj: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _as_estimate(value: Any) -> Estimate | None:
    if isinstance(value, dict) and {"value", "low", "high"} <= set(value):
        est = Estimate.from_dict(value)
        return est if _finite(est.value) else None
    return None


def reconstruction_bleu(art: dict[str, Any]) -> tuple[Estimate, str, Estimate | None] | None:
    """(the LVM's BLEU-4, decoder, vec2text's own BLEU-4 of the true next vectors) from a 2.3
    comparison artifact: the first vec2text decoder of jxe, ielab that ran and scored it, or None."""
    for decoder, path in _BLEU_PATHS:
        if _dig(art, ("decoders", decoder, "status")) not in (None, "ok"):
            continue
        est = _as_estimate(_dig(art, path))
        if est is not None:
            return est, decoder, _as_estimate(_dig(art, ("decoders", decoder, "metrics", "truth", "bleu4")))
    return None


@dataclass(frozen=True)
class BleuChoice(Result):
    """The BLEU-4 the final verdict uses and where it came from."""

    value: Estimate | None  # None: not measured
    source: str
    notes: tuple[str, ...] = ()


NO_VEC2TEXT_BLEU = (
    "the final BLEU-4 is the LVM's prediction decoded by vec2text (jxe / ielab) in plan 2.3's comparison for "
    "this model, next to vec2text's own baseline; nearest-neighbour decoding is a retrieval check (its BLEU "
    "is hit@1), not a decoder baseline. Run `lvmgate compare-reconstruction --vec2text-backends jxe,ielab` "
    "(or gate phase 2) with the vec2text weights (--model-path)"
)


def choose_bleu(model: ModelIdentity, candidates: Sequence[str | os.PathLike]) -> BleuChoice:
    """The LVM's vec2text BLEU-4 (and vec2text's own, on the same items) from the first 2.3 comparison
    artifact among `candidates` that exists, was made for `model` and decoded with jxe or ielab; else
    not measured (`value` None)."""
    notes = []
    for path in candidates:
        p = Path(path)
        if not p.is_file():
            continue
        try:
            art = read_json(p)
        except InputError as exc:
            notes.append(f"{p}: unreadable ({exc})")
            continue
        if not isinstance(art, dict):
            notes.append(f"{p}: not a JSON object")
            continue
        status = artifact_status("reconstruction", p, art, model)
        if not status.fresh:
            notes.append(status.reason)
            continue
        found = reconstruction_bleu(art)
        if found is None:
            notes.append(
                f"{p}: vec2text did not decode the LVM's predictions there (nearest only, or weights missing)"
            )
            continue
        est, decoder, baseline = found
        base = (
            f"; vec2text's own BLEU-4 on the same items (true next vector decoded): {baseline}"
            if baseline
            else ""
        )
        return BleuChoice(
            est, f"the LVM decoded by {decoder} in the 2.3 comparison artifact {p}{base}", tuple(notes)
        )
    return BleuChoice(None, "none: " + NO_VEC2TEXT_BLEU, tuple(notes))


# -- 4.4 deployment checklist --------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentChecklist(Result):
    """The 4.4 boxes from the deployment artifacts: values (NaN = not usable) and what ticked them."""

    deploy_dir: str
    model: ModelIdentity
    artifacts: dict[str, ArtifactStatus]
    values: dict[str, Estimate]
    messages: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)

    def criteria(self) -> list[Criterion]:
        """Every 4.4 box: measured from an artifact made for this model, else not measured (missing,
        stale or made for another model: the reason says which and what to run)."""
        return from_values(self.values, self.messages)


def deployment_checklist(
    deploy_dir: str | os.PathLike, model: ModelIdentity, *, fingerprint: str | None = None
) -> DeploymentChecklist:
    """Read export.json, quantize.json and loadtest.json from `deploy_dir` and give each 4.4 box its
    value, only from artifacts made for `model` (and, when known, the dataset `fingerprint`)."""
    folder = Path(deploy_dir)
    arts: dict[str, dict | None] = {}
    status: dict[str, ArtifactStatus] = {}
    for name, file in DEPLOY_FILES.items():
        path = folder / file
        arts[name] = _read_optional(path)
        status[name] = artifact_status(name, path, arts[name], model, fingerprint)
    values: dict[str, Estimate] = {}
    messages: dict[str, str] = {}
    details: dict[str, Any] = {}

    def blocked(ids: Sequence[str], st: ArtifactStatus) -> bool:
        if st.fresh:
            return False
        for cid in ids:
            values[cid] = missing("stale" if st.found else "missing")
            messages[cid] = st.reason
        return True

    ex = arts["export"] or {}
    if not blocked(("4.4.weights_gib", "4.4.onnx_max_abs_diff", "4.4.batch_speedup"), status["export"]):
        src = f"{status['export'].path} (model {model.digest[:12]})"
        w = ex.get("weights") or {}
        if _finite(w.get("compressed_bytes")):
            values["4.4.weights_gib"] = Estimate.exact(w["compressed_bytes"] / GIB, 1)
            messages["4.4.weights_gib"] = (
                f"{w.get('codec')} {human_bytes(w['compressed_bytes'])} of {human_bytes(w.get('safetensors_bytes') or 0)} "
                f"safetensors, {w.get('params', 0):,} params ({src})"
            )
        else:
            values["4.4.weights_gib"] = missing()
            messages["4.4.weights_gib"] = f"{src} has no weights size"
        ox = ex.get("onnx")
        if isinstance(ox, dict) and _finite(ox.get("max_abs_diff")):
            problems = []
            if not ox.get("dynamic_batch"):
                problems.append("the batch axis is not dynamic")
            if int(ox.get("opset") or 0) < 17:
                problems.append(f"opset {ox.get('opset')} < 17")
            what = (
                f"max |onnxruntime - torch| {ox['max_abs_diff']:.2e} over batches "
                f"{[p.get('batch_size') for p in ox.get('parity') or []]}, opset {ox.get('opset')}, "
                f"{ox.get('exporter')} exporter, dynamic batch {ox.get('dynamic_batch')}, window "
                f"{ox.get('window')} enforced {ox.get('window_enforced')} ({src})"
            )
            if problems:
                values["4.4.onnx_max_abs_diff"] = missing("invalid export")
                messages["4.4.onnx_max_abs_diff"] = "; ".join(problems) + f": {what}"
            else:
                values["4.4.onnx_max_abs_diff"] = Estimate.exact(
                    ox["max_abs_diff"], len(ox.get("parity") or [])
                )
                messages["4.4.onnx_max_abs_diff"] = what
            details["onnx"] = {
                k: ox.get(k) for k in ("path", "exporter", "opset", "max_abs_diff", "size_bytes")
            }
        else:
            values["4.4.onnx_max_abs_diff"] = missing("no ONNX export")
            messages["4.4.onnx_max_abs_diff"] = f"no ONNX export in {src}" + (
                f": {ex['onnx_error']}" if ex.get("onnx_error") else ""
            )
        bc = ex.get("batch_curve")
        if isinstance(bc, dict) and _finite(bc.get("speedup_vs_batch1")):
            pts = bc.get("points") or []
            values["4.4.batch_speedup"] = Estimate.exact(bc["speedup_vs_batch1"], len(pts))
            first = pts[0] if pts else {}
            messages["4.4.batch_speedup"] = (
                f"{bc.get('best_sequences_per_s', float('nan')):,.0f} seq/s at batch {bc.get('best_batch_size')} vs "
                f"{first.get('sequences_per_s', float('nan')):,.0f} at batch {first.get('batch_size')}"
                + (
                    " (predict + whole-bank top-10 search)"
                    if bc.get("includes_search")
                    else " (predict only)"
                )
                + f" ({src})"
            )
        else:
            values["4.4.batch_speedup"] = missing("no batch curve")
            messages["4.4.batch_speedup"] = f"no batch curve in {src} (lvmgate readiness measures it)"

    q = arts["quantize"] or {}
    if not blocked(("4.4.int8_cosine",), status["quantize"]):
        routes = [r for r in q.get("results") or [] if _finite(r.get("cosine_to_fp32_mean"))]
        if q.get("tested") and routes:
            best = max(routes, key=lambda r: r["cosine_to_fp32_mean"])
            values["4.4.int8_cosine"] = Estimate.exact(
                best["cosine_to_fp32_mean"], int(best.get("n_eval") or 1)
            )
            parts = []
            for r in routes:
                rc = r.get("recall_at_10_change")
                parts.append(
                    f"{r['method']}: cosine mean {r['cosine_to_fp32_mean']:.4f} min "
                    f"{r.get('cosine_to_fp32_min', float('nan')):.4f}, size x{r.get('size_ratio', float('nan')):.2f}, "
                    f"speed-up x{r.get('speedup', float('nan')):.2f}"
                    + (f", Recall@10 change {rc:+.3f}" if _finite(rc) else "")
                )
            messages["4.4.int8_cosine"] = "; ".join(parts) + f" ({status['quantize'].path})"
        else:
            values["4.4.int8_cosine"] = missing("INT8 not tested")
            messages["4.4.int8_cosine"] = f"{status['quantize'].path} holds no INT8 result"

    lt = arts["loadtest"] or {}
    if not blocked((*LOAD_IDS, "4.4.api_failures", "4.4.monitoring_failures"), status["loadtest"]):
        src = status["loadtest"].path
        lat = lt.get("latency_ms") or {}
        errors = lt.get("errors") or {}
        scheduled = int(lt.get("scheduled") or 0)
        # sustained rate = 2xx answers per second of the schedule. The tool's `achieved_qps` divides by
        # first due time to last answer, which adds the last answer's latency: a perfect 30 s run at
        # 1000 QPS reads 999.9 there and could never pass ">= 1000". Late answers are the p99's business.
        ok, dur = lt.get("ok"), lt.get("duration_s")
        sustained = ok / dur if _finite(ok) and _finite(dur) and dur > 0 else float("nan")
        values["4.4.load_qps"] = Estimate.exact(sustained, scheduled) if _finite(sustained) else missing()
        messages["4.4.load_qps"] = (
            f"{lt.get('ok', 0):,} of {scheduled:,} requests answered 2xx over {dur:g} s at "
            f"{lt.get('target_qps', float('nan')):,.0f} req/s offered (the tool's achieved_qps, to the last answer: "
            f"{lt.get('achieved_qps', float('nan')):,.1f}); {lt.get('connections')} connections, {lt.get('format')} "
            f"bodies, served {(lt.get('served') or {}).get('kind', '?')} ({src})"
        )
        p99 = lat.get("p99")
        values["4.4.load_p99_ms"] = Estimate.exact(p99, int(lt.get("ok") or 0)) if _finite(p99) else missing()
        messages["4.4.load_p99_ms"] = (
            f"p99 {p99:.1f} ms from the scheduled send time (p50 {lat.get('p50', float('nan')):.1f}, "
            f"max {lat.get('max', float('nan')):.1f})"
            if _finite(p99)
            else "no successful request: no latency"
        )
        values["4.4.load_errors"] = Estimate.exact(float(lt.get("error_count", math.nan)), scheduled)
        messages["4.4.load_errors"] = (
            "errors by kind: " + ", ".join(f"{k} {v:,}" for k, v in errors.items()) if errors else "no errors"
        )
        values["4.4.load_duration_s"] = (
            Estimate.exact(lt["duration_s"], scheduled) if _finite(lt.get("duration_s")) else missing()
        )
        messages["4.4.load_duration_s"] = f"{scheduled:,} requests scheduled over {lt.get('duration_s')} s"
        api = lt.get("api")
        if isinstance(api, dict) and api.get("checks"):
            failed = [c for c in api["checks"] if not c.get("ok")]
            values["4.4.api_failures"] = Estimate.exact(len(failed), len(api["checks"]))
            messages["4.4.api_failures"] = (
                f"{len(api['checks']) - len(failed)}/{len(api['checks'])} API checks passed against the real server"
                + (
                    "; failed: " + "; ".join(f"{c['name']} ({c.get('detail', '')})" for c in failed)
                    if failed
                    else ""
                )
            )
        else:
            values["4.4.api_failures"] = missing("no API checks")
            messages["4.4.api_failures"] = (
                f"{src} records no API integration checks (lvmgate readiness runs them)"
            )
        checks = lt.get("checks") or {}
        fams = set(checks.get("metrics_families") or [])
        mon = {
            "/metrics parses as Prometheus text": bool(checks.get("metrics_parsed")),
            "metric families " + ", ".join(METRIC_FAMILIES): all(f in fams for f in METRIC_FAMILIES),
            "the server's request counter moved by what was answered": checks.get(
                "server_counted_all_answered"
            )
            is not False,
            "JSON log lines written": bool(checks.get("logs_written")),
            "/health ok after the load": bool(checks.get("health_ok")),
        }
        bad = [k for k, ok in mon.items() if not ok]
        values["4.4.monitoring_failures"] = Estimate.exact(len(bad), len(mon))
        logs = checks.get("logs") or {}
        messages["4.4.monitoring_failures"] = (
            f"{len(mon) - len(bad)}/{len(mon)} monitoring checks passed: {len(fams)} metric families, "
            f"{logs.get('lines', 0):,} {logs.get('format', '')} log lines to {logs.get('destination')}"
            + (f"; failed: {'; '.join(bad)}" if bad else "")
        )
        details["load"] = {
            k: lt.get(k) for k in ("target_qps", "achieved_qps", "duration_s", "error_count", "latency_ms")
        }
        details["server_rss_bytes"] = checks.get("server_rss_bytes")
    return DeploymentChecklist(str(folder), model, status, values, messages, details)


# -- the final verdict ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FinalVerdict(Result):
    """The plan's "Success Criteria (Final)": production-ready only when all five were measured and hold."""

    production_ready: bool
    criteria_: tuple[Criterion, ...]
    statuses: dict[str, str]  # pass / warn / fail / not_measured per final criterion under the policy
    failed: tuple[str, ...]  # what did not hold or was not measured, one line each
    bleu_source: str
    statement: str

    def criteria(self) -> list[Criterion]:
        return list(self.criteria_)


FINAL_ITEMS = {
    "final.recall_at_10": "Recall@10",
    "final.bleu4": "BLEU-4",
    "final.latency_ms": "Latency",
    "final.memory_gib": "Memory",
    "final.load_test": "Load test (1000 QPS)",
}


def final_verdict(
    production: dict[str, Criterion],
    load: dict[str, Criterion] | None,
    bleu: BleuChoice,
    policy: Any,
) -> FinalVerdict:
    """Apply the five success criteria (thresholds `final.*` of `policy`) to the 4.3 criteria, the BLEU-4
    chosen by `choose_bleu` and the 4.4 load-test criteria (`LOAD_IDS`). Anything that fails or was not
    measured makes the LVM not production-ready; it is production-ready only when all five pass."""
    nm = Criterion.not_measured

    def carried(final_id: str, source_id: str) -> Criterion:
        c = production.get(source_id)
        if c is None:
            return nm(final_id, f"{source_id} was not measured")
        if not c.is_measured:
            return nm(final_id, f"{source_id} not measured: {c.reason}")
        return Criterion.measured(final_id, c.value, c.reason)

    recall = carried("final.recall_at_10", "4.3.recall_at_10")
    held = production.get("4.3.shared_articles")
    if recall.is_measured and (held is None or not held.is_measured or held.value.value != 0):
        # unknown or shared articles: not a held-out number, so it cannot count
        why = held.reason if held is not None else "unknown"
        recall = nm("final.recall_at_10", f"not a held-out measurement: {why}")
    crit = [recall]
    source = bleu.source + (f" ({'; '.join(bleu.notes)})" if bleu.notes else "")
    crit.append(
        Criterion.measured("final.bleu4", bleu.value, source)
        if bleu.value is not None
        else nm("final.bleu4", source)
    )
    crit += [carried("final.latency_ms", "4.3.latency_ms"), carried("final.memory_gib", "4.3.memory_gib")]
    if load is None:
        crit.append(nm("final.load_test", "no load test measured for this model (run `lvmgate readiness`)"))
    else:
        judged = [(load.get(cid) or nm(cid, "missing")).judged(policy) for cid in LOAD_IDS]
        missing_ = [r for r in judged if not r.is_measured]
        short = [r for r in judged if r.is_measured and r.status != "pass"]
        line = "; ".join(f"{r.id} {r.value_text()} vs {r.threshold}" for r in (short or judged))
        if missing_ and not short:  # a box measured and missed fails the test whatever else is missing
            crit.append(
                nm(
                    "final.load_test",
                    "load-test boxes not measured: " + "; ".join(f"{r.id} ({r.reason})" for r in missing_),
                )
            )
        else:
            crit.append(
                Criterion.measured(
                    "final.load_test",
                    Estimate.exact(0.0 if short else 1.0, 1),
                    (("load-test boxes not passed: " + line) if short else line)
                    + ("; not measured: " + ", ".join(r.id for r in missing_) if missing_ else ""),
                )
            )
    statuses, failed, held_lines = {}, [], []
    for c in crit:
        r = c.judged(policy)
        statuses[c.id] = r.status
        unit = policy[c.id].unit
        if r.status == "pass":
            held_lines.append(f"{FINAL_ITEMS[c.id]} {r.value_text()}{unit} ({r.threshold})")
        elif r.status == "not_measured":
            failed.append(f"{FINAL_ITEMS[c.id]} not measured")
        else:
            failed.append(
                f"{FINAL_ITEMS[c.id]} {r.value_text()}{unit} vs {r.threshold}"
                + (" (undecided)" if r.status == "warn" else "")
            )
    ready = not failed
    if ready:
        statement = (
            "FINAL VERDICT: production-ready. All five success criteria hold: " + "; ".join(held_lines) + "."
        )
    else:
        statement = (
            f"FINAL VERDICT: the LVM is NOT production-ready; {SHIP_BASELINE}. Not met: "
            + "; ".join(failed)
            + "."
        )
    return FinalVerdict(ready, tuple(crit), statuses, tuple(failed), bleu.source, statement)


# -- lvmgate readiness: measure every 4.4 box ----------------------------------------------------------
@dataclass(frozen=True)
class ApiCheck(Result):
    name: str
    ok: bool
    detail: str


def _http(url: str, body: bytes | None = None, ctype: str = "application/json", timeout: float = 10.0):
    """(status, body bytes) of one request; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api_checks(
    url: str, predictor: Any, bank: np.ndarray, window: int, *, top_k: int = 10, n: int = 4, seed: int = 0
) -> list[ApiCheck]:
    """The served API against the model and the bank, through a real HTTP client: health describes the
    bank; JSON and binary /predict answer what the model predicts, with the exact whole-bank top-k;
    malformed requests get the documented 4xx; /metrics parses."""
    from lvmgate.deploy.metrics import parse_prometheus
    from lvmgate.retrieval.search import ExactIndex

    out: list[ApiCheck] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append(ApiCheck(name, bool(ok), detail))

    dim = int(bank.shape[1])
    try:
        status, body = _http(url + "/health")
        h = json.loads(body) if status == 200 else {}
        ok = (
            status == 200
            and h.get("status") == "ok"
            and h.get("dim") == dim
            and h.get("bank_rows") == len(bank)
        )
        add(
            "health",
            ok,
            f"HTTP {status}, status {h.get('status')}, dim {h.get('dim')}, bank_rows {h.get('bank_rows')}",
        )
    except (OSError, ValueError) as exc:
        add("health", False, f"{type(exc).__name__}: {exc}")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, max(1, len(bank) - window), size=n)
    ctx = np.stack([np.asarray(bank[s : s + window], dtype=np.float32) for s in starts])  # (n, w, D)
    local = np.asarray(predictor.predict(ctx), dtype=np.float32)  # (n, D)
    _, want = ExactIndex(bank, "numpy").search(local, top_k)  # (n, k)
    first = None
    try:
        payload = json.dumps({"contexts": ctx.tolist(), "top_k": top_k, "include_vector": True}).encode()
        status, body = _http(url + "/predict", payload)
        preds = json.loads(body).get("predictions", []) if status == 200 else []
        if status != 200 or len(preds) != n:
            add("predict_json", False, f"HTTP {status}: {body[:200]!r}")
        else:
            got = np.asarray([p["vector"] for p in preds], dtype=np.float32)
            first = got[0]
            cos = np.sum(got * local, 1) / np.maximum(
                np.linalg.norm(got, axis=1) * np.linalg.norm(local, axis=1), 1e-30
            )
            rows = [[nb["row"] for nb in p["neighbors"]] for p in preds]
            top1 = all(r[:1] == w[:1].tolist() for r, w in zip(rows, want))
            overlap = float(np.mean([len(set(r) & set(w.tolist())) / top_k for r, w in zip(rows, want)]))
            texts = all(
                isinstance(nb.get("text"), str) and nb["text"] for p in preds for nb in p["neighbors"]
            )
            ok = float(cos.min()) >= 0.9999 and top1 and overlap >= 0.9 and texts
            add(
                "predict_json",
                ok,
                f"{n} contexts: min cosine to the model's own prediction {cos.min():.6f}, top-1 equal {top1}, "
                f"top-{top_k} overlap with exact search {overlap:.2f}, texts {texts}",
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        add("predict_json", False, f"{type(exc).__name__}: {exc}")
    try:
        status, body = _http(
            url + f"/predict?n=1&top_k={top_k}", ctx[0].astype("<f4").tobytes(), "application/octet-stream"
        )
        preds = json.loads(body).get("predictions", []) if status == 200 else []
        ok = status == 200 and len(preds) == 1
        detail = f"HTTP {status}"
        if ok:
            v = np.asarray(preds[0]["vector"], dtype=np.float32)
            ref = first if first is not None else local[0]
            c = float(v @ ref / max(np.linalg.norm(v) * np.linalg.norm(ref), 1e-30))
            ok = c >= 0.9999
            detail += f", cosine to the JSON answer {c:.6f}"
        add("predict_binary", ok, detail)
    except (OSError, ValueError, KeyError) as exc:
        add("predict_binary", False, f"{type(exc).__name__}: {exc}")
    bad_cases = (
        (
            "rejects_wrong_dimension",
            json.dumps({"context": np.zeros((window, dim - 1)).tolist()}).encode(),
            422,
        ),
        ("rejects_bad_json", b'{"context": [[0.1, ', 400),
        ("rejects_null_values", json.dumps({"context": [[None] * dim] * window}).encode(), 422),
    )
    for name, payload, want_status in bad_cases:
        try:
            status, body = _http(url + "/predict", payload)
            msg = (json.loads(body).get("error") or {}).get("message", "") if body else ""
            add(name, status == want_status and bool(msg), f"HTTP {status} (want {want_status}): {msg[:120]}")
        except (OSError, ValueError) as exc:
            add(name, False, f"{type(exc).__name__}: {exc}")
    try:
        status, body = _http(url + "/metrics")
        fams = parse_prometheus(body.decode()) if status == 200 else {}
        add("metrics", status == 200 and bool(fams), f"HTTP {status}, {len(fams)} samples")
    except (OSError, ValueError) as exc:
        add("metrics", False, f"{type(exc).__name__}: {exc}")
    return out


@dataclass(frozen=True)
class ReadinessRun(Result):
    """What `run_readiness` wrote and how long each step took."""

    model: ModelIdentity
    out_dir: str
    paths: dict[str, str]
    seconds: dict[str, float]
    onnx_passed: bool | None
    served: str
    api_failures: int
    load: dict[str, Any]


def run_readiness(
    model_spec: str,
    *,
    store: str | None,
    dataset: str,
    out_dir: str | os.PathLike = DEFAULT_DEPLOY_DIR,
    exporter: str = "dynamo",
    opset: int = 18,
    tolerance: float = 1e-4,
    codec: str = "gzip",
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    quantize_n: int = 512,
    qps: float = 1000.0,
    duration: float = 30.0,
    connections: int = 64,
    load_timeout: float = 5.0,
    threads: int = 1,
    serve_args: Sequence[str] = (),
    startup_timeout: float = 120.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ReadinessRun:
    """Measure every 4.4 box for `model_spec` and write export.json, quantize.json and loadtest.json
    (plus model.onnx and the server's JSON log) to `out_dir`, each tagged with the model digest.

    Steps, each bounded: ONNX export + onnxruntime parity; compressed safetensors size; batch curve
    with whole-bank search; INT8 (torch, and onnxruntime on the export) against float32 on real
    windows with Recall@10; then a real `lvmgate serve` process on loopback (the ONNX file when its
    parity passed, else the PyTorch model): API integration checks, then an open-loop load test of
    `qps` for `duration` seconds. A failed export is recorded (the box will not tick), not raised.
    """
    from lvmgate.deploy.export import ExportReport, export_onnx
    from lvmgate.deploy.loadtest import run_loadtest
    from lvmgate.deploy.predictor import batch_curve, build_search
    from lvmgate.deploy.quantize import quantize_report, store_eval
    from lvmgate.deploy.server import running_server
    from lvmgate.deploy.weights import weights_size
    from lvmgate.results import Provenance
    from lvmgate.stores import open_store

    say = progress or (lambda _msg: None)
    if qps <= 0 or duration <= 0:
        raise InputError("--qps and --duration must be positive")
    out = Path(out_dir)
    loaded = load_model(model_spec, threads=threads)
    if loaded.module is None:
        raise InputError(f"{model_spec}: readiness needs the PyTorch model (a checkpoint), not {loaded.kind}")
    identity = model_identity(model_spec, loaded)
    window = loaded.window or 5
    seconds: dict[str, float] = {}
    paths: dict[str, str] = {}
    with contextlib.closing(open_store(store)) as st:
        info = st.require(dataset)
        if info.dim is None:
            raise InputError(f"dataset {dataset!r} has no vectors")
        if info.dim != loaded.dim:
            raise InputError(f"model predicts {loaded.dim}-D vectors, dataset {dataset!r} holds {info.dim}-D")
        bank = st.vectors(dataset)  # (N, D), memory-mapped for the embedded store

        def prov(params: dict[str, Any], sample: int = 0, tool: str = "readiness") -> Provenance:
            return Provenance(
                tool=tool,
                dataset=dataset,
                store=st.url,
                fingerprint=info.fingerprint,
                sample_size=sample,
                seed=seed,
                params={"lvm_model": str(model_spec), "model_digest": identity.digest, **params},
            )

        say(f"model {identity.spec}: {identity.kind}, digest {identity.digest}, window {window}")
        t = time.perf_counter()
        onnx_path = out / "model.onnx"
        onnx, onnx_error = None, None
        try:
            onnx = export_onnx(
                loaded.module,
                onnx_path,
                window=window,
                dim=loaded.dim,
                opset=opset,
                exporter=exporter,
                tolerance=tolerance,
                threads=threads,
            )
        except InputError as exc:  # an export that fails is a result: the ONNX box stays unticked
            onnx_error = str(exc)
        seconds["export"] = time.perf_counter() - t
        if onnx is not None:
            say(
                f"ONNX {onnx.path}: parity {'passed' if onnx.passed else 'FAILED'}, max diff {onnx.max_abs_diff:.2e}"
            )
        else:
            say(f"ONNX export failed: {onnx_error}")
        t = time.perf_counter()
        weights = weights_size(loaded.module, codec=codec)
        seconds["weights"] = time.perf_counter() - t
        t = time.perf_counter()
        curve = batch_curve(
            loaded.predictor,
            window=window,
            dim=loaded.dim,
            batch_sizes=batch_sizes,
            index=build_search(bank, "auto"),
        )
        seconds["batch_curve"] = time.perf_counter() - t
        report = ExportReport(
            loaded.describe(),
            onnx,
            weights,
            curve,
            prov({"window": window, "exporter": exporter, "opset": opset, "codec": codec}, tool="export"),
        )
        body = {**report.to_dict(), "model_digest": identity.digest, "onnx_error": onnx_error}
        paths["export"] = str(write_json(out / DEPLOY_FILES["export"], body))
        say(
            f"weights: {weights.codec} {weights.compressed_bytes:,} B; batch inference "
            f"x{curve.speedup_vs_batch1:.1f} at batch {curve.best_batch_size}"
        )

        t = time.perf_counter()
        data = store_eval(st, dataset, window, n=quantize_n, seed=seed)
        q = quantize_report(
            loaded.module,
            data,
            window=window,
            model_info=loaded.describe(),
            onnx_path=str(onnx_path) if onnx is not None and onnx.passed else None,
            out_dir=str(out / "int8"),
            threads=threads,
        )
        seconds["quantize"] = time.perf_counter() - t
        body = {
            **q.to_dict(),
            "model_digest": identity.digest,
            "provenance": prov({"window": window}, len(data.contexts), tool="quantize").to_dict(),
        }
        paths["quantize"] = str(write_json(out / DEPLOY_FILES["quantize"], body))
        say("INT8: " + ", ".join(f"{r.method} cosine {r.cosine_to_fp32_mean:.4f}" for r in q.results))

        served = str(onnx_path) if onnx is not None and onnx.passed else str(model_spec)
        log_path = out / "server.jsonl"
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
        args = [
            "--lvm-model",
            served,
            "--dataset",
            dataset,
            "--threads",
            str(threads),
            "--log-file",
            str(log_path),
        ]
        if store:
            args += ["--store", str(store)]
        t = time.perf_counter()
        with running_server(
            [*args, *serve_args], log_path=out / "server.stderr", startup_timeout=startup_timeout
        ) as srv:
            seconds["server_start"] = time.perf_counter() - t
            t = time.perf_counter()
            checks = api_checks(srv.url, loaded.predictor, bank, window, seed=seed)
            seconds["api_checks"] = time.perf_counter() - t
            failed = [c for c in checks if not c.ok]
            say(
                f"API: {len(checks) - len(failed)}/{len(checks)} checks passed"
                + (f" (failed: {', '.join(c.name for c in failed)})" if failed else "")
            )
            t = time.perf_counter()
            result = run_loadtest(
                srv.url,
                qps=qps,
                duration=duration,
                connections=connections,
                timeout=load_timeout,
                bank=np.asarray(bank),
                seed=seed,
            )
            seconds["loadtest"] = time.perf_counter() - t
        load = {
            **result.to_dict(),
            "model_digest": identity.digest,
            "served": {"kind": "onnx" if served.endswith(".onnx") else loaded.kind, "path": served},
            "api": {"checks": [c.to_dict() for c in checks], "failures": len(failed)},
            "provenance": prov(
                {"qps": qps, "duration": duration, "connections": connections},
                result.scheduled,
                tool="loadtest",
            ).to_dict(),
        }
        paths["loadtest"] = str(write_json(out / DEPLOY_FILES["loadtest"], load))
    lat = result.latency_ms
    say(
        f"load test: {result.achieved_qps:,.0f} of {qps:,.0f} req/s offered for {duration:g} s, "
        f"p99 {lat['p99']:.1f} ms, errors {result.error_count} {result.errors or ''}"
    )
    return ReadinessRun(
        identity,
        str(out),
        paths,
        {k: round(v, 3) for k, v in seconds.items()},
        None if onnx is None else bool(onnx.passed),
        load["served"]["kind"],
        len(failed),
        {
            k: load[k]
            for k in ("target_qps", "achieved_qps", "duration_s", "error_count", "errors", "latency_ms")
        },
    )
