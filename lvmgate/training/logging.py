"""The JSON training log (what gate 2.2 reads), TensorBoard scalars, red flags and peak memory.

The log (`NAME_training.json` beside the final model, format LOG_FORMAT) is rewritten atomically
after every epoch and when a run stops, so a killed run leaves a complete log of the epochs it
finished. Top-level keys:
    format, status ("running" | "completed" | "failed"), run, config, model, data, baselines,
    start (epoch 0: the untrained model on val), epochs[], steps[], checkpoints[], red_flags[],
    early_stop (when --patience stopped the run), final (the best epoch by val cosine), totals
Red flags from the plan, detected while training:
    nonfinite_loss     NaN/Inf loss or gradient norm: the run stops; lower the learning rate
    loss_not_decreasing  the training loss at the end of epoch 1 is not below its start
    val_diverging      validation loss rises above its best while training loss keeps falling
"""

from __future__ import annotations

import datetime as _dt
import math
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from lvmgate.io import read_json, write_json

LOG_FORMAT = "lvmgate.training-log/1"
LOSS_FLAT_TOLERANCE = 0.01  # epoch 1 must lower the loss by at least 1% of its start
VAL_RISE_TOLERANCE = 0.05  # validation 5% above its best while training falls = diverging


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class TrainingLog:
    """The run's JSON log, as a dict with a few helpers; `save()` writes it atomically."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    @classmethod
    def new(cls, path: Path, **sections: Any) -> TrainingLog:
        data: dict[str, Any] = {"format": LOG_FORMAT, "status": "running", **sections}
        for key in ("epochs", "steps", "checkpoints", "red_flags"):
            data.setdefault(key, [])
        data.setdefault("final", None)
        data.setdefault("totals", {})
        return cls(path, data)

    @classmethod
    def read(cls, path: str | Path) -> TrainingLog:
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != LOG_FORMAT:
            from lvmgate.errors import InputError

            raise InputError(f"{path}: not an lvmgate training log (format {LOG_FORMAT})")
        return cls(Path(path), data)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def flag(self, code: str, message: str, *, epoch: int, step: int | None = None) -> dict[str, Any]:
        entry = {"code": code, "epoch": epoch, "step": step, "message": message}
        self.data["red_flags"].append(entry)
        return entry

    def save(self) -> Path:
        self.data.setdefault("run", {})["updated_at"] = now()
        return write_json(self.path, self.data)


# -- red flags -------------------------------------------------------------------------------------
def nonfinite_message(step: int, epoch: int, lr: float, what: str) -> str:
    return (
        f"{what} is NaN/Inf at step {step} (epoch {epoch}): gradient explosion; lower the learning "
        f"rate (e.g. --lr {lr / 10:.2g}) and check the data for NaN/zero vectors"
    )


def loss_not_decreasing(start: float, end: float, tolerance: float = LOSS_FLAT_TOLERANCE) -> str | None:
    """Message when epoch 1 ended with a loss not below (1 - tolerance) of where it started."""
    if math.isfinite(start) and math.isfinite(end) and end > start * (1.0 - tolerance):
        return (
            f"training loss did not decrease during epoch 1 ({start:.4g} -> {end:.4g}): STOP and check "
            "the data format (is each target the next chunk of its context?)"
        )
    return None


def val_diverging(epochs: list[dict[str, Any]], tolerance: float = VAL_RISE_TOLERANCE) -> str | None:
    """Message when the last epoch's validation loss rose above (1 + tolerance) x its best so far
    while the training loss fell."""
    if len(epochs) < 2:
        return None
    last, prev = epochs[-1], epochs[-2]
    best = min(e["val_loss"] for e in epochs[:-1])
    if last["val_loss"] > best * (1.0 + tolerance) and last["train_loss"] < prev["train_loss"]:
        return (
            f"validation loss {last['val_loss']:.4g} is {100 * (last['val_loss'] / best - 1):.0f}% above its "
            f"best {best:.4g} while training loss fell to {last['train_loss']:.4g}: overfitting; reduce "
            "the model size, train fewer epochs or add data"
        )
    return None


# -- scalars ---------------------------------------------------------------------------------------
class Scalars:
    """TensorBoard scalars under `log_dir` (no-op without a log dir)."""

    def __init__(self, log_dir: str | Path | None, *, purge_step: int | None = None):
        self.writer = None
        if log_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print(
                "lvmgate train: note: tensorboard is not installed; scalars go to the JSON log only "
                "(pip install tensorboard)",
                file=sys.stderr,
            )
            return
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def add(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for tag, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# -- memory ----------------------------------------------------------------------------------------
def peak_memory_gib(device: torch.device) -> tuple[float, str]:
    """(peak GiB, what was measured): CUDA max allocated on the device, else the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30, "cuda_max_memory_allocated"
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return rss_kb / 2**20, "process_peak_rss"
