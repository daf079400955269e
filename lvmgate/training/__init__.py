"""Training the LVM: the plain-loop trainer, the run's files, the JSON log and torchrun/DDP helpers.
The checkpoint file format is the model's (lvmgate.lvm.checkpoint).

    from lvmgate.training import TrainConfig, train
    result = train(TrainConfig(data="artifacts/lvm/x.npz", output="models/x.pt", model_size="tiny"))
See docs/training.md for the files a run writes and the log format gate 2.2 reads. Names load on
first use, so `lvmgate.training.config` (the settings, the CLI's defaults) imports without torch.
"""

from __future__ import annotations

from lvmgate.lazy import lazy_names

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


__getattr__ = lazy_names(__name__, _HOMES)
