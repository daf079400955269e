"""Training the LVM: the plain-loop trainer, checkpoints, the JSON log and torchrun/DDP helpers.

    from lvmgate.training import TrainConfig, train
    result = train(TrainConfig(data="artifacts/lvm/x.npz", output="models/x.pt", model_size="tiny"))
See docs/training.md for the files a run writes and the log format gate 2.2 reads.
"""

from lvmgate.training.checkpoints import (
    LoadedCheckpoint,
    find_training_log,
    load_lvm,
    read_checkpoint,
    run_paths,
    save_checkpoint,
    weights_digest,
)
from lvmgate.training.logging import LOG_FORMAT, TrainingLog
from lvmgate.training.trainer import TrainConfig, TrainingError, TrainResult, lr_factor, train, validate

__all__ = [
    "LOG_FORMAT",
    "LoadedCheckpoint",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TrainingLog",
    "find_training_log",
    "load_lvm",
    "lr_factor",
    "read_checkpoint",
    "run_paths",
    "save_checkpoint",
    "train",
    "validate",
    "weights_digest",
]
