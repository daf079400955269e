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
difference of two independent article bootstraps."""

from lvmgate.grid.files import (
    GridPaths,
    RunState,
    ensure_data,
    find_grid_dir,
    inspect_run,
    is_grid_dir,
    read_plan,
    write_plan,
)
from lvmgate.grid.runs import run_grid, train_config
from lvmgate.grid.spec import (
    AXES,
    DATA_KEYS,
    DESIGNS,
    EVAL_FILE,
    GRID_FORMAT,
    IDENTITY_KEYS,
    PLAN_FILE,
    SELECT_METRICS,
    STATUSES,
    SUMMARY_FILE,
    SUMMARY_FORMAT,
    SUMMARY_MD,
    TRAIN_KEYS,
    GridSpec,
    RunSpec,
    expand_matrix,
    load_grid,
    parse_grid,
    run_slug,
)
from lvmgate.grid.summary import (
    GridSummary,
    RunSummary,
    describe_plan,
    lead_interval,
    render_markdown,
    summarize_grid,
    write_summary,
)

__all__ = [
    "AXES",
    "DATA_KEYS",
    "DESIGNS",
    "EVAL_FILE",
    "GRID_FORMAT",
    "IDENTITY_KEYS",
    "PLAN_FILE",
    "SELECT_METRICS",
    "STATUSES",
    "SUMMARY_FILE",
    "SUMMARY_FORMAT",
    "SUMMARY_MD",
    "TRAIN_KEYS",
    "GridPaths",
    "GridSpec",
    "GridSummary",
    "RunSpec",
    "RunState",
    "RunSummary",
    "describe_plan",
    "ensure_data",
    "expand_matrix",
    "find_grid_dir",
    "inspect_run",
    "is_grid_dir",
    "lead_interval",
    "load_grid",
    "parse_grid",
    "read_plan",
    "render_markdown",
    "run_grid",
    "run_slug",
    "summarize_grid",
    "train_config",
    "write_plan",
    "write_summary",
]
