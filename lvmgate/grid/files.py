"""Where a grid's files live (OUT/grid_plan.json, OUT/runs/NAME/...), what is on disk for each run
(done, failed, interrupted or pending), and the prepared data each context window needs, prepared
once and reused while it matches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvmgate.errors import InputError
from lvmgate.grid.spec import (
    EVAL_FILE,
    GRID_FORMAT,
    IDENTITY_KEYS,
    PLAN_FILE,
    SUMMARY_FILE,
    SUMMARY_MD,
    GridSpec,
)
from lvmgate.io import file_sha256, read_json, write_json
from lvmgate.results import Result


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


def write_plan(spec: GridSpec, paths: GridPaths) -> dict[str, Any]:
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
