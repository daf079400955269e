"""Held-out data and leakage, decided in one place for every phase (2.3, 3.2, 3.3, 4.3).

- `held_out_split`: which prepared split a model is evaluated on. One precedence everywhere:
  --test-set, --val-data, the test split of --data's set, its val split, then the test split of
  the model's own prepared set (from its training log), then that set's val split.
- `training_articles`: the article ids a model was trained on, and where that came from (None, with
  the reason, when it cannot be established). An untrained model (baseline, preset) saw none.
- `shared_articles`: the leakage check itself, sorted ids in both lists.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.lvm.checkpoint import read_training_log
from lvmgate.lvm.load import LoadedModel
from lvmgate.sequences.loader import meta_path_for, read_meta

_VAL_NOTE = "held out from training, but seen when checkpoints were compared; prepare with --test-split for a clean test"


def trained_split(model_path: str | os.PathLike | None) -> dict[str, Any]:
    """The `data.train` entry (path, sha256, ...) of the training log beside a checkpoint file;
    {} when there is no readable log."""
    if not model_path:
        return {}
    with contextlib.suppress(InputError):
        return ((read_training_log(model_path) or {}).get("data") or {}).get("train") or {}
    return {}


def held_out_split(
    *,
    test_set: str | None = None,
    val_data: str | None = None,
    data: str | None = None,
    model: LoadedModel | None = None,
    trained_on: str | None = None,
) -> tuple[str, str]:
    """(path of a prepared .npz split, how it was chosen), by the precedence in the module doc.
    The model's own set is `trained_on` (its training split's path) or read from `model`'s log."""
    if test_set and str(test_set).endswith(".npz"):
        return str(test_set), "--test-set"
    if val_data:
        return str(val_data), "--val-data"
    if data:
        found = _held_out_of(data, f"{Path(data).name}")
        if found is None:
            raise InputError(f"{data} has no val or test split: a held-out evaluation needs one")
        return found
    own = trained_on or (trained_split(model.spec).get("path") if model is not None else None)
    if own:
        try:
            found = _held_out_of(own, "the model's prepared set")
        except InputError:
            raise InputError(
                f"the model's training data {own} is gone: pass --test-set (a held-out split)"
            ) from None
        if found is None:
            raise InputError(f"{own} lists no held-out split: pass --test-set")
        return found
    raise InputError(
        "no held-out windows: pass --test-set NAME_test.npz, --val-data NAME_val.npz or --data NAME.npz "
        "(a set prepared with a val or test split)"
    )


def _held_out_of(train_file: str, what: str) -> tuple[str, str] | None:
    meta_path = meta_path_for(train_file)
    splits = read_meta(meta_path).get("splits") or {}
    for name, note in (
        ("test", f"the test split of {what}"),
        ("val", f"the val split of {what} ({_VAL_NOTE})"),
    ):
        if name in splits:
            return str(meta_path.parent / splits[name]["file"]), note
    return None


def split_article_ids(meta: dict[str, Any], file_name: str) -> list[str] | None:
    """Article ids of the split stored in `file_name`, from its prepared set's meta."""
    for entry in (meta.get("splits") or {}).values():
        if entry.get("file") == file_name:
            return entry.get("article_ids")
    return None


def training_articles(
    model: LoadedModel, metas: Iterable[dict[str, Any]] = ()
) -> tuple[set[str] | None, str]:
    """(article ids `model` was trained on, where from). A checkpoint's training log names its
    training split (path and sha256); that split's prepared meta, or one of `metas` holding the same
    split, lists the articles. A `module:attribute` model may declare `training_articles`."""
    if model.kind in ("baseline", "preset"):
        return set(), f"{model.kind} {model.name}: trained on nothing"
    declared = getattr(model.module, "training_articles", None)
    if model.kind == "module" and declared is not None:  # a module that states what it learned from
        return {str(a) for a in declared}, f"{model.spec} declares its training articles ({len(declared)})"
    if model.kind != "checkpoint":
        return None, f"{model.spec} is not an lvmgate checkpoint: the articles it was trained on are unknown"
    log = None
    with contextlib.suppress(InputError):
        log = read_training_log(model.spec)
    if log is None:
        return None, f"{model.spec} has no training log: the articles it was trained on are unknown"
    train = (log.get("data") or {}).get("train") or {}
    candidates = []
    with contextlib.suppress(InputError, TypeError):
        mpath = meta_path_for(train.get("path"))
        candidates.append((read_meta(mpath), str(mpath)))
    candidates += [(m, "the test set's meta") for m in metas if m]
    for meta, where in candidates:
        for name, entry in (meta.get("splits") or {}).items():
            if entry.get("sha256") == train.get("sha256") and entry.get("article_ids") is not None:
                return {str(a) for a in entry["article_ids"]}, f"the {name} split in {where}"
    return None, (
        f"the training data recorded in {model.spec}'s log ({train.get('path')}) is not available with its "
        "article list: held-out disjointness cannot be verified"
    )


def shared_articles(evaluated: Iterable[Any], trained: Iterable[Any] | None) -> list[str] | None:
    """Sorted article ids both evaluated and trained on (None when the training articles are unknown)."""
    if trained is None:
        return None
    return sorted({str(a) for a in evaluated} & {str(a) for a in trained})
