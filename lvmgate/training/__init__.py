"""Training the LVM: the plain-loop trainer, the run's files, the JSON log and torchrun/DDP helpers.
The checkpoint file format is the model's (lvmgate.lvm.checkpoint).

    from lvmgate.training import TrainConfig, train
    result = train(TrainConfig(data="artifacts/lvm/x.npz", output="models/x.pt", model_size="tiny"))
See docs/training.md for the files a run writes and the log format gate 2.2 reads.
"""

from lvmgate.training.checkpoints import run_paths
from lvmgate.training.logging import LOG_FORMAT, TrainingLog
from lvmgate.training.trainer import TrainConfig, TrainingError, TrainResult, lr_factor, train, validate

__all__ = [
    "LOG_FORMAT",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TrainingLog",
    "lr_factor",
    "run_paths",
    "train",
    "validate",
]
