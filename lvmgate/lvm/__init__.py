"""The Latent Vector Model: a Mamba LVM in pure PyTorch, its losses, baselines and shared metrics.

    from lvmgate.lvm import load_lvm, copy_last, context_mean, RidgeBaseline, evaluate_predictors
    ckpt = load_lvm("models/lvm_wikipedia_100k_v1.pt")           # LoadedCheckpoint (model in eval mode)
    pred = ckpt.predict(contexts)                                 # (b, w, 768) float32 -> (b, 768) unit
    ev = evaluate_predictors({"model": ckpt.predict, "copy_last": copy_last,
                              "context_mean": context_mean}, val_set)
    ev.margin("model", "copy_last", "hit@10")                  # paired, article bootstrap
See docs/training.md. Names load on first use, so importing a part (e.g. lvmgate.lvm.predictor)
never pulls in torch.
"""

from __future__ import annotations

from lvmgate.lazy import lazy_names

_HOMES = {
    "Evaluation": "lvmgate.lvm.evaluate",
    "LVM": "lvmgate.lvm.mamba",
    "LVMConfig": "lvmgate.lvm.mamba",
    "LoadedCheckpoint": "lvmgate.lvm.checkpoint",
    "LoadedModel": "lvmgate.lvm.load",
    "LossSpec": "lvmgate.lvm.losses",
    "PRESETS": "lvmgate.lvm.mamba",
    "PredictorMetrics": "lvmgate.lvm.evaluate",
    "RidgeBaseline": "lvmgate.lvm.baselines",
    "TorchPredictor": "lvmgate.lvm.predictor",
    "context_mean": "lvmgate.lvm.baselines",
    "copy_last": "lvmgate.lvm.baselines",
    "cosine_loss": "lvmgate.lvm.losses",
    "evaluate_predictors": "lvmgate.lvm.evaluate",
    "full_bank_ranks": "lvmgate.lvm.evaluate",
    "info_nce_loss": "lvmgate.lvm.losses",
    "load_lvm": "lvmgate.lvm.checkpoint",
    "load_model": "lvmgate.lvm.load",
    "mse_loss": "lvmgate.lvm.losses",
    "preset": "lvmgate.lvm.mamba",
    "selective_scan": "lvmgate.lvm.mamba",
    "window_scores": "lvmgate.lvm.evaluate",
}

__all__ = sorted(_HOMES)


__getattr__ = lazy_names(__name__, _HOMES)
