"""The decoder interface and the nearest-neighbour decoder (numpy and faiss engines)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lvmgate.corpus import ChunkRecord
from lvmgate.decoders import DECODER_NAMES, Decoded, NearestDecoder, get_decoder
from lvmgate.decoders.base import NONFINITE, ZERO
from lvmgate.decoders.nearest import benchmark
from lvmgate.errors import InputError
from lvmgate.stores import EmbeddedStore


def _bank(n: int = 50, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)).astype(np.float32), [f"chunk {i}" for i in range(n)]


def _brute(bank: np.ndarray, q: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    s = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ b.T  # (q, N)
    if exclude is not None:
        s[np.arange(len(q)), exclude] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("method", ["numpy", "faiss"])
def test_decodes_bank_rows_to_their_own_text(method):
    bank, texts = _bank()
    dec = get_decoder("nearest", bank=bank, texts=texts, method=method)
    out = dec.decode(bank[[3, 17, 42]] * 5.0)  # cosine: scale does not matter
    assert [d.text for d in out] == ["chunk 3", "chunk 17", "chunk 42"]
    assert [d.row for d in out] == [3, 17, 42]
    assert all(d.ok and d.score == pytest.approx(1.0, abs=1e-5) for d in out)


@pytest.mark.parametrize("method", ["numpy", "faiss"])
def test_exclude_self_returns_the_true_runner_up(method):
    bank, texts = _bank()
    rows = np.array([0, 10, 49])
    dec = NearestDecoder(bank, texts, method=method, block_rows=7)
    out = dec.decode(bank[rows], exclude=rows)
    expected = _brute(bank, bank[rows], 1, rows)[:, 0]
    assert [d.row for d in out] == expected.tolist()
    assert all(d.row not in rows.tolist() and d.score < 1.0 for d in out)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 40),
    nq=st.integers(1, 9),
    k=st.integers(1, 5),
    block=st.integers(1, 50),
    seed=st.integers(0, 10_000),
)
def test_search_is_exact_over_the_whole_bank(n, nq, k, block, seed):
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((n, 8)).astype(np.float32)
    q = rng.standard_normal((nq, 8)).astype(np.float32)
    dec = NearestDecoder(bank, [str(i) for i in range(n)], block_rows=block)
    scores, rows = dec.search(q, k)
    want = _brute(bank, q, min(k, n))
    assert np.array_equal(rows[:, : min(k, n)], want)  # blocks never hide a better row
    assert np.all(np.diff(scores[:, : min(k, n)], axis=1) <= 1e-6)  # best first
    if k > n:  # fewer usable rows than asked: padded with -1 / -inf
        assert np.all(rows[:, n:] == -1) and np.all(np.isneginf(scores[:, n:]))
    faiss_rows = NearestDecoder(bank, [str(i) for i in range(n)], method="faiss").search(q, k)[1]
    assert np.array_equal(faiss_rows[:, : min(k, n)], want)


@pytest.mark.parametrize("method", ["numpy", "faiss"])
def test_broken_bank_rows_never_match(method):
    bank, texts = _bank(20)
    bank[5] = np.nan
    bank[6] = 0.0
    dec = NearestDecoder(bank, texts, method=method)
    assert dec.params()["unusable_bank_rows"] == 2
    scores, rows = dec.search(np.vstack([bank[:5], bank[7:]]), 20)
    assert np.all(np.isneginf(scores[:, -2:]))
    assert not np.isin(rows, [5, 6]).any()
    assert np.all(rows[:, -2:] == -1)  # only 18 usable rows


def test_bad_query_rows_are_reported_in_place():
    bank, texts = _bank(20)
    q = bank[[1, 2, 3, 4]].copy()
    q[1] = np.nan
    q[2] = 0.0
    out = NearestDecoder(bank, texts).decode(q, batch_size=1)
    assert [d.text for d in out] == ["chunk 1", "", "", "chunk 4"]
    assert [d.error for d in out] == [None, NONFINITE, ZERO, None]
    assert not out[1].ok and np.isnan(out[1].score)


def test_batching_does_not_change_answers_and_reports_batches():
    bank, texts = _bank(100)
    dec = NearestDecoder(bank, texts)
    seen: list[int] = []
    a = dec.decode(bank[::3], batch_size=4, on_batch=lambda n, s: seen.append(n))
    b = dec.decode(bank[::3], batch_size=1000)
    assert [(d.text, d.row) for d in a] == [(d.text, d.row) for d in b]
    assert [d.score for d in a] == pytest.approx([d.score for d in b], abs=1e-6)
    assert all(-1.0 <= d.score <= 1.0 for d in a)
    assert sum(seen) == len(a) and max(seen) == 4


def test_input_errors():
    bank, texts = _bank(10, dim=16)
    dec = NearestDecoder(bank, texts)
    with pytest.raises(InputError, match="expects 16-D"):
        dec.decode(np.ones((2, 8), np.float32))
    with pytest.raises(InputError, match="shape"):
        dec.decode(np.ones((2, 2, 16), np.float32))
    assert dec.decode(bank[2])[0].text == "chunk 2"  # one vector (D,) is one query
    with pytest.raises(InputError, match="exclude"):
        dec.decode(bank[:2], exclude=np.array([1]))
    with pytest.raises(InputError, match="texts"):
        NearestDecoder(bank, texts[:3])
    with pytest.raises(InputError, match="method"):
        NearestDecoder(bank, texts, method="annoy")
    with pytest.raises(InputError, match="unknown decoder"):
        get_decoder("vec2vec")
    with pytest.raises(InputError, match="bank"):
        get_decoder("nearest", texts=texts)
    assert set(DECODER_NAMES) == {"nearest", "jxe", "ielab"}


def test_from_store_reads_the_whole_bank(tmp_path):
    rng = np.random.default_rng(1)
    records = [ChunkRecord(f"a{i // 10}", i % 10, f"text number {i}") for i in range(60)]
    vectors = rng.standard_normal((60, 12)).astype(np.float32)
    store = EmbeddedStore(tmp_path / "store")
    store.ingest("d", records, vectors)
    dec = get_decoder("nearest", store=store, dataset="d")
    assert dec.n_rows == 60 and dec.dim == 12
    out = dec.decode(store.vectors("d", np.array([0, 59])))
    assert [d.text for d in out] == store.texts("d", [0, 59])
    assert isinstance(out[0], Decoded) and dec.params()["source"].endswith("#d")
    store.close()


def test_benchmark_runs_and_methods_agree():
    result = benchmark(2000, dim=32, n_queries=64, batch_size=16, repeats=1)
    assert result["agree"] is True
    assert result["numpy"]["queries_per_s"] > 0 and result["faiss"]["queries_per_s"] > 0
