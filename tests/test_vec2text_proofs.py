"""The vec2text criteria proven both ways through vec2text's real classes, with tiny models trained to
reconstruct a small bank (tests/conftest.py `memorised`): 1.4's BLEU-4 and round trip pass with a
decoder that works and fail with random ones; 2.3's "LVM BLEU-4 and cosine equal or better than
vec2text" (phase 2's GO point) pass for a model that predicts the true next chunk and fail for
copy-last; the final verdict's BLEU-4 is read from those comparisons, never from nearest."""

from __future__ import annotations

import numpy as np
import pytest

from lvmgate.baseline import check_baseline, compute_vec2text_baseline
from lvmgate.compare import compare_reconstruction
from lvmgate.criteria import Criterion
from lvmgate.decoders import get_decoder
from lvmgate.gate import decide
from lvmgate.policy import default_policy
from lvmgate.readiness import choose_bleu, final_verdict, model_identity
from lvmgate.results import Estimate
from lvmgate.stores import EmbeddedStore
from lvmgate.testing.models import BankOracle, install, uninstall
from lvmgate.testing.proof import expect

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def decoders(memorised):
    """jxe as the plan runs it; ielab with 1 correction step instead of 20 (speed only: same code)."""
    return {
        "jxe": get_decoder("jxe", model_path=memorised["models"], device="cpu"),
        "ielab": get_decoder("ielab", model_path=memorised["models"], device="cpu", num_steps=1),
    }


@pytest.fixture(scope="module")
def oracle(memorised):
    """`proof_models:oracle`, a model that predicts the true next chunk (lvmgate.testing.models)."""
    with EmbeddedStore(memorised["store"]) as store:
        bank = np.asarray(store.vectors("short"))
    yield install("proof_models", oracle=BankOracle(bank).eval()) + ":oracle"
    uninstall("proof_models")


@pytest.fixture(scope="module")
def comparisons(memorised, decoders, oracle, tmp_path_factory):
    out = tmp_path_factory.mktemp("v2t_proofs")
    kw = dict(backends="jxe,ielab,nearest", decoders=decoders, sample_size=1000)
    return {
        "oracle": (compare_reconstruction(oracle, memorised["test"], output=out / "oracle.json", **kw),
                   out / "oracle.json"),
        "copy_last": (compare_reconstruction("copy_last", memorised["test"], output=out / "copy.json", **kw),
                      out / "copy.json"),
    }  # fmt: skip


@pytest.mark.proves(go=["1.4.bleu4", "1.4.cosine"])
def test_1_4_passes_with_a_decoder_that_reconstructs(memorised, decoders):
    art = compute_vec2text_baseline(
        memorised["store"], "short", ["jxe", "ielab"], sample_size=30, decoders=decoders
    )
    crit = check_baseline(art)
    for backend in ("jxe", "ielab"):
        c = expect(crit, f"1.4.bleu4[{backend}]", "pass")
        assert c.value.low >= 0.15
        expect(crit, f"1.4.cosine[{backend}]", "pass")


@pytest.mark.proves(stop=["1.4.bleu4"])
def test_1_4_fails_with_random_vec2text_models(memorised, tmp_path):
    from lvmgate.decoders.tiny import build_tiny_vec2text

    random = build_tiny_vec2text(tmp_path / "random")
    art = compute_vec2text_baseline(
        memorised["store"], "short", ["jxe"], sample_size=12, model_path=str(random), device="cpu"
    )
    expect(check_baseline(art), "1.4.bleu4[jxe]", "fail")


@pytest.mark.proves(go=["2.3.bleu4_vs_vec2text", "2.3.cosine_vs_vec2text"])
def test_2_3_a_model_at_vec2texts_ceiling_passes_phase_2s_go_point(comparisons):
    comp, _ = comparisons["oracle"]
    judged = comp.judged()
    for backend in ("jxe", "ielab"):
        truth = comp.decoders[backend].metrics["truth"]["bleu4"]
        assert truth.low > 0.3  # the decoder works on this bank: the comparison means something
        for cid in (f"2.3.bleu4_vs_vec2text[{backend}]", f"2.3.cosine_vs_vec2text[{backend}]"):
            c = expect(judged, cid, "pass")
            assert c.value.value == pytest.approx(1.0)  # the same vectors decoded: equal to vec2text
    # the oracle declares that it learned from no article (lvmgate.lvm.heldout reads that for 2.3 as
    # for 4.3), so the leakage check is measured too: every criterion passes
    assert judged["2.3.shared_articles"].status == "pass" and judged["2.3.shared_articles"].value.value == 0
    assert {c.status for c in judged.values()} == {"pass"}
    assert decide(judged.values()) == "GO"


@pytest.mark.proves(stop=["2.3.bleu4_vs_vec2text", "2.3.cosine_vs_vec2text"])
def test_2_3_copy_last_decoded_by_vec2text_is_far_below_vec2text(comparisons):
    comp, _ = comparisons["copy_last"]
    judged = comp.judged()
    for backend in ("jxe", "ielab"):
        expect(judged, f"2.3.bleu4_vs_vec2text[{backend}]", "fail")
        expect(judged, f"2.3.cosine_vs_vec2text[{backend}]", "fail")
        # the LCM paper's round trip through vec2text: the copy, decoded and encoded again, lands
        # farther from the true next vector than the true next vector's own round trip
        m = comp.decoders[backend].metrics
        assert m["lvm"]["round_trip_l2"].value > m["truth"]["round_trip_l2"].value
    assert decide(judged.values()) == "STOP"


def _held(ids: dict[str, float]) -> dict[str, Criterion]:
    return {
        cid: Criterion.measured(cid, Estimate.exact(v, 100), "held by assumption") for cid, v in ids.items()
    }


PRODUCTION = _held(
    {"4.3.shared_articles": 0, "4.3.recall_at_10": 0.9, "4.3.latency_ms": 40, "4.3.memory_gib": 3}
)
LOAD = _held({"4.4.load_qps": 1000, "4.4.load_p99_ms": 31, "4.4.load_errors": 0, "4.4.load_duration_s": 30})


@pytest.mark.proves(go=["final.bleu4"], stop=["final.bleu4"])
def test_final_bleu_is_the_lvm_decoded_by_vec2text_for_this_model(comparisons, oracle):
    """The other four final criteria are held fixed here (their own proofs run through the gates):
    only BLEU-4 moves, read by choose_bleu from this model's 2.3 artifact."""
    policy = default_policy()
    good = choose_bleu(model_identity(oracle), [comparisons["oracle"][1]])
    assert good.value is not None and "jxe" in good.source and "vec2text's own BLEU-4" in good.source
    verdict = final_verdict(PRODUCTION, LOAD, good, policy)
    expect(verdict.criteria(), "final.bleu4", "pass")
    assert verdict.production_ready
    bad = choose_bleu(model_identity("copy_last"), [comparisons["copy_last"][1]])
    verdict = final_verdict(PRODUCTION, LOAD, bad, policy)
    expect(verdict.criteria(), "final.bleu4", "fail")
    assert not verdict.production_ready and "ship the vec2text baseline" in verdict.statement.lower()
    # another model's artifact never stands in for this one's
    assert choose_bleu(model_identity("copy_last"), [comparisons["oracle"][1]]).value is None
