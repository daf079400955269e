"""The Latent Vector Model: a Mamba LVM in pure PyTorch, its losses, baselines and shared metrics.

    from lvmgate.lvm import load_lvm, copy_last, context_mean, RidgeBaseline, evaluate_predictors
    ckpt = load_lvm("models/lvm_wikipedia_100k_v1.pt")           # LoadedCheckpoint (model in eval mode)
    pred = ckpt.predict(contexts)                                 # (b, w, 768) float32 -> (b, 768) unit
    ev = evaluate_predictors({"model": ckpt.predict, "copy_last": copy_last,
                              "context_mean": context_mean}, val_set)
    ev.margin("model", "copy_last", "recall@10")                  # paired, article bootstrap
See docs/training.md.
"""

from lvmgate.lvm.baselines import RidgeBaseline, context_mean, copy_last
from lvmgate.lvm.checkpoint import LoadedCheckpoint, load_lvm
from lvmgate.lvm.evaluate import (
    Evaluation,
    PredictorMetrics,
    evaluate_predictors,
    full_bank_ranks,
    window_scores,
)
from lvmgate.lvm.load import LoadedModel, load_model
from lvmgate.lvm.losses import LossSpec, cosine_loss, info_nce_loss, mse_loss
from lvmgate.lvm.mamba import LVM, PRESETS, LVMConfig, preset, selective_scan
from lvmgate.lvm.predictor import TorchPredictor

__all__ = [
    "LVM",
    "PRESETS",
    "Evaluation",
    "LVMConfig",
    "LoadedCheckpoint",
    "LoadedModel",
    "LossSpec",
    "PredictorMetrics",
    "RidgeBaseline",
    "TorchPredictor",
    "context_mean",
    "copy_last",
    "cosine_loss",
    "evaluate_predictors",
    "full_bank_ranks",
    "info_nce_loss",
    "load_lvm",
    "load_model",
    "mse_loss",
    "preset",
    "selective_scan",
    "window_scores",
]
