"""Baselines, losses and the shared metrics: full-bank ranks against brute force, margins with article
bootstrap intervals, ridge against least squares, evaluation files, the drift corpus's signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvmgate.errors import InputError
from lvmgate.lvm.baselines import RidgeBaseline, context_mean, copy_last, evaluate_baselines
from lvmgate.lvm.evaluate import (
    Evaluation,
    contrastive_accuracy,
    evaluate_predictors,
    full_bank_ranks,
    recall_selection,
    window_scores,
)
from lvmgate.lvm.losses import LossSpec, cosine_loss, info_nce_loss, mse_loss
from lvmgate.sequences import PreparedSet, PrepareParams, prepare_sequences
from lvmgate.stores import EmbeddedStore
from lvmgate.synth.learnable import drift_corpus

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def toy_set(n_articles=12, per_article=8, w=3, dim=16, seed=0):
    """A PreparedSet over a random bank: articles of consecutive rows, windows of w + next."""
    rng = np.random.default_rng(seed)
    bank = unit(rng.normal(size=(n_articles * per_article, dim))).astype(np.float32)
    ctx, tgt, art = [], [], []
    for a in range(n_articles):
        for s in range(per_article - w):
            r = a * per_article + s
            ctx.append(np.arange(r, r + w))
            tgt.append(r + w)
            art.append(a)
    ctx, tgt, art = np.array(ctx), np.array(tgt), np.array(art)
    val = art >= n_articles - 4
    return PreparedSet.from_arrays(
        {"train": (ctx[~val], tgt[~val], art[~val]), "val": (ctx[val], tgt[val], art[val])}, bank
    )


# -- ranks and recall ------------------------------------------------------------------------------
@FAST
@given(n=st.integers(1, 60), q=st.integers(1, 8), seed=st.integers(0, 10_000), block=st.integers(1, 25))
def test_ranks_match_brute_force(n, q, seed, block):
    rng = np.random.default_rng(seed)
    bank = rng.normal(size=(n, 6)).astype(np.float32)
    bank[rng.random(n) < 0.1] = 0.0  # zero rows never match
    queries = rng.normal(size=(q, 6)).astype(np.float32)
    targets = rng.integers(0, n, size=q)
    ranks = full_bank_ranks(queries, targets, bank, bank_block=block, query_block=3)
    zero = np.linalg.norm(bank, axis=1) == 0
    with np.errstate(invalid="ignore"):
        s = unit(queries) @ np.nan_to_num(unit(bank)).T
    s[:, zero] = -np.inf
    want = (s > s[np.arange(q), targets][:, None] + 1e-5).sum(axis=1)
    want[zero[targets]] = n  # a zero target row cannot be found
    np.testing.assert_array_equal(ranks, want)


@FAST
@given(n=st.integers(4, 60), q=st.integers(1, 8), seed=st.integers(0, 10_000), block=st.integers(1, 25))
def test_contrastive_accuracy_and_the_top1_row_match_brute_force(n, q, seed, block):
    rng = np.random.default_rng(seed)
    bank = unit(rng.normal(size=(n, 6))).astype(np.float32)
    queries = rng.normal(size=(q, 6)).astype(np.float32)
    targets = rng.integers(0, n, size=q)
    top1 = np.zeros(q, dtype=np.int64)
    ranks = full_bank_ranks(queries, targets, bank, bank_block=block, query_block=3, top1=top1)
    s = unit(queries) @ bank.T  # (q, n)
    np.testing.assert_array_equal(top1, s.argmax(axis=1))
    ca = contrastive_accuracy(queries, targets, ranks, bank)
    for i, t in enumerate(targets):  # the LCM paper's definition, written out
        others = [j for j in range(n) if abs(j - t) > 1]  # not the target, not its two neighbours
        farther = sum(s[i, j] <= s[i, t] + 1e-5 for j in others)
        assert ca[i] == pytest.approx(farther / len(others))
    assert ((ca >= 0) & (ca <= 1)).all()


def test_next_concept_metrics_of_the_truth_a_copy_and_the_mean():
    ps = toy_set()
    val = ps["val"]
    ev = evaluate_predictors({"copy_last": copy_last, "context_mean": context_mean}, val, resamples=100)
    ctx, tgt = val.gather(np.arange(len(val)))
    cl, cm = ev.metrics["copy_last"], ev.metrics["context_mean"]
    max_next = (np.einsum("bd,bwd->bw", tgt, ctx)).max(1)
    # PAR of a copy: its max context cosine is 1 (itself), over the truth's
    assert cl.paraphrase_ratio.value == pytest.approx(1.0 / max_next.mean(), rel=1e-6)
    assert cl.paraphrase_ratio.low <= cl.paraphrase_ratio.value <= cl.paraphrase_ratio.high
    assert cl.l2.value == pytest.approx(np.linalg.norm(ctx[:, -1] - tgt, axis=1).mean(), rel=1e-6)
    # a nearest-decoder round trip of a copy decodes to the copied row itself
    assert cl.round_trip_l2.value == pytest.approx(cl.l2.value, rel=1e-5)
    assert 0 <= cm.contrastive_accuracy.value <= 1
    # the truth: l2 0, its own row decoded, every other row farther (CA 1), PAR 1
    oracle = evaluate_predictors({"truth": lambda c: tgt[: len(c)]}, val, batch_size=len(val), resamples=0)
    t = oracle.metrics["truth"]
    assert t.l2.value == pytest.approx(0, abs=1e-6) and t.round_trip_l2.value == pytest.approx(0, abs=1e-6)
    assert t.contrastive_accuracy.value == 1.0 and t.paraphrase_ratio.value == pytest.approx(1.0)


def test_duplicates_of_the_target_do_not_push_it_down():
    bank = unit(np.random.default_rng(0).normal(size=(10, 4))).astype(np.float32)
    bank[7] = bank[3]  # the target's content stored twice
    assert full_bank_ranks(bank[[3]], np.array([3]), bank)[0] == 0
    assert full_bank_ranks(bank[[3]], np.array([7]), bank)[0] == 0


@FAST
@given(n=st.integers(1, 50), k=st.integers(1, 12), seed=st.integers(0, 1000), block=st.integers(1, 20))
def test_the_one_exact_topk_kernel_agrees_with_a_full_sort(n, k, seed, block):
    """lvmgate's exact whole-bank top-k (decoders.nearest; retrieval's ExactIndex uses it) returns
    (scores, rows), best first, the same as sorting every cosine, whatever the block size."""
    from lvmgate.decoders.nearest import NearestDecoder

    rng = np.random.default_rng(seed)
    bank, queries = rng.normal(size=(n, 5)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    scores, rows = NearestDecoder(bank, lambda r: [""] * len(r), block_rows=block).search(queries, k)
    s = unit(queries) @ unit(bank).T
    kk = min(k, n)
    np.testing.assert_allclose(scores[:, :kk], -np.sort(-s, axis=1)[:, :kk], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(s, rows[:, :kk], 1), scores[:, :kk], rtol=1e-5, atol=1e-6)
    assert (rows[:, kk:] == -1).all()  # fewer rows than k: the rest are marked missing


def test_recall_selection_takes_whole_articles():
    article = np.repeat(np.arange(20), 5)
    mask = recall_selection(article, 23, seed=1)
    kept = np.unique(article[mask])
    assert 23 <= mask.sum() <= 28 and all(mask[article == a].all() for a in kept)
    assert recall_selection(article, None).all() and recall_selection(article, 1000).all()


# -- window scores and predictors ------------------------------------------------------------------
def test_copies_have_a_negative_next_vs_context_margin():
    rng = np.random.default_rng(0)
    ctx = unit(rng.normal(size=(5, 4, 8))).astype(np.float32)
    tgt = unit(rng.normal(size=(5, 8))).astype(np.float32)
    cos, nvc = window_scores(copy_last(ctx), ctx, tgt)
    np.testing.assert_allclose(nvc, cos - 1.0, atol=1e-6)
    cos, nvc = window_scores(tgt, ctx, tgt)  # the truth itself
    np.testing.assert_allclose(cos, 1.0, atol=1e-6)
    assert (nvc > 0).all()
    np.testing.assert_allclose(context_mean(ctx), ctx.mean(1))


def test_evaluation_margins_are_paired_and_clustered_by_article():
    ps = toy_set()
    val = ps["val"]
    ev = evaluate_predictors(
        {"copy_last": copy_last, "context_mean": context_mean, "oracle": lambda c: np.asarray(c[:, -1])},
        val,
        resamples=200,
    )
    same = ev.margin("oracle", "copy_last", "cosine")
    assert same.value == same.low == same.high == 0.0  # identical predictions: exactly zero
    m = ev.margin("copy_last", "context_mean", "hit@10")
    assert m.n == ev.n_articles == 4  # intervals over articles, not windows
    assert ev.metrics["copy_last"].hit["1"].value <= ev.metrics["copy_last"].hit["10"].value
    d = ev.to_dict()
    assert "scores" not in d and d["metrics"]["copy_last"]["cosine"]["n"] == 4


def test_evaluation_round_trips_through_files(tmp_path):
    ev = evaluate_predictors({"copy_last": copy_last}, toy_set()["val"], resamples=50)
    ev.save(tmp_path / "e", {"key": {"a": 1}})
    back, extra = Evaluation.load(tmp_path / "e")
    assert extra == {"key": {"a": 1}} and back.to_dict() == ev.to_dict()
    np.testing.assert_array_equal(back.scores["copy_last"]["rank"], ev.scores["copy_last"]["rank"])
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="not an lvmgate evaluation"):
        Evaluation.load(tmp_path / "bad")


# -- ridge -----------------------------------------------------------------------------------------
def test_ridge_primal_and_dual_give_the_same_fit():
    ps = toy_set(n_articles=40, per_article=10, w=2, dim=6)  # 6 * 2 = 12 features < windows: primal
    train = ps["train"]
    primal = RidgeBaseline.fit(train, alphas=(0.1,), holdout=0.0)
    from lvmgate.lvm import baselines as mod

    ctx, tgt = train.materialize()
    dual = mod._Dual(12, 6)
    dual.add(ctx.reshape(len(ctx), -1), tgt)
    w, b = dual.solve(0.1)
    np.testing.assert_allclose(primal.weight, w, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(primal.bias, b, rtol=1e-3, atol=1e-4)


def test_ridge_without_penalty_is_least_squares():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 12)), rng.normal(size=(200, 6))
    m = __import__("lvmgate.lvm.baselines", fromlist=["_Moments"])._Moments(12, 6)
    m.add(x[:120], y[:120])
    m.add(x[120:], y[120:])
    w, b = m.solve(1e-12)
    coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(200)], y, rcond=None)
    np.testing.assert_allclose(w, coef[:-1], atol=1e-8)
    np.testing.assert_allclose(b, coef[-1], atol=1e-8)


def test_ridge_learns_a_linear_transition_and_checks_shapes():
    rng = np.random.default_rng(0)
    dim, w = 8, 2
    M = np.linalg.qr(rng.normal(size=(dim, dim)))[0]  # next = last @ M: a linear signal
    rows = [unit(rng.normal(size=dim))]
    art = []
    for a in range(60):
        v = unit(rng.normal(size=dim))
        for _ in range(10):
            rows.append(v)
            art.append(a)
            v = v @ M
    bank = np.array(rows[1:], dtype=np.float32)
    art = np.array(art)
    starts = [i for i in range(len(bank) - w) if art[i] == art[i + w]]
    ctx = np.array([np.arange(s, s + w) for s in starts])
    tgt, a = np.array(starts) + w, art[starts]
    ps = PreparedSet.from_arrays(
        {"train": (ctx[a < 45], tgt[a < 45], a[a < 45]), "val": (ctx[a >= 45], tgt[a >= 45], a[a >= 45])},
        bank,
    )
    ridge = RidgeBaseline.fit(ps["train"])
    c, t = ps["val"].materialize()
    assert window_scores(ridge(c), c, t)[0].mean() > 0.99
    with pytest.raises(InputError, match="fitted on"):
        ridge(np.zeros((1, 3, dim), np.float32))


# -- losses ----------------------------------------------------------------------------------------
def test_losses():
    torch.manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    assert cosine_loss(t, t).abs() < 1e-6 and cosine_loss(-t, t).item() == pytest.approx(2.0)
    assert mse_loss(t, t) == 0
    # InfoNCE: right pairs score low, shuffled pairs high
    assert info_nce_loss(t, t, 0.05) < info_nce_loss(t.roll(1, 0), t, 0.05)
    spec = LossSpec.parse("cosine + 0.5*infonce")
    assert spec.weights == {"cosine": 1.0, "infonce": 0.5} and str(spec) == "cosine+0.5*infonce"
    total, parts = spec(t.roll(1, 0), t)
    assert total.item() == pytest.approx(parts["cosine"] + 0.5 * parts["infonce"], rel=1e-6)
    for bad in ("cosin", "2*", "0*cosine", "cosine+mse+"):
        with pytest.raises(InputError):
            LossSpec.parse(bad)


# -- the drift corpus ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drift_sets(tmp_path_factory):
    out = {}
    for shuffled in (False, True):
        c = drift_corpus(100, seed=3, shuffled=shuffled)
        store = EmbeddedStore(tmp_path_factory.mktemp("s"))
        store.ingest("d", c.records, c.vectors)
        index, bank = store.articles("d"), store.vectors("d")
        prep = prepare_sequences(index, bank, PrepareParams(5, 1, val_split=0.25, seed=0))
        out[shuffled] = PreparedSet.from_arrays(
            {k: (w.context, w.target, w.article) for k, w in prep.splits.items()}, bank
        )
        store.close()
    return out


def test_drift_corpus_has_learnable_signal_that_shuffling_removes(drift_sets, tmp_path):
    ev, extra = evaluate_baselines(
        drift_sets[False]["train"], drift_sets[False]["val"], resamples=100, cache=tmp_path / "b"
    )
    m = ev.metrics
    # a linear fit learns the next chunk: beats both simple baselines and is nearer next than context
    assert ev.margin("ridge", "copy_last").low > 0.1 and ev.margin("ridge", "context_mean").low > 0.1
    assert m["ridge"].next_vs_context.low > 0.12 and m["copy_last"].next_vs_context.high < 0
    assert extra["ridge"]["alpha"] > 0 and (tmp_path / "b.npz").is_file()
    again, _ = evaluate_baselines(
        drift_sets[False]["train"], drift_sets[False]["val"], resamples=100, cache=tmp_path / "b"
    )
    assert again.to_dict() == ev.to_dict()
    shuffled, _ = evaluate_baselines(drift_sets[True]["train"], drift_sets[True]["val"], resamples=100)
    assert shuffled.metrics["ridge"].next_vs_context.high < 0  # nothing sequential left to learn


def test_drift_corpus_is_deterministic_and_like_synth():
    a, b = drift_corpus(5, seed=2), drift_corpus(5, seed=2)
    assert [r.text for r in a.records] == [r.text for r in b.records]
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert a.vectors.shape == (len(a.records), 768) and a.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a.vectors, axis=1), 1.0, rtol=1e-5)
    s = drift_corpus(5, seed=2, shuffled=True)
    assert sorted(r.text for r in s.records) == sorted(r.text for r in a.records)
    assert [r.text for r in s.records] != [r.text for r in a.records]
    with pytest.raises(InputError):
        drift_corpus(5, step=5, topic_words=4)
