"""lvmgate.retrieval.metrics: checked against ir_measures (trec_eval's definitions) on the same runs,
plus the invariants every ranking metric must keep."""

from __future__ import annotations

import ir_measures
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_measures import RR, P, R, nDCG

from lvmgate.retrieval.metrics import gains_of, ir_metrics, latency_summary, summarize
from lvmgate.stats import paired_difference

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def bench_next_run():
    """A `next` benchmark over a small synthetic corpus, every text and vector backend."""
    from lvmgate.corpus import ArticleIndex
    from lvmgate.lvm.baselines import ContextMean
    from lvmgate.retrieval import bench, next_queries, store_windows
    from lvmgate.synth import synthesize

    corpus = synthesize(30, seed=5, dim=64)
    ids, first = np.unique([r.article_id for r in corpus.records], return_index=True)
    offsets = np.append(np.sort(first), len(corpus.records))
    index = ArticleIndex(ids.astype(object), offsets, np.array([r.chunk_index for r in corpus.records]))
    ctx, tgt = store_windows(index, 4)
    queries = next_queries(index, ctx, tgt, 80, seed=1)
    texts = [r.text for r in corpus.records]
    run = bench(
        corpus.vectors,
        texts,
        index,
        queries,
        backends=("vec", "bm25", "lex", "lvm"),
        predictor=ContextMean(),
        k=10,
        resamples=50,
    )
    return run, queries


def random_runs(rng: np.random.Generator, q: int, k: int, n_docs: int, m: int = 3):
    """(ranked (q, k) with some -1 tails, relevant (q, m) -1 padded, grades (q, m))."""
    ranked = np.stack([rng.choice(n_docs, size=k, replace=False) for _ in range(q)])
    cut = rng.integers(0, k + 1, size=q)
    ranked[np.arange(k)[None, :] >= np.maximum(cut, 1)[:, None]] = -1  # some lists are short
    rel = np.stack([rng.choice(n_docs, size=m, replace=False) for _ in range(q)])
    grades = rng.integers(1, 4, size=(q, m))
    n_rel = rng.integers(1, m + 1, size=q)
    pad = np.arange(m)[None, :] >= n_rel[:, None]
    rel[pad], grades[pad] = -1, 0
    # plant some relevant rows inside the rankings so that metrics are not all zero
    for i in range(q):
        if rng.random() < 0.7 and cut[i] > 0 and rel[i, 0] not in ranked[i]:
            ranked[i, rng.integers(0, cut[i])] = rel[i, 0]  # rankings never repeat a row
    return ranked, rel, grades


def ir_measures_values(ranked, rel, grades, k):
    qrels = [
        ir_measures.Qrel(str(i), str(d), int(g))
        for i in range(len(rel))
        for d, g in zip(rel[i], grades[i])
        if d >= 0
    ]
    run = [
        ir_measures.ScoredDoc(str(i), str(d), float(k - j))  # distinct scores: rank order is unambiguous
        for i in range(len(ranked))
        for j, d in enumerate(ranked[i])
        if d >= 0
    ]
    measures = [R @ k, P @ k, RR @ k, nDCG @ k, R(rel=3) @ k]
    out = {m: {} for m in measures}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        out[metric.measure][int(metric.query_id)] = metric.value
    return out, measures


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_metrics_match_ir_measures_on_random_runs(seed, k):
    rng = np.random.default_rng(seed)
    ranked, rel, grades = random_runs(rng, 60, 10, 40)
    ranked = ranked[:, :k]
    # target = the grade-3 row where there is one: that is what R(rel=3) counts
    target = np.where((grades == 3).any(axis=1), rel[np.arange(len(rel)), np.argmax(grades == 3, axis=1)], -2)
    mine = ir_metrics(ranked, rel, grades, k, target=target)
    ref, (r, p, rr, ndcg, r3) = ir_measures_values(ranked, rel, grades, k)
    for name, measure in ((f"recall@{k}", r), (f"precision@{k}", p), (f"mrr@{k}", rr), (f"ndcg@{k}", ndcg)):
        want = np.array([ref[measure].get(i, 0.0) for i in range(len(rel))])
        np.testing.assert_allclose(mine[name], want, atol=1e-9, err_msg=name)
    has3 = (grades == 3).sum(axis=1) == 1  # R(rel=3) is hit@k when one row has grade 3
    want_hit = np.array([ref[r3].get(i, 0.0) for i in range(len(rel))])
    np.testing.assert_allclose(mine[f"hit@{k}"][has3], want_hit[has3], atol=1e-12)


def test_metrics_match_ir_measures_on_benchmark_runs(bench_next_run):
    """The same per-query runs the benchmark wrote, re-scored by ir_measures."""
    run, queries = bench_next_run
    k = run.summary.k
    for backend in run.summary.backends:
        recs = [r for r in run.records if r["backend"] == backend]
        ranked = np.full((len(recs), k), -1)
        for i, r in enumerate(recs):
            ranked[i, : len(r["ranked"])] = r["ranked"]
        ref, (r_, p, rr, ndcg, r3) = ir_measures_values(ranked, queries.relevant, queries.grades, k)
        for name, measure in (("recall", r_), ("precision", p), ("mrr", rr), ("ndcg", ndcg), ("hit", r3)):
            want = np.array([ref[measure].get(i, 0.0) for i in range(len(recs))])
            got = np.array([r[f"{name}@{k}"] for r in recs])
            np.testing.assert_allclose(got, want, atol=1e-9, err_msg=f"{backend} {name}")


@st.composite
def run_case(draw):
    seed = draw(st.integers(0, 2**31))
    q = draw(st.integers(1, 12))
    k = draw(st.integers(1, 12))
    n_docs = draw(st.integers(k + 3, 40))
    rng = np.random.default_rng(seed)
    ranked, rel, grades = random_runs(rng, q, k, n_docs, m=3)
    return ranked, rel, grades, k


@FAST
@given(run_case())
def test_metrics_are_bounded_and_consistent(case):
    ranked, rel, grades, k = case
    m = ir_metrics(ranked, rel, grades, k)
    for name, v in m.items():
        assert np.all((v >= 0) & (v <= 1 + 1e-12)), name
    n_rel = (grades >= 1).sum(axis=1)
    found = (gains_of(ranked, rel, grades) >= 1).sum(axis=1)
    np.testing.assert_allclose(m[f"recall@{k}"] * n_rel, found)
    np.testing.assert_allclose(m[f"precision@{k}"] * k, found)
    assert np.all((m[f"mrr@{k}"] > 0) == (found > 0))
    assert np.all((m[f"ndcg@{k}"] > 0) == (found > 0))


@FAST
@given(run_case())
def test_ideal_ranking_scores_one_and_irrelevant_order_does_not_matter(case):
    ranked, rel, grades, k = case
    # ideal: relevant rows by grade, then filler rows that are not relevant
    order = np.argsort(-grades, axis=1, kind="stable")
    ideal_rel = np.take_along_axis(rel, order, axis=1)
    filler = 1000 + np.arange(k)[None, :].repeat(len(rel), axis=0)
    ideal = np.concatenate([np.where(ideal_rel >= 0, ideal_rel, -1), filler], axis=1)
    ideal = np.stack([np.concatenate([r[r >= 0], r[r < 0]])[:k] for r in ideal])  # drop padding gaps
    m = ir_metrics(ideal, rel, grades, k)
    np.testing.assert_allclose(m[f"ndcg@{k}"], 1.0)
    n_rel = (grades >= 1).sum(axis=1)
    np.testing.assert_allclose(m[f"recall@{k}"], np.minimum(n_rel, k) / n_rel)
    assert np.all(m[f"mrr@{k}"] == 1.0)
    # swapping two non-relevant entries changes nothing
    gains = gains_of(ranked, rel, grades)
    shuffled = ranked.copy()
    rng = np.random.default_rng(0)
    for i in range(len(ranked)):
        idle = np.flatnonzero(gains[i] == 0)
        shuffled[i, idle] = ranked[i, rng.permutation(idle)]
    a, b = ir_metrics(ranked, rel, grades, k), ir_metrics(shuffled, rel, grades, k)
    for name in a:
        np.testing.assert_allclose(a[name], b[name])


@FAST
@given(run_case())
def test_recall_and_hit_never_fall_as_k_grows(case):
    ranked, rel, grades, k = case
    prev = None
    for kk in range(1, k + 1):
        m = ir_metrics(ranked, rel, grades, kk)
        cur = (m[f"recall@{kk}"], m[f"hit@{kk}"], m[f"mrr@{kk}"])
        if prev is not None:
            for a, b in zip(prev, cur):
                assert np.all(b >= a - 1e-12)
        prev = cur


def test_graded_ndcg_by_hand():
    # relevant: 10 (grade 3), 11 (grade 2), 12 (grade 1); ranking: x, 11, 10
    m = ir_metrics(np.array([[99, 11, 10]]), np.array([[10, 11, 12]]), np.array([[3, 2, 1]]), 3)
    dcg = 2 / np.log2(3) + 3 / np.log2(4)
    idcg = 3 + 2 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@3"][0] == pytest.approx(dcg / idcg)
    assert m["recall@3"][0] == pytest.approx(2 / 3)
    assert m["precision@3"][0] == pytest.approx(2 / 3)
    assert m["mrr@3"][0] == pytest.approx(0.5)
    assert m["hit@3"][0] == 1.0  # the grade-3 row is the default target


def test_empty_slots_are_not_relevant():
    m = ir_metrics(np.array([[-1, -1]]), np.array([[-1, 5]]), np.array([[0, 3]]), 2)
    assert m["recall@2"][0] == 0 and m["hit@2"][0] == 0 and m["ndcg@2"][0] == 0


def test_latency_percentiles():
    lat = latency_summary(np.arange(1, 101) / 1000.0)  # 1..100 ms
    assert lat.n == 100
    assert lat.p50_ms == pytest.approx(50.5)
    assert lat.p95_ms == pytest.approx(95.05)
    assert lat.max_ms == pytest.approx(100.0)
    assert np.isnan(latency_summary([]).p50_ms)


def test_summaries_resample_articles_and_pair_differences():
    rng = np.random.default_rng(0)
    articles = np.repeat(np.arange(40), 5)
    a = (rng.random(200) < 0.6).astype(float)
    est = summarize({"hit@10": a}, articles, resamples=500, seed=1)["hit@10"]
    assert est.value == pytest.approx(a.mean())
    assert est.low <= est.value <= est.high and est.n == 40
    same = paired_difference(a, a, articles, resamples=200)
    assert same.value == same.low == same.high == 0.0
    better = paired_difference(np.ones(200), a, articles, resamples=500)
    assert better.value == pytest.approx(1 - a.mean()) and better.low > 0
