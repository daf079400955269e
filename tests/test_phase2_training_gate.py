"""Gate 2.2 end to end: train, then `lvmgate gate phase2 --lvm-model ...` as a user runs it.

A tiny model trained for seconds on a corpus with real sequential signal (lvmgate.lvm.synthetic) is
GO. A planted copy-last model (with a consistent, forged log), a model trained on shuffled
sequences, a run with an absurd learning rate (NaN) and a tampered checkpoint are each STOP with
the right criteria and message. A corrupt checkpoint is an input error (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lvmgate.cli import main as cli
from lvmgate.lvm.evaluate import evaluate_predictors, model_predictor
from lvmgate.lvm.mamba import LVM, LVMConfig
from lvmgate.lvm.synthetic import drift_corpus
from lvmgate.sequences import SequenceSet
from lvmgate.stores import EmbeddedStore
from lvmgate.training import TrainConfig, TrainingError, save_checkpoint, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TRAIN = {"model_size": "tiny", "batch_size": 64, "lr": 3e-3, "threads": 1}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate22")
    store = EmbeddedStore(root / "store")
    for name, shuffled in (("drift", False), ("drift_shuffled", True)):
        c = drift_corpus(300, seed=1, shuffled=shuffled)
        store.ingest(name, c.records, c.vectors, encoder=c.meta["encoder"])
    store.close()
    for name in ("drift", "drift_shuffled"):
        args = ["prepare", "--store", str(root / "store"), "--dataset", name, "--context-window", "5"]
        assert cli([*args, "--stride", "1", "--val-split", "0.2", "--output", str(root / f"{name}.npz")]) == 0
    models = root / "models"
    train(
        TrainConfig(data=str(root / "drift.npz"), output=str(models / "go.pt"), epochs=5, **TRAIN),
        progress=None,
    )
    shuffled = TrainConfig(
        data=str(root / "drift_shuffled.npz"), output=str(models / "shuffled.pt"), epochs=3, **TRAIN
    )
    train(shuffled, progress=None)
    with pytest.raises(TrainingError, match="lower the learning rate"):
        train(
            TrainConfig(
                data=str(root / "drift.npz"), output=str(models / "nan.pt"), epochs=2, **{**TRAIN, "lr": 1e6}
            ),
            progress=None,
        )
    return root


def gate(work, model: Path, name: str, data: str = "drift"):
    p = subprocess.run(
        [sys.executable, "-m", "lvmgate", "gate", "phase2", "--store", str(work / "store"),
         "--data", str(work / f"{data}.npz"), "--val-data", str(work / f"{data}_val.npz"),
         "--lvm-model", str(model), "--report-dir", str(work / "reports" / name),
         "--artifacts-dir", str(work / "artifacts"), "--backends", "nearest"],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    path = work / "reports" / name / "phase2.json"
    return p, json.loads(path.read_text()) if path.exists() else None


def statuses(summary, prefix="2.2."):
    return {c["id"]: c["status"] for c in summary["criteria"] if c["id"].startswith(prefix)}


def failing(summary):
    return {c["id"] for c in summary["criteria"] if c["status"] == "fail"}


def message(summary, cid):
    return next(c["message"] for c in summary["criteria"] if c["id"] == cid)


def test_a_model_that_learned_the_sequence_is_go(work):
    p, summary = gate(work, work / "models" / "go.pt", "go")
    assert p.returncode == 0 and summary["decision"] == "GO", p.stdout[-3000:]
    assert len(statuses(summary)) == 13 and set(statuses(summary).values()) == {"pass"}
    report = (work / "reports" / "go" / "phase_2_report.md").read_text()
    assert "training time" in report and "Checkpoint reloaded" in report and "held-out articles" in report


def plant_copy_last(work) -> Path:
    """An LVM that returns its last context vector, with a log that vouches for it consistently."""
    dim = 768
    model = LVM(LVMConfig(d_model=dim, n_layers=1, dim=dim, d_state=1, expand=1))
    with torch.no_grad():
        for lin in (model.in_proj, model.head):
            lin.weight.copy_(torch.eye(dim))
            lin.bias.zero_()
        model.layers[0].mixer.out_proj.weight.zero_()  # the block adds nothing: x passes through
    val = SequenceSet.load(work / "drift_val.npz")
    ctx, _ = val.gather(np.arange(8))
    assert np.allclose(model_predictor(model)(ctx), ctx[:, -1], atol=1e-5)  # really copy-last
    cos = float(
        np.mean(evaluate_predictors({"m": model_predictor(model)}, val, resamples=0).scores["m"]["cosine"])
    )
    out = work / "models" / "copy.pt"
    digest = save_checkpoint(out, {"kind": "final", "config": model.cfg.to_dict(), "model": model.state_dict(),
                                   "metrics": {"val_cosine": cos}})  # fmt: skip
    log = json.loads((work / "models" / "go_training.json").read_text())
    log["final"] = {"path": out.name, "val_cosine": cos, "weights_digest": digest}
    (work / "models" / "copy_training.json").write_text(json.dumps(log))
    return out


def test_a_planted_copy_last_model_is_stop(work):
    p, summary = gate(work, plant_copy_last(work), "copy")
    assert p.returncode == 1 and summary["decision"] == "STOP"
    fails = failing(summary)
    assert {
        "2.2.cosine_margin_copy_last",
        "2.2.recall10_margin_copy_last",
        "2.2.next_vs_context_margin",
    } <= fails
    # its log and checkpoint are consistent: it is the behaviour that fails, not the bookkeeping
    assert (
        statuses(summary)["2.2.checkpoint_metric_error"]
        == statuses(summary)["2.2.checkpoint_unrecorded"]
        == "pass"
    )
    assert "copying" in p.stdout and "copy-last -0.6" in message(summary, "2.2.next_vs_context_margin")


def test_a_model_trained_on_shuffled_sequences_is_stop(work):
    p, summary = gate(work, work / "models" / "shuffled.pt", "shuffled", data="drift_shuffled")
    assert p.returncode == 1 and summary["decision"] == "STOP"
    assert {"2.2.next_vs_context_margin", "2.2.cosine_margin_context_mean", "2.1.order_margin"} <= failing(
        summary
    )
    assert "predicts a context vector" in p.stdout


def test_an_absurd_learning_rate_is_stop_and_says_lower_it(work):
    p, summary = gate(work, work / "models" / "nan.pt", "nan")
    assert p.returncode == 1 and summary["decision"] == "STOP"
    assert failing(summary) == {"2.2.nonfinite_loss"}
    assert "lower the learning rate" in message(summary, "2.2.nonfinite_loss")
    skipped = {k for k, v in statuses(summary).items() if v == "skip"}  # nothing to measure them on
    assert "2.2.next_vs_context_margin" in skipped and "2.2.loss_decrease" in skipped


def test_a_tampered_checkpoint_is_stop(work):
    models = work / "models"
    out = models / "tampered.pt"
    body = torch.load(models / "go.pt", weights_only=True)
    body["model"]["head.weight"] = body["model"]["head.weight"].flip(0)  # weights edited, digest kept
    torch.save(body, out)
    shutil.copy(models / "go_training.json", models / "tampered_training.json")
    p, summary = gate(work, out, "tampered")
    assert p.returncode == 1 and summary["decision"] == "STOP"
    assert {"2.2.checkpoint_unrecorded", "2.2.checkpoint_metric_error"} <= failing(summary)
    assert "not any checkpoint the training log recorded" in message(summary, "2.2.checkpoint_unrecorded")


def test_a_corrupt_or_unknown_checkpoint_is_exit_2(work):
    models = work / "models"
    (models / "corrupt.pt").write_bytes((models / "go.pt").read_bytes()[:5000])  # truncated
    shutil.copy(models / "go_training.json", models / "corrupt_training.json")
    p, _ = gate(work, models / "corrupt.pt", "corrupt")
    assert p.returncode == 2 and "not a readable checkpoint" in p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    p, _ = gate(work, models / "nobody.pt", "nobody")
    assert p.returncode == 2 and "no training log" in p.stdout + p.stderr
