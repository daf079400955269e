"""The Store contract, run against every implementation: the embedded store and PostgreSQL in both
vector modes (pgvector `vector(D)` and `real[]`). Each test gets an empty store of its own."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvmgate.corpus import MISSING, ChunkBatch, ChunkRecord, canonical_order
from lvmgate.errors import InputError
from lvmgate.stores import open_store
from lvmgate.stores.base import Store
from lvmgate.synth import synthesize
from lvmgate.testing.pg import fresh_database, pg_db_url, pg_url, server_has_pgvector  # noqa: F401

DIM = 16
KINDS = [
    "embedded",
    pytest.param("pg-pgvector", marks=pytest.mark.postgres),
    pytest.param("pg-float4", marks=pytest.mark.postgres),
]


def _mode_url(db_url: str, mode: str) -> str:
    return db_url + ("&" if "?" in db_url else "?") + f"lvmgate_vectors={mode}"


def _require_pgvector(url: str) -> None:
    if not server_has_pgvector(url):
        pytest.skip("this PostgreSQL server has no pgvector extension (the float4 mode still runs)")


@pytest.fixture(params=KINDS)
def store(request, tmp_path) -> Iterator[Store]:
    """An empty store of each kind."""
    kind = request.param
    if kind == "embedded":
        url = str(tmp_path / "store")
    else:
        db = request.getfixturevalue("pg_db_url")
        mode = kind.split("-", 1)[1]
        if mode == "pgvector":
            _require_pgvector(db)
        url = _mode_url(db, mode)
    s = open_store(url)
    yield s
    s.close()


# -- data ----------------------------------------------------------------------------------------
@functools.lru_cache
def _corpus(n_articles: int = 8, seed: int = 3):
    c = synthesize(n_articles, seed=seed, dim=DIM)
    return c.records, c.vectors


def shuffled_corpus(n_articles: int = 8, seed: int = 3) -> tuple[list[ChunkRecord], np.ndarray]:
    """Synthetic records in a non-canonical input order (articles reversed, chunks interleaved),
    with a few rows lacking TMD codes and a duplicated (article, chunk_index) key."""
    records, vectors = _corpus(n_articles, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(records))
    recs = [records[i] for i in order]
    recs[0] = ChunkRecord(recs[0].article_id, recs[0].chunk_index, recs[0].text, None, None, None, None)
    recs.append(ChunkRecord(recs[1].article_id, recs[1].chunk_index, "a duplicate key", "dup", 2, 3, 4))
    vecs = np.concatenate([vectors[order], vectors[order[1]][None] * 2.0]).astype(np.float32)
    return recs, vecs


def expected(records: list[ChunkRecord], vectors: np.ndarray | None):
    """Records and vectors in canonical order, computed independently of any store."""
    perm = canonical_order([r.article_id for r in records], np.array([r.chunk_index for r in records]))
    return [records[i] for i in perm], (None if vectors is None else vectors[perm])


def read_all(store: Store, dataset: str, **kw) -> dict:
    """Concatenate every batch into columns."""
    batches = list(store.iter_batches(dataset, **kw))
    return concat(batches)


def concat(batches: list[ChunkBatch]) -> dict:
    out: dict = {"n_batches": len(batches)}
    if not batches:
        return out | {"pos": np.zeros(0, np.int64)}
    out["pos"] = np.concatenate([b.pos for b in batches])
    out["article_id"] = [str(a) for b in batches for a in b.article_id]
    out["chunk_index"] = np.concatenate([b.chunk_index for b in batches]).tolist()
    if batches[0].text is not None:
        out["text"] = [t for b in batches for t in b.text]
        out["title"] = [t for b in batches for t in b.title]
    if batches[0].domain_code is not None:
        for name in ("domain_code", "task_code", "modifier_code"):
            out[name] = np.concatenate([getattr(b, name) for b in batches]).tolist()
    if batches[0].vectors is not None:
        out["vectors"] = np.concatenate([b.vectors for b in batches])
    return out


def assert_matches(got: dict, records: list[ChunkRecord], vectors: np.ndarray | None) -> None:
    """`got` (from read_all) equals the given canonical records / vectors field by field."""
    assert got["article_id"] == [r.article_id for r in records]
    assert got["chunk_index"] == [r.chunk_index for r in records]
    if "text" in got:
        assert got["text"] == [r.text for r in records]
        assert got["title"] == [r.title for r in records]
    if "domain_code" in got:
        for name in ("domain_code", "task_code", "modifier_code"):
            want = [MISSING if getattr(r, name) is None else getattr(r, name) for r in records]
            assert got[name] == want, name
    if vectors is not None:
        assert got["vectors"].dtype == np.float32
        np.testing.assert_array_equal(got["vectors"], vectors)


def snapshot(store: Store) -> dict:
    """Everything observable about a store's datasets, to prove that a failed call changed nothing."""
    out = {}
    for name in store.datasets():
        info = store.info(name)
        got = read_all(store, name)
        got.pop("n_batches")
        if "vectors" in got:
            got["vectors"] = got["vectors"].tobytes()
        got["pos"] = got["pos"].tolist()
        out[name] = (info.to_dict(), got)
    return out


# -- reading back ----------------------------------------------------------------------------------
def test_ingest_reads_back_exact_rows_in_canonical_order(store):
    records, vectors = shuffled_corpus()
    result = store.ingest("wiki", records, vectors, encoder="hashing-test", meta={"k": 1})
    want, want_vec = expected(records, vectors)
    assert (result.n_rows, result.dim, result.replaced) == (len(records), DIM, False)
    assert result.n_articles == len({r.article_id for r in records})
    got = read_all(store, "wiki")
    assert got["pos"].tolist() == list(range(len(records)))
    assert_matches(got, want, want_vec)
    np.testing.assert_array_equal(np.asarray(store.vectors("wiki")), want_vec)
    assert store.datasets() == ["wiki"] and store.has_dataset("wiki") and not store.has_dataset("other")


def test_streams_in_small_batches_and_row_subsets(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors)
    want, want_vec = expected(records, vectors)
    n = len(want)
    batches = list(store.iter_batches("wiki", batch_size=7))
    assert len(batches) == -(-n // 7) and all(len(b) <= 7 for b in batches)
    assert_matches(concat(batches), want, want_vec)

    rows = np.sort(np.random.default_rng(0).choice(n, size=n // 3, replace=False))
    sub = list(store.iter_batches("wiki", batch_size=5, rows=rows))
    assert all(len(b) <= 5 for b in sub)
    got = concat(sub)
    assert got["pos"].tolist() == rows.tolist()
    assert_matches(got, [want[i] for i in rows], want_vec[rows])
    np.testing.assert_array_equal(np.asarray(store.vectors("wiki", rows)), want_vec[rows])

    lean = read_all(store, "wiki", text=False, tmd=False, vectors=False, batch_size=1000)
    assert "text" not in lean and "domain_code" not in lean and "vectors" not in lean
    assert lean["article_id"] == [r.article_id for r in want]
    assert read_all(store, "wiki", rows=np.zeros(0, np.int64))["pos"].size == 0
    for bad in ([3, 2], [0, 0], [-1], [n]):
        with pytest.raises(ValueError):
            list(store.iter_batches("wiki", rows=np.array(bad)))


def test_articles_index_offsets(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors)
    want, _ = expected(records, vectors)
    index = store.articles("wiki")
    ids = sorted({r.article_id for r in records})
    assert list(index.ids) == ids
    assert index.n_rows == len(want) and index.offsets[0] == 0
    for a, aid in enumerate(index.ids):
        lo, hi = index.offsets[a], index.offsets[a + 1]
        assert all(r.article_id == aid for r in want[lo:hi])
    assert index.chunk_index.tolist() == [r.chunk_index for r in want]


def test_domain_counts_and_texts(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors)
    counts = Counter(r.domain_code for r in records)
    want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is not None, kv[0] or 0))
    assert store.domain_counts("wiki") == want
    canon, _ = expected(records, vectors)
    asked = [5, 0, 5, len(canon) - 1, 2]
    assert store.texts("wiki", asked) == [canon[i].text for i in asked]


def test_info_and_fingerprint(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors, encoder="hashing-test", meta={"source": "x.jsonl"})
    info = store.info("wiki")
    assert (info.name, info.n_rows, info.dim, info.encoder, info.has_tmd) == (
        "wiki",
        len(records),
        DIM,
        "hashing-test",
        True,
    )
    assert info.n_articles == len({r.article_id for r in records})
    assert info.meta.get("source") == "x.jsonl"
    assert store.info("wiki").fingerprint == info.fingerprint  # stable between reads
    assert store.require("wiki") == info

    prints = {info.fingerprint}
    changed_code = [
        ChunkRecord(r.article_id, r.chunk_index, r.text, r.title, 9, r.task_code, r.modifier_code)
        if i == 3
        else r
        for i, r in enumerate(records)
    ]
    changed_index = [
        ChunkRecord(r.article_id, r.chunk_index + 100, r.text, r.title, r.domain_code) if i == 3 else r
        for i, r in enumerate(records)
    ]
    for variant in (changed_code, changed_index, records[:-1]):
        store.ingest("wiki", variant, vectors[: len(variant)], replace=True)
        fp = store.info("wiki").fingerprint
        assert fp not in prints
        prints.add(fp)
    with pytest.raises(InputError, match="unknown dataset"):
        store.info("nope")


def test_refuses_existing_dataset_without_replace(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors)
    before = snapshot(store)
    other, other_vec = _corpus(3, seed=9)
    with pytest.raises(InputError, match="already exists"):
        store.ingest("wiki", other, other_vec)
    assert snapshot(store) == before


def test_replace_swaps_content(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors)
    store.ingest("keep", records[:5], vectors[:5])
    other, other_vec = _corpus(3, seed=9)
    result = store.ingest("wiki", other, other_vec, replace=True, encoder="new")
    assert result.replaced and result.n_rows == len(other)
    want, want_vec = expected(other, other_vec)
    assert_matches(read_all(store, "wiki"), want, want_vec)
    assert store.info("wiki").encoder == "new"
    assert store.datasets() == ["keep", "wiki"] and store.info("keep").n_rows == 5


def test_delete(store):
    records, vectors = shuffled_corpus()
    store.ingest("wiki", records, vectors)
    store.ingest("keep", records[:5], vectors[:5])
    store.delete("wiki")
    assert store.datasets() == ["keep"] and not store.has_dataset("wiki")
    with pytest.raises(InputError, match="unknown dataset"):
        store.delete("wiki")
    with pytest.raises(InputError):
        list(store.iter_batches("wiki"))
    assert read_all(store, "keep")["pos"].tolist() == list(range(5))
    store.ingest("wiki", records, vectors)  # the name is free again
    assert store.info("wiki").n_rows == len(records)


# -- failed ingests change nothing -------------------------------------------------------------------
def _raising(records: list[ChunkRecord], after: int) -> Iterator[ChunkRecord]:
    for i, r in enumerate(records):
        if i == after:
            raise InputError("chunks.jsonl:12: malformed JSON (simulated)")
        yield r


def _bad_nan(records, vectors):
    v = vectors.copy()
    v[4, 2] = np.nan
    return records, v, {}


def _bad_zero(records, vectors):
    v = vectors.copy()
    v[7] = 0.0
    return records, v, {}


def _bad_midway(records, vectors):
    return _raising(records, len(records) // 2), vectors, {}


def _bad_count(records, vectors):
    return records, vectors[:-2], {}


def _bad_shape(records, vectors):
    return records, vectors[:, 0], {}


def _bad_name(records, vectors):
    return records, vectors, {"dataset": "bad name!"}


FAILURES = {
    "nan": (_bad_nan, "NaN"),
    "zero": (_bad_zero, "all zero"),
    "raises_midway": (_bad_midway, "malformed"),
    "count_mismatch": (_bad_count, "vectors for"),
    "not_2d": (_bad_shape, "2-D"),
    "bad_name": (_bad_name, "invalid dataset name"),
}


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replace"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failed_ingest_leaves_store_unchanged(store, failure, existing):
    records, vectors = shuffled_corpus()
    if existing:
        old, old_vec = _corpus(3, seed=9)
        store.ingest("wiki", old, old_vec, encoder="old")
    before = snapshot(store)
    make, message = FAILURES[failure]
    recs, vecs, kw = make(records, vectors)
    with pytest.raises(InputError, match=message):
        store.ingest(kw.get("dataset", "wiki"), recs, vecs, replace=True)
    assert snapshot(store) == before
    # and the store still works afterwards
    store.ingest("after", records, vectors, replace=True)
    assert store.info("after").n_rows == len(records)


def test_allow_invalid_keeps_nan_inf_and_zero_rows(store):
    records, vectors = shuffled_corpus()
    v = vectors.copy()
    v[1] = np.nan
    v[2, 3] = np.inf
    v[3, :4] = np.nan
    v[5] = 0.0
    v[6, 0] = -np.inf
    store.ingest("broken", records, v, allow_invalid=True)
    want, want_vec = expected(records, v)
    assert_matches(read_all(store, "broken", batch_size=4), want, want_vec)  # NaN == NaN here
    np.testing.assert_array_equal(np.asarray(store.vectors("broken")), want_vec)


def test_dataset_without_vectors(store):
    records, _ = shuffled_corpus()
    result = store.ingest("plain", records)
    assert result.dim is None and store.info("plain").dim is None
    want, _ = expected(records, None)
    got = read_all(store, "plain")
    assert "vectors" not in got
    assert_matches(got, want, None)
    with pytest.raises(InputError, match="no vectors"):
        store.vectors("plain")


def test_dataset_without_tmd_codes(store):
    records, vectors = shuffled_corpus()
    bare = [ChunkRecord(r.article_id, r.chunk_index, r.text) for r in records]
    store.ingest("bare", bare, vectors)
    info = store.info("bare")
    assert info.has_tmd is False
    assert store.domain_counts("bare") == [(None, len(bare))]
    got = read_all(store, "bare")
    assert set(got["domain_code"]) == {MISSING} and set(got["title"]) == {None}


def test_empty_dataset(store):
    store.ingest("empty", [], np.zeros((0, DIM), np.float32))
    info = store.info("empty")
    assert (info.n_rows, info.n_articles, info.dim) == (0, 0, DIM)
    assert store.datasets() == ["empty"]
    assert store.articles("empty").n_rows == 0
    assert list(store.iter_batches("empty")) == []
    assert store.vectors("empty").shape == (0, DIM)
    with pytest.raises(InputError, match="empty"):
        store.require("empty")


UNICODE_IDS = [
    "Zeta",
    "alpha",
    "Émile",
    "émile",
    "Straße",
    "日本",
    "😀 emoji",
    "ａ-fullwidth",
    "a\u0301",
    "a",
    "B",
]


def test_unicode_article_ids_in_code_point_order(store):
    rng = np.random.default_rng(5)
    records = [
        ChunkRecord(aid, int(k), f"{aid} {k}", None, int(k) % 3) for aid in UNICODE_IDS for k in (2, 0, 1)
    ]
    records = [records[i] for i in rng.permutation(len(records))]
    vectors = rng.standard_normal((len(records), DIM)).astype(np.float32)
    store.ingest("uni", records, vectors)
    assert list(store.articles("uni").ids) == sorted(UNICODE_IDS)  # Python sorts by code point
    want, want_vec = expected(records, vectors)
    assert_matches(read_all(store, "uni"), want, want_vec)


# -- across stores -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def all_stores(tmp_path_factory, pg_url) -> Iterator[dict[str, Store]]:  # noqa: F811
    """One store of each kind, shared by the module's cross-store tests (datasets named per test)."""
    stores: dict[str, Store] = {"embedded": open_store(str(tmp_path_factory.mktemp("emb") / "store"))}
    with fresh_database(pg_url) as db_vec, fresh_database(pg_url) as db_f4:
        if server_has_pgvector(pg_url):
            stores["pg-pgvector"] = open_store(_mode_url(db_vec, "pgvector"))
        stores["pg-float4"] = open_store(_mode_url(db_f4, "float4"))
        yield stores
        for s in stores.values():
            s.close()


def _columns(store: Store, dataset: str, **kw) -> dict:
    got = read_all(store, dataset, **kw)
    got.pop("n_batches")
    got["pos"] = got["pos"].tolist()
    if "vectors" in got:
        got["vectors"] = got["vectors"].tobytes()
    return got


@pytest.mark.postgres
def test_synthetic_corpus_round_trips_identically_through_every_store(all_stores):
    corpus = synthesize(25, seed=11, dim=DIM, fault="duplicate_chunks")
    infos = {}
    for kind, s in all_stores.items():
        s.ingest("synth", corpus.records, corpus.vectors, encoder=corpus.meta["encoder"], replace=True)
        infos[kind] = s.info("synth")
    reference = _columns(all_stores["embedded"], "synth", batch_size=100)
    want, want_vec = expected(corpus.records, corpus.vectors)
    assert_matches(
        {**reference, "vectors": np.frombuffer(reference["vectors"], np.float32).reshape(-1, DIM)},
        want,
        want_vec,
    )
    rows = np.arange(0, len(want), 7)
    for kind, s in all_stores.items():
        assert _columns(s, "synth", batch_size=100) == reference, kind
        assert _columns(s, "synth", rows=rows) == _columns(all_stores["embedded"], "synth", rows=rows), kind
        a, e = s.articles("synth"), all_stores["embedded"].articles("synth")
        assert list(a.ids) == list(e.ids) and a.offsets.tolist() == e.offsets.tolist(), kind
        assert a.chunk_index.tolist() == e.chunk_index.tolist(), kind
        assert s.domain_counts("synth") == all_stores["embedded"].domain_counts("synth"), kind
        info = infos[kind]
        assert (info.n_rows, info.n_articles, info.dim, info.encoder, info.has_tmd) == (
            len(want),
            len({r.article_id for r in want}),
            DIM,
            corpus.meta["encoder"],
            True,
        ), kind


_id_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=4
)
_record = st.builds(
    ChunkRecord,
    article_id=st.sampled_from(["a", "B", "é", "e\u0301", "日", "😀", "ab", "a b"]) | _id_text,
    chunk_index=st.integers(0, 6),
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
    ),
    title=st.none() | st.just("t"),
    domain_code=st.none() | st.integers(0, 15),
    task_code=st.none() | st.integers(0, 31),
    modifier_code=st.none() | st.integers(0, 63),
)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record, min_size=0, max_size=25))
def test_property_every_store_returns_the_same_canonical_rows(all_stores, records):
    """For any records (unicode ids, duplicate keys, missing codes), every store returns the rows in
    the order `canonical_order` defines, with identical contents."""
    vectors = np.arange(len(records) * DIM, dtype=np.float32).reshape(-1, DIM) + 1.0
    want, want_vec = expected(records, vectors)
    for kind, s in all_stores.items():
        s.ingest("prop", records, vectors, replace=True)
        got = read_all(s, "prop", batch_size=4)
        if records:
            assert got["pos"].tolist() == list(range(len(records))), kind
            assert_matches(got, want, want_vec)
        else:
            assert got["n_batches"] == 0
