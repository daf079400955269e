"""Plan 4.2: the large production run, judged from what it leaves behind (its checkpoint and training
log), so that the plan's "Large model trained (760M params)" box can be ticked honestly by a run made
elsewhere (a GPU for days). Nothing is trained here.

What the plan asks and where it is read:
- the model: --d-model 768, --n-layers 24 (the log's model config; the parameter count and the plan's
  "760M" label are reported beside it: lvmgate's large preset with these flags has fewer parameters);
- --epochs 10 completed (or ended by the run's early-stopping rule, recorded in the log: the epochs
  it did not need count as done, and the reason says so); --mixed-precision and --gradient-checkpointing as trained (the log's config);
- checkpointing: every epoch saved, the best 3 by validation cosine kept (each file present and the
  one the log recorded), the final checkpoint (the epoch the log selected, by val cosine) saved and
  recorded;
- and, as for any run, the model file is one the log recorded, and no NaN/Inf loss.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.criteria import Criterion
from lvmgate.errors import InputError
from lvmgate.io import file_sha256
from lvmgate.lvm.checkpoint import find_training_log
from lvmgate.results import Estimate, Result
from lvmgate.training.logging import TrainingLog

BEST_K = 3  # the plan: keep best 3 checkpoints (by validation cosine, as the trainer keeps them)


@dataclass(frozen=True)
class ProductionRun(Result):
    """Everything gate 4.2 reads about one run."""

    model_path: str
    log_path: str
    status: str
    preset: str | None
    plan_label: str | None
    parameters: int | None
    d_model: int | None
    n_layers: int | None
    epochs: int
    epochs_planned: int | None
    mixed_precision: bool
    gradient_checkpointing: bool
    best_epochs: list[int]  # the BEST_K highest validation cosines, from the log's epochs
    best_kept: dict[str, str]  # epoch -> "ok" or what is wrong with its file
    final: dict[str, Any]  # the final checkpoint record and whether its file matches
    model_recorded: bool  # --lvm-model's sha256 is one the log recorded
    nonfinite: int
    red_flags: list[dict[str, Any]] = field(default_factory=list)
    early_stop: dict[str, Any] | None = None  # the log's record when --patience ended the run

    @property
    def epochs_done(self) -> int:
        """Epochs run, plus those an early stop recorded in the log made unnecessary."""
        if self.early_stop and self.status == "completed" and self.epochs_planned:
            return max(self.epochs, self.epochs_planned)
        return self.epochs

    def _epochs_reason(self) -> str:
        if self.epochs_done != self.epochs:
            return (
                f"{self.epochs} run of {self.epochs_planned} planned; the rest not needed: "
                f"{self.early_stop.get('reason', 'early stop')}"
            )
        return f"of {self.epochs_planned} planned"

    def criteria(self) -> list[Criterion]:
        ex, m = Estimate.exact, Criterion.measured
        cfg = f"preset {self.preset} ({self.plan_label or 'no plan label'}), {self.parameters or 0:,} parameters"
        out = [
            m("4.2.d_model", ex(self.d_model, 1), cfg)
            if self.d_model is not None
            else Criterion.not_measured("4.2.d_model", "the log records no model config"),
            m("4.2.n_layers", ex(self.n_layers, 1), cfg)
            if self.n_layers is not None
            else Criterion.not_measured("4.2.n_layers", "the log records no model config"),
            m("4.2.epochs", ex(self.epochs_done, self.epochs_planned or self.epochs), self._epochs_reason()),
            m("4.2.mixed_precision", ex(float(self.mixed_precision), 1), "the run's --mixed-precision"),
            m(
                "4.2.gradient_checkpointing",
                ex(float(self.gradient_checkpointing), 1),
                "the run's --gradient-checkpointing",
            ),
        ]
        bad = {e: why for e, why in self.best_kept.items() if why != "ok"}
        out.append(
            m(
                "4.2.best3_retention",
                ex(0.0 if bad or not self.best_epochs else 1.0, len(self.best_epochs)),
                f"best {len(self.best_epochs)} epochs by val cosine: {self.best_epochs}"
                + (
                    "; " + "; ".join(f"epoch {e}: {w}" for e, w in bad.items())
                    if bad
                    else ", each file kept and recorded"
                ),
            )
        )
        f = self.final
        out.append(
            m(
                "4.2.final_checkpoint",
                ex(1.0 if f.get("ok") else 0.0, 1),
                f.get("reason") or f"final checkpoint {f.get('path')} after epoch {f.get('epoch')}",
            )
        )
        out.append(
            m(
                "4.2.checkpoint_unrecorded",
                ex(0.0 if self.model_recorded else 1.0, 1),
                f"{Path(self.model_path).name} "
                + (
                    "is a checkpoint the log recorded"
                    if self.model_recorded
                    else "matches no checkpoint the log recorded"
                ),
            )
        )
        out.append(
            m(
                "4.2.nonfinite_loss",
                ex(self.nonfinite, max(self.epochs, 1)),
                f"{self.nonfinite} NaN/Inf red flags",
            )
        )
        return out

    def facts(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "plan_label": self.plan_label,
            "parameters": self.parameters,
            "epochs": self.epochs,
        }


def _file_state(folder: Path, record: dict[str, Any]) -> str:
    """'ok' when the recorded checkpoint file is there with the recorded sha256, else what is wrong."""
    rel = Path(record.get("path", ""))
    path = rel if rel.is_absolute() else folder / rel  # recorded relative to the log's folder
    if not path.is_file():
        return f"{path.name} is missing"
    if record.get("sha256") and file_sha256(path) != record["sha256"]:
        return f"{path.name} differs from the file the log recorded (sha256)"
    return "ok"


def assess_production_run(model_path: str | os.PathLike) -> ProductionRun:
    """Read the run that wrote `model_path` (its NAME_training.json beside it); see the module doc."""
    model_path = Path(model_path)
    log_path = find_training_log(model_path)
    if not log_path.is_file():
        raise InputError(
            f"{model_path}: no training log {log_path.name} beside it; gate 4.2 reads runs of `lvmgate train`"
        )
    log = TrainingLog.read(log_path)
    data = log.data
    cfg = data.get("config") or {}
    model = data.get("model") or {}
    mcfg = model.get("config") or {}
    epochs = data.get("epochs") or []
    folder = log_path.parent
    finite = [e for e in epochs if e.get("val_cosine") is not None and math.isfinite(e["val_cosine"])]
    best = sorted(finite, key=lambda e: (-e["val_cosine"], e["epoch"]))[:BEST_K]
    records = {r.get("epoch"): r for r in data.get("checkpoints") or []}
    best_kept = {}
    for e in best:
        rec = records.get(e["epoch"])
        best_kept[str(e["epoch"])] = (
            "no checkpoint recorded for it" if rec is None else _file_state(folder, rec)
        )
    final_rec = data.get("final") or {}
    if not final_rec:
        final = {
            "ok": False,
            "reason": f"the log records no final checkpoint (run status: {data.get('status')})",
        }
    else:
        state = _file_state(folder, final_rec)
        # the epoch the trainer selected (best val cosine); logs without a selection: the last epoch
        chosen = (
            final_rec.get("epoch")
            if final_rec.get("selected_by")
            else (epochs[-1]["epoch"] if epochs else None)
        )
        logged = {e["epoch"]: e for e in epochs} | {0: data.get("start") or {}}
        same = chosen == (epochs[-1]["epoch"] if epochs else None) or (
            chosen in logged and logged[chosen].get("val_cosine") == final_rec.get("val_cosine")
        )
        ok = state == "ok" and same
        reason = (
            "" if ok else state if state != "ok" else f"final checkpoint's epoch {chosen} is not as logged"
        )
        final = {**final_rec, "ok": ok, "reason": reason}
    recorded = {r.get("sha256") for r in [*records.values(), final_rec] if r.get("sha256")}
    model_recorded = model_path.is_file() and file_sha256(model_path) in recorded
    flags = data.get("red_flags") or []
    return ProductionRun(
        model_path=str(model_path),
        log_path=str(log_path),
        status=str(data.get("status")),
        preset=model.get("preset") or cfg.get("model_size"),
        plan_label=model.get("plan_label"),
        parameters=model.get("parameters"),
        d_model=mcfg.get("d_model"),
        n_layers=mcfg.get("n_layers"),
        epochs=len(epochs),
        epochs_planned=cfg.get("epochs"),
        mixed_precision=bool(cfg.get("mixed_precision")),
        gradient_checkpointing=bool(cfg.get("gradient_checkpointing")),
        best_epochs=[int(e["epoch"]) for e in best],
        best_kept=best_kept,
        final=final,
        model_recorded=bool(model_recorded),
        nonfinite=sum(f.get("code") == "nonfinite_loss" for f in flags),
        red_flags=list(flags),
        early_stop=data.get("early_stop"),
    )
