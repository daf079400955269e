"""The fast BM25 against rank-bm25's BM25Okapi (same k1, b, epsilon floor), and the lex backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from lvmgate.errors import InputError
from lvmgate.retrieval.bm25 import BM25Index, TermMatrix, tokenize, tokenize_all
from lvmgate.retrieval.lex import LexIndex
from lvmgate.synth import synthesize

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_ranking(scores: np.ndarray, k: int) -> np.ndarray:
    """rank-bm25 scores ranked the way ours are: score descending, lower row first, positives only."""
    rows = np.flatnonzero(scores > 0)
    return rows[np.lexsort((rows, -scores[rows]))][:k]


def assert_same_ranking(ref_scores: np.ndarray, rows: np.ndarray, k: int, tol: float) -> None:
    """Our top-k equals the reference's, allowing only swaps of rows whose reference scores tie."""
    want = reference_ranking(ref_scores, k)
    got = rows[rows >= 0]
    assert len(got) == len(want)
    np.testing.assert_allclose(ref_scores[got], ref_scores[want], rtol=tol, atol=tol)
    exact = np.abs(np.diff(ref_scores[want])) > 10 * tol * max(1.0, float(np.abs(ref_scores).max()))
    if exact.all():  # no near-ties: the lists must be identical
        assert np.array_equal(got, want)


@st.composite
def corpus(draw):
    n_docs = draw(st.integers(1, 40))
    vocab = draw(st.integers(1, 30))
    docs = draw(
        st.lists(
            st.lists(st.integers(0, vocab - 1), min_size=0, max_size=25), min_size=n_docs, max_size=n_docs
        )
    )
    queries = draw(
        st.lists(st.lists(st.integers(0, vocab + 3), min_size=1, max_size=8), min_size=1, max_size=5)
    )
    return [[f"t{t}" for t in d] for d in docs], [[f"t{t}" for t in q] for q in queries]


@FAST
@given(corpus(), st.sampled_from([(1.5, 0.75, 0.25), (1.2, 0.5, 0.1), (2.0, 1.0, 0.5)]))
def test_scores_equal_rank_bm25(case, params):
    docs, queries = case
    if sum(map(len, docs)) == 0:
        return  # rank-bm25 divides by avgdl = 0 on an all-empty corpus
    k1, b, eps = params
    ref = BM25Okapi(docs, k1=k1, b=b, epsilon=eps)
    ours = BM25Index(docs, k1=k1, b=b, epsilon=eps, dtype=np.float64)
    assert ours.average_idf == pytest.approx(ref.average_idf)
    for q in queries:  # repeated and unknown query tokens included
        # rank-bm25 computes 0/0 = NaN for an empty document when b = 1; that document scores 0 here
        with np.errstate(invalid="ignore"):
            want = np.nan_to_num(ref.get_scores(q), nan=0.0)
        np.testing.assert_allclose(ours.scores(q), want, rtol=1e-12, atol=1e-12)
        _, rows = ours.search([q], 5)
        assert_same_ranking(want, rows[0], 5, 1e-9)


def test_rankings_match_rank_bm25_on_real_text():
    corpus = synthesize(40, seed=2, dim=32)
    texts = [r.text for r in corpus.records]
    docs = tokenize_all(texts)
    ref = BM25Okapi(docs)
    ours = BM25Index(docs)  # the default float32 weights, as the benchmark uses them
    rng = np.random.default_rng(0)
    for i in rng.choice(len(texts), 40, replace=False):
        q = docs[i][:12]
        _, rows = ours.search([q], 10)
        assert_same_ranking(ref.get_scores(q), rows[0], 10, 1e-5)


def test_idf_floor_for_terms_in_more_than_half_the_documents():
    docs = [["a", "b"], ["a", "c"], ["a"], ["d"]]  # "a": df 3 of 4 -> negative idf -> floored
    ours = BM25Index(docs, dtype=np.float64)
    raw = {
        t: math.log(4 - df + 0.5) - math.log(df + 0.5) for t, df in {"a": 3, "b": 1, "c": 1, "d": 1}.items()
    }
    mean = sum(raw.values()) / 4
    vocab = ours.terms.vocab
    assert ours.idf[vocab["a"]] == pytest.approx(0.25 * mean)
    assert ours.idf[vocab["b"]] == pytest.approx(raw["b"])
    assert ours.idf[vocab["a"]] > 0  # floored, so "a" still scores


def test_exclusions_padding_and_ties():
    docs = [["x", "y"], ["x", "y"], ["z"], ["x", "y"], ["w"], ["w"], ["v"], ["u"]]
    bm = BM25Index(docs)
    scores, rows = bm.search([["x"]], 5, exclude=np.array([[1]]))
    assert rows[0].tolist() == [0, 3, -1, -1, -1]  # equal scores: lower row first; 1 excluded; z never
    assert np.isneginf(scores[0, 2:]).all()
    _, rows = bm.search([["unknown"]], 3)
    assert rows[0].tolist() == [-1, -1, -1]


def test_term_matrix_from_ids_equals_from_tokens():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 20, size=50)
    ids = rng.integers(0, 30, size=int(lengths.sum()))
    splits = np.split(ids, np.cumsum(lengths)[:-1])
    a = BM25Index(TermMatrix.from_ids(ids, lengths, 40), dtype=np.float64)  # ids 30..39 never occur
    b = BM25Index([d.tolist() for d in splits], dtype=np.float64)
    for q in ([1, 2, 2], [29, 5], [31]):
        np.testing.assert_allclose(a.scores(q), b.scores(q), rtol=1e-12)


def test_empty_corpus_is_an_input_error():
    with pytest.raises(InputError, match="no documents"):
        BM25Index([])


def test_tokenize_lowercases_drops_function_words_keeps_unicode():
    assert tokenize("The Café of Zürich, in 1921!") == ["café", "zürich", "1921"]
    assert tokenize("The cat", stopwords=None) == ["the", "cat"]


# --- lex --------------------------------------------------------------------------------------------
@FAST
@given(corpus())
def test_lex_is_jaccard_of_token_sets(case):
    docs, queries = case
    lex = LexIndex(docs)
    for q in queries:
        want = np.array(
            [len(set(q) & set(d)) / len(set(q) | set(d)) if set(q) | set(d) else 0.0 for d in docs]
        )
        np.testing.assert_allclose(lex.scores(q), want, atol=1e-12)
        _, rows = lex.search([q], 4)
        assert_same_ranking(want, rows[0], 4, 1e-12)


def test_lex_finds_each_text_first():
    corpus = synthesize(10, seed=4, dim=16)
    docs = tokenize_all(r.text for r in corpus.records)
    lex = LexIndex(docs)
    scores, rows = lex.search(docs, 1)
    assert np.array_equal(rows[:, 0], np.arange(len(docs)))
    assert np.allclose(scores[:, 0], 1.0)
