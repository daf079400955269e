"""The LVM's file format: weights, config and what was measured, written atomically, loaded safely.

Every file carries `weights_digest`, a sha256 of the state dict's tensors, so a file whose weights
were replaced is caught by measuring the digest again. Loading uses `torch.load(weights_only=True)`:
no pickled code runs, and a corrupt or foreign file is one InputError. The run layout around these
files (per-epoch checkpoints, retention) belongs to training: lvmgate.training.checkpoints.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.io import atomic_open

if TYPE_CHECKING:  # torch is imported where a checkpoint is written or read, not to find a run's log
    import torch

    from lvmgate.lvm.mamba import LVM, LVMConfig

CHECKPOINT_FORMAT = "lvmgate.lvm-checkpoint/1"
EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pt$")


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of every tensor, in name order (first 16 hex)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> str:
    """Write `payload` (must hold "model" and "config") atomically; returns the weights digest."""
    import torch

    state = {k: v.detach().cpu() for k, v in payload["model"].items()}
    digest = weights_digest(state)
    body = {
        "format": CHECKPOINT_FORMAT,
        **payload,
        "model": state,
        "weights_digest": digest,
        "torch_version": str(torch.__version__),
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    with atomic_open(path, "wb") as fh:
        torch.save(body, fh)
    return digest


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict, safely; missing, corrupt or foreign files raise InputError."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such checkpoint")
    try:
        body = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle/EOF errors all mean the same to a user
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        why = next((ln for ln in lines if "Unpickler error" in ln), lines[0])
        raise InputError(
            f"{p}: not a readable checkpoint (corrupt, truncated or foreign): {why[:200]}"
        ) from None
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{p}: not an lvmgate LVM checkpoint (format {CHECKPOINT_FORMAT})")
    for key in ("config", "model"):
        if key not in body:
            raise InputError(f"{p}: checkpoint has no {key!r}")
    return body


@dataclass
class LoadedCheckpoint:
    """A checkpoint turned back into a model, with what was saved beside the weights."""

    path: Path
    model: LVM
    config: LVMConfig
    body: dict[str, Any] = field(repr=False)

    @property
    def weights_digest(self) -> str:
        """Digest of the weights as loaded (not as claimed by the file)."""
        return weights_digest(self.model.state_dict())

    @property
    def claimed_digest(self) -> str | None:
        return self.body.get("weights_digest")

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.body.get("metrics") or {})

    def predict(self, context: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """(b, w, dim) float32 contexts -> (b, dim) unit predictions, as numpy."""
        from lvmgate.lvm.predictor import TorchPredictor

        return TorchPredictor(self.model, batch_size=batch_size).predict(context)


def load_lvm(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Load any lvmgate LVM checkpoint (final or per-epoch) into an LVM in eval mode on `device`."""
    import torch

    from lvmgate.lvm.mamba import LVM, LVMConfig

    body = read_checkpoint(path)
    try:
        cfg = LVMConfig.saved(body["config"])
    except (TypeError, InputError) as exc:
        raise InputError(f"{path}: invalid model config in checkpoint ({exc})") from None
    with torch.random.fork_rng():  # the weights are overwritten: do not move the caller's RNG (dropout)
        model = LVM(cfg)
    try:
        model.load_state_dict(body["model"], strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(
            f"{path}: weights do not fit the model config saved with them ({first[:160]})"
        ) from None
    model.to(device).eval()
    return LoadedCheckpoint(Path(path), model, cfg, body)


def find_training_log(model_path: str | os.PathLike) -> Path:
    """The training log of the run that wrote `model_path` (final model or epoch checkpoint).

    NAME.pt -> NAME_training.json; NAME.checkpoints/epoch_N.pt -> NAME_training.json. The file
    need not exist: a run that stopped early has a log but no final model.
    """
    p = Path(model_path)
    if p.parent.name.endswith(".checkpoints") and EPOCH_FILE.match(p.name):
        stem = p.parent.name[: -len(".checkpoints")]
        return p.parent.parent / f"{stem}_training.json"
    return p.with_name(p.stem + "_training.json")


def read_training_log(model: str) -> dict[str, Any] | None:
    """The training log beside checkpoint `model` (NAME_training.json) as a dict, or None."""
    from lvmgate.io import read_json

    path = find_training_log(model)
    return read_json(path) if path.is_file() else None


def stopped_run(model: str, log: dict[str, Any] | None) -> str | None:
    """Why there is nothing to compare when the run stopped before writing a model, else None."""
    if Path(model).exists() or not log or log.get("status") != "failed":
        return None
    flags = log.get("red_flags") or []
    why = flags[-1]["message"] if flags else "the run failed"
    return f"no model: the training run stopped ({why})"
