"""Vector search, queries with graded relevance, the benchmark runner and `lvmgate bench`.

Against the whole bank always: exact search must equal brute force over every row; `self` with
exact vectors must give Recall@1 = 1; a predictor that knows the answer must beat vec on `next`,
copy_last must equal vec exactly, and a predictor pointing elsewhere must lose.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvmgate.cli import main
from lvmgate.corpus import ArticleIndex
from lvmgate.errors import InputError
from lvmgate.lvm.baselines import ContextMean, CopyLast
from lvmgate.lvm.predictor import FunctionPredictor
from lvmgate.retrieval import (
    bench,
    build_index,
    next_queries,
    parse_backends,
    run_bench,
    self_queries,
    store_windows,
    summary_path,
    topk_dense,
    usable_rows,
)
from lvmgate.retrieval.queries import next_relevance
from lvmgate.stores import EmbeddedStore
from lvmgate.synth import synthesize

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute(bank: np.ndarray, q: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Reference: cosine against every row by a plain loop over queries, excluded rows removed."""
    b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    out = []
    for i, v in enumerate(q):
        s = b @ (v / np.linalg.norm(v))
        if exclude is not None:
            s[exclude[i][exclude[i] >= 0]] = -np.inf
        out.append(np.argsort(-s, kind="stable")[:k])
    return np.array(out)


def index_of(records) -> ArticleIndex:
    ids, first = np.unique([r.article_id for r in records], return_index=True)
    offsets = np.append(np.sort(first), len(records))
    return ArticleIndex(ids.astype(object), offsets, np.array([r.chunk_index for r in records]))


@pytest.fixture(scope="module")
def corpus():
    c = synthesize(40, seed=7, dim=64)
    return c, index_of(c.records), [r.text for r in c.records]


# --- search ---------------------------------------------------------------------------------------
@FAST
@given(
    st.integers(5, 300),
    st.integers(1, 20),
    st.integers(1, 12),
    st.integers(0, 4),
    st.sampled_from(["numpy", "faiss"]),
    st.integers(0, 10_000),
)
def test_exact_search_equals_brute_force_with_exclusions(n, nq, k, m, engine, seed):
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((n, 16)).astype(np.float32)
    q = rng.standard_normal((nq, 16)).astype(np.float32)
    ex = rng.integers(-1, n, size=(nq, m)) if m else None
    idx = build_index(bank, "flat", engine=engine, block_rows=37)
    scores, rows = idx.search(q, k, exclude=ex)
    want = brute(bank, q, min(k, n), ex)
    for i in range(nq):
        got = rows[i][rows[i] >= 0]
        usable = n - (len(set(ex[i][ex[i] >= 0].tolist())) if m else 0)
        assert len(got) == min(k, usable)
        assert np.array_equal(got, want[i][: len(got)])
        assert np.all(np.diff(scores[i][rows[i] >= 0]) <= 1e-6)  # best first
        if m:
            assert not set(got.tolist()) & set(ex[i].tolist())


@FAST
@given(st.integers(0, 10_000))
def test_search_is_invariant_under_rotation(seed):
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((120, 24)).astype(np.float32)
    q = rng.standard_normal((10, 24)).astype(np.float32)
    rot, _ = np.linalg.qr(rng.standard_normal((24, 24)))
    a = build_index(bank).search(q, 5)
    b = build_index((bank @ rot).astype(np.float32)).search((q @ rot).astype(np.float32), 5)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    gap = np.diff(-a[0], axis=1)
    clear = gap.min(axis=1) > 1e-4  # queries without near-ties: identical rankings
    assert np.array_equal(a[1][clear], b[1][clear])


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((30, dim))
    return (centers[rng.integers(0, 30, n)] + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)


@pytest.mark.parametrize(
    "kind,opts", [("ivf", {"nlist": 16, "nprobe": 8}), ("hnsw", {"m": 16, "ef_search": 64})]
)
def test_approximate_indexes_recall_exact_neighbours(kind, opts):
    bank = clustered(3000, 32)
    bank[5] = 0.0  # an unusable row: never returned
    q = bank[100:200] + 0.05
    exact = build_index(bank).search(q, 10)[1]
    idx = build_index(bank, kind, **opts)
    rows = idx.search(q, 10, exclude=np.tile([100, 101], (100, 1)))[1]
    exact_ex = build_index(bank).search(q, 10, exclude=np.tile([100, 101], (100, 1)))[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact_ex)])
    assert recall > 0.9
    assert not np.isin(rows, [5, 100, 101]).any()
    assert idx.memory_bytes() > 3000 * 32 * 4
    assert exact.shape == rows.shape


def test_build_index_input_errors():
    with pytest.raises(InputError, match="non-empty"):
        build_index(np.zeros((0, 4), np.float32))
    with pytest.raises(InputError, match="unknown index"):
        build_index(np.ones((3, 4), np.float32), "lsh")
    with pytest.raises(InputError, match="faiss only"):
        build_index(np.ones((3, 4), np.float32), "ivf", engine="numpy")
    with pytest.raises(InputError, match=r"queries must be \(q, 4\)"):
        build_index(np.ones((3, 4), np.float32)).search(np.ones((2, 5)), 1)


@FAST
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=40), st.integers(1, 10), st.booleans())
def test_topk_dense_sorts_by_score_then_row(values, k, positive_only):
    s = np.array(values, dtype=float)
    scores, rows = topk_dense(s, k, positive_only=positive_only)
    keep = s > 0 if positive_only else np.ones_like(s, dtype=bool)
    cand = np.flatnonzero(keep)
    want = cand[np.lexsort((cand, -s[cand]))][:k]
    assert rows[rows >= 0].tolist() == want.tolist()
    assert np.isneginf(scores[rows < 0]).all()


# --- queries --------------------------------------------------------------------------------------
def small_index(lengths, chunk_index=None) -> ArticleIndex:
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if chunk_index is None:
        chunk_index = np.concatenate([np.arange(n) for n in lengths])
    return ArticleIndex(np.array([f"a{i}" for i in range(len(lengths))], dtype=object), offsets, chunk_index)


def test_next_relevance_is_graded_and_stops_at_articles_and_holes():
    idx = small_index([4, 5], chunk_index=[0, 1, 2, 3, 0, 1, 3, 4, 5])  # article 1 skips chunk 2
    rows, grades = next_relevance(idx, np.array([1, 3, 4, 6]))
    assert rows.tolist() == [[1, 2, 3], [3, -1, -1], [4, 5, -1], [6, 7, 8]]
    assert grades.tolist() == [[3, 2, 1], [3, 0, 0], [3, 2, 0], [3, 2, 1]]


def test_store_windows_never_cross_articles_or_unusable_rows():
    idx = small_index([3, 6, 2])
    usable = np.ones(11, bool)
    usable[7] = False
    ctx, tgt = store_windows(idx, 2, usable=usable)
    art = idx.article_of_row()
    assert np.all(art[ctx] == art[tgt][:, None])
    assert not np.isin(np.c_[ctx, tgt], 7).any()
    assert ctx.tolist() == [[0, 1], [3, 4], [4, 5]]
    with pytest.raises(InputError, match="crosses an article"):
        next_queries(idx, np.array([[1, 2]]), np.array([3]), 1)


def test_self_queries_skip_unusable_rows_and_are_seeded():
    idx = small_index([50, 50])
    usable = np.ones(100, bool)
    usable[::3] = False
    a = self_queries(idx, 30, seed=3, usable=usable)
    assert usable[a.query_row].all() and len(set(a.query_row.tolist())) == 30
    assert np.array_equal(a.query_row, self_queries(idx, 30, seed=3, usable=usable).query_row)
    assert a.exclude.shape == (30, 0) and a.grades.tolist() == [[3]] * 30


# --- the benchmark --------------------------------------------------------------------------------
def test_self_with_exact_vectors_gives_recall_at_1_of_one(corpus):
    c, idx, texts = corpus
    q = self_queries(idx, 200, seed=0, usable=usable_rows(c.vectors))
    run = bench(
        c.vectors, texts, idx, q, backends=("vec", "lex", "lvm"), predictor=CopyLast(), k=1, resamples=0
    )
    for name in ("vec", "lvm", "lex"):
        assert run.summary.backends[name].metrics["recall@1"].value == 1.0, name
        assert run.summary.backends[name].metrics["hit@1"].value == 1.0, name


def test_next_oracle_beats_vec_copy_last_equals_it_and_a_wrong_predictor_loses(corpus):
    c, idx, _ = corpus
    ctx, tgt = store_windows(idx, 4)
    q = next_queries(idx, ctx, tgt, 150, seed=2)
    target_of = {tuple(r): t for r, t in zip(ctx.tolist(), tgt.tolist())}
    rng = np.random.default_rng(0)

    def oracle(contexts: np.ndarray) -> np.ndarray:  # looks the true next vector up, adds noise
        rows = [
            target_of[tuple(np.flatnonzero((c.vectors[None] == v[:, None]).all(-1).any(0)))] for v in contexts
        ]
        return c.vectors[rows] + 0.01 * rng.standard_normal((len(rows), c.vectors.shape[1])).astype(
            np.float32
        )

    def elsewhere(contexts: np.ndarray) -> np.ndarray:  # a random chunk of the bank
        return c.vectors[rng.integers(0, len(c.vectors), len(contexts))]

    k = 10
    runs = {
        name: bench(c.vectors, None, idx, q, backends=("vec", "lvm"), predictor=p, k=k, resamples=300)
        for name, p in (
            ("oracle", FunctionPredictor(oracle, "oracle")),
            ("copy", CopyLast()),
            ("elsewhere", FunctionPredictor(elsewhere, "elsewhere")),
        )
    }
    o = runs["oracle"].summary
    assert o.backends["lvm"].metrics["hit@1" if k == 1 else f"mrr@{k}"].value > 0.97
    assert o.deltas_vs_vec["lvm"][f"hit@{k}"].low > 0.05  # clearly above vec, interval included
    same = runs["copy"]
    for m, v in same.per_query["lvm"].items():
        assert np.array_equal(v, same.per_query["vec"][m], equal_nan=True), m
    assert runs["elsewhere"].summary.deltas_vs_vec["lvm"][f"recall@{k}"].high < 0
    # the window's own context rows are never ranked, for any backend
    for rec in runs["oracle"].records:
        assert not set(rec["ranked"]) & set(rec["context"])


def test_next_grades_reach_the_records_and_precision_can_exceed_one_over_k(bench_tiny):
    run, q = bench_tiny
    for rec in run.records[: len(q)]:
        grades = dict(map(tuple, rec["relevant"]))
        assert grades[rec["target"]] == 3
        assert all(g in (1, 2, 3) for g in grades.values())
    best = max(run.summary.backends[b].metrics["precision@10"].value for b in run.summary.backends)
    assert best > 0.1  # more than one relevant row per query can be found


@pytest.fixture(scope="module")
def bench_tiny(corpus):
    c, idx, texts = corpus
    ctx, tgt = store_windows(idx, 3)
    q = next_queries(idx, ctx, tgt, 60, seed=0)
    run = bench(
        c.vectors, texts, idx, q, backends="vec,bm25,lex,lvm", predictor=ContextMean(), k=10, resamples=100
    )
    return run, q


def test_summary_has_every_metric_latency_memory_and_provenance_keys(bench_tiny):
    run, q = bench_tiny
    s = run.summary.to_dict()
    assert s["task"] == "next" and s["k"] == 10 and s["n_queries"] == len(q)
    for name in ("vec", "bm25", "lex", "lvm"):
        b = s["backends"][name]
        assert set(b["metrics"]) == {"recall@10", "precision@10", "mrr@10", "ndcg@10", "hit@10"}
        e = b["metrics"]["recall@10"]
        assert e["low"] <= e["value"] <= e["high"] and e["n"] > 1
        assert b["latency"]["p50_ms"] > 0 and b["latency"]["p95_ms"] >= b["latency"]["p50_ms"]
        # vec / lvm: single-query latency on a sample; bm25 / lex: every query is timed alone
        assert b["latency"]["n"] == (min(32, len(q)) if name in ("vec", "lvm") else len(q))
        assert b["queries_per_s"] > 0
        assert b["index_memory_bytes"] > 0
    assert s["backends"]["lvm"]["model_memory_bytes"] == 0
    assert set(s["deltas_vs_vec"]) == {"bm25", "lex", "lvm"}
    assert "grade 3" in s["relevance"] and s["peak_rss_bytes"] > 0
    assert len(run.records) == 4 * len(q)


def test_bench_input_errors(corpus):
    c, idx, texts = corpus
    q = self_queries(idx, 5)
    with pytest.raises(InputError, match="needs a predictor"):
        bench(c.vectors, texts, idx, q, backends=("lvm",))
    with pytest.raises(InputError, match="need the text"):
        bench(c.vectors, None, idx, q, backends=("bm25",))
    with pytest.raises(InputError, match="unknown backend"):
        parse_backends("vec,faiss")
    with pytest.raises(InputError, match=r"returned shape \(5, 3\)"):
        bench(
            c.vectors, None, idx, q, backends=("lvm",), predictor=FunctionPredictor(lambda x: np.ones((5, 3)))
        )


# --- the store-level runner and the CLI -----------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory, corpus):
    c, _, _ = corpus
    path = tmp_path_factory.mktemp("bench") / "store"
    st_ = EmbeddedStore(path)
    st_.ingest("syn", c.records, c.vectors)
    st_.close()
    return str(path)


def test_run_bench_writes_jsonl_and_summary_atomically(store, tmp_path):
    out = tmp_path / "v" / "bench.jsonl"
    run = run_bench(store=store, dataset="syn", task="next", n=40, backends="vec,bm25", out=out, resamples=50)
    lines = out.read_text().splitlines()
    assert len(lines) == 80 and {json.loads(x)["backend"] for x in lines} == {"vec", "bm25"}
    summary = json.loads(summary_path(out).read_text())
    assert summary["provenance"]["dataset"] == "syn" and summary["provenance"]["sample_size"] == 40
    assert (
        summary["backends"]["vec"]["metrics"]["hit@10"]["value"]
        == run.summary.backends["vec"].metrics["hit@10"].value
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["bench.jsonl", "bench_summary.json"]


def test_cli_bench_self_and_next_with_a_prepared_split(store, tmp_path, capsys):
    out = tmp_path / "b.jsonl"
    code = main(
        ["bench", "--dataset", "self", "--store", store, "--store-dataset", "syn", "--n", "30", "--topk", "5",
         "--lvm-model", "copy_last", "--resamples", "20", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    s = json.loads(summary_path(out).read_text())
    assert set(s["backends"]) == {"vec", "bm25", "lex", "lvm"}
    assert s["backends"]["vec"]["metrics"]["recall@5"]["value"] == 1.0
    prep = tmp_path / "lvm" / "ctx3.npz"
    assert (
        main(
            ["prepare", "--store", store, "--dataset", "syn", "--output", str(prep), "--context-window", "3"]
        )
        == 0
    )
    val = prep.with_name("ctx3_val.npz")
    out2 = tmp_path / "n.jsonl"
    code = main(
        ["bench", "--task", "next", "--val-data", str(val), "--store", store, "--backends", "vec,lvm",
         "--lvm-model", "context_mean", "--n", "25", "--resamples", "20", "--out", str(out2)]
    )  # fmt: skip
    assert code == 0
    s2 = json.loads(summary_path(out2).read_text())
    assert "ctx3_val.npz (val)" in s2["query_source"] and s2["warnings"] == []
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--backends", "vec,lvm"], "needs --lvm-model"),
        (["--backends", "vec,nope"], "unknown backend"),
        (["--store-dataset", "missing"], "unknown dataset"),
        (["--task", "self", "--val-data", "x_val.npz"], "use it with --task next"),
        (["--n", "0"], "--n must be at least 1"),
    ],
)
def test_cli_bench_bad_input_exits_2_with_one_line(store, tmp_path, capsys, argv, message):
    base = ["bench", "--store", store, "--out", str(tmp_path / "x.jsonl")]
    if "--store-dataset" not in argv:
        base += ["--store-dataset", "syn"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x.jsonl").exists()
