"""lvmgate.readiness: the 4.4 artifacts of one model measured in one go against a real server, and
the rules that turn artifacts into phase-4 values: model digests (a stale artifact never ticks a
box), API checks that catch a server answering for another model, R-precision checked against
trec_eval, the production set's augmentation, the production benchmark and the final verdict."""

from __future__ import annotations

import json
import math
import shutil

import ir_measures
import numpy as np
import pytest
from ir_measures import Rprec

from lvmgate.cli import main as cli
from lvmgate.criteria import Criterion
from lvmgate.deploy.server import running_server
from lvmgate.lvm.checkpoint import save_checkpoint
from lvmgate.lvm.heldout import held_out_split
from lvmgate.lvm.load import load_model
from lvmgate.lvm.mamba import LVM, preset
from lvmgate.policy import criterion_ids, default_policy
from lvmgate.readiness import (
    CHECKLIST,
    CHECKLIST_IDS,
    FINAL_IDS,
    SHIP_BASELINE,
    BleuChoice,
    api_checks,
    choose_bleu,
    deployment_checklist,
    final_verdict,
    missing,
    model_identity,
    production_bench,
    production_data,
    r_precision,
    run_readiness,
)
from lvmgate.results import Estimate
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus
from lvmgate.testing.proof import expect

WINDOW = 4


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 60-article drift corpus, two prepared sets (with and without --augment) and an untrained
    tiny LVM saved the trainer's way (the checkpoint records its weights digest)."""
    root = tmp_path_factory.mktemp("readiness")
    store = EmbeddedStore(root / "store")
    c = drift_corpus(60, seed=2)
    store.ingest("drift", c.records, c.vectors)
    store.close()
    for name, extra in (
        ("aug", ["--augment"]),
        ("plain", []),
        ("wideval", ["--augment", "--val-split", "0.25"]),
    ):
        args = [
            "prepare",
            "--store",
            str(root / "store"),
            "--dataset",
            "drift",
            "--context-window",
            str(WINDOW),
        ]
        args += ["--stride", "1", "--val-split", "0.05", "--test-split", "0.1"]  # plan 4.1: val 0.05
        args += extra  # a later --val-split wins
        assert cli([*args, "--output", str(root / f"{name}.npz")]) == 0
    cfg = preset("tiny", head="plain")  # untrained, random: what gzip cannot shrink
    digest = save_checkpoint(
        root / "tiny.pt", {"kind": "final", "config": cfg.to_dict(), "model": LVM(cfg).state_dict()}
    )
    return root, digest


@pytest.fixture(scope="module")
def ready(small):
    """`run_readiness` on the checkpoint: ONNX, weights, batch curve, INT8, real server, API, load."""
    root, _ = small
    run = run_readiness(
        str(root / "tiny.pt"),
        store=str(root / "store"),
        dataset="drift",
        out_dir=root / "deploy",
        exporter="torchscript",
        batch_sizes=(1, 32),
        quantize_n=64,
        qps=100,
        duration=1.0,
        connections=8,
    )
    return run


@pytest.mark.proves(
    go=["4.4.weights_gib", "4.4.onnx_max_abs_diff", "4.4.int8_cosine", "4.4.batch_speedup", "4.4.api_failures",
        "4.4.load_p99_ms", "4.4.load_errors", "4.4.monitoring_failures"],
    stop=["4.4.load_qps", "4.4.load_duration_s"],
)  # fmt: skip
def test_readiness_measures_every_box_for_this_model(small, ready):
    root, digest = small
    assert ready.model.digest == digest  # measured from the weights, equal to what the checkpoint claims
    for name in ("export", "quantize", "loadtest"):
        art = json.loads((root / "deploy" / f"{name}.json").read_text())
        assert art["model_digest"] == digest
        assert art["provenance"]["dataset"] == "drift"
    checklist = deployment_checklist(root / "deploy", ready.model)
    assert set(checklist.values) == set(CHECKLIST_IDS)
    assert all(st.fresh for st in checklist.artifacts.values())
    v = {k: e.value for k, e in checklist.values.items()}
    assert all(math.isfinite(x) for x in v.values()), checklist.messages
    params = load_model(str(root / "tiny.pt")).describe()["params"]
    assert (
        0.8 * params * 4 / 2**30 < v["4.4.weights_gib"] < 1.05 * params * 4 / 2**30
    )  # float32, gzip barely helps
    assert v["4.4.onnx_max_abs_diff"] < 1e-5 and ready.onnx_passed and ready.served == "onnx"
    assert v["4.4.int8_cosine"] > 0.95
    assert v["4.4.api_failures"] == 0 and "7/7 API checks passed" in checklist.messages["4.4.api_failures"]
    assert v["4.4.load_errors"] == 0 and checklist.values["4.4.load_errors"].n == 100  # 100 QPS x 1 s
    assert v["4.4.monitoring_failures"] == 0
    assert v["4.4.load_duration_s"] == 1.0
    assert v["4.4.load_qps"] == 100  # every scheduled request answered 2xx: 100 per second of the schedule
    crit = checklist.criteria()
    judged = {c.id: c.judged(default_policy()).status for c in crit}
    # a 1-second test at 100 QPS is not the plan's load test: those two boxes stay unticked
    assert {k for k, s in judged.items() if s != "pass"} == {"4.4.load_qps", "4.4.load_duration_s"}
    for cid in ("4.4.weights_gib", "4.4.onnx_max_abs_diff", "4.4.int8_cosine", "4.4.batch_speedup",
                "4.4.api_failures", "4.4.load_p99_ms", "4.4.load_errors", "4.4.monitoring_failures"):  # fmt: skip
        expect(crit, cid, "pass")
    expect(crit, "4.4.load_qps", "fail")
    expect(crit, "4.4.load_duration_s", "fail")
    assert sum(len(ids) for _, ids in CHECKLIST) == len(CHECKLIST_IDS)


def test_an_artifact_for_another_model_never_ticks_a_box(small, ready):
    root, _ = small
    other = model_identity("preset:tiny:7")
    checklist = deployment_checklist(root / "deploy", other)
    assert all(math.isnan(e.value) for e in checklist.values.values())
    assert all("stale" in m and "made for model" in m for m in checklist.messages.values())
    assert {c.state for c in checklist.criteria()} == {"not_measured"}  # never a tick, never dropped
    # the right model, measured on another dataset
    checklist = deployment_checklist(root / "deploy", ready.model, fingerprint="0" * 64)
    assert all(math.isnan(e.value) for e in checklist.values.values())
    assert "dataset 'drift'" in checklist.messages["4.4.weights_gib"]
    # an artifact that cannot be tied to any model (plain `lvmgate loadtest` output)
    copy = root / "deploy_undigested"
    shutil.copytree(root / "deploy", copy)
    lt = json.loads((copy / "loadtest.json").read_text())
    del lt["model_digest"]
    (copy / "loadtest.json").write_text(json.dumps(lt))
    checklist = deployment_checklist(copy, ready.model)
    assert math.isnan(checklist.values["4.4.load_qps"].value)
    assert "records no model digest" in checklist.messages["4.4.load_qps"]
    assert math.isfinite(checklist.values["4.4.weights_gib"].value)  # export.json is still this model's
    checklist = deployment_checklist(root / "nowhere", ready.model)
    assert all("run `lvmgate readiness`" in m for m in checklist.messages.values())


def test_api_checks_catch_a_server_answering_for_another_model(small):
    root, _ = small
    bank = EmbeddedStore(root / "store").vectors("drift")
    mine = load_model("preset:tiny:0", window=WINDOW)
    args = ["--lvm-model", "preset:tiny:1", "--store", str(root / "store"), "--dataset", "drift"]
    with running_server([*args, "--window", str(WINDOW)]) as srv:
        checks = {c.name: c for c in api_checks(srv.url, mine.predictor, bank, WINDOW)}
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == {"predict_json"}, checks
    assert "min cosine to the model's own prediction" in checks["predict_json"].detail
    assert {"rejects_wrong_dimension", "rejects_bad_json", "rejects_null_values", "metrics", "health"} <= set(
        checks
    )


def test_r_precision_is_trec_evals_rprec():
    rng = np.random.default_rng(3)
    records, qrels, run = [], [], []
    for q in range(200):
        rel = rng.choice(50, size=int(rng.integers(1, 4)), replace=False)
        ranked = rng.choice(50, size=10, replace=False)
        records.append(
            {
                "relevant": [[int(r), 3 - i] for i, r in enumerate(rel)],
                "ranked": ranked.tolist(),
                "article_id": "a",
            }
        )
        qrels += [ir_measures.Qrel(str(q), str(r), 3 - i) for i, r in enumerate(rel)]
        run += [ir_measures.ScoredDoc(str(q), str(d), float(10 - i)) for i, d in enumerate(ranked)]
    ours, ceiling, _ = r_precision(records)
    theirs = {m.query_id: m.value for m in ir_measures.iter_calc([Rprec], qrels, run)}
    np.testing.assert_allclose(ours, [theirs[str(q)] for q in range(200)])
    assert np.all(ceiling <= 0.3)  # at most 3 relevant rows: raw P@10 can never pass 0.70


@pytest.mark.proves(
    go=list(criterion_ids("4.1")),
    stop=[
        "4.1.augment_enabled",
        "4.1.augment_mask_frac",
        "4.1.augment_noise_sigma",
        "4.1.augment_shuffle_prob",
        "4.1.val_fraction",
    ],
)
def test_production_data_reads_the_plans_augmentation(small):
    root, _ = small
    aug = production_data(root / "aug.npz", resamples=50)
    crit = {c.id: c for c in aug.criteria()}
    assert list(crit) == list(criterion_ids("4.1"))
    assert crit["4.1.augment_enabled"].value.value == 1
    assert crit["4.1.augment_mask_frac"].value.value == pytest.approx(0.10)
    assert crit["4.1.augment_noise_sigma"].value.value == pytest.approx(0.01)
    assert crit["4.1.augment_shuffle_prob"].value.value > 0
    assert crit["4.1.bad_windows"].value.value == 0 and crit["4.1.shared_articles"].value.value == 0
    for cid in crit:
        expect(aug.criteria(), cid, "pass")
    plain = production_data(root / "plain.npz", resamples=50).criteria()
    failed = {c.id for c in plain if c.judged(default_policy()).status == "fail"}
    assert failed == {
        "4.1.augment_enabled",
        "4.1.augment_mask_frac",
        "4.1.augment_noise_sigma",
        "4.1.augment_shuffle_prob",
    }
    for cid in failed:
        expect(plain, cid, "fail")
    wide = production_data(root / "wideval.npz", resamples=50).criteria()  # --val-split 0.25, not 0.05
    assert {c.id for c in wide if c.judged(default_policy()).status == "fail"} == {"4.1.val_fraction"}
    expect(wide, "4.1.val_fraction", "fail")


def test_held_out_split_prefers_test_then_val(small):
    root, _ = small
    assert held_out_split(data=str(root / "aug.npz"))[0].endswith("aug_test.npz")
    assert held_out_split(val_data="v.npz", data=str(root / "aug.npz")) == ("v.npz", "--val-data")
    assert held_out_split(test_set="t.npz", val_data="v.npz")[1] == "--test-set"
    assert held_out_split(test_set="held_out.jsonl", val_data="v.npz")[1] == "--val-data"  # not a split
    with pytest.raises(Exception, match="held-out windows"):
        held_out_split()


def test_production_bench_reads_the_whole_bank(small):
    root, _ = small
    split = str(root / "aug_test.npz")
    b = production_bench("copy_last", split, n=50, resamples=50, bleu_items=20)
    n_rows = EmbeddedStore(root / "store").info("drift").n_rows
    assert b.bank_rows == n_rows and 0 < b.n_queries <= 50
    crit = {c.id: c for c in b.criteria()}
    assert list(crit) == list(criterion_ids("4.3"))
    assert crit["4.3.recall_at_10"].value is b.recall_at_10 and 0 <= b.recall_at_10.value <= 1
    assert 0 <= b.r_precision.value <= 1 and b.precision_at_10_raw.value <= b.precision_ceiling <= 0.3
    assert b.memory_bytes >= 4 * n_rows * 768  # the whole bank is resident
    assert crit["4.3.latency_ms"].value.value > 0
    assert b.bleu["n_items"] == 20 and 0 <= b.bleu["bleu4"]["value"] <= 1
    # copy-last's prediction is the last context chunk, never an answer: it is not the true next chunk
    assert b.bleu["decoded_is_true_next"] < 1
    assert (
        crit["4.3.shared_articles"].value.value == 0
        and "trained on nothing" in crit["4.3.shared_articles"].reason
    )
    unlogged = production_bench(str(root / "tiny.pt"), split, n=20, resamples=20, bleu_items=0)
    c = expect(unlogged.criteria(), "4.3.shared_articles", "not_measured")  # no training log: cannot verify
    assert "no training log" in c.reason and unlogged.bleu is None


def _est(v: float, lo: float | None = None, hi: float | None = None) -> Estimate:
    return Estimate(v, v if lo is None else lo, v if hi is None else hi, 100)


def _crit(values: dict[str, Estimate]) -> dict[str, Criterion]:
    return {cid: Criterion.measured(cid, e, "test input") for cid, e in values.items()}


GOOD = _crit(
    {
        "4.3.shared_articles": _est(0.0),
        "4.3.recall_at_10": _est(0.9, 0.88, 0.92),
        "4.3.latency_ms": _est(40.0),
        "4.3.memory_gib": _est(3.1),
    }
)
LOAD_OK = _crit(
    {
        "4.4.load_qps": _est(1001.0),
        "4.4.load_p99_ms": _est(31.0),
        "4.4.load_errors": _est(0.0),
        "4.4.load_duration_s": _est(30.0),
    }
)


def _bleu(v: float, lo: float, hi: float):
    return BleuChoice(_est(v, lo, hi), "the LVM decoded by jxe in a 2.3 comparison artifact (test input)")


def test_final_verdict_needs_all_five():
    """The rules that combine the five (the numbers' own GO/STOP proofs run through the gates)."""
    policy = default_policy()
    ok = final_verdict(GOOD, LOAD_OK, _bleu(0.3, 0.25, 0.35), policy)
    assert ok.production_ready and ok.failed == () and [c.id for c in ok.criteria()] == list(FINAL_IDS)
    assert ok.statement.startswith("FINAL VERDICT: production-ready") and SHIP_BASELINE not in ok.statement
    no_bleu = final_verdict(GOOD, LOAD_OK, choose_bleu(model_identity("preset:tiny"), []), policy)
    assert not no_bleu.production_ready and no_bleu.failed == ("BLEU-4 not measured",)
    assert no_bleu.statuses["final.bleu4"] == "not_measured" and SHIP_BASELINE in no_bleu.statement
    undecided = final_verdict(GOOD, LOAD_OK, _bleu(0.21, 0.15, 0.27), policy)
    assert not undecided.production_ready and undecided.statuses["final.bleu4"] == "warn"
    assert "(undecided)" in undecided.failed[0]
    slow = final_verdict(
        GOOD, {**LOAD_OK, **_crit({"4.4.load_p99_ms": _est(700.0)})}, _bleu(0.3, 0.25, 0.35), policy
    )
    load = {c.id: c for c in slow.criteria()}["final.load_test"]
    assert slow.statuses["final.load_test"] == "fail" and "4.4.load_p99_ms 700" in load.reason
    leaked = final_verdict(
        {**GOOD, **_crit({"4.3.shared_articles": _est(3.0)})}, LOAD_OK, _bleu(0.3, 0.25, 0.35), policy
    )
    assert leaked.failed == ("Recall@10 not measured",)  # a Recall@10 on training articles does not count
    recall = {c.id: c for c in leaked.criteria()}["final.recall_at_10"]
    assert "not a held-out measurement" in recall.reason
    nothing = final_verdict({}, None, _bleu(0.3, 0.25, 0.35), policy)
    assert {s for c, s in nothing.statuses.items() if c != "final.bleu4"} == {"not_measured"}
    assert not nothing.production_ready
    assert math.isnan(missing().value)


def _comparison(digest: str, jxe_status: str) -> dict:
    """The parts of a 2.3 artifact (lvmgate.compare.ReconstructionComparison) the verdict reads."""
    return {
        "kind": "reconstruction_comparison",
        "model": {"weights_digest": digest},
        "decoders": {
            "jxe": {"status": jxe_status, "metrics": {"lvm": {"bleu4": _est(0.31, 0.3, 0.32).to_dict()}}},
            "ielab": {"status": "unavailable", "metrics": {}},
            "nearest": {"status": "ok", "metrics": {"lvm": {"bleu4": _est(0.12, 0.1, 0.14).to_dict()}}},
        },
    }


def test_bleu_comes_from_this_models_vec2text_comparison_never_from_nearest(tmp_path):
    me = model_identity("preset:tiny")
    path = tmp_path / "reconstruction_lvm_vs_vec2text.json"
    path.write_text(json.dumps(_comparison(me.digest, "ok")))
    chosen = choose_bleu(me, [tmp_path / "absent.json", path])
    assert chosen.value.value == 0.31 and "jxe" in chosen.source
    # vec2text did not decode (weights missing): nearest's BLEU (retrieval hit@1) is not a stand-in
    path.write_text(json.dumps(_comparison(me.digest, "unavailable")))
    chosen = choose_bleu(me, [path])
    assert chosen.value is None and "nearest-neighbour decoding is a retrieval check" in chosen.source
    assert "vec2text did not decode" in chosen.notes[0]
    path.write_text(json.dumps(_comparison("feedfacefeedface", "ok")))  # another model's comparison
    chosen = choose_bleu(me, [path])
    assert chosen.value is None and "stale" in chosen.notes[0]


def test_readiness_cli_refuses_what_it_cannot_measure(small, ready, capsys):
    root, _ = small
    base = ["readiness", "--store", str(root / "store"), "--out-dir", str(root / "never")]
    assert cli([*base, "--dataset", "drift", "--lvm-model", str(root / "deploy" / "model.onnx")]) == 2
    assert "needs the PyTorch model" in capsys.readouterr().err
    assert cli([*base, "--dataset", "nope", "--lvm-model", "preset:tiny"]) == 2
    assert cli([*base, "--dataset", "drift", "--lvm-model", "preset:tiny", "--qps", "0"]) == 2
    assert not (root / "never").exists()
