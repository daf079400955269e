"""A training run's files: one torch file per epoch plus the final model, and which epochs to keep.

Layout for `--output models/NAME.pt`:
    models/NAME.pt                       final model (weights, config, metrics; no optimizer)
    models/NAME_training.json            the JSON training log the gates read (see logging.py)
    models/NAME.checkpoints/epoch_003.pt  per-epoch checkpoints (+ optimizer, scheduler, RNG states,
                                         history): the best `keep_best` by validation cosine and
                                         the latest are kept (the final model is the best one)
The file format itself (digest, safe loading) is the model's: lvmgate.lvm.checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.lvm.checkpoint import EPOCH_FILE


def run_paths(output: str | os.PathLike) -> dict[str, Path]:
    """The files of a run whose final model is `output` (NAME.pt)."""
    out = Path(output)
    if out.suffix != ".pt" or not out.stem:
        raise InputError(f"--output must name a .pt file (models/NAME.pt), got {str(output)!r}")
    return {
        "output": out,
        "log": out.with_name(out.stem + "_training.json"),
        "checkpoints": out.with_name(out.stem + ".checkpoints"),
    }


def epoch_path(checkpoints: Path, epoch: int) -> Path:
    return checkpoints / f"epoch_{epoch:03d}.pt"


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The epoch checkpoint with the highest epoch number in `checkpoints`, if any."""
    if not checkpoints.is_dir():
        return None
    found = [(int(m.group(1)), f) for f in checkpoints.iterdir() if (m := EPOCH_FILE.match(f.name))]
    return max(found)[1] if found else None


def retention(entries: list[dict[str, Any]], keep_best: int) -> set[int]:
    """Epochs to keep: the `keep_best` highest validation cosines (earlier epoch wins ties) and the latest."""
    if not entries:
        return set()
    finite = [e for e in entries if e.get("val_cosine") is not None and np.isfinite(e["val_cosine"])]
    best = sorted(finite, key=lambda e: (-e["val_cosine"], e["epoch"]))[:keep_best]
    return {e["epoch"] for e in best} | {max(e["epoch"] for e in entries)}
