"""Phase 4 end to end, as a user runs it: prepare the production set with augmentation, train a tiny
LVM for seconds, `lvmgate readiness` (real ONNX export, INT8, a real server process on loopback and
an open-loop load test), then `lvmgate gate phase4` in a subprocess.

The honest run is STOP: a tiny model trained for seconds is not the plan's large model and does not
reach Recall@10 > 0.85, and a test-sized load test is neither 1000 QPS nor 30 s, so the report says
"ship the vec2text baseline instead" and lists what failed, while every box the artifacts do meet is
ticked with its value. With a policy lowered to what this run can give (the report lists every
lowered threshold) every measured criterion passes except the ranking quality a tiny model does not
have, and the final BLEU-4 (vec2text decoding this model's predictions) cannot be measured without
vec2text weights: not production-ready. A
deployment folder with an ONNX file of another model, an INT8 report made for another model, a load
test whose requests all fail, and a weights limit below the model's size is STOP on those boxes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lvmgate.cli import main as cli
from lvmgate.cli.status import checklist
from lvmgate.deploy.export import check_onnx, export_onnx
from lvmgate.deploy.loadtest import run_loadtest
from lvmgate.deploy.quantize import quantize_report, synthetic_eval
from lvmgate.deploy.server import running_server
from lvmgate.lvm.load import load_model
from lvmgate.policy import criterion_ids
from lvmgate.readiness import choose_bleu, model_identity, run_readiness
from lvmgate.sources import judge_phase
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus
from lvmgate.testing.proof import expect, provenances
from lvmgate.training import TrainConfig, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
WINDOW = 5
PHASE4_IDS = [c for s in ("4.1", "4.2", "4.3", "4.4", "final") for c in criterion_ids(s)]
# what a test-sized run can give: a 2-second load test at 200 QPS offered, a tiny model trained for
# seconds (4 epochs, no mixed precision or gradient checkpointing on this CPU)
MODEST = """
[thresholds]
"4.4.load_qps" = 100
"4.4.load_duration_s" = 1
"4.3.recall_at_10" = 0.05
"final.recall_at_10" = 0.05
"4.2.d_model" = { pass = 96, op = "between", upper = 96 }
"4.2.n_layers" = 2
"4.2.epochs" = 4
"4.2.mixed_precision" = { pass = 0, op = ">=" }
"4.2.gradient_checkpointing" = { pass = 0, op = ">=" }
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("phase4")
    store = EmbeddedStore(root / "store")
    c = drift_corpus(300, seed=1)
    store.ingest("drift", c.records, c.vectors)
    store.close()
    args = ["prepare", "--store", str(root / "store"), "--dataset", "drift", "--context-window", str(WINDOW)]
    args += ["--stride", "1", "--val-split", "0.05", "--test-split", "0.05", "--augment"]
    assert cli([*args, "--output", str(root / "drift.npz")]) == 0
    model = root / "models" / "lvm.pt"
    cfg = TrainConfig(
        data=str(root / "drift.npz"),
        output=str(model),
        epochs=4,
        model_size="tiny",
        batch_size=64,
        lr=3e-3,
        threads=1,
    )
    train(cfg, progress=None)
    run_readiness(
        str(model),
        store=str(root / "store"),
        dataset="drift",
        out_dir=root / "deploy",
        exporter="torchscript",
        batch_sizes=(1, 8, 64),
        quantize_n=256,
        qps=200,
        duration=2.0,
        connections=16,
    )
    (root / "modest.toml").write_text(MODEST)
    return root


def gate(world: Path, name: str, deploy: str = "deploy", *extra: str, model: bool = True):
    cmd = [sys.executable, "-m", "lvmgate", "gate", "phase4", "--data", str(world / "drift.npz"),
           "--report-dir", str(world / "reports" / name), "--artifacts-dir", str(world / "artifacts"), "--no-html",
           *extra]  # fmt: skip
    if model:
        cmd += ["--lvm-model", str(world / "models" / "lvm.pt")]
    env = {**ENV, "LVMGATE_DEPLOY_DIR": str(world / deploy)}
    p = subprocess.run(cmd, cwd=world, capture_output=True, text=True, timeout=300, env=env)
    path = world / "reports" / name / "phase4.json"
    summary = json.loads(path.read_text()) if path.exists() else None
    report = world / "reports" / name / "phase_4_report.md"
    return p, summary, report.read_text() if report.exists() else ""


def statuses(summary) -> dict[str, str]:
    return {c["id"]: c["status"] for c in summary["criteria"]}


def criterion(summary, cid: str) -> dict:
    return next(c for c in summary["criteria"] if c["id"] == cid)


@pytest.mark.proves(stop=["4.3.recall_at_10", "4.3.precision_at_10", "final.recall_at_10", "final.load_test"])
def test_a_tiny_model_is_not_production_ready_and_the_report_says_ship_vec2text(world):
    p, summary, report = gate(world, "honest")
    assert p.returncode == 1 and summary["decision"] == "STOP", p.stdout[-3000:]
    st = statuses(summary)
    assert sorted(st) == sorted(PHASE4_IDS)  # every phase-4 criterion judged, final.* included
    failed = {c for c, s in st.items() if s == "fail"}
    recall = criterion(summary, "4.3.recall_at_10")
    assert recall["high"] < 0.85, recall  # seconds of training on 5k chunks: far from production
    for cid in ("4.3.recall_at_10", "4.3.precision_at_10", "final.recall_at_10", "final.load_test"):
        expect(summary, cid, "fail")
    assert {"4.4.load_qps", "4.4.load_duration_s", "4.2.d_model", "4.2.n_layers", "4.2.epochs"} <= failed
    ticked = [c for c in PHASE4_IDS if c.startswith("4.1.")] + [
        "4.2.best3_retention", "4.2.final_checkpoint", "4.2.checkpoint_unrecorded", "4.2.nonfinite_loss",
        "4.3.latency_ms", "4.3.memory_gib", "4.3.shared_articles", "4.4.weights_gib", "4.4.onnx_max_abs_diff",
        "4.4.int8_cosine", "4.4.batch_speedup", "4.4.api_failures", "4.4.load_p99_ms", "4.4.load_errors",
        "4.4.monitoring_failures", "final.latency_ms", "final.memory_gib",
    ]  # fmt: skip
    for cid in ticked:
        expect(summary, cid, "pass")
    expect(summary, "final.bleu4", "not_measured")  # no vec2text weights: never a pass, never nearest
    assert set(provenances(summary)) == {
        "production_data", "production_training", "production_bench", "deployment", "final_verdict",
    }  # fmt: skip
    load = criterion(summary, "4.4.load_qps")
    assert (
        load["value"] == 200
        and "400 of 400 requests answered 2xx over 2 s at 200 req/s offered" in load["reason"]
    )
    assert "hit@10 of the true next chunk" in recall["reason"]
    assert "ship the vec2text baseline instead" in report
    verdict = next(f for f in summary["findings"] if f.startswith("FINAL VERDICT"))
    assert "NOT production-ready" in verdict and "Recall@10" in verdict and "Load test (1000 QPS)" in verdict
    assert "BLEU-4 not measured" in verdict
    assert "`final.load_test` 0 vs >= 1" in report and "`4.4.load_qps` " in report  # what failed, listed
    boxes = {b.item: b for b in checklist(world / "reports" / "honest") if b.phase == 4}
    assert boxes["Full dataset prepared with augmentation"].state == "done"
    assert boxes["Deployment readiness verified"].state == "fail"


@pytest.mark.proves(
    go=["final.load_test", "4.4.load_qps", "4.4.load_duration_s"],
    lowered=["final.load_test", "4.4.load_qps", "4.4.load_duration_s"],
)
def test_under_a_lowered_policy_everything_measured_passes_but_ranking_and_bleu_is_not_measured(world):
    """MODEST lowers the load test to 100 QPS for 1 s (a 30 s run at 1000 QPS beside the rest of the
    suite on 2 cores is not a test) and the model's size, epochs and flags to the tiny preset's."""
    p, summary, report = gate(world, "modest", "deploy", "--policy", str(world / "modest.toml"))
    assert p.returncode == 1 and summary["decision"] == "STOP", p.stdout[-3000:]
    expect(summary, "4.3.precision_at_10", "fail")  # not lowered: a tiny model does not rank well
    for cid in PHASE4_IDS:
        if cid not in ("final.bleu4", "4.3.precision_at_10"):
            expect(summary, cid, "pass")
    expect(summary, "final.bleu4", "not_measured")
    assert set(summary["not_measured"]) == {"final.bleu4"}
    assert criterion(summary, "final.load_test")["value"] == 1
    # the report says exactly which thresholds were lowered from the plan's
    changes = summary["policy_changes"]
    assert len(changes) == 9 and any(c.startswith("4.4.load_qps: >= 1000 -> >= 100") for c in changes)
    assert "Policy differs from the plan's thresholds" in report and "4.2.n_layers: >= 24 -> >= 2" in report
    # four of five success criteria hold, BLEU-4 was not measured: not production-ready
    assert "FINAL VERDICT: production-ready" not in report
    assert "BLEU-4 not measured" in report and "vec2text" in criterion(summary, "final.bleu4")["reason"]


def test_bleu_is_never_read_from_nearest_decoding(world):
    """The real 2.3 artifact (`lvmgate compare-reconstruction`) is found and read; without vec2text
    weights it holds nearest's BLEU only (retrieval hit@1), which the verdict refuses to use."""
    out = world / "artifacts" / "reconstruction_lvm_vs_vec2text.json"
    model = str(world / "models" / "lvm.pt")
    assert cli(["compare-reconstruction", "--lvm-model", model, "--output", str(out), "--no-progress"]) == 0
    art = json.loads(out.read_text())
    assert art["decoders"]["nearest"]["metrics"]["lvm"]["bleu4"]["value"] > 0
    chosen = choose_bleu(model_identity(model), [out])
    assert chosen.value is None and "vec2text did not decode" in chosen.notes[0]
    out.unlink()


def _broken_deployment(world: Path) -> Path:
    """The real artifacts, with: an ONNX file exported from another model (checked against this one),
    an INT8 report made for another model, a load test whose every request was refused (bodies of the
    wrong window, against the real server)."""
    broken = world / "deploy_broken"
    if broken.exists():
        shutil.rmtree(broken)
    shutil.copytree(world / "deploy", broken)
    mine = load_model(str(world / "models" / "lvm.pt"))
    other = load_model("preset:tiny:3", window=WINDOW)
    export_onnx(other.module, broken / "other.onnx", window=WINDOW, exporter="torchscript")
    parity = check_onnx(mine.module, broken / "other.onnx", window=WINDOW, exporter="torchscript")
    assert not parity.passed
    ex = json.loads((broken / "export.json").read_text())
    (broken / "export.json").write_text(json.dumps({**ex, "onnx": parity.to_dict()}))
    q = quantize_report(
        other.module, synthetic_eval(WINDOW, n=64), window=WINDOW, model_info=other.describe()
    )
    stale = {**q.to_dict(), "model_digest": model_identity("preset:tiny:3").digest}
    (broken / "quantize.json").write_text(json.dumps(stale))
    args = [
        "--lvm-model",
        str(world / "deploy" / "model.onnx"),
        "--store",
        str(world / "store"),
        "--dataset",
        "drift",
    ]
    with running_server(args) as srv:
        refused = run_loadtest(srv.url, qps=100, duration=1.0, connections=8, window=WINDOW + 1)
    assert refused.errors == {"http_422": 100}
    lt = json.loads((broken / "loadtest.json").read_text())
    keep = {k: lt[k] for k in ("model_digest", "served", "api", "provenance")}
    (broken / "loadtest.json").write_text(json.dumps({**refused.to_dict(), **keep}))
    return broken


@pytest.mark.proves(stop=["4.4.onnx_max_abs_diff", "4.4.weights_gib", "4.4.load_errors"])
def test_broken_parity_a_stale_artifact_load_errors_and_oversized_weights_are_stop(world):
    _broken_deployment(world)
    policy = world / "tiny_weights.toml"
    policy.write_text(MODEST + '"4.4.weights_gib" = 1e-6\n')  # a limit below the model's size
    p, summary, report = gate(world, "broken", "deploy_broken", "--policy", str(policy))
    assert p.returncode == 1 and summary["decision"] == "STOP", p.stdout[-3000:]
    failed = {c for c, s in statuses(summary).items() if s == "fail"}
    assert failed == {
        "4.3.precision_at_10",  # not lowered: a tiny model does not rank well
        "4.4.onnx_max_abs_diff",
        "4.4.load_qps",
        "4.4.load_errors",
        "4.4.weights_gib",
        "final.load_test",
    }
    for cid in ("4.4.onnx_max_abs_diff", "4.4.weights_gib", "4.4.load_errors"):
        expect(summary, cid, "fail")
    # no request succeeded: there is no latency to judge (not measured), and the test still fails
    assert "no successful request" in expect(summary, "4.4.load_p99_ms", "not_measured")["reason"]
    assert "not measured: 4.4.load_p99_ms" in expect(summary, "final.load_test", "fail")["reason"]
    onnx = criterion(summary, "4.4.onnx_max_abs_diff")
    assert onnx["value"] > 1e-2 and "max |onnxruntime - torch|" in onnx["reason"]
    int8 = expect(summary, "4.4.int8_cosine", "not_measured")  # made for another model: never a tick
    assert int8["value"] is None and "stale" in int8["reason"] and "made for model" in int8["reason"]
    errors = criterion(summary, "4.4.load_errors")
    assert errors["value"] == 100 and "http_422 100" in errors["reason"]
    assert criterion(summary, "4.4.weights_gib")["value"] > 1e-6
    assert "ship the vec2text baseline instead" in report and "Load test (1000 QPS)" in report


@pytest.mark.proves(stop=["4.3.shared_articles"])
def test_a_benchmark_on_the_training_articles_is_not_held_out(world):
    train_split = str(world / "drift.npz")
    crit = judge_phase(  # as the gate judges it (same sources and policy), without a process
        4, sections=("4.3", "final"), artifacts_dir=world / "artifacts" / "leak", data=train_split,
        lvm_model=str(world / "models" / "lvm.pt"), test_set=train_split, sample_size=300,
        deploy_dir=str(world / "deploy"),
    )  # fmt: skip
    summary = {"criteria": [c.row() for c in crit]}
    shared = expect(summary, "4.3.shared_articles", "fail")
    assert shared["value"] > 0 and "in the model's training data" in shared["reason"]
    recall = expect(summary, "final.recall_at_10", "not_measured")  # a number on seen articles never counts
    assert "not a held-out measurement" in recall["reason"]


def test_without_a_model_the_data_is_judged_and_nothing_is_production_ready(world):
    p, summary, report = gate(world, "data_only", model=False)
    assert p.returncode == 0 and summary["decision"] == "WARN", p.stdout[-3000:]
    st = statuses(summary)
    assert {c for c, s in st.items() if s == "pass"} == {c for c in PHASE4_IDS if c.startswith("4.1.")}
    assert {c for c, s in st.items() if s == "skip"} == {c for c in PHASE4_IDS if not c.startswith("4.1.")}
    assert set(summary["not_measured"]) == {c for c in PHASE4_IDS if not c.startswith("4.1.")}
    assert "no --lvm-model given" in criterion(summary, "final.bleu4")["reason"]
    assert "ship the vec2text baseline instead" in report  # unmeasured is not production-ready
    p, _, _ = gate(
        world, "bad_model", "deploy", "--lvm-model", str(world / "models" / "missing.pt"), model=False
    )
    assert p.returncode == 2 and "missing.pt" in p.stderr + p.stdout
