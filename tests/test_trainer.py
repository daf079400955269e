"""The trainer: files and log of a run, verified checkpoints, retention, TensorBoard scalars, exact
resume after a SIGKILL, DDP on CPU (gloo, 2 processes), red flags, and bad input that changes nothing."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmgate.cli import main as cli
from lvmgate.errors import InputError
from lvmgate.lvm.checkpoint import find_training_log, load_lvm, read_checkpoint, weights_digest
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus
from lvmgate.training import TrainConfig, lr_factor, train
from lvmgate.training.checkpoints import retention
from lvmgate.training.logging import loss_not_decreasing, val_diverging
from lvmgate.training.trainer import best_epoch

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
RUN = {"model_size": "tiny", "batch_size": 32, "lr": 3e-3, "threads": 1, "d_model": 48}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two prepared sets of one drift corpus (seeds 0 and 1: different article splits) and a 64-D one."""
    root = tmp_path_factory.mktemp("trainer")
    store = EmbeddedStore(root / "store")
    c = drift_corpus(80, seed=5)
    store.ingest("drift", c.records, c.vectors)
    small = drift_corpus(30, seed=6, dim=64)
    store.ingest("drift64", small.records, small.vectors)
    store.close()
    out = {"root": root}
    for name, ds, seed in (("a", "drift", 0), ("b", "drift", 1), ("d64", "drift64", 0)):
        args = ["prepare", "--store", str(root / "store"), "--dataset", ds, "--context-window", "4"]
        args += [
            "--stride",
            "1",
            "--val-split",
            "0.2",
            "--seed",
            str(seed),
            "--output",
            str(root / f"{name}.npz"),
        ]
        assert cli(args) == 0
        out[name] = str(root / f"{name}.npz")
    return out


def config(data, name: str, **kw) -> TrainConfig:
    return TrainConfig(
        data=data["a"], output=str(data["root"] / "models" / f"{name}.pt"), **{**RUN, "epochs": 3, **kw}
    )


@pytest.fixture(scope="module")
def reference(data):
    """An uninterrupted 3-epoch run (the numbers a resumed run must repeat)."""
    cfg = config(data, "ref", keep_best=1, log_dir=str(data["root"] / "tb" / "ref"))
    result = train(cfg, progress=None)
    return cfg, result, json.loads(Path(result.log).read_text())


def test_a_run_writes_a_verified_model_log_checkpoints_and_scalars(reference):
    cfg, result, log = reference
    assert result.status == log["status"] == "completed" and result.epochs_completed == 3
    assert [e["epoch"] for e in log["epochs"]] == [1, 2, 3]
    assert log["model"]["parameters"] == log["model"]["parameters_counted"] == result.parameters
    # every checkpoint was reloaded and measured again; keep_best=1 keeps the best and the latest
    for rec in log["checkpoints"]:
        assert rec["remeasured_val_cosine"] == pytest.approx(rec["val_cosine"], abs=1e-6)
    kept = {r["epoch"] for r in log["checkpoints"] if r["kept"]}
    best = max(log["checkpoints"], key=lambda r: r["val_cosine"])["epoch"]
    assert kept == {best, 3}
    # the model starts at the context mean (residual head) and ends at its best epoch by val cosine
    assert log["start"]["val_cosine"] == pytest.approx(log["baselines"]["context_mean_val_cosine"], abs=1e-4)
    assert log["final"]["epoch"] == result.best_epoch == best
    assert (
        log["final"]["val_cosine"] == max(e["val_cosine"] for e in log["epochs"]) > log["start"]["val_cosine"]
    )
    folder = Path(cfg.output).with_name("ref.checkpoints")
    assert sorted(p.name for p in folder.iterdir()) == [f"epoch_{e:03d}.pt" for e in sorted(kept)]
    # the final model: the weights the log recorded, measuring what the log says
    final = load_lvm(cfg.output)
    assert final.weights_digest == log["final"]["weights_digest"] == final.claimed_digest
    assert log["final"]["remeasured_val_cosine"] == pytest.approx(log["final"]["val_cosine"], abs=1e-6)
    assert find_training_log(cfg.output) == Path(result.log) == find_training_log(folder / "epoch_003.pt")
    ctx = np.random.default_rng(0).normal(size=(3, 4, 768)).astype(np.float32)
    pred = final.predict(ctx)
    assert pred.shape == (3, 768) and np.allclose(np.linalg.norm(pred, axis=1), 1.0, atol=1e-5)
    # per epoch: loss, val loss, val cosine, margin over copy-last, grad norm, lr, throughput, memory
    e = log["epochs"][-1]
    assert e["margin_over_copy_last"] == pytest.approx(
        e["val_cosine"] - log["baselines"]["copy_last_val_cosine"]
    )
    assert e["sequences_per_s"] > 0 and 0 < e["peak_memory_gib"] < 16 and e["grad_norm_mean"] > 0
    assert log["epochs"][-1]["train_loss"] < log["epochs"][0]["initial_loss"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(cfg.log_dir)
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/cosine", "val/margin_over_copy_last", "train/grad_norm", "train/lr",
            "perf/sequences_per_s", "perf/peak_memory_gib"} <= tags  # fmt: skip
    assert len(events.Scalars("val/cosine")) == 3


def test_resume_after_a_kill_repeats_the_uninterrupted_numbers(data, reference):
    _cfg, _result, ref = reference
    out = data["root"] / "models" / "killed.pt"
    cmd = [
        sys.executable,
        "-m",
        "lvmgate",
        "train",
        "--data",
        data["a"],
        "--output",
        str(out),
        "--epochs",
        "3",
    ]
    cmd += [
        "--model-size",
        "tiny",
        "--d-model",
        "48",
        "--batch-size",
        "32",
        "--lr",
        "0.003",
        "--threads",
        "1",
    ]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log_path = out.with_name("killed_training.json")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log_path.exists() and json.loads(log_path.read_text())["epochs"]:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    done = len(json.loads(log_path.read_text())["epochs"])
    assert 1 <= done < 3 and not out.exists()
    result = train(config(data, "killed"), resume="auto", progress=None)
    log = json.loads(Path(result.log).read_text())
    assert log["run"]["resumed_from"] and log["status"] == "completed"
    for mine, theirs in zip(log["epochs"], ref["epochs"]):
        for key in ("train_loss", "initial_loss", "val_loss", "val_cosine", "grad_norm_mean", "lr"):
            assert mine[key] == theirs[key], (mine["epoch"], key)
    assert log["final"]["weights_digest"] == ref["final"]["weights_digest"]


def test_ddp_two_cpu_processes_match_one_process_with_twice_the_batch(data):
    n = json.loads(Path(data["a"].replace(".npz", "_meta.json")).read_text())["splits"]["train"]["n_windows"]
    b = next(b for b in range(12, 40) if math.ceil(n / b) % 2 == 0)  # batches pair up across the 2 ranks
    out = data["root"] / "models" / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "lvmgate",
    ]
    cmd += ["train", "--data", data["a"], "--output", str(out), "--epochs", "1", "--model-size", "tiny"]
    cmd += ["--d-model", "48", "--batch-size", str(b), "--lr", "0.003", "--threads", "1", "--augment", "off"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    log = json.loads(out.with_name("ddp_training.json").read_text())
    assert log["run"]["world_size"] == 2 and log["run"]["backend"] == "gloo"
    single = train(config(data, "single", epochs=1, batch_size=2 * b, augment="off"), progress=None)
    one = json.loads(Path(single.log).read_text())
    assert log["epochs"][0]["steps"] == one["epochs"][0]["steps"]
    assert log["epochs"][0]["val_loss"] == pytest.approx(one["epochs"][0]["val_loss"], abs=2e-3)
    assert load_lvm(out).weights_digest == log["final"]["weights_digest"]


def test_nan_loss_stops_the_run_and_says_lower_the_learning_rate(data, capsys):
    out = data["root"] / "models" / "nan.pt"
    code = cli(["train", "--data", data["a"], "--output", str(out), "--model-size", "tiny", "--d-model", "48",
                "--lr", "1e6", "--epochs", "2", "--threads", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "lower the learning rate" in err and len(err.strip().splitlines()) == 1
    log = json.loads(out.with_name("nan_training.json").read_text())
    assert log["status"] == "failed" and log["red_flags"][0]["code"] == "nonfinite_loss"
    assert not out.exists()


def test_a_run_that_learns_nothing_is_flagged_stops_early_and_keeps_the_free_start(data):
    # lr 1e-12: nothing moves. Epoch 1 does not lower the loss (red flag); with --patience 1 the run
    # stops after it, and the final model is the untrained start, which is the context mean
    result = train(config(data, "flat", epochs=3, lr=1e-12, patience=1), progress=None)
    assert any("did not decrease during epoch 1" in f for f in result.red_flags)
    log = json.loads(Path(result.log).read_text())
    assert result.stopped_early and log["early_stop"]["after_epoch"] == 1 and len(log["epochs"]) == 1
    assert result.best_epoch == log["final"]["epoch"] == 0 and log["status"] == "completed"
    start = log["start"]["val_cosine"]
    assert start == pytest.approx(log["baselines"]["context_mean_val_cosine"], abs=1e-4)
    assert result.val_cosine == start == pytest.approx(log["final"]["remeasured_val_cosine"], abs=1e-6)
    ctx = np.random.default_rng(1).normal(size=(5, 4, 768)).astype(np.float32)
    mean = ctx.mean(1) / np.linalg.norm(ctx.mean(1), axis=1, keepdims=True)
    np.testing.assert_allclose(load_lvm(result.output).predict(ctx), mean, atol=1e-5)


def test_mixed_precision_and_gradient_checkpointing_train(data):
    result = train(
        config(data, "bf16", epochs=1, mixed_precision=True, gradient_checkpointing=True), progress=None
    )
    log = json.loads(Path(result.log).read_text())
    assert log["config"]["mixed_precision"] and log["config"]["gradient_checkpointing"]
    assert math.isfinite(result.val_cosine) and result.val_cosine > result.copy_last_val_cosine - 0.5


def test_red_flag_rules():
    assert loss_not_decreasing(1.0, 0.995) and not loss_not_decreasing(1.0, 0.9)
    rising = [{"val_loss": 0.5, "train_loss": 0.6}, {"val_loss": 0.4, "train_loss": 0.5},
              {"val_loss": 0.45, "train_loss": 0.3}]  # fmt: skip
    assert "overfitting" in val_diverging(rising)
    assert val_diverging(rising[:2]) is None
    both_up = [*rising[:2], {"val_loss": 0.45, "train_loss": 0.55}]  # training got worse too: not overfitting
    assert val_diverging(both_up) is None


@settings(max_examples=60, deadline=None)
@given(total=st.integers(1, 500), warm_frac=st.floats(0, 0.5), min_ratio=st.floats(0, 1))
def test_lr_schedule_warms_up_then_decays_to_the_floor(total, warm_frac, min_ratio):
    warm = round(warm_frac * total)
    f = [lr_factor(s, total, warm, min_ratio) for s in range(total + 3)]
    assert all(0 <= x <= 1 + 1e-12 for x in f) and all(x > 0 for x in f[:warm])
    assert all(x >= min_ratio - 1e-12 for x in f[warm:])  # the floor holds once warm-up is over
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(f[:warm]))  # rising during warm-up
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(f[warm:]))  # then falling
    assert f[-1] == pytest.approx(min_ratio)


@settings(max_examples=60, deadline=None)
@given(cosines=st.lists(st.floats(-1, 1), min_size=1, max_size=12), keep=st.integers(1, 4))
def test_retention_keeps_the_best_and_the_latest(cosines, keep):
    entries = [{"epoch": i + 1, "val_cosine": v} for i, v in enumerate(cosines)]
    kept = retention(entries, keep)
    assert len(entries) in kept and len(kept) <= keep + 1
    best = sorted(entries, key=lambda e: (-e["val_cosine"], e["epoch"]))[:keep]
    assert {e["epoch"] for e in best} <= kept
    # the final model is the best epoch (the untrained start, epoch 0, included): always kept on disk
    chosen = best_epoch({"epoch": 0, "val_cosine": -2.0}, entries, min_delta=0.0)
    assert chosen["epoch"] in kept and chosen["val_cosine"] == max(cosines)
    assert best_epoch({"epoch": 0, "val_cosine": max(cosines) - 1e-5}, entries)["epoch"] == 0  # noise


def test_unreadable_checkpoints_are_one_clear_error(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_lvm(bad)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.pt")
    with pytest.raises(InputError, match="not an lvmgate LVM checkpoint"):
        read_checkpoint(tmp_path / "y.pt")
    with pytest.raises(InputError, match="no such checkpoint"):
        load_lvm(tmp_path / "missing.pt")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bad_input_is_one_clear_error_and_changes_nothing(data, reference, capsys):
    cfg = reference[0]
    out = cfg.output
    ckpt = Path(out).with_name("ref.checkpoints")
    corrupt = data["root"] / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 100)
    base = ["train", "--data", data["a"], "--output", out, "--model-size", "tiny", "--d-model", "48",
            "--batch-size", "32", "--lr", "0.003", "--epochs", "3", "--threads", "1"]  # fmt: skip
    cases = {
        "no such file": ["train", "--data", str(data["root"] / "nope.npz"), "--output", out],
        "pass the training file": [*base[:2], data["a"].replace(".npz", "_val.npz"), *base[3:]],
        "pass a held-out file": [*base, "--val-data", data["a"]],
        "vector dimension differs": [*base, "--val-data", data["d64"].replace(".npz", "_val.npz")],
        "are in both": [*base, "--val-data", data["b"].replace(".npz", "_val.npz")],
        "unknown model size 'huge'": [*base, "--model-size", "huge"],
        "exists (an earlier run)": base,
        "not a readable checkpoint": [*base, "--resume", str(corrupt)],
        "needs an epoch checkpoint": [*base, "--resume", out],
        "these settings differ": [
            *base[:-6],
            "--lr",
            "0.01",
            "--epochs",
            "3",
            "--threads",
            "1",
            "--resume",
            "auto",
        ],
        "model differs from the flags": [*base, "--n-layers", "3", "--resume", "auto"],
        "--loss 'bogus'": [*base, "--loss", "bogus"],
        "must name a .pt file": [*base[:4], str(data["root"] / "m.bin"), *base[5:]],
    }
    before = snapshot(Path(out).parent)
    assert any(ckpt.iterdir())
    for expected, argv in cases.items():
        code = cli(argv)
        err = capsys.readouterr().err
        assert code == 2, (expected, err)
        assert expected in err and len(err.strip().splitlines()) == 1, (expected, err)
    assert snapshot(Path(out).parent) == before


def test_the_saved_digest_is_the_weights(reference):
    body = read_checkpoint(reference[0].output)
    assert weights_digest(body["model"]) == body["weights_digest"]


def test_baselines_command_saves_the_bar_before_training(data, capsys):
    from lvmgate.lvm.evaluate import Evaluation

    out = data["root"] / "bar"
    assert cli(["baselines", "--data", data["a"], "--output", str(out), "--resamples", "50"]) == 0
    ev, extra = Evaluation.load(out)
    assert set(ev.metrics) == {"copy_last", "context_mean", "ridge"} and extra["ridge"]["alpha"] > 0
    assert (
        ev.n_windows
        == json.loads(Path(data["a"].replace(".npz", "_meta.json")).read_text())["splits"]["val"]["n_windows"]
    )
    assert "context_mean" in capsys.readouterr().out
