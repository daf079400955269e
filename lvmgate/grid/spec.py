"""Plan 3.1's grid as written: a TOML file of runs (explicit [[runs]] or a [matrix] of the plan's
axes), parsed and checked into a GridSpec.
"""

from __future__ import annotations

import itertools
import math
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.results import Result

GRID_FORMAT = "lvmgate.grid/1"


SUMMARY_FORMAT = "lvmgate.grid-summary/1"


PLAN_FILE = "grid_plan.json"


SUMMARY_FILE = "grid_summary.json"


SUMMARY_MD = "grid_summary.md"


AXES = ("context_window", "lr", "batch_size", "model_size", "epochs")


DESIGNS = ("full", "one_at_a_time")


SELECT_METRICS = ("margin", "val_cosine")


DATA_KEYS = ("store", "dataset", "limit", "stride", "val_split", "test_split", "seed", "skip_invalid",
             "keep_repeated", "augment", "prepared")  # fmt: skip


# TrainConfig fields a grid may set for every run ([train]); data/output/log_dir belong to the grid
TRAIN_KEYS = ("d_model", "n_layers", "loss", "seed", "mixed_precision", "gradient_checkpointing", "device",
              "threads", "warmup", "min_lr_ratio", "weight_decay", "grad_clip", "keep_best", "augment",
              "log_every", "head", "dropout", "patience")  # fmt: skip


# settings that decide a run's numbers: a run directory trained with other values is a different run
IDENTITY_KEYS = ("model_size", "d_model", "n_layers", "epochs", "batch_size", "lr", "loss", "seed", "warmup",
                 "min_lr_ratio", "weight_decay", "grad_clip", "mixed_precision", "augment", "head", "dropout",
                 "patience")  # fmt: skip


STATUSES = ("completed", "failed", "interrupted", "pending")


EVAL_FILE = "eval"  # OUT/runs/NAME/eval.json + eval.npz: the run's cached validation evaluation


# -- the grid as written -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec(Result):
    """One experiment: the plan's five axes (the rest comes from the grid's [train])."""

    name: str
    context_window: int
    lr: float
    batch_size: int
    model_size: str
    epochs: int

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in AXES}

    def label(self) -> str:
        return (
            f"ctx {self.context_window}, lr {self.lr:g}, batch {self.batch_size}, {self.model_size}, "
            f"{self.epochs} epochs"
        )


@dataclass(frozen=True)
class GridSpec(Result):
    """A parsed grid file: where data comes from, shared training settings, the runs, the metric."""

    source: str
    data: dict[str, Any]
    train: dict[str, Any]
    runs: tuple[RunSpec, ...]
    metric: str = "margin"
    design: str = "listed"  # listed ([[runs]]) | full | one_at_a_time

    def contexts(self) -> list[int]:
        return sorted({r.context_window for r in self.runs})


def run_slug(params: dict[str, Any]) -> str:
    """A directory name from the axes, e.g. 'ctx5_lr0.0005_bs32_small_ep3'."""
    return (
        f"ctx{int(params['context_window'])}_lr{float(params['lr']):g}_bs{int(params['batch_size'])}_"
        f"{params['model_size']}_ep{int(params['epochs'])}"
    )


def _as_int(where: str, key: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{where}: {key} must be an integer >= {low}, got {value!r}")
    return value


def _run_spec(where: str, params: dict[str, Any], name: str | None = None) -> RunSpec:
    from lvmgate.lvm.mamba import PRESETS

    missing = [k for k in AXES if k not in params]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)} (each run needs {', '.join(AXES)})")
    lr = params["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise InputError(f"{where}: lr must be a positive number, got {lr!r}")
    size = params["model_size"]
    if size not in PRESETS:
        raise InputError(f"{where}: unknown model_size {size!r} (known: {', '.join(PRESETS)})")
    spec = RunSpec(
        name="",
        context_window=_as_int(where, "context_window", params["context_window"]),
        lr=float(lr),
        batch_size=_as_int(where, "batch_size", params["batch_size"]),
        model_size=str(size),
        epochs=_as_int(where, "epochs", params["epochs"]),
    )
    name = name or run_slug(spec.params())
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise InputError(f"{where}: run name {name!r} must be a plain directory name")
    return replace(spec, name=name)


def expand_matrix(matrix: dict[str, Any], where: str = "[matrix]") -> tuple[str, list[dict[str, Any]]]:
    """(design, list of run parameter dicts) for a [matrix] table (see module docstring)."""
    design = matrix.get("design", "full")
    if design not in DESIGNS:
        raise InputError(f"{where}: design must be one of {', '.join(DESIGNS)}, got {design!r}")
    unknown = set(matrix) - set(AXES) - {"design"}
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (axes: {', '.join(AXES)})")
    axes: dict[str, list[Any]] = {}
    for key in AXES:
        values = matrix.get(key)
        if values is None:
            raise InputError(f"{where}: {key} is missing (give a list of values)")
        values = values if isinstance(values, list) else [values]
        if not values or len(set(map(repr, values))) != len(values):
            raise InputError(f"{where}: {key} must list distinct values, got {values!r}")
        axes[key] = values
    if design == "full":
        combos = [dict(zip(AXES, c)) for c in itertools.product(*(axes[k] for k in AXES))]
    else:  # the baseline (first value of every axis), then each other value of one axis at a time
        base = {k: v[0] for k, v in axes.items()}
        combos = [base] + [{**base, k: v} for k in AXES for v in axes[k][1:]]
    return design, combos


def parse_grid(data: dict[str, Any], source: str = "<grid>") -> GridSpec:
    """A GridSpec from the TOML's tables; every mistake is an InputError naming the file and key."""
    unknown = set(data) - {"data", "train", "select", "runs", "matrix"}
    if unknown:
        raise InputError(f"{source}: unknown table(s) {', '.join(sorted(unknown))}")
    dat = dict(data.get("data") or {})
    bad = set(dat) - set(DATA_KEYS)
    if bad:
        raise InputError(f"{source}: [data] has unknown key(s) {', '.join(sorted(bad))}")
    prepared = dat.get("prepared") or {}
    if not isinstance(prepared, dict):
        raise InputError(f"{source}: [data] prepared must map context windows to NAME.npz files")
    dat["prepared"] = {str(int(k)): str(v) for k, v in prepared.items()}
    train = dict(data.get("train") or {})
    bad = set(train) - set(TRAIN_KEYS)
    if bad:
        hint = " (the plan's axes go in [[runs]] or [matrix])" if bad & set(AXES) else ""
        raise InputError(f"{source}: [train] has unknown key(s) {', '.join(sorted(bad))}{hint}")
    select = data.get("select") or {}
    metric = select.get("metric", "margin")
    if metric not in SELECT_METRICS:
        raise InputError(
            f"{source}: [select] metric must be one of {', '.join(SELECT_METRICS)}, got {metric!r}"
        )
    runs: list[RunSpec] = []
    design = "listed"
    if "runs" in data and "matrix" in data:
        raise InputError(f"{source}: give either [[runs]] or [matrix], not both")
    if "runs" in data:
        if not isinstance(data["runs"], list) or not data["runs"]:
            raise InputError(f"{source}: [[runs]] must be a non-empty array of tables")
        for i, r in enumerate(data["runs"], 1):
            where = f"{source}: run {i}"
            extra = set(r) - set(AXES) - {"name"}
            if extra:
                raise InputError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
            runs.append(_run_spec(where, r, r.get("name")))
    elif "matrix" in data:
        design, combos = expand_matrix(data["matrix"], f"{source}: [matrix]")
        runs = [_run_spec(f"{source}: [matrix]", c) for c in combos]
    else:
        raise InputError(f"{source}: no runs (add [[runs]] tables or a [matrix])")
    names = [r.name for r in runs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{source}: run name(s) used twice: {', '.join(dupes)}")
    same = [(a.name, b.name) for a, b in itertools.combinations(runs, 2) if a.params() == b.params()]
    if same:
        raise InputError(f"{source}: runs {same[0][0]!r} and {same[0][1]!r} have the same settings")
    return GridSpec(source, dat, train, tuple(runs), metric, design)


def load_grid(path: str | os.PathLike, *, store: str | None = None, dataset: str | None = None) -> GridSpec:
    """Read a grid TOML; `store` / `dataset` override its [data] (as the CLI's flags do)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{p}: no such grid file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: invalid TOML ({exc})") from None
    spec = parse_grid(data, str(p))
    overrides = {k: v for k, v in (("store", store), ("dataset", dataset)) if v is not None}
    return replace(spec, data={**spec.data, **overrides}) if overrides else spec
