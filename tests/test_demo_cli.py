"""The plan's pipeline from the command line, as a user runs it (`lvmgate demo`, which prints every
step as the command it stands for): on a corpus whose next chunk can be learned (`synth
--learnable`) phases 1 and 2 pass, the tiny LVM beating the free baselines it starts from; on the
same corpus with the chunk order shuffled inside every article (`--fault shuffled_order`), phase 2
is STOP on the margins over the context mean."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lvmgate.policy import criterion_ids
from lvmgate.testing.proof import expect, provenances

PASSING_23 = {
    "2.3.shared_articles", "2.3.lvm_cosine", "2.3.cosine_margin_copy_last", "2.3.cosine_margin_context_mean",
    "2.3.bleu4_margin_copy_last[nearest]", "2.3.bleu4_margin_context_mean[nearest]", "2.3.latency_s",
}  # fmt: skip

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def failing(summary):
    return {c["id"] for c in summary["criteria"] if c["status"] == "fail"}


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """The whole pipeline from the command line, as a user runs it: `lvmgate demo` synthesises a
    learnable corpus (`synth --learnable`), ingests it, runs phase 1, prepares windows, trains the tiny
    LVM and runs phase 2; once on the clean corpus and once on the same corpus with its chunk order
    shuffled inside every article (`--fault shuffled_order`: the learnable transition is gone)."""
    root = tmp_path_factory.mktemp("demo")
    out = {}
    for name, extra in (
        ("go", ["--phases", "1-2", "--epochs", "6"]),
        (
            "shuffled",
            # the first 120 of the same 200 articles (the generator draws them one after another)
            ["--phases", "2", "--fault", "shuffled_order", "--epochs", "3", "--articles", "120"],
        ),
    ):
        p = subprocess.run(
            [sys.executable, "-m", "lvmgate", "demo", "--articles", "200", *extra, "--seed", "1", "--no-html",
             "--store", str(root / "store"), "--work-dir", str(root / "work"),
             "--report-dir", str(root / "reports" / name), "--no-progress",
             *([] if name == "go" else ["--", "-k", "2_1 or 2_2"])],  # the STOP needs only 2.1 and 2.2
            capture_output=True, text=True, timeout=400, env=ENV,
        )  # fmt: skip
        phases = {
            n: json.loads(f.read_text())
            for n in (1, 2)
            if (f := root / "reports" / name / f"phase{n}.json").exists()
        }
        out[name] = (p, phases, root / "reports" / name)
    return out


@pytest.mark.proves(go=list(criterion_ids("2.2")))
def test_the_cli_pipeline_on_a_learnable_corpus_passes_phases_1_and_2(demos):
    p, phases, reports = demos["go"]
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    for cmd in ("synth", "gate phase1", "prepare", "train", "gate phase2"):
        assert f"$ lvmgate {cmd}" in p.stdout  # every step printed as the command a user types
    for n in (1, 2):
        assert phases[n]["decision"] in ("GO", "WARN") and not failing(phases[n]), failing(phases[n])
    for cid in criterion_ids("2.2"):
        expect(phases[2], cid, "pass")
    assert "epoch 1/" not in p.stdout  # --no-progress reaches the trainer
    # phase 2 in full: 2.1 and 2.2 pass; 2.3 passes every nearest measure and names the vec2text ones
    # it did not measure (WARN, never GO on a baseline nobody measured); 2.4 is not applicable
    summary = phases[2]
    assert summary["decision"] == "WARN"
    for cid in (*criterion_ids("2.1"), *criterion_ids("2.2"), *PASSING_23):
        expect(summary, cid, "pass")
    c23 = {c["id"] for c in summary["criteria"] if c["id"].startswith("2.3.")}
    assert c23 == set(criterion_ids("2.3")) and set(summary["not_measured"]) == c23 - PASSING_23
    assert set(summary["not_applicable"]) == set(criterion_ids("2.4"))  # hashing vectors: no word semantics
    assert set(provenances(summary)) == {"sequences", "training", "reconstruction", "arithmetic"}
    report = (reports / "phase_2_report.md").read_text()
    assert "training time" in report and "Checkpoint reloaded" in report and "Next-concept metrics" in report
    assert "2.3 nearest BLEU-4" in report and "no article shared with the training data" in report
    assert "## Not Applicable" in report and "no word semantics" in report
    assert "## Not Measured" in report and "2.3.bleu4_vs_vec2text[jxe]" in report


@pytest.mark.proves(stop=["2.2.cosine_margin_context_mean", "2.2.hit10_margin_context_mean"])
def test_the_same_pipeline_on_shuffled_sequences_is_stop(demos):
    p, phases, _ = demos["shuffled"]
    assert p.returncode == 1 and phases[2]["decision"] == "STOP" and 1 not in phases
    assert "$ lvmgate gate phase2" in p.stdout and "-- -k '2_1 or 2_2'" in p.stdout
    summary = phases[2]
    assert {"2.2.next_vs_context_margin", "2.2.cosine_margin_context_mean", "2.1.order_margin"} <= failing(
        summary
    )
    expect(summary, "2.2.cosine_margin_context_mean", "fail")
    expect(summary, "2.2.hit10_margin_context_mean", "fail")
    row = next(c for c in summary["criteria"] if c["id"] == "2.2.next_vs_context_margin")
    assert "predicts a context vector" in row["fail_action"]  # what the gate prints beside the STOP
