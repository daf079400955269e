"""Plan 2.4 vector arithmetic: analogy files, vocabulary, 3CosAdd ranks, and the real minilm encoder.

minilm (all-MiniLM-L6-v2, packaged, offline) must answer the built-in analogies far above chance;
an untrained lookup space must fall to chance; geometry-preserving maps must change nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvmgate.arithmetic import (
    FILLER_WORDS,
    MIN_VOCAB,
    PLAN_ANALOGIES,
    Analogy,
    analogy_ranks,
    build_vocabulary,
    builtin_analogies,
    evaluate_space,
    parse_analogies,
    predictor_space,
    random_lookup_space,
    read_analogies,
    vector_arithmetic,
)
from lvmgate.cli import main
from lvmgate.encoders import get_encoder
from lvmgate.errors import InputError
from lvmgate.lvm.baselines import ContextMean, CopyLast

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOGLE = """\
: capital-common-countries
Athens Greece Baghdad Iraq
Athens Greece Bangkok Thailand
: gram8-plural
banana bananas bird birds
"""


def test_google_format_is_read_as_w2_minus_w1_plus_w3():
    got = parse_analogies(GOOGLE.splitlines())
    assert got[0] == Analogy("Greece", "Athens", "Baghdad", "Iraq", "capital-common-countries")
    assert got[2].category == "gram8-plural" and got[2].d == "birds"
    with pytest.raises(InputError, match=r"<analogies>:2: expected 4 words"):
        parse_analogies([": s", "a b c"])
    with pytest.raises(InputError, match="no analogies"):
        parse_analogies([": only a header"])


def test_read_analogies_file_errors(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text(GOOGLE)
    assert len(read_analogies(f)) == 3
    with pytest.raises(InputError, match="no such file"):
        read_analogies(tmp_path / "missing.txt")


def test_builtin_set_has_the_plan_cases_and_many_categories():
    an = builtin_analogies()
    assert an[:3] == list(PLAN_ANALOGIES)
    assert {str(a) for a in an[:3]} == {
        "Paris - France + Italy ~ Rome",
        "King - Man + Woman ~ Queen",
        "Walking - Walk + Swim ~ Swimming",
    }
    cats = {a.category for a in an}
    assert len(cats) >= 8 and len(an) >= 1000
    assert all(len({w.casefold() for w in a.words}) == 4 for a in an)


def test_vocabulary_holds_every_analogy_word_plus_filler():
    an = builtin_analogies()
    vocab = build_vocabulary(an, MIN_VOCAB)
    assert len(vocab) == MIN_VOCAB == len({w.casefold() for w in vocab})
    assert {w.casefold() for a in an for w in a.words} <= {w.casefold() for w in vocab}
    assert "King" in vocab and "king" not in vocab  # first spelling kept, case-insensitive identity
    with pytest.raises(InputError, match="only"):
        build_vocabulary(an, 10_000)
    assert len(FILLER_WORDS) == 1400


@FAST
@given(st.integers(0, 10_000), st.integers(6, 40), st.integers(2, 12))
def test_ranks_equal_a_brute_force_loop(seed, v, dim):
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((v, dim))
    idx = np.array([rng.choice(v, 4, replace=False) for _ in range(15)])
    ranks, top3 = analogy_ranks(vecs, idx)
    e = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    for i, (a, b, c, d) in enumerate(idx):
        s = e @ (e[a] - e[b] + e[c])
        cand = [j for j in range(v) if j not in (a, b, c)]
        order = sorted(cand, key=lambda j: (-s[j], j))
        assert ranks[i] == order.index(d) + 1
        assert top3[i].tolist() == order[:3]


@FAST
@given(st.integers(0, 10_000))
def test_rotation_and_row_scaling_change_nothing(seed):
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((30, 8))
    idx = np.array([rng.choice(30, 4, replace=False) for _ in range(20)])
    rot, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    scale = rng.uniform(0.5, 3.0, size=(30, 1))
    a = analogy_ranks(vecs, idx)[0]
    assert np.array_equal(a, analogy_ranks(vecs @ rot, idx)[0])
    assert np.array_equal(a, analogy_ranks(vecs * scale, idx)[0])


def test_a_space_where_analogies_hold_exactly_scores_one():
    # words = base + offset: "capital" offset shared by all pairs, so y_i - x_i + x_j = y_j exactly
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 64))
    offset = rng.standard_normal(64)
    vocab = [f"x{i}" for i in range(20)] + [f"y{i}" for i in range(20)]
    vecs = np.vstack([x, x + offset])
    an = [
        Analogy(f"y{i}", f"x{i}", f"x{j}", f"y{j}", "exact") for i in range(20) for j in range(20) if i != j
    ]
    res = evaluate_space(vecs, vocab, an, resamples=100)
    assert res.mean_rank < 1.2 and res.top3.value > 0.95
    assert res.chance_top3 == pytest.approx(3 / 37)


# --- the real encoder -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm_space():
    an = builtin_analogies()
    vocab = build_vocabulary(an, MIN_VOCAB)
    vecs = get_encoder("minilm").encode(vocab, batch_size=256)
    return an, vocab, vecs


def test_minilm_answers_analogies_far_above_chance(minilm_space):
    an, vocab, vecs = minilm_space
    res = evaluate_space(vecs, vocab, an, resamples=300)
    assert res.vocab_size == 1000 and res.chance_top3 == pytest.approx(3 / 997)
    assert res.top3.low >= 0.5  # the plan's pass line, on a real encoder
    assert res.top1.low > 50 * res.chance_top1
    assert res.per_category["plan"].n == 3
    assert all(c.top3.value > 10 * res.chance_top3 for c in res.per_category.values())


def test_untrained_lookup_space_falls_to_chance(minilm_space):
    an, vocab, vecs = minilm_space
    res = evaluate_space(random_lookup_space(384, seed=1)(vecs), vocab, an, resamples=300)
    assert res.top3.value < 4 * res.chance_top3  # ~0.3% chance; the encoder space is above 90%
    assert res.top3.low <= res.chance_top3 <= res.top3.high + 2 * res.chance_top3


def test_identity_predictors_reproduce_the_encoder_space(minilm_space):
    an, vocab, vecs = minilm_space
    base = evaluate_space(vecs, vocab, an, resamples=0)
    for p in (CopyLast(), ContextMean()):
        mapped = predictor_space(p, 5)(vecs)
        res = evaluate_space(mapped, vocab, an, resamples=0)
        assert res.top1.value == base.top1.value and res.top3.value == base.top3.value


def test_vector_arithmetic_report_with_a_learned_space_hook():
    rep = vector_arithmetic(
        "hashing:dim=64", vocab_size=1000, space=lambda v: v[:, :32], space_name="half", resamples=50
    )
    assert set(rep.spaces) == {"encoder", "half"} and rep.spaces["half"].dim == 32
    assert rep.n_analogies == len(builtin_analogies()) and rep.vocab_size == 1000
    with pytest.raises(InputError, match="space map failed"):
        vector_arithmetic("hashing:dim=16", space=lambda v: v @ np.ones((3, 3)), resamples=0)
    with pytest.raises(InputError, match="at least 1000"):
        vector_arithmetic("hashing", vocab_size=500)


def test_cli_vector_arithmetic_writes_the_artifact(tmp_path, capsys):
    f = tmp_path / "questions-words.txt"
    f.write_text(GOOGLE)
    out = tmp_path / "va.json"
    argv = ["vector-arithmetic", "--encoder", "hashing:dim=32", "--analogies", str(f), "--output", str(out)]
    assert main([*argv, "--lvm-model", "copy_last", "--resamples", "20"]) == 0
    art = json.loads(out.read_text())
    assert set(art["spaces"]) == {"encoder", "lvm"} and art["n_analogies"] == 3
    assert art["spaces"]["lvm"]["top1"] == art["spaces"]["encoder"]["top1"]
    assert art["provenance"]["params"]["lvm_model"] == "copy_last"
    assert main([*argv, "--vocab-size", "10"]) == 2
    assert "at least 1000" in capsys.readouterr().err
