"""The 3.1 grid: the plan's matrix and recommended runs as files, a real grid of tiny runs that is
killed mid-run and continued (finished runs are not trained again, the killed one resumes, a failed
one is listed and not retried), the best run chosen by validation margin with its lead as an
interval, and bad grids refused with one clear line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from lvmgate.cli import main as cli
from lvmgate.errors import InputError
from lvmgate.grid import (
    GridPaths,
    inspect_run,
    lead_interval,
    load_grid,
    parse_grid,
    read_plan,
    run_grid,
    summarize_grid,
)
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

GRID = """
[data]
store = "{store}"
dataset = "drift"
stride = 1
val_split = 0.25
seed = 0
[train]
threads = 1
[[runs]]
name = "good"
context_window = 4
lr = 3e-3
batch_size = 32
model_size = "tiny"
epochs = 3
[[runs]]
name = "slow"
context_window = 4
lr = 3e-3
batch_size = 16
model_size = "tiny"
epochs = 4
[[runs]]
name = "nan"
context_window = 4
lr = 1e6
batch_size = 32
model_size = "tiny"
epochs = 1
"""


# -- grid files ---------------------------------------------------------------------------------------
def test_the_plans_matrix_and_recommended_runs_parse_as_written():
    full = load_grid(ROOT / "examples" / "grid_full.toml")
    assert full.design == "full" and len(full.runs) == 3 * 3 * 3 * 2 * 3
    values = {k: sorted({getattr(r, k) for r in full.runs}, key=str) for k in ("context_window", "lr", "batch_size",
                                                                               "model_size", "epochs")}  # fmt: skip
    assert values == {
        "context_window": [12, 5, 8],
        "lr": [0.0001, 0.0005, 0.001],
        "batch_size": [128, 32, 64],
        "model_size": ["medium", "small"],
        "epochs": [10, 3, 5],
    }
    rec = load_grid(ROOT / "examples" / "grid_recommended.toml")
    assert [(r.name, r.context_window, r.lr, r.batch_size, r.model_size, r.epochs) for r in rec.runs] == [
        ("baseline", 5, 5e-4, 32, "small", 3),
        ("larger_context", 8, 5e-4, 32, "small", 3),
        ("larger_model", 5, 5e-4, 64, "medium", 3),
        ("longer_training", 5, 5e-4, 32, "small", 10),
    ]
    assert rec.metric == "margin" and rec.contexts() == [5, 8]


def test_one_at_a_time_is_the_baseline_plus_each_other_value():
    matrix = {
        "design": "one_at_a_time",
        "context_window": [5, 8, 12],
        "lr": [1e-4, 5e-4, 1e-3],
        "batch_size": [32, 64, 128],
        "model_size": ["small", "medium"],
        "epochs": [3, 5, 10],
    }
    spec = parse_grid({"matrix": matrix})
    assert len(spec.runs) == 10
    base = spec.runs[0]
    assert (base.context_window, base.lr, base.batch_size, base.model_size, base.epochs) == (
        5,
        1e-4,
        32,
        "small",
        3,
    )
    for r in spec.runs[1:]:  # each differs from the baseline in exactly one axis
        assert sum(a != b for a, b in zip(r.params().values(), base.params().values())) == 1


@pytest.mark.parametrize(
    "grid, message",
    [
        ({}, "no runs"),
        ({"runs": [{"context_window": 5, "lr": 1e-3, "batch_size": 32, "model_size": "huge", "epochs": 1}]},
         "unknown model_size 'huge'"),
        ({"runs": [{"context_window": 5, "lr": -1, "batch_size": 32, "model_size": "tiny", "epochs": 1}]},
         "lr must be a positive number"),
        ({"runs": [{"context_window": 5, "lr": 1e-3, "model_size": "tiny", "epochs": 1}]}, "missing batch_size"),
        ({"runs": [{"name": "a", "context_window": 5, "lr": 1e-3, "batch_size": 8, "model_size": "tiny", "epochs": 1},
                   {"name": "a", "context_window": 6, "lr": 1e-3, "batch_size": 8, "model_size": "tiny", "epochs": 1}]},
         "used twice"),
        ({"runs": [{"context_window": 5, "lr": 1e-3, "batch_size": 8, "model_size": "tiny", "epochs": 1, "name": "x"},
                   {"context_window": 5, "lr": 1e-3, "batch_size": 8, "model_size": "tiny", "epochs": 1, "name": "y"}]},
         "have the same settings"),
        ({"train": {"epochs": 3}, "runs": []}, "axes go in [[runs]] or [matrix]"),
        ({"matrix": {"context_window": [5, 5], "lr": [1e-3], "batch_size": [8], "model_size": ["tiny"],
                     "epochs": [1]}}, "distinct values"),
        ({"matrix": {"design": "random"}}, "design must be one of"),
        ({"select": {"metric": "loss"}, "runs": []}, "metric must be one of"),
        ({"data": {"bank": "x"}}, "[data] has unknown key"),
    ],
)  # fmt: skip
def test_bad_grids_are_input_errors(grid, message):
    with pytest.raises(InputError) as exc:
        parse_grid(grid, "grid.toml")
    assert message in str(exc.value) and str(exc.value).startswith("grid.toml")


def test_the_cli_refuses_a_bad_grid_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[runs]]\ncontext_window = 5\n")
    assert cli(["grid", "--config", str(bad), "--out-dir", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and not (tmp_path / "g").exists()
    assert cli(["grid", "--config", str(tmp_path / "nope.toml")]) == 2


# -- the lead of the best run ---------------------------------------------------------------------------
def test_a_paired_lead_is_tighter_than_an_independent_one_on_correlated_runs():
    rng = np.random.default_rng(0)
    art = np.repeat(np.arange(60), 8)
    shared = rng.normal(0, 1, art.size) + rng.normal(0, 1, 60)[art]  # window and article effects
    a, b = 0.5 + shared + rng.normal(0, 0.05, art.size), 0.45 + shared + rng.normal(0, 0.05, art.size)
    paired = lead_interval(a, art, b, art, paired=True, resamples=500)
    indep = lead_interval(a, art, b, art, paired=False, resamples=500)
    assert paired.value == pytest.approx(indep.value) == pytest.approx(a.mean() - b.mean())
    assert paired.low > 0.03 and paired.high < 0.07  # the 0.05 lead is resolved when paired
    assert indep.low < 0 < indep.high  # and lost in the article noise when not
    with pytest.raises(ValueError):
        lead_interval(a, art, b[:-1], art[:-1], paired=True)


# -- a real grid, killed and continued --------------------------------------------------------------------
@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A 3-run grid over a drift corpus: run `slow` is SIGKILLed after its first epoch checkpoint,
    then the grid is run again in-process."""
    root = tmp_path_factory.mktemp("grid")
    store = EmbeddedStore(root / "store")
    c = drift_corpus(80, seed=3)
    store.ingest("drift", c.records, c.vectors)
    store.close()
    config = root / "grid.toml"
    config.write_text(GRID.format(store=root / "store"))
    out = root / "out"
    paths = GridPaths(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lvmgate", "grid", "--config", str(config), "--out-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV, text=True,
    )  # fmt: skip
    first_ckpt = paths.run_dir("slow") / "model.checkpoints" / "epoch_001.pt"
    deadline = time.time() + 120
    while not first_ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    killed_output = proc.communicate()[0]
    assert proc.returncode == -signal.SIGKILL, killed_output[-2000:]
    before = {
        "good_sha": _sha(paths.model("good")),
        "good_mtime": paths.model("good").stat().st_mtime_ns,
        "slow": inspect_run(paths, "slow").status,
        "slow_epochs": len(json.loads(paths.log("slow").read_text())["epochs"]),
    }
    lines: list[str] = []
    spec = load_grid(config)
    summary = run_grid(spec, out, progress=lines.append, resamples=300)
    return {"root": root, "config": config, "out": out, "paths": paths, "before": before,
            "lines": lines, "summary": summary, "spec": spec}  # fmt: skip


def _sha(path: Path) -> str:
    from lvmgate.io import file_sha256

    return file_sha256(path)


def test_a_killed_grid_continues_where_it_stopped(grid):
    paths, before, lines = grid["paths"], grid["before"], grid["lines"]
    assert before["slow"] == "interrupted" and before["slow_epochs"] < 4  # killed after epoch_001.pt
    text = "\n".join(lines)
    assert "[1/3] good (ctx 4, lr 0.003, batch 32, tiny, 3 epochs): done earlier" in text
    assert "[2/3] slow (ctx 4, lr 0.003, batch 16, tiny, 4 epochs): resuming" in text
    assert "training tiny LVM" in text and "[3/3] nan" in text
    # the finished run was not trained again: same bytes, same file
    assert _sha(paths.model("good")) == before["good_sha"]
    assert paths.model("good").stat().st_mtime_ns == before["good_mtime"]
    slow_log = json.loads(paths.log("slow").read_text())
    assert slow_log["status"] == "completed" and len(slow_log["epochs"]) == 4
    assert slow_log["run"]["resumed_from"], "the killed run resumed from its checkpoint"
    assert [e["epoch"] for e in slow_log["epochs"]] == list(range(1, 5))
    # each run has its own TensorBoard folder and JSON log
    for name in ("good", "slow"):
        assert any(paths.tensorboard(name).glob("events.out.tfevents.*"))


def test_the_summary_lists_failures_and_picks_the_best_by_validation_margin(grid):
    s = grid["summary"]
    assert (s.n_planned, s.n_completed, s.n_failed, s.n_unfinished) == (3, 2, 1, 0)
    nan = s.run("nan")
    assert nan.status == "failed" and not nan.eligible and "lower the learning rate" in nan.reason
    good, slow = s.run("good"), s.run("slow")
    # both completed and eligible; the best is the one with the higher margin over the stronger baseline
    assert good.eligible and slow.eligible
    assert s.best == max((good, slow), key=lambda r: r.margin.value).name
    assert s.runner_up == ({"good", "slow"} - {s.best}).pop()
    best, runner = s.run(s.best), s.run(s.runner_up)
    # same context window -> same validation windows -> a paired comparison of the two
    assert s.comparison == "paired" and best.val_sha256 == runner.val_sha256
    assert s.best_vs_runner_up.value == pytest.approx(best.margin.value - runner.margin.value, abs=1e-9)
    assert s.best_vs_runner_up.low <= s.best_vs_runner_up.value <= s.best_vs_runner_up.high
    # the margin is the model's validation cosine minus the stronger baseline's
    stronger = max(best.copy_last_cosine.value, best.context_mean_cosine.value)
    assert best.margin.value == pytest.approx(best.val_cosine.value - stronger, abs=1e-9)
    log = json.loads(grid["paths"].log(best.name).read_text())
    assert best.val_cosine.value == pytest.approx(log["final"]["val_cosine"], abs=1e-6)
    # files: JSON and markdown summary, listing the failure with its reason
    data = json.loads((grid["out"] / "grid_summary.json").read_text())
    assert data["best"] == s.best and len(data["runs"]) == 3
    md = (grid["out"] / "grid_summary.md").read_text()
    assert f"**Best:** `{s.best}`" in md and "`nan` (failed)" in md and "| ctx |" in md


def test_a_third_invocation_trains_nothing_and_does_not_retry_the_failure(grid, capsys):
    paths = grid["paths"]
    mtimes = {n: paths.log(n).stat().st_mtime_ns for n in ("good", "slow", "nan")}
    code = cli(["grid", "--config", str(grid["config"]), "--out-dir", str(grid["out"])])
    out = capsys.readouterr().out
    assert (
        code == 0
        and out.count("done earlier") == 2
        and "failed earlier" in out
        and "training tiny" not in out
    )
    assert {n: paths.log(n).stat().st_mtime_ns for n in mtimes} == mtimes
    # the summary is a function of the files: summarising again gives the same choice
    assert summarize_grid(grid["out"], resamples=300).best == grid["summary"].best


def test_a_replaced_model_file_is_not_taken_as_finished(grid):
    paths = grid["paths"]
    state = inspect_run(paths, "good")
    assert state.status == "completed" and "sha256" in state.reason
    original = paths.model("good").read_bytes()
    try:
        paths.model("good").write_bytes(original[:-16] + bytes(16))
        assert inspect_run(paths, "good").status == "pending"  # would be trained again
    finally:
        paths.model("good").write_bytes(original)


def test_a_run_folder_with_other_settings_is_refused_not_overwritten(grid):
    spec = grid["spec"]
    from dataclasses import replace

    changed = replace(spec, train={**spec.train, "seed": 7})
    with pytest.raises(InputError, match="holds a run with other settings"):
        run_grid(changed, grid["out"], progress=None)
    renamed = replace(spec, runs=(replace(spec.runs[0], epochs=4),))  # name "good", new epochs
    with pytest.raises(InputError, match="was planned with"):
        run_grid(renamed, grid["out"], progress=None)
    assert read_plan(grid["out"])["runs"][0]["params"]["epochs"] == 3  # plan untouched


@pytest.mark.proves(
    go=["3.1.completed_runs", "3.1.finished_pct", "3.1.best_margin_copy_last", "3.1.best_margin_context_mean"]
)
def test_gate_3_1_values_list_the_failed_run_and_judge_the_best(grid):
    from lvmgate.sources.phase3 import grid_criteria
    from lvmgate.testing.proof import expect

    criteria = grid_criteria(grid["summary"])
    flagged = expect(criteria, "3.1.flagged_pct", "warn")  # 1 of 3 runs failed: listed, not hidden
    assert flagged.value.value == pytest.approx(100 / 3)
    assert "nan: nonfinite_loss (epoch 1)" in flagged.reason and "lower the learning rate" in flagged.reason
    expect(criteria, "3.1.completed_runs", "pass")
    expect(criteria, "3.1.finished_pct", "pass")
    # the best run's margins, recomputed here from its own evaluation (not copied from the summary)
    best = grid["summary"].best_run
    for base, baseline in (("copy_last", best.copy_last_cosine), ("context_mean", best.context_mean_cosine)):
        c = expect(criteria, f"3.1.best_margin_{base}", "pass")
        assert c.value.value == pytest.approx(best.val_cosine.value - baseline.value, abs=1e-6)
        assert best.name in c.reason


GRID_STOP = """
[data]
store = "{store}"
dataset = "drift"
stride = 1
val_split = 0.25
seed = 0
[train]
threads = 1
{train}
{runs}
"""
RUN = """[[runs]]
name = "{name}"
context_window = 4
lr = {lr}
batch_size = 32
model_size = "tiny"
epochs = 1
"""


@pytest.mark.proves(
    stop=["3.1.completed_runs", "3.1.flagged_pct", "3.1.finished_pct", "3.1.best_margin_copy_last",
          "3.1.best_margin_context_mean"]
)  # fmt: skip
def test_gate_3_1_stops_broken_unfinished_and_unimproved_grids(grid, tmp_path):
    """Three real grids on the same data: every run diverging (NaN), a grid planned and never run, and
    one whose only run barely trained from a random start and so loses to both baselines."""
    from lvmgate.grid import GridPaths, write_plan
    from lvmgate.sources.phase3 import grid_criteria
    from lvmgate.testing.proof import expect

    store = grid["root"] / "store"

    def spec(*runs, train=""):
        text = GRID_STOP.format(
            store=store, train=train, runs="".join(RUN.format(name=n, lr=lr) for n, lr in runs)
        )
        return parse_grid(tomllib.loads(text))

    broken = run_grid(spec(("nan1", 1e6), ("nan2", 1e7)), tmp_path / "nan", progress=None, resamples=100)
    crit = grid_criteria(broken)
    expect(crit, "3.1.completed_runs", "fail")
    assert "nan1: nonfinite_loss" in expect(crit, "3.1.flagged_pct", "fail").reason
    assert "no run completed" in expect(crit, "3.1.best_margin_copy_last", "not_measured").reason

    planned = spec(("a", 1e-3), ("b", 3e-3), ("c", 5e-3), ("d", 1e-2))
    write_plan(planned, GridPaths(tmp_path / "planned"))  # planned, never run
    crit = grid_criteria(summarize_grid(tmp_path / "planned", resamples=100))
    # nothing finished: no share of failed runs to report (not measured), rather than a NaN "value"
    assert "no run has finished yet" in expect(crit, "3.1.flagged_pct", "not_measured").reason
    assert "a (pending)" in expect(crit, "3.1.finished_pct", "fail").reason

    # a barely trained plain-head model (random start): the residual head would start at the
    # context mean and, on this learnable corpus, beat it within the one epoch
    flat = run_grid(
        spec(("flat", 3e-4), train='head = "plain"'),
        tmp_path / "flat",
        progress=None,
        resamples=100,
    )
    crit = grid_criteria(flat)
    run = flat.run("flat")
    assert run.status == "completed" and flat.best == "flat"
    for base in ("copy_last", "context_mean"):
        c = expect(crit, f"3.1.best_margin_{base}", "fail")
        assert c.value.high < 0  # it loses, and the interval says so


def test_a_grid_run_leads_back_to_its_grid(grid, tmp_path):
    from lvmgate.grid import find_grid_dir, is_grid_dir

    paths = grid["paths"]
    assert is_grid_dir(grid["out"]) and not is_grid_dir(tmp_path) and not is_grid_dir(None)
    assert find_grid_dir(paths.model("good")) == grid["out"].resolve()
    assert find_grid_dir(tmp_path / "elsewhere.pt") is None and find_grid_dir(None) is None


def test_gate_3_1_finds_the_grid_by_option_data_folder_or_model(grid, tmp_path):
    from lvmgate.artifacts import GateContext
    from lvmgate.policy import default_policy
    from lvmgate.sources.phase3 import grid_dir

    def ctx(**options):
        return GateContext(None, None, tmp_path, default_policy(), options=options)

    out, model = grid["out"], str(grid["paths"].model("good"))
    assert grid_dir(ctx(grid=str(out), data=str(tmp_path))) == out  # --grid (requested option) first
    assert grid_dir(ctx(data=str(out))) == out  # --data naming a grid folder
    assert grid_dir(ctx(lvm_model=model)) == out.resolve()  # the grid a run belongs to
    assert grid_dir(ctx(data=str(tmp_path / "x.npz"))) is None  # a training file: no grid
    with pytest.raises(InputError, match="not a grid folder"):
        grid_dir(ctx(grid=str(tmp_path)))
    with pytest.raises(InputError, match="a folder but not a grid"):
        grid_dir(ctx(data=str(tmp_path)))
