"""TMD packing and the 1.2 distribution (checked against a direct count)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvmgate.corpus import MISSING
from lvmgate.metrics.tmd_distribution import tmd_distribution
from lvmgate.synth import synthesize
from lvmgate.tmd import DOMAINS, N_DOMAINS, pack, unpack


@given(st.integers(0, 15), st.integers(0, 31), st.integers(0, 63))
def test_pack_unpack_roundtrip(d, t, m):
    bits = pack(d, t, m)
    assert 0 <= bits < 2**16
    assert unpack(bits) == (d, t, m)


def test_pack_vectorised_and_range_checked():
    d, t, m = np.array([0, 15]), np.array([31, 0]), np.array([1, 63])
    assert [tuple(x) for x in zip(*unpack(pack(d, t, m)))] == [(0, 31, 1), (15, 0, 63)]
    with pytest.raises(ValueError):
        pack(16, 0, 0)
    assert len(DOMAINS) == N_DOMAINS == 16


@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.sampled_from([MISSING, 0, 1, 2, 3, 4, 5, 6, 15])),
        min_size=1,
        max_size=200,
    )
)
def test_matches_direct_count(rows):
    article = np.array([a for a, _ in rows])
    _, article = np.unique(article, return_inverse=True)
    codes = np.array([c for _, c in rows])
    r = tmd_distribution(codes, article, resamples=20)
    n = len(rows)
    counts = {c: int(np.sum(codes == c)) for c in range(16)}
    assert r.top_domain_pct.value == pytest.approx(100 * max(counts.values()) / n)
    assert r.unknown_pct.value == pytest.approx(100 * (counts[0] + np.sum(codes == MISSING)) / n)
    assert r.domains_over_5pct.value == sum(100 * v / n > 5 for v in counts.values())
    assert sum(d.chunks for d in r.domains) == n
    assert r.top_domain_pct.low <= r.top_domain_pct.high


def test_faults_move_the_right_numbers():
    def run(fault):
        c = synthesize(120, fault=fault, seed=4)
        ids = [r.article_id for r in c.records]
        _, art = np.unique(ids, return_inverse=True)
        return tmd_distribution(np.array([r.domain_code for r in c.records]), art, resamples=200)

    clean, flood, single = run(None), run("tmd_fallback_flood"), run("tmd_single_domain")
    assert clean.top_domain_pct.high < 50 and clean.unknown_pct.high < 30 and clean.domains_over_5pct.low >= 5
    assert flood.unknown_pct.low > 50
    assert single.top_domain_pct.value == 100 and single.domains_over_5pct.value == 1
