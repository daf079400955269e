"""The grid's result: every run evaluated beside copy-last and context-mean on its validation windows,
the best run with an interval on its lead, and the summary files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.grid.files import GridPaths, inspect_run, read_plan
from lvmgate.grid.spec import STATUSES, SUMMARY_FORMAT, GridSpec
from lvmgate.io import write_json
from lvmgate.results import Estimate, Result


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
    hit10: dict[str, Estimate] = field(default_factory=dict)  # model / copy_last / context_mean

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
    from lvmgate.lvm.evaluate import Evaluation, cached_evaluation, evaluate_predictors
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

    def compute() -> tuple[Evaluation, dict]:
        val_path = val_info.get("path")
        if not val_path or not Path(val_path).is_file():
            raise InputError(f"run {name}: its validation file {val_path!r} is gone; cannot evaluate it")
        val = SequenceSet.load(val_path)
        if (val.meta.get("splits", {}).get(val.split) or {}).get("sha256") != key["val_sha256"]:
            raise InputError(f"run {name}: {val_path} changed since the run validated on it")
        loaded = load_lvm(model)
        predictors = {
            "model": TorchPredictor(loaded.model),
            "copy_last": copy_last,
            "context_mean": context_mean,
        }
        return evaluate_predictors(predictors, val, **settings), {"run": name}

    settings = dict(max_recall_windows=max_recall_windows, resamples=resamples, seed=seed)
    return cached_evaluation(paths.evaluation(name), key, compute)[0]


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
        hit10={k: v.hit["10"] for k, v in m.items() if "10" in v.hit},
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
        "| hit@10 model | train s | peak GiB |",
        "|---|-----|-----|----|-------|------|--------|--------|---------|-----------|----------|-----------------"
        "|------------|---------|---------|",
    ]
    for i, r in enumerate(summary.runs, 1):
        p = r.params
        status = r.status + (" ⚑" if r.red_flags else "") + (" ★" if r.name == summary.best else "")
        lines.append(
            f"| {i} | {r.name} | {p['context_window']} | {p['lr']:g} | {p['batch_size']} | {p['model_size']} | "
            f"{p['epochs']} | {status} | {_f(r.val_cosine)} | {_f(r.copy_last_cosine)} | {_f(r.context_mean_cosine)} "
            f"| {_f(r.margin, interval=True)} | {_f(r.hit10.get('model'))} | "
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
