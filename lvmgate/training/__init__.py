"""Training the LVM: the plain-loop trainer, the run's files, the JSON log and torchrun/DDP helpers.
The checkpoint file format is the model's (lvmgate.lvm.checkpoint).

    from lvmgate.training import TrainConfig, train
    result = train(TrainConfig(data="artifacts/lvm/x.npz", output="models/x.pt", model_size="tiny"))
See docs/training.md for the files a run writes and the log format gate 2.2 reads. Names load on
first use, so `lvmgate.training.config` (the settings, the CLI's defaults) imports without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "LOG_FORMAT": "lvmgate.training.logging",
    "TrainingLog": "lvmgate.training.logging",
    "TrainConfig": "lvmgate.training.config",
    "TrainResult": "lvmgate.training.config",
    "TrainingError": "lvmgate.training.config",
    "run_paths": "lvmgate.training.checkpoints",
    "lr_factor": "lvmgate.training.trainer",
    "train": "lvmgate.training.trainer",
    "validate": "lvmgate.training.trainer",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """`lvmgate.training.NAME` from the module that defines it, imported on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'lvmgate.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
