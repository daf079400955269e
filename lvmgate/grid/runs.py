"""Running the grid: one training run per grid entry, resumable, then the summary."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from lvmgate.grid.files import GridPaths, _data_sha, ensure_data, inspect_run, write_plan
from lvmgate.grid.spec import GridSpec, RunSpec
from lvmgate.grid.summary import GridSummary, summarize_grid, write_summary


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
    write_plan(spec, paths)
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
