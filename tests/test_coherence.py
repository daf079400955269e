"""1.1 coherence metric: checked against a brute-force per-pair loop and on planted faults."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmgate.corpus import ArticleIndex
from lvmgate.metrics.coherence import coherence
from lvmgate.synth import synthesize


def make_index(lengths, chunk_index=None):
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ci = np.concatenate([np.arange(n) for n in lengths]) if chunk_index is None else np.asarray(chunk_index)
    return ArticleIndex(np.array([f"a{i}" for i in range(len(lengths))], dtype=object), offsets, ci)


def brute_force(vectors, lengths, lag=1):
    """Per-pair Python loop: cosines of rows `lag` apart inside one article, skipping invalid rows."""
    out, start = [], 0
    for n in lengths:
        for i in range(start, start + n - lag):
            a, b = vectors[i].astype(np.float64), vectors[i + lag].astype(np.float64)
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            if np.isfinite(na) and np.isfinite(nb) and na > 0 and nb > 0:
                out.append(float(a @ b / (na * nb)))
        start += n
    return np.array(out)


@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=25),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1, 3, 7, 64]),
)
@settings(max_examples=60, deadline=None)
def test_matches_brute_force_and_never_crosses_articles(lengths, seed, block_rows):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    vectors = rng.normal(size=(n, 6)).astype(np.float32)
    if n > 3:
        vectors[rng.integers(n)] = 0.0  # an invalid row must be excluded, not averaged in
    r = coherence(
        vectors,
        make_index(lengths),
        max_lag=3,
        order_lag=2,
        resamples=50,
        null_pairs=200,
        block_rows=block_rows,
    )
    for lag in (1, 2, 3):
        ref = brute_force(vectors, lengths, lag)
        got = r.decay[lag - 1]
        if ref.size:
            assert got.value == pytest.approx(ref.mean(), abs=1e-5)
        else:
            assert np.isnan(got.value)
    ref1 = brute_force(vectors, lengths, 1)
    assert r.n_pairs == ref1.size
    if ref1.size:
        assert r.high_pct.value == pytest.approx(100 * np.mean(ref1 >= 0.3), abs=1e-9)
        assert r.low_pct.value == pytest.approx(100 * np.mean(ref1 < 0.2), abs=1e-9)
        assert (
            -1.0 - 1e-6 <= r.mean.low <= r.mean.value + 1e-9
            and r.mean.value - 1e-9 <= r.mean.high <= 1.0 + 1e-6
        )


def test_subset_rows_use_bank_positions():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(50, 4)).astype(np.float32)
    rows = np.array([10, 11, 12, 30, 31])
    r = coherence(bank, make_index([3, 2]), rows=rows, max_lag=1, order_lag=1, resamples=20, null_pairs=50)
    ref = brute_force(bank[rows], [3, 2])
    assert r.mean.value == pytest.approx(ref.mean(), abs=1e-6)
    assert {(w.pos_a, w.pos_b) for w in r.worst_pairs} <= {(10, 11), (11, 12), (30, 31)}


def test_invalid_rows_counted_and_positions_checked():
    vectors = np.ones((6, 3), dtype=np.float32)
    vectors[1] = 0.0
    vectors[4] = np.nan
    r = coherence(
        vectors,
        make_index([6], chunk_index=[0, 1, 1, 2, 4, 5]),
        max_lag=1,
        order_lag=1,
        resamples=10,
        null_pairs=10,
    )
    assert (r.zero_rows, r.nan_rows) == (1, 1)
    assert r.invalid_pct.value == pytest.approx(100 * 2 / 6)
    assert r.pairs_excluded_invalid == 4  # (0,1) (1,2) (3,4) (4,5)
    assert (r.duplicate_positions, r.position_gaps) == (1, 1)


@pytest.fixture(scope="module")
def corpora():
    return {
        f: synthesize(80, fault=f, seed=5)
        for f in (None, "shuffled_order", "global_shuffle", "low_coherence")
    }


def run(c):
    ids = np.array([r.article_id for r in c.records])
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    lengths = np.diff(np.r_[starts, len(ids)])
    return coherence(c.vectors, make_index(lengths), resamples=200, null_pairs=5000)


def test_clean_corpus_is_coherent_ordered_and_above_the_null(corpora):
    r = run(corpora[None])
    assert r.mean.low > 0.3 and r.low_pct.high < 20 and r.high_pct.low > 60
    assert r.lift.low > 0.1
    assert r.order_margin.low > 0.02
    assert all(a.value > b.value for a, b in zip(r.decay, r.decay[1:]))


def test_lost_order_fools_the_plans_thresholds_but_not_the_order_margin(corpora):
    r = run(corpora["shuffled_order"])
    assert r.mean.low >= 0.3 and r.high_pct.low >= 60 and r.low_pct.high <= 20  # the plan alone says GO
    assert r.order_margin.high < 0.02  # ...but neighbours are no closer than chunks 3 apart


@pytest.mark.parametrize("fault", ["global_shuffle", "low_coherence"])
def test_unrelated_neighbours_look_like_the_null(corpora, fault):
    r = run(corpora[fault])
    assert r.mean.high < 0.2
    assert r.lift.high < 0.1
