"""Gate 2.2's artifact: one training run judged from its log, its checkpoint measured again, and
the model against the baselines on article-disjoint validation data.

`assess_run("models/x.pt")` reads x_training.json. The log gives the loss trend, the
validation/training gap, red flags, peak memory and training time. The checkpoint is loaded, its
weights digest is looked up in the log and its validation cosine is measured again: the real
project shipped a checkpoint logged at 0.533 that measured -0.007. The model is then scored with
copy-last, context-mean and ridge on the same validation windows (lvmgate.lvm.evaluate): cosine,
hit@10 (the plan's Recall@10) over the full bank, the next-versus-context margin and the paraphrase
ratio PAR (copying the context is a STOP), with paired article-bootstrap intervals, and the LCM
paper's next-concept metrics (l2, round-trip l2, contrastive accuracy) reported beside them. A run that stopped early (NaN loss) has a log and no model; its model criteria are then
not measurable (None, with the reason), and its red flag fails the gate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.criteria import Criterion, criteria_dict
from lvmgate.errors import InputError
from lvmgate.io import file_sha256, write_json
from lvmgate.lvm.checkpoint import find_training_log, load_lvm
from lvmgate.policy import criterion_ids
from lvmgate.results import Estimate, Result
from lvmgate.sequences.loader import SequenceSet
from lvmgate.training.logging import TrainingLog

CRITERIA = criterion_ids("2.2")
FLAG_CRITERIA = {  # red flag code -> the criterion whose message it becomes
    "nonfinite_loss": "2.2.nonfinite_loss",
    "loss_not_decreasing": "2.2.loss_decrease",
    "val_diverging": "2.2.val_rise",
    "checkpoint_mismatch": "2.2.checkpoint_metric_error",
}
MODEL_CRITERIA = (  # need a model file to measure
    "2.2.checkpoint_unrecorded",
    "2.2.checkpoint_metric_error",
    "2.2.cosine_margin_copy_last",
    "2.2.cosine_margin_context_mean",
    "2.2.hit10_margin_copy_last",
    "2.2.hit10_margin_context_mean",
    "2.2.next_vs_context_margin",
    "2.2.paraphrase_ratio",
)


@dataclass(frozen=True)
class RunAssessment(Result):
    """Everything gate 2.2 judges about one run; `criteria()` maps ids to values (None = not measurable)."""

    model_path: str
    log_path: str
    status: str  # the log's: completed | failed | running
    epochs: int
    initial_loss: float | None
    final_train_loss: float | None
    final_val_loss: float | None
    best_val_loss: float | None
    loss_decrease: float  # (initial - final training loss) / initial
    val_train_gap: float  # (final val loss - final training loss) / final training loss
    val_rise: float  # (final val loss - best val loss) / best val loss
    nonfinite: int  # NaN/Inf red flags
    red_flags: list[dict[str, Any]]
    peak_memory_gib: float | None
    memory_kind: str | None
    train_hours: float | None
    sequences_per_s: float | None
    checkpoint: dict[str, Any]  # exists, digest, recorded, logged / measured val cosine, error
    shared_articles: int | None  # validation articles also in the training data
    data: dict[str, Any]  # train / val files used here
    metrics: dict[str, Any]  # predictor -> PredictorMetrics dict (model, copy_last, context_mean, ridge)
    margins: dict[str, Estimate]  # model vs each baseline, cosine and hit@10
    messages: dict[str, str] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # the log's model record: preset, config, parameters

    def criteria(self) -> list[Criterion]:
        """Every 2.2 criterion: measured, or not measured with the reason (a run that stopped early
        has no model to measure; one that stopped inside epoch 1 has no trend)."""
        ex = Estimate.exact
        ck = self.checkpoint
        model = self.metrics.get("model")
        e = max(self.epochs, 1)
        values: dict[str, Estimate | None] = {
            "2.2.nonfinite_loss": ex(self.nonfinite, e),
            "2.2.loss_decrease": ex(self.loss_decrease, e),
            "2.2.val_train_gap": ex(self.val_train_gap, e),
            "2.2.val_rise": ex(self.val_rise, e),
            "2.2.peak_memory_gib": None if self.peak_memory_gib is None else ex(self.peak_memory_gib, e),
            "2.2.shared_articles": None if self.shared_articles is None else ex(self.shared_articles, 1),
        }
        if self.epochs == 0:  # stopped inside epoch 1: no trend to judge, the red flag says why
            values.update(dict.fromkeys(("2.2.loss_decrease", "2.2.val_train_gap", "2.2.val_rise")))
        if ck.get("exists"):
            m = self.margins
            values.update(
                {
                    "2.2.checkpoint_unrecorded": ex(0 if ck["recorded"] else 1, 1),
                    "2.2.checkpoint_metric_error": ex(_nan(ck.get("metric_error")), 1),
                    "2.2.cosine_margin_copy_last": m["cosine_vs_copy_last"],
                    "2.2.cosine_margin_context_mean": m["cosine_vs_context_mean"],
                    "2.2.hit10_margin_copy_last": m["hit@10_vs_copy_last"],
                    "2.2.hit10_margin_context_mean": m["hit@10_vs_context_mean"],
                    "2.2.next_vs_context_margin": Estimate.from_dict(model["next_vs_context"]),
                    "2.2.paraphrase_ratio": Estimate.from_dict(model["paraphrase_ratio"]),
                }
            )
        out = []
        for cid in CRITERIA:
            v, why = values.get(cid), self.messages.get(cid, "")
            if v is None:
                out.append(Criterion.not_measured(cid, why or "not measurable for this run"))
            else:
                out.append(Criterion.measured(cid, v, why))
        return out

    def facts(self) -> dict[str, Any]:
        """What `lvmgate status` needs beyond the criteria: which model this was."""
        return {
            "preset": self.model.get("preset"),
            "plan_label": self.model.get("plan_label"),
            "parameters": self.model.get("parameters"),
            "epochs": self.epochs,
            "status": self.status,
        }


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _rel(a: float | None, b: float | None) -> float:
    """(a - b) / |b|, NaN when either is missing or b is 0."""
    if a is None or b is None or not b:
        return float("nan")
    return (a - b) / abs(b)


def _load_set(
    flag: str | None, logged: dict[str, Any], store: str | None, what: str
) -> tuple[SequenceSet, str]:
    """The split named by the user's flag, else the file the log recorded (refused if it changed since)."""
    option = "--data" if what == "training" else "--val-data"
    path = flag or logged.get("path")
    if not path:
        raise InputError(f"the log records no {what} data; pass {option}")
    if not flag and not Path(path).exists():
        raise InputError(f"the {what} data the run used ({path}) is not there any more; pass {option}")
    s = SequenceSet.load(path, store=store)
    if not flag and logged.get("sha256") and _sha(s) != logged["sha256"]:
        raise InputError(f"{path} changed since the run trained on it (sha256 differs); pass {option}")
    return s, path


def _remeasure(model, log: TrainingLog, val_set: SequenceSet, store: str | None) -> float:
    """Validation cosine measured the way the trainer logged it: its `validate`, loss and batch size,
    on the validation file the log recorded."""
    from lvmgate.lvm.losses import LossSpec
    from lvmgate.training.trainer import validate

    logged = (log["data"] or {}).get("val", {})
    if _sha(val_set) != logged.get("sha256"):
        val_set, _ = _load_set(None, logged, store, "validation")
    cfg = log["config"] or {}
    device = next(model.parameters()).device
    _, cos = validate(
        model,
        val_set,
        LossSpec.parse(cfg.get("loss", "cosine")),
        batch_size=int(cfg.get("batch_size", 256)),
        device=device,
    )
    return cos


def assess_run(
    model_path: str | os.PathLike,
    *,
    data: str | None = None,
    val_data: str | None = None,
    store: str | None = None,
    device: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
    max_recall_windows: int | None = 5000,
    cache_dir: str | os.PathLike | None = None,
    recompute: bool = False,
    metric_tolerance: float = 1e-3,
) -> RunAssessment:
    """Judge the run that wrote `model_path` (see module docstring)."""
    from lvmgate.lvm.baselines import evaluate_baselines
    from lvmgate.lvm.evaluate import evaluate_predictors
    from lvmgate.lvm.predictor import TorchPredictor

    model_path = Path(model_path)
    log_path = find_training_log(model_path)
    if not log_path.is_file():
        if not model_path.exists():
            raise InputError(f"{model_path}: no such model, and no training log {log_path.name} beside it")
        raise InputError(
            f"{model_path}: no training log {log_path.name} beside it; gate 2.2 judges runs of `lvmgate train`"
        )
    log = TrainingLog.read(log_path)
    epochs = log["epochs"]
    flags = log["red_flags"]
    last = epochs[-1] if epochs else {}
    initial = epochs[0]["initial_loss"] if epochs else (log["steps"][0]["loss"] if log["steps"] else None)
    final_train, final_val = last.get("train_loss"), last.get("val_loss")
    best_val = min((e["val_loss"] for e in epochs), default=None)
    totals = log["totals"] or {}
    nonfinite = sum(f["code"] == "nonfinite_loss" for f in flags)
    messages: dict[str, str] = {}
    for f in flags:
        cid = FLAG_CRITERIA.get(f["code"])
        if cid:
            messages[cid] = f["message"]

    logged = log["data"] or {}
    train_set, train_path = _load_set(data, logged.get("train", {}), store, "training")
    val_set, val_path = _load_set(val_data, logged.get("val", {}), store, "validation")
    from lvmgate.training.trainer import shared_article_ids

    shared = shared_article_ids(train_set, val_set)
    if shared:
        messages["2.2.shared_articles"] = f"{shared} validation article(s) are also in {train_path}"
    used = {
        name: {"path": str(Path(path).resolve()), "sha256": _sha(s), "n_windows": len(s), "split": s.split}
        for name, s, path in (("train", train_set, train_path), ("val", val_set, val_path))
    }

    checkpoint: dict[str, Any] = {"path": str(model_path), "exists": model_path.is_file()}
    metrics: dict[str, Any] = {}
    margins: dict[str, Estimate] = {}
    if not checkpoint["exists"]:
        reason = (
            f"no model: the run stopped ({flags[-1]['message']})"
            if log["status"] == "failed" and flags
            else f"{model_path.name} does not exist (run status: {log['status']})"
        )
        for cid in MODEL_CRITERIA:
            messages[cid] = reason
        if not epochs:
            for cid in ("2.2.loss_decrease", "2.2.val_train_gap", "2.2.val_rise"):
                messages.setdefault(cid, "no epoch completed: " + reason)
        if log["status"] != "failed":
            raise InputError(f"{model_path}: no such model (the log says the run is {log['status']})")
    else:
        loaded = load_lvm(model_path, device=device or "cpu")
        if loaded.config.dim != val_set.shape[2]:
            raise InputError(
                f"{model_path} predicts {loaded.config.dim}-D vectors; {val_path} holds {val_set.shape[2]}-D contexts"
            )
        digest = loaded.weights_digest
        records = [*(log["checkpoints"] or []), *([log["final"]] if log["final"] else [])]
        by_digest = [r for r in records if r.get("weights_digest") == digest]
        by_name = [r for r in records if Path(r.get("path", "")).name == model_path.name]
        ref = (by_digest or by_name or [None])[-1]
        cache = None
        if cache_dir is not None and _sha(train_set) and _sha(val_set):
            cache = Path(cache_dir) / f"baselines_{_sha(train_set)[:12]}_{_sha(val_set)[:12]}"
        ev_base, _extra = evaluate_baselines(
            train_set,
            val_set,
            cache=cache,
            resamples=resamples,
            seed=seed,
            max_recall_windows=max_recall_windows,
            recompute=recompute,
        )
        ev_model = evaluate_predictors(
            {"model": TorchPredictor(loaded.model)},
            val_set,
            max_recall_windows=max_recall_windows,
            resamples=resamples,
            seed=seed,
        )
        ev = ev_base.merged(ev_model)
        measured = _remeasure(loaded.model, log, val_set, store)
        logged_cos = None if ref is None else ref.get("val_cosine")
        error = abs(measured - logged_cos) if logged_cos is not None else float("nan")
        checkpoint.update(
            sha256=file_sha256(model_path),
            weights_digest=digest,
            recorded=bool(by_digest),
            logged_val_cosine=logged_cos,
            measured_val_cosine=measured,
            metric_error=error,
        )
        if not by_digest:
            messages["2.2.checkpoint_unrecorded"] = (
                f"{model_path.name}'s weights (digest {digest}) are not any checkpoint the training log recorded: "
                "replaced or edited after training"
            )
        if not error <= metric_tolerance:
            messages["2.2.checkpoint_metric_error"] = (
                f"{model_path.name} measures val cosine {measured:.4f}; the log recorded "
                + (f"{logged_cos:.4f}" if logged_cos is not None else "nothing")
                + " for it"
            )
        metrics = {name: m.to_dict() for name, m in ev.metrics.items()}
        for base in ("copy_last", "context_mean"):
            margins[f"cosine_vs_{base}"] = ev.margin("model", base, "cosine")
            margins[f"hit@10_vs_{base}"] = ev.margin("model", base, "hit@10")
        if "ridge" in ev.metrics:
            margins["cosine_vs_ridge"] = ev.margin("model", "ridge", "cosine")
            margins["hit@10_vs_ridge"] = ev.margin("model", "ridge", "hit@10")
        _baseline_messages(messages, ev)
        used["evaluation"] = {
            k: getattr(ev, k)
            for k in ("n_windows", "n_articles", "n_recall_windows", "n_recall_articles", "bank_rows")
        }

    train_s = totals.get("train_seconds")
    return RunAssessment(
        model_path=str(model_path),
        log_path=str(log_path),
        status=log["status"],
        epochs=len(epochs),
        initial_loss=initial,
        final_train_loss=final_train,
        final_val_loss=final_val,
        best_val_loss=best_val,
        loss_decrease=-_rel(final_train, initial),
        val_train_gap=_rel(final_val, final_train),
        val_rise=_rel(final_val, best_val),
        nonfinite=nonfinite,
        red_flags=flags,
        peak_memory_gib=totals.get("peak_memory_gib"),
        memory_kind=totals.get("memory_kind"),
        train_hours=None if train_s is None else train_s / 3600.0,
        sequences_per_s=totals.get("sequences_per_s"),
        checkpoint=checkpoint,
        shared_articles=shared,
        data=used,
        metrics=metrics,
        margins=margins,
        messages=messages,
        model=dict(log.data.get("model") or {}),
    )


def _sha(s: SequenceSet) -> str | None:
    return s.meta.get("splits", {}).get(s.split, {}).get("sha256")


def _baseline_messages(messages: dict[str, str], ev) -> None:
    """Numbers beside each comparison, so a failing line says what beat the model."""
    m = {k: v for k, v in ev.metrics.items()}
    cos = {k: v.cosine.value for k, v in m.items()}
    r10 = {k: v.hit["10"].value for k, v in m.items()}
    nvc = {k: v.next_vs_context.value for k, v in m.items()}
    for base, label in (("copy_last", "copy-last"), ("context_mean", "context-mean")):
        messages.setdefault(
            f"2.2.cosine_margin_{base}", f"val cosine: model {cos['model']:.3f}, {label} {cos[base]:.3f}"
        )
        messages.setdefault(
            f"2.2.hit10_margin_{base}",
            f"hit@10 over the full bank: model {r10['model']:.3f}, {label} {r10[base]:.3f}",
        )
    messages.setdefault(
        "2.2.next_vs_context_margin",
        f"cos(pred, next) - max cos(pred, context): model {nvc['model']:+.3f}, copy-last {nvc['copy_last']:+.3f}, "
        f"context-mean {nvc['context_mean']:+.3f}",
    )


def findings(r: dict[str, Any]) -> list[str]:
    """Key findings for the phase report, from a RunAssessment dict."""
    out = []
    hours = r.get("train_hours")
    out.append(
        f"Run {Path(r['model_path']).name}: {r['status']}, {r['epochs']} epoch(s)"
        + (f", training time {hours * 3600:.1f} s ({hours:.3g} h)" if hours is not None else "")
        + (
            f", peak memory {r['peak_memory_gib']:.2f} GiB ({r['memory_kind']})"
            if r.get("peak_memory_gib")
            else ""
        )
        + (f", {r['sequences_per_s']:,.0f} sequences/s" if r.get("sequences_per_s") else "")
        + "."
    )
    if r.get("initial_loss") is not None and r.get("final_train_loss") is not None:
        out.append(
            f"Training loss {r['initial_loss']:.4g} -> {r['final_train_loss']:.4g}; validation loss "
            f"{r['final_val_loss']:.4g} (best {r['best_val_loss']:.4g})."
        )
    m = r.get("metrics") or {}
    if "model" in m:
        names = [n for n in ("model", "copy_last", "context_mean", "ridge") if n in m]
        ev = (r.get("data") or {}).get("evaluation", {})
        out.append(
            f"Validation ({ev.get('n_windows', '?')} windows, {ev.get('n_articles', '?')} held-out articles): cosine "
            + ", ".join(f"{n} {m[n]['cosine']['value']:.3f}" for n in names)
            + f"; hit@10 over the full bank of {ev.get('bank_rows', 0):,} vectors "
            + ", ".join(f"{n} {m[n]['hit']['10']['value']:.3f}" for n in names)
            + "."
        )
        if m["model"].get("contrastive_accuracy"):
            out.append(
                "Next-concept metrics (LCM paper 2.4.1; Base-LCM on Wikipedia: l2 0.229, CA 0.696, PAR 1.770): "
                + "; ".join(
                    f"{n} l2 {m[n]['l2']['value']:.3f}, round-trip l2 {m[n]['round_trip_l2']['value']:.3f}, "
                    f"CA {m[n]['contrastive_accuracy']['value']:.3f}, PAR {m[n]['paraphrase_ratio']['value']:.3f}"
                    for n in names
                )
                + " (hit@10 above is the plan's Recall@10 beside CA)."
            )
        if "ridge" in m and m["ridge"]["cosine"]["value"] > m["model"]["cosine"]["value"]:
            out.append(
                f"A closed-form ridge regression on the flattened context beats the model (cosine "
                f"{m['ridge']['cosine']['value']:.3f} vs {m['model']['cosine']['value']:.3f}): the model has not "
                "learned what a linear map gets from the same windows."
            )
    ck = r.get("checkpoint") or {}
    if ck.get("exists"):
        logged = ck.get("logged_val_cosine")
        out.append(
            f"Checkpoint reloaded: val cosine {ck['measured_val_cosine']:.4f} measured, "
            + (f"{logged:.4f} logged" if logged is not None else "none logged")
            + (
                "; weights recorded in the log."
                if ck.get("recorded")
                else "; weights NOT recorded in the log."
            )
        )
    for f in r.get("red_flags") or []:
        out.append(f"Red flag ({f['code']}, epoch {f['epoch']}): {f['message']}")
    return out


def training_artifact(ctx) -> tuple[dict, bool]:
    """The `training` artifact for GateContext `ctx` (--lvm-model, --data, --val-data, --store)."""
    model = ctx.options.get("lvm_model")
    if not model:
        raise InputError("gate 2.2 needs --lvm-model models/NAME.pt (from `lvmgate train`)")
    policy = ctx.policy
    params = policy.params
    resamples = int(params.get("bootstrap_resamples", 1000))
    log_path = find_training_log(model)
    key_parts = [log_path, Path(model)]
    params_prov = {
        "lvm_model": str(Path(model).resolve()),
        "files": {str(p): (file_sha256(p) if p.is_file() else None) for p in key_parts},
        "data": ctx.options.get("data"),
        "val_data": ctx.options.get("val_data"),
    }
    assessment = assess_run(
        model,
        data=ctx.options.get("data"),
        val_data=ctx.options.get("val_data"),
        store=ctx.store_url,
        device=ctx.options.get("device"),
        resamples=resamples,
        seed=ctx.seed,
        max_recall_windows=params.get("recall_max_windows", 5000),
        cache_dir=ctx.artifacts_dir / "lvm",
        recompute=ctx.recompute,
        metric_tolerance=float(params.get("checkpoint_metric_tolerance", 1e-3)),
    )
    val = assessment.data.get("val") or {}
    provenance = ctx.provenance("training", sample_size=val.get("n_windows"), params=params_prov)
    art = {
        "tool": "training",
        "provenance": provenance,
        "result": assessment.to_dict(),
        "criteria": criteria_dict(assessment.criteria()),
        "facts": assessment.facts(),
    }
    write_json(ctx.path_for("training"), art)  # the record of what was judged
    return art, True
