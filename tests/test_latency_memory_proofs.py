"""The plan's speed and size lines proven both ways with deliberately built models
(lvmgate.testing.models): a model at the ceiling (BankOracle, trained on nothing) passes 4.3's
retrieval, ranking, latency and memory lines and the final verdict's Recall@10; a model that takes
0.6-1.2 s per call fails every latency line (2.3, 3.2, 4.3, final) and one that carries 9 GiB of buffers
fails every memory line (3.2, 4.3, final). The models run through the same loaders as a user's
`--lvm-model module:attr`."""

from __future__ import annotations

import numpy as np
import pytest

from lvmgate.cli import main as cli
from lvmgate.compare import compare_reconstruction
from lvmgate.criteria import Criterion, from_values
from lvmgate.policy import default_policy
from lvmgate.readiness import BleuChoice, final_verdict, production_bench
from lvmgate.results import Estimate
from lvmgate.retrieval.benchmark import benchmark_lvm
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus
from lvmgate.testing.models import BankOracle, install, uninstall
from lvmgate.testing.proof import expect

SLOW = "lvmgate.testing.models:slow_model"  # 1.2 s per call (2.3's line is 1 s)
HALF = "lvmgate.testing.models:slower_than_half_a_second"  # 0.6 s per call (3.2, 4.3 and final: 500 ms)
BIG = "lvmgate.testing.models:oversized_model"  # 9 GiB of buffers, never touched


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    store = EmbeddedStore(root / "store")
    c = drift_corpus(60, seed=5)
    store.ingest("drift", c.records, c.vectors, encoder=c.meta["encoder"])
    bank = np.asarray(store.vectors("drift"))
    store.close()
    args = ["prepare", "--store", str(root / "store"), "--dataset", "drift", "--context-window", "4"]
    assert (
        cli(
            [
                *args,
                "--stride",
                "1",
                "--val-split",
                "0.1",
                "--test-split",
                "0.2",
                "--output",
                str(root / "d.npz"),
            ]
        )
        == 0
    )
    oracle = install("limits_models", oracle=BankOracle(bank).eval()) + ":oracle"
    yield {"test": str(root / "d_test.npz"), "oracle": oracle}
    uninstall("limits_models")


def bench(world, spec):
    return production_bench(spec, world["test"], n=60, resamples=100, bleu_items=0, latency_sample=3)


def crit(b) -> dict[str, Criterion]:
    return {c.id: c for c in b.criteria()}


HELD = {
    "4.4.load_qps": 1000.0, "4.4.load_p99_ms": 31.0, "4.4.load_errors": 0.0, "4.4.load_duration_s": 30.0,
}  # fmt: skip
LOAD = {cid: Criterion.measured(cid, Estimate.exact(v, 100), "held fixed") for cid, v in HELD.items()}
BLEU = BleuChoice(Estimate.exact(0.3, 100), "held fixed")


@pytest.mark.proves(
    go=["4.3.recall_at_10", "4.3.precision_at_10", "4.3.latency_ms", "4.3.memory_gib", "4.3.shared_articles",
        "final.recall_at_10", "final.latency_ms", "final.memory_gib"],
)  # fmt: skip
def test_a_model_at_the_ceiling_passes_4_3_and_the_final_recall(world):
    b = bench(world, world["oracle"])
    for cid in (
        "4.3.recall_at_10",
        "4.3.precision_at_10",
        "4.3.latency_ms",
        "4.3.memory_gib",
        "4.3.shared_articles",
    ):
        expect(b.criteria(), cid, "pass")
    assert b.recall_at_10.value == 1.0  # the true next chunk is its own nearest row
    verdict = final_verdict(crit(b), LOAD, BLEU, default_policy())
    for cid in ("final.recall_at_10", "final.latency_ms", "final.memory_gib"):
        expect(verdict.criteria(), cid, "pass")
    assert verdict.production_ready


@pytest.mark.proves(stop=["2.3.latency_s", "3.2.latency_ms", "4.3.latency_ms", "final.latency_ms"])
def test_a_model_slower_than_the_plans_lines_is_stop_on_every_latency(world):
    comp = compare_reconstruction(SLOW, world["test"], backends="nearest", sample_size=40, latency_queries=2)
    c = expect(comp.judged(), "2.3.latency_s", "fail")
    assert c.value.value >= 1.2
    _, values, messages = benchmark_lvm(
        lvm_model=HALF, val_data=world["test"], backends=("vec",), n=40, resamples=100, latency_sample=2
    )
    expect(from_values(values, messages), "3.2.latency_ms", "fail")
    b = bench(world, HALF)
    expect(b.criteria(), "4.3.latency_ms", "fail")
    expect(final_verdict(crit(b), LOAD, BLEU, default_policy()).criteria(), "final.latency_ms", "fail")


@pytest.mark.proves(stop=["3.2.memory_gib", "4.3.memory_gib", "final.memory_gib"])
def test_a_model_too_big_for_the_plans_lines_is_stop_on_every_memory(world):
    _, values, messages = benchmark_lvm(
        lvm_model=BIG, val_data=world["test"], backends=("vec",), n=40, resamples=100, latency_sample=2
    )
    c = expect(from_values(values, messages), "3.2.memory_gib", "fail")
    assert c.value.value >= 9.0  # GiB: the buffers are counted, not asked for
    b = bench(world, BIG)
    expect(b.criteria(), "4.3.memory_gib", "fail")
    expect(final_verdict(crit(b), LOAD, BLEU, default_policy()).criteria(), "final.memory_gib", "fail")
