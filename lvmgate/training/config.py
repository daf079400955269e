"""A training run's settings and its result: plain data, importable without torch (the CLI's flags
take their defaults from here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lvmgate.errors import InputError, LvmgateError
from lvmgate.results import Result


class TrainingError(LvmgateError):
    """The run stopped on a red flag or failed verification (exit code 1); the log says why."""


@dataclass(frozen=True)
class TrainConfig(Result):
    """The run's settings; field names follow the plan's flags."""

    data: str
    output: str
    val_data: str | None = None  # default: the val split listed in the data's meta
    log_dir: str | None = None  # TensorBoard event files
    model_size: str = "small"
    d_model: int | None = None
    n_layers: int | None = None
    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-4
    loss: str = "cosine"
    seed: int = 0
    mixed_precision: bool = False  # bf16 autocast
    gradient_checkpointing: bool = False
    device: str = "auto"
    threads: int | None = None
    warmup: float = 0.05  # share of all steps spent warming up
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    keep_best: int = 3
    store: str | None = None  # override the store recorded in the data's meta
    augment: str = "auto"  # auto (the set's own setting) | on | off
    overwrite: bool = False
    log_every: int = 0  # steps between logged step losses; 0 = about 50 per epoch
    head: str = "residual"  # residual: start at the context mean, learn a correction | plain
    dropout: float = 0.1  # measured in docs/training.md
    patience: int = 3  # epochs without a better val cosine before stopping; 0 = run every epoch

    def validate(self) -> None:
        ints = {"epochs": 1, "batch_size": 1, "keep_best": 1, "log_every": 0, "patience": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise InputError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {v!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.warmup < 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError("warmup must be in [0, 1) and min_lr_ratio in [0, 1]")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise InputError("weight_decay and grad_clip must be >= 0")
        if self.augment not in ("auto", "on", "off"):
            raise InputError(f"augment must be auto, on or off, got {self.augment!r}")
        if self.threads is not None and self.threads < 1:
            raise InputError("--threads must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"--dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainResult(Result):
    """What a finished run reports (the log has everything)."""

    status: str
    output: str
    log: str
    epochs_completed: int
    val_loss: float | None
    val_cosine: float | None
    copy_last_val_cosine: float
    context_mean_val_cosine: float
    parameters: int
    seconds: float
    red_flags: list[str] = field(default_factory=list)
    best_epoch: int | None = None  # the epoch the final model's weights come from (0 = untrained start)
    stopped_early: bool = False
