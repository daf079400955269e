"""Phase 4 end to end, as a user runs it: prepare the production set with augmentation, train a tiny
LVM for seconds, `lvmgate readiness` (real ONNX export, INT8, a real server process on loopback and
an open-loop load test), then `lvmgate gate phase4` in a subprocess.

The honest run is STOP: a tiny model trained for seconds does not reach Recall@10 > 0.85, and a
test-sized load test is neither 1000 QPS nor 30 s, so the report says "ship the vec2text baseline
instead" and lists what failed, while every box the artifacts do meet is ticked with its value.
With a policy that asks only what this run can give (a modest load test, low quality lines) the
same artifacts are GO and the verdict is production-ready. A deployment folder with an ONNX file of
another model, an INT8 report made for another model, a load test whose requests all fail, and a
weights limit below the model's size is STOP on exactly those boxes.
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
from lvmgate.deploy.models import load_lvm
from lvmgate.deploy.quantize import quantize_report, synthetic_eval
from lvmgate.deploy.server import running_server
from lvmgate.lvm.synthetic import drift_corpus
from lvmgate.policy import default_policy
from lvmgate.readiness import choose_bleu, model_identity, run_readiness
from lvmgate.stores import EmbeddedStore
from lvmgate.training import TrainConfig, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
WINDOW = 5
PHASE4_IDS = [c for c in default_policy().thresholds if c.startswith(("4.", "final."))]
# what a test-sized run can give: a 2-second load test at 200 QPS offered, a model trained for seconds
MODEST = """
[thresholds]
"4.4.load_qps" = 100
"4.4.load_duration_s" = 1
"4.3.recall_at_10" = 0.05
"final.recall_at_10" = 0.05
"4.3.precision_at_10" = { pass = 0.0, op = ">=" }
"final.bleu4" = 0.05
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
           "--report-dir", str(world / "reports" / name), "--artifacts-dir", str(world / "artifacts"), *extra]  # fmt: skip
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


def test_a_tiny_model_is_not_production_ready_and_the_report_says_ship_vec2text(world):
    p, summary, report = gate(world, "honest")
    assert p.returncode == 1 and summary["decision"] == "STOP", p.stdout[-3000:]
    st = statuses(summary)
    assert sorted(st) == sorted(PHASE4_IDS)  # every phase-4 criterion judged, final.* included
    failed = {c for c, s in st.items() if s == "fail"}
    recall = criterion(summary, "4.3.recall_at_10")
    assert recall["high"] < 0.85, recall  # seconds of training on 5k chunks: far from production
    assert {
        "4.3.recall_at_10",
        "final.recall_at_10",
        "4.4.load_qps",
        "4.4.load_duration_s",
        "final.load_test",
    } <= failed
    ticked = [c for c in PHASE4_IDS if c.startswith("4.1.")] + [
        "4.3.latency_ms", "4.3.memory_gb", "4.3.shared_articles", "4.4.weights_gb", "4.4.onnx_max_abs_diff",
        "4.4.int8_cosine", "4.4.batch_speedup", "4.4.api_failures", "4.4.load_p99_ms", "4.4.load_errors",
        "4.4.monitoring_failures", "final.latency_ms", "final.memory_gb",
    ]  # fmt: skip
    assert {c: st[c] for c in ticked} == dict.fromkeys(ticked, "pass")
    load = criterion(summary, "4.4.load_qps")
    assert (
        load["value"] == 200
        and "400 of 400 requests answered 2xx over 2 s at 200 req/s offered" in load["message"]
    )
    assert "hit@10 of the true next chunk" in recall["message"]
    assert "ship the vec2text baseline instead" in report
    verdict = next(f for f in summary["findings"] if f.startswith("FINAL VERDICT"))
    assert "NOT production-ready" in verdict and "Recall@10" in verdict and "Load test (1000 QPS)" in verdict
    assert "`final.load_test` 0 vs >= 1" in report and "`4.4.load_qps` " in report  # what failed, listed
    boxes = {b.item: b for b in checklist(world / "reports" / "honest") if b.phase == 4}
    assert boxes["Full dataset prepared with augmentation"].state == "done"
    assert boxes["Deployment readiness verified"].state == "fail"


def test_the_same_artifacts_under_a_modest_policy_are_go_and_production_ready(world):
    p, summary, report = gate(world, "modest", "deploy", "--policy", str(world / "modest.toml"))
    assert p.returncode == 0 and summary["decision"] == "GO", p.stdout[-3000:]
    assert set(statuses(summary).values()) == {"pass"}
    assert criterion(summary, "final.load_test")["value"] == 1
    assert "FINAL VERDICT: production-ready" in report
    assert "ship the vec2text baseline instead" not in report
    assert "Ship the LVM" in report  # the plan's GO step for phase 4
    assert "BLEU-4 for the verdict: nearest-decoder BLEU-4" in report  # no 2.3 artifact for this model


def test_bleu_is_read_from_plan_2_3s_comparison_of_this_model(world):
    """The real 2.3 artifact (`lvmgate compare-reconstruction`) is found and read; no vec2text weights
    here, so its LVM BLEU-4 is the nearest decoder's."""
    out = world / "artifacts" / "reconstruction_lvm_vs_vec2text.json"
    model = str(world / "models" / "lvm.pt")
    assert cli(["compare-reconstruction", "--lvm-model", model, "--output", str(out), "--no-progress"]) == 0
    art = json.loads(out.read_text())
    chosen = choose_bleu(model_identity(model), [out], None)
    assert chosen.value.to_dict() == art["decoders"]["nearest"]["metrics"]["lvm"]["bleu4"]
    assert "the LVM decoded by nearest in the 2.3 comparison artifact" in chosen.source
    out.unlink()  # the other gate runs use the benchmark's own nearest-decoder BLEU-4


def _broken_deployment(world: Path) -> Path:
    """The real artifacts, with: an ONNX file exported from another model (checked against this one),
    an INT8 report made for another model, a load test whose every request was refused (bodies of the
    wrong window, against the real server)."""
    broken = world / "deploy_broken"
    if broken.exists():
        shutil.rmtree(broken)
    shutil.copytree(world / "deploy", broken)
    mine = load_lvm(str(world / "models" / "lvm.pt"))
    other = load_lvm("preset:tiny:3", window=WINDOW)
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


def test_broken_parity_a_stale_artifact_load_errors_and_oversized_weights_are_stop(world):
    _broken_deployment(world)
    policy = world / "tiny_weights.toml"
    policy.write_text(MODEST + '"4.4.weights_gb" = 1e-6\n')  # a limit below the model's size
    p, summary, report = gate(world, "broken", "deploy_broken", "--policy", str(policy))
    assert p.returncode == 1 and summary["decision"] == "STOP", p.stdout[-3000:]
    failed = {c for c, s in statuses(summary).items() if s == "fail"}
    assert failed == {
        "4.4.onnx_max_abs_diff",
        "4.4.int8_cosine",
        "4.4.load_qps",
        "4.4.load_p99_ms",
        "4.4.load_errors",
        "4.4.weights_gb",
        "final.load_test",
    }
    onnx = criterion(summary, "4.4.onnx_max_abs_diff")
    assert onnx["value"] > 1e-2 and "max |onnxruntime - torch|" in onnx["message"]
    int8 = criterion(summary, "4.4.int8_cosine")
    assert int8["value"] is None and "stale" in int8["message"] and "made for model" in int8["message"]
    errors = criterion(summary, "4.4.load_errors")
    assert errors["value"] == 100 and "http_422 100" in errors["message"]
    assert criterion(summary, "4.4.weights_gb")["value"] > 1e-6
    assert "ship the vec2text baseline instead" in report and "Load test (1000 QPS)" in report


def test_a_benchmark_on_the_training_articles_is_not_held_out(world):
    train_split = str(world / "drift.npz")
    p, summary, _ = gate(world, "leak", "deploy", "--test-set", train_split, "--sample-size", "300")
    assert p.returncode == 1, p.stdout[-3000:]
    shared = criterion(summary, "4.3.shared_articles")
    assert (
        shared["status"] == "fail"
        and shared["value"] > 0
        and "in the model's training data" in shared["message"]
    )
    recall = criterion(summary, "final.recall_at_10")
    assert recall["status"] == "fail" and "not a held-out measurement" in recall["message"]


def test_without_a_model_the_data_is_judged_and_nothing_is_production_ready(world):
    p, summary, report = gate(world, "data_only", model=False)
    assert p.returncode == 1 and summary["decision"] == "STOP", p.stdout[-3000:]
    st = statuses(summary)
    assert {c for c, s in st.items() if s == "pass"} == {c for c in PHASE4_IDS if c.startswith("4.1.")}
    assert {c for c, s in st.items() if s == "skip"} == {
        c for c in PHASE4_IDS if c.startswith(("4.3.", "4.4."))
    }
    assert {c for c, s in st.items() if s == "fail"} == {c for c in PHASE4_IDS if c.startswith("final.")}
    assert "no --lvm-model given: not measured" in criterion(summary, "final.bleu4")["message"]
    assert "ship the vec2text baseline instead" in report  # unmeasured is not production-ready
    p, _, _ = gate(
        world, "bad_model", "deploy", "--lvm-model", str(world / "models" / "missing.pt"), model=False
    )
    assert p.returncode == 2 and "missing.pt" in p.stderr + p.stdout
