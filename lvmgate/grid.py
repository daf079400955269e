"""Plan 3.1: the hyperparameter grid search, resumable, with the best configuration chosen on validation.

    spec = load_grid("examples/grid_recommended.toml")
    summary = run_grid(spec, "runs/grid")           # prepare + train every run, then summarise
    summary = summarize_grid("runs/grid")           # the summary again, from what is on disk
    summary.best, summary.best_vs_runner_up          # the chosen run and its lead (an interval)

A grid is a TOML file (examples/grid_recommended.toml, examples/grid_full.toml; docs/phase3.md):
`[data]` says where the windows come from (a store dataset prepared once per context window, or
already prepared sets), `[train]` holds settings shared by every run (any `lvmgate train` setting),
and the runs are either listed (`[[runs]]`, the plan's four recommended experiments) or a
`[matrix]` of the plan's axes (context window, lr, batch size, model size, epochs), every
combination (`design = "full"`) or the first value of each axis plus one change at a time
(`design = "one_at_a_time"`).

Every run is an ordinary `lvmgate train` run in OUT/runs/NAME/ (model.pt, model_training.json,
model.checkpoints/, TensorBoard under tb/), so gate 2.2 can judge any of them. Resuming: a run whose
log says completed and whose model file has the sha256 the log recorded is not trained again; a
run that was killed resumes from its latest epoch checkpoint (the trainer's exact resume); a run
that failed (NaN loss, checkpoint mismatch) is listed, not retried, unless asked. A run directory
holding a different configuration is refused rather than overwritten.

Selection: runs that completed without red flags are ranked by `margin` (default): the run's
validation cosine minus the stronger of copy-last and context-mean on the run's own validation
windows. Raw validation cosine is not comparable across context windows (a different window length
makes different validation windows, easier or harder), while the margin over the baselines measured
on the same windows is; it is also the quantity the plan's STOP point is about ("LVM ~= baseline
after tuning"). `metric = "val_cosine"` ranks by raw cosine instead. The best run's lead over the
runner-up is an interval: a paired article bootstrap when both share validation windows, else the
difference of two independent article bootstraps.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.io import file_sha256, read_json, write_json
from lvmgate.results import Estimate, Result

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
              "log_every")  # fmt: skip
# settings that decide a run's numbers: a run directory trained with other values is a different run
IDENTITY_KEYS = ("model_size", "d_model", "n_layers", "epochs", "batch_size", "lr", "loss", "seed", "warmup",
                 "min_lr_ratio", "weight_decay", "grad_clip", "mixed_precision", "augment")  # fmt: skip
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


# -- files ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridPaths:
    """Where a grid keeps its files (see docs/phase3.md)."""

    root: Path

    @property
    def plan(self) -> Path:
        return self.root / PLAN_FILE

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def markdown(self) -> Path:
        return self.root / SUMMARY_MD

    def data(self, context_window: int) -> Path:
        return self.root / "data" / f"ctx{context_window}.npz"

    def run_dir(self, name: str) -> Path:
        return self.root / "runs" / name

    def model(self, name: str) -> Path:
        return self.run_dir(name) / "model.pt"

    def log(self, name: str) -> Path:
        return self.run_dir(name) / "model_training.json"

    def tensorboard(self, name: str) -> Path:
        return self.run_dir(name) / "tb"

    def evaluation(self, name: str) -> Path:
        return self.run_dir(name) / EVAL_FILE


def is_grid_dir(path: str | os.PathLike | None) -> bool:
    return path is not None and (Path(path) / PLAN_FILE).is_file()


def find_grid_dir(model_path: str | os.PathLike | None) -> Path | None:
    """The grid directory holding `model_path` (OUT/runs/NAME/model.pt -> OUT), if it is a grid run."""
    if not model_path:
        return None
    p = Path(model_path).resolve()
    for parent in list(p.parents)[:4]:
        if is_grid_dir(parent):
            return parent
    return None


def read_plan(out_dir: str | os.PathLike) -> dict[str, Any]:
    path = GridPaths(Path(out_dir)).plan
    if not path.is_file():
        raise InputError(f"{out_dir}: not a grid directory (no {PLAN_FILE}; run `lvmgate grid` first)")
    plan = read_json(path)
    if not isinstance(plan, dict) or plan.get("format") != GRID_FORMAT:
        raise InputError(f"{path}: not an lvmgate grid plan ({GRID_FORMAT})")
    return plan


def _write_plan(spec: GridSpec, paths: GridPaths) -> dict[str, Any]:
    """Write OUT/grid_plan.json; a run name already planned with other settings is refused."""
    if paths.plan.is_file():
        old = {r["name"]: r["params"] for r in read_plan(paths.root).get("runs", [])}
        for r in spec.runs:
            if r.name in old and old[r.name] != r.params():
                raise InputError(
                    f"{paths.root}: run {r.name!r} was planned with {old[r.name]}, now {r.params()}; "
                    "rename the run or use another --out-dir"
                )
    plan = {
        "format": GRID_FORMAT,
        "source": spec.source,
        "design": spec.design,
        "metric": spec.metric,
        "data": spec.data,
        "train": spec.train,
        "runs": [{"name": r.name, "params": r.params()} for r in spec.runs],
    }
    write_json(paths.plan, plan)
    return plan


# -- data ----------------------------------------------------------------------------------------------
def _prepare_params(spec: GridSpec, w: int):
    """The PrepareParams of the grid's [data] table for context window `w` (prepare's defaults else)."""
    from lvmgate.sequences import PrepareParams

    d = spec.data
    given = {k: d[k] for k in ("stride", "val_split", "test_split", "seed", "limit") if d.get(k) is not None}
    return PrepareParams(
        context_window=w,
        **given,
        drop_repeated=not d.get("keep_repeated", False),
        skip_invalid=bool(d.get("skip_invalid", False)),
    )


def _prepared_matches(spec: GridSpec, w: int, out: Path) -> bool:
    """True when `out` is a complete prepared set with this grid's parameters on the current dataset."""
    from lvmgate.sequences import meta_path_for, read_meta
    from lvmgate.stores import open_store

    try:
        meta = read_meta(meta_path_for(out))
    except InputError:
        return False
    d, p = spec.data, meta.get("params", {})
    want = {
        "context_window": w,
        "stride": d.get("stride", 2),
        "val_split": d.get("val_split", 0.1),
        "test_split": d.get("test_split", 0.0),
        "seed": d.get("seed", 0),
        "limit": d.get("limit"),
        "skip_invalid": bool(d.get("skip_invalid", False)),
        "drop_repeated": not d.get("keep_repeated", False),
    }
    if any(p.get(k) != v for k, v in want.items()) or meta["bank"].get("dataset") != d.get("dataset"):
        return False
    if bool((meta.get("augment") or {}).get("enabled")) != bool(d.get("augment", False)):
        return False
    with open_store(d.get("store")) as st:
        info = st.require(d["dataset"])
    return info.fingerprint == meta["bank"].get("fingerprint")


def ensure_data(spec: GridSpec, paths: GridPaths, w: int, say: Callable[[str], None]) -> Path:
    """The training file (NAME.npz) for context window `w`: given in [data] prepared, reused when
    the grid prepared it before with the same settings on the same dataset, else prepared now."""
    from lvmgate.sequences import meta_path_for, prepare_dataset, read_meta

    given = spec.data.get("prepared", {}).get(str(w))
    if given:
        meta = read_meta(meta_path_for(given))
        if int(meta["params"]["context_window"]) != w:
            raise InputError(f"{given} holds windows of {meta['params']['context_window']} chunks, not {w}")
        return Path(given)
    out = paths.data(w)
    if _prepared_matches(spec, w, out):
        return out
    if not spec.data.get("dataset"):
        raise InputError(
            f"{spec.source}: no prepared set for context {w}: give [data] dataset (and store) or "
            f'[data] prepared = {{ {w} = "NAME.npz" }}'
        )
    say(f"preparing windows of {w} chunks from {spec.data['dataset']} -> {out}")
    report = prepare_dataset(
        spec.data.get("store"), spec.data["dataset"], out, _prepare_params(spec, w),
        augment=bool(spec.data.get("augment", False)),
    )  # fmt: skip
    for line in report.lines:
        say("  " + line)
    return out


# -- one run -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunState(Result):
    """What is on disk for one run: status, why, and the log (when there is one)."""

    status: str  # completed | failed | interrupted | pending
    reason: str
    log: dict[str, Any] | None = None

    _hidden_fields = ("log",)


def train_config(spec: GridSpec, run: RunSpec, data: Path, paths: GridPaths, **overrides: Any):
    """The TrainConfig of `run`: the grid's [train] settings, the run's axes, the grid's files."""
    from lvmgate.training import TrainConfig

    settings = {**spec.train, **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(
        data=str(data),
        output=str(paths.model(run.name)),
        log_dir=str(paths.tensorboard(run.name)),
        model_size=run.model_size,
        epochs=run.epochs,
        batch_size=run.batch_size,
        lr=run.lr,
        store=spec.data.get("store"),
        **settings,
    )


def _identity(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg.get(k) for k in IDENTITY_KEYS}


def inspect_run(paths: GridPaths, name: str, cfg=None, data_sha: str | None = None) -> RunState:
    """The run's state from its files. Completed means: the log says so and the model file has the
    sha256 the log recorded. With `cfg` (and `data_sha`), a run trained with other settings or on
    other data is an InputError: it is a different experiment in this run's directory."""
    from lvmgate.training import TrainingLog
    from lvmgate.training.checkpoints import latest_checkpoint, run_paths

    log_path, model = paths.log(name), paths.model(name)
    if not log_path.is_file():
        return RunState("pending", "not started")
    log = TrainingLog.read(log_path).data
    if cfg is not None:
        theirs, mine = _identity(log.get("config") or {}), _identity(cfg.to_dict())
        diff = {k: (theirs[k], mine[k]) for k in IDENTITY_KEYS if theirs[k] != mine[k]}
        logged_sha = ((log.get("data") or {}).get("train") or {}).get("sha256")
        if data_sha is not None and logged_sha not in (None, data_sha):
            diff["training data sha256"] = (logged_sha[:12], data_sha[:12])
        if diff:
            raise InputError(
                f"{paths.run_dir(name)} holds a run with other settings (logged vs grid: {diff}); "
                "use another --out-dir, or delete that run directory to train it again"
            )
    status = log.get("status")
    if status == "completed":
        final = log.get("final") or {}
        if not model.is_file():
            return RunState("pending", f"the log says completed but {model.name} is missing", log)
        if final.get("sha256") != file_sha256(model):
            return RunState("pending", f"{model.name} is not the file the log recorded (sha256 differs)", log)
        return RunState("completed", f"{len(log.get('epochs', []))} epochs, model verified by sha256", log)
    if status == "failed":
        flags = log.get("red_flags") or []
        why = flags[-1]["message"] if flags else "the run stopped"
        return RunState("failed", why, log)
    ckpt = latest_checkpoint(run_paths(model)["checkpoints"])
    if ckpt is not None:
        return RunState("interrupted", f"stopped after {ckpt.stem}; resumes from it", log)
    return RunState("pending", "stopped before its first epoch checkpoint", log)


def _data_sha(data: Path) -> str | None:
    from lvmgate.sequences import meta_path_for, read_meta

    meta = read_meta(meta_path_for(data))
    entry = next((s for s in meta["splits"].values() if s["file"] == data.name), None)
    return entry["sha256"] if entry else None


def run_grid(
    spec: GridSpec,
    out_dir: str | os.PathLike,
    *,
    retry_failed: bool = False,
    threads: int | None = None,
    device: str | None = None,
    progress: Callable[[str], None] | None = print,
    resamples: int = 1000,
    seed: int = 0,
    max_recall_windows: int | None = 5000,
) -> GridSummary:
    """Prepare and train every run not yet completed, then summarise and write the summary files."""
    from lvmgate.training import TrainingError, train

    say = progress or (lambda _m: None)
    paths = GridPaths(Path(out_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    _write_plan(spec, paths)
    data = {w: ensure_data(spec, paths, w, say) for w in spec.contexts()}
    shas = {w: _data_sha(p) for w, p in data.items()}
    total = len(spec.runs)
    for i, run in enumerate(spec.runs, 1):
        cfg = train_config(spec, run, data[run.context_window], paths, threads=threads, device=device)
        state = inspect_run(paths, run.name, cfg, shas[run.context_window])
        head = f"[{i}/{total}] {run.name} ({run.label()})"
        if state.status == "completed":
            say(f"{head}: done earlier ({state.reason}); not re-run")
            continue
        if state.status == "failed" and not retry_failed:
            say(f"{head}: failed earlier ({state.reason}); listed, not retried (--retry-failed)")
            continue
        resume = "auto" if state.status == "interrupted" else None
        what = "resuming" if resume else ("training again" if state.status == "failed" else "training")
        say(f"{head}: {what}" + (f" ({state.reason})" if state.status != "pending" or state.log else ""))
        if resume is None:
            cfg = replace(cfg, overwrite=True)  # a fresh start replaces partial files of this run only
        try:
            train(cfg, resume=resume, progress=(lambda m: say("    " + m)) if progress else None)
        except TrainingError as exc:
            say(f"{head}: failed: {exc}")
    summary = summarize_grid(
        paths.root, resamples=resamples, seed=seed, max_recall_windows=max_recall_windows, progress=progress
    )
    write_summary(summary, paths.root)
    return summary


# -- evaluation and summary ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary(Result):
    """One run in the summary table: status, settings and (when completed) validation numbers."""

    name: str
    params: dict[str, Any]
    status: str
    reason: str
    eligible: bool  # completed without red flags: may be chosen as best
    red_flags: list[dict[str, Any]]
    model: str
    log: str
    tensorboard: str
    epochs_completed: int = 0
    parameters: int | None = None
    train_seconds: float | None = None
    peak_memory_gib: float | None = None
    val_loss: float | None = None
    val_windows: int | None = None
    val_articles: int | None = None
    val_sha256: str | None = None
    stronger_baseline: str | None = None  # copy_last | context_mean, by mean validation cosine
    val_cosine: Estimate | None = None
    copy_last_cosine: Estimate | None = None
    context_mean_cosine: Estimate | None = None
    margin_copy_last: Estimate | None = None  # paired, article bootstrap
    margin_context_mean: Estimate | None = None
    margin: Estimate | None = None  # over the stronger baseline: the default selection metric
    recall10: dict[str, Estimate] = field(default_factory=dict)  # model / copy_last / context_mean

    def metric(self, name: str) -> Estimate | None:
        return self.margin if name == "margin" else self.val_cosine


@dataclass(frozen=True)
class GridSummary(Result):
    """The grid's table and its choice (written as grid_summary.json and grid_summary.md)."""

    out_dir: str
    source: str
    design: str
    metric: str
    n_planned: int
    n_completed: int
    n_failed: int
    n_flagged: int  # completed with red flags (not eligible as best)
    n_unfinished: int  # interrupted or pending
    runs: list[RunSummary]
    best: str | None
    runner_up: str | None
    best_vs_runner_up: Estimate | None  # best minus runner-up on the selection metric
    comparison: str  # paired | independent | none
    format: str = SUMMARY_FORMAT

    def run(self, name: str) -> RunSummary:
        return next(r for r in self.runs if r.name == name)

    @property
    def best_run(self) -> RunSummary | None:
        return self.run(self.best) if self.best else None


def _evaluate(paths: GridPaths, name: str, log: dict[str, Any], *, resamples: int, seed: int,
              max_recall_windows: int | None):  # fmt: skip
    """The run's model, copy-last and context-mean on the run's validation windows; cached in the
    run directory (eval.json / eval.npz) while the model file, validation file and settings match."""
    from lvmgate.lvm.baselines import context_mean, copy_last
    from lvmgate.lvm.checkpoint import load_lvm
    from lvmgate.lvm.evaluate import Evaluation, evaluate_predictors
    from lvmgate.lvm.predictor import TorchPredictor
    from lvmgate.sequences import SequenceSet

    model = paths.model(name)
    val_info = (log.get("data") or {}).get("val") or {}
    key = {
        "model_sha256": (log.get("final") or {}).get("sha256"),
        "val_sha256": val_info.get("sha256"),
        "resamples": resamples,
        "seed": seed,
        "max_recall_windows": max_recall_windows,
    }
    cache = paths.evaluation(name)
    if cache.with_suffix(".json").is_file() and cache.with_suffix(".npz").is_file():
        with contextlib.suppress(InputError, KeyError, TypeError, ValueError):
            ev, extra = Evaluation.load(cache)
            if extra.get("key") == key:
                return ev
    val_path = val_info.get("path")
    if not val_path or not Path(val_path).is_file():
        raise InputError(f"run {name}: its validation file {val_path!r} is gone; cannot evaluate it")
    val = SequenceSet.load(val_path)
    if (val.meta.get("splits", {}).get(val.split) or {}).get("sha256") != key["val_sha256"]:
        raise InputError(f"run {name}: {val_path} changed since the run validated on it")
    loaded = load_lvm(model)
    ev = evaluate_predictors(
        {"model": TorchPredictor(loaded.model), "copy_last": copy_last, "context_mean": context_mean},
        val,
        max_recall_windows=max_recall_windows,
        resamples=resamples,
        seed=seed,
    )
    with contextlib.suppress(OSError):  # a read-only grid folder is evaluated, just not cached
        ev.save(cache, extra={"key": key, "run": name})
    return ev


def _summarise_run(
    paths: GridPaths, name: str, params: dict[str, Any], **eval_kw: Any
) -> tuple[RunSummary, Any]:
    state = inspect_run(paths, name)
    log = state.log or {}
    flags = list(log.get("red_flags") or [])
    totals = log.get("totals") or {}
    epochs = log.get("epochs") or []
    base = RunSummary(
        name=name,
        params=params,
        status=state.status,
        reason=state.reason,
        eligible=False,
        red_flags=flags,
        model=str(paths.model(name)),
        log=str(paths.log(name)),
        tensorboard=str(paths.tensorboard(name)),
        epochs_completed=len(epochs),
        parameters=(log.get("model") or {}).get("parameters_counted"),
        train_seconds=totals.get("train_seconds"),
        peak_memory_gib=totals.get("peak_memory_gib"),
        val_loss=epochs[-1].get("val_loss") if epochs else None,
    )
    if state.status != "completed":
        return base, None
    ev = _evaluate(paths, name, log, **eval_kw)
    m = ev.metrics
    stronger = max(("copy_last", "context_mean"), key=lambda b: m[b].cosine.value)
    return replace(
        base,
        eligible=not flags,
        val_windows=ev.n_windows,
        val_articles=ev.n_articles,
        val_sha256=((log.get("data") or {}).get("val") or {}).get("sha256"),
        stronger_baseline=stronger,
        val_cosine=m["model"].cosine,
        copy_last_cosine=m["copy_last"].cosine,
        context_mean_cosine=m["context_mean"].cosine,
        margin_copy_last=ev.margin("model", "copy_last", "cosine"),
        margin_context_mean=ev.margin("model", "context_mean", "cosine"),
        margin=ev.margin("model", stronger, "cosine"),
        recall10={k: v.recall["10"] for k, v in m.items() if "10" in v.recall},
    ), ev


def _per_window(ev, run: RunSummary, metric: str) -> np.ndarray:
    s = ev.scores
    if metric == "margin":
        return s["model"]["cosine"] - s[run.stronger_baseline]["cosine"]
    return s["model"]["cosine"]


def lead_interval(
    a: np.ndarray,
    art_a: np.ndarray,
    b: np.ndarray,
    art_b: np.ndarray,
    *,
    paired: bool,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """mean(a) - mean(b) with a 95% interval resampling articles: paired (the same windows, so
    per-window differences) or independent (two bootstraps, replicates subtracted)."""
    from lvmgate.stats import cluster_ratio_samples, cluster_sums, from_samples, paired_difference

    if paired:
        if len(a) != len(b) or not np.array_equal(art_a, art_b):
            raise ValueError("a paired comparison needs the same windows")
        return paired_difference(a, b, art_a, resamples=resamples, seed=seed)
    rng = np.random.default_rng([seed, 31])
    sa, ca = cluster_sums(a, art_a)
    sb, cb = cluster_sums(b, art_b)
    point = float(sa.sum() / ca.sum() - sb.sum() / cb.sum())
    if resamples <= 0:
        return Estimate(point, point, point, min(len(sa), len(sb)), "point")
    diff = cluster_ratio_samples(sa, ca, resamples, rng) - cluster_ratio_samples(sb, cb, resamples, rng)
    est = from_samples(point, diff, min(len(sa), len(sb)))
    return replace(est, method="bootstrap-percentile (independent article resamples)")


def summarize_grid(
    out_dir: str | os.PathLike,
    *,
    resamples: int = 1000,
    seed: int = 0,
    max_recall_windows: int | None = 5000,
    progress: Callable[[str], None] | None = None,
) -> GridSummary:
    """The summary of the grid in `out_dir` from its files alone (nothing is trained)."""
    plan = read_plan(out_dir)
    paths = GridPaths(Path(out_dir))
    metric = plan.get("metric", "margin")
    rows: list[RunSummary] = []
    evs: dict[str, Any] = {}
    kw = dict(resamples=resamples, seed=seed, max_recall_windows=max_recall_windows)
    for r in plan["runs"]:
        row, ev = _summarise_run(paths, r["name"], r["params"], **kw)
        rows.append(row)
        if ev is not None:
            evs[row.name] = ev
            if progress:
                progress(f"evaluated {row.name}: margin {row.margin}")
    ranked = sorted(
        (r for r in rows if r.eligible and r.metric(metric) is not None),
        key=lambda r: -r.metric(metric).value,
    )
    best = ranked[0] if ranked else None
    runner = ranked[1] if len(ranked) > 1 else None
    lead, how = None, "none"
    if best is not None and runner is not None:
        eb, er = evs[best.name], evs[runner.name]
        paired = best.val_sha256 is not None and best.val_sha256 == runner.val_sha256
        lead = lead_interval(
            _per_window(eb, best, metric), eb.article, _per_window(er, runner, metric), er.article,
            paired=paired, resamples=resamples, seed=seed,
        )  # fmt: skip
        how = "paired" if paired else "independent"
    order = {r.name: i for i, r in enumerate(ranked)}
    rows.sort(key=lambda r: (order.get(r.name, len(order)), STATUSES.index(r.status), r.name))
    count = {s: sum(r.status == s for r in rows) for s in STATUSES}
    return GridSummary(
        out_dir=str(paths.root),
        source=str(plan.get("source", "")),
        design=str(plan.get("design", "")),
        metric=metric,
        n_planned=len(rows),
        n_completed=count["completed"],
        n_failed=count["failed"],
        n_flagged=sum(r.status == "completed" and bool(r.red_flags) for r in rows),
        n_unfinished=count["interrupted"] + count["pending"],
        runs=rows,
        best=best.name if best else None,
        runner_up=runner.name if runner else None,
        best_vs_runner_up=lead,
        comparison=how,
    )


def _f(e: Estimate | dict | None, digits: int = 3, interval: bool = False) -> str:
    if e is None:
        return "–"
    if isinstance(e, dict):
        e = Estimate.from_dict(e)
    if e.value != e.value:
        return "n/a"
    text = f"{e.value:.{digits}f}"
    return text + (f" [{e.low:.{digits}f}, {e.high:.{digits}f}]" if interval else "")


def render_markdown(summary: GridSummary) -> str:
    """The summary table (best first) and the choice, as markdown."""
    lines = [
        "# Grid search (plan 3.1)",
        "",
        f"Grid `{summary.source}` ({summary.design}), {summary.n_planned} runs: {summary.n_completed} completed "
        f"({summary.n_flagged} with red flags), {summary.n_failed} failed, {summary.n_unfinished} unfinished. "
        f"Selection metric: `{summary.metric}`"
        + (
            " (validation cosine minus the stronger of copy-last / context-mean on the run's own windows)."
            if summary.metric == "margin"
            else " (validation cosine)."
        ),
        "",
        "| # | run | ctx | lr | batch | size | epochs | status | val cos | copy-last | ctx-mean | margin [95% CI] "
        "| R@10 model | train s | peak GiB |",
        "|---|-----|-----|----|-------|------|--------|--------|---------|-----------|----------|-----------------"
        "|------------|---------|---------|",
    ]
    for i, r in enumerate(summary.runs, 1):
        p = r.params
        status = r.status + (" ⚑" if r.red_flags else "") + (" ★" if r.name == summary.best else "")
        lines.append(
            f"| {i} | {r.name} | {p['context_window']} | {p['lr']:g} | {p['batch_size']} | {p['model_size']} | "
            f"{p['epochs']} | {status} | {_f(r.val_cosine)} | {_f(r.copy_last_cosine)} | {_f(r.context_mean_cosine)} "
            f"| {_f(r.margin, interval=True)} | {_f(r.recall10.get('model'))} | "
            + (f"{r.train_seconds:.1f}" if r.train_seconds is not None else "–")
            + " | "
            + (f"{r.peak_memory_gib:.2f}" if r.peak_memory_gib is not None else "–")
            + " |"
        )
    lines.append("")
    if summary.best:
        b = summary.best_run
        assert b is not None
        lines.append(f"**Best:** `{b.name}` ({', '.join(f'{k} {v}' for k, v in b.params.items())}).")
        if summary.runner_up and summary.best_vs_runner_up is not None:
            lines.append(
                f"Lead over `{summary.runner_up}` on {summary.metric}: {_f(summary.best_vs_runner_up, 4, True)} "
                f"({summary.comparison} article bootstrap)"
                + (
                    "; the interval includes 0: the two are not distinguishable on this validation set."
                    if summary.best_vs_runner_up.low <= 0
                    else "."
                )
            )
    else:
        lines.append("**Best:** none (no run completed without red flags).")
    problems = [r for r in summary.runs if r.status != "completed" or r.red_flags]
    if problems:
        lines += ["", "## Runs not eligible"]
        for r in problems:
            why = (
                "; ".join(f"{f['code']} (epoch {f['epoch']}): {f['message']}" for f in r.red_flags)
                or r.reason
            )
            lines.append(f"- `{r.name}` ({r.status}): {why}")
    return "\n".join(lines) + "\n"


def write_summary(summary: GridSummary, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """OUT/grid_summary.json and OUT/grid_summary.md, each written atomically."""
    from lvmgate.io import atomic_open

    paths = GridPaths(Path(out_dir))
    write_json(paths.summary, summary)
    with atomic_open(paths.markdown, "w", encoding="utf-8") as fh:
        fh.write(render_markdown(summary))
    return paths.summary, paths.markdown


def describe_plan(spec: GridSpec) -> str:
    """The runs a grid file plans, one line each (for --dry-run)."""
    lines = [f"{spec.source}: {len(spec.runs)} runs ({spec.design}); selection metric {spec.metric}"]
    lines += [f"  {r.name}: {r.label()}" for r in spec.runs]
    return "\n".join(lines)
