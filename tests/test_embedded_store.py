"""Embedded-store specifics: on-disk layout, URL forms, persistence, memory maps, the vector writer's
block / alignment / O_DIRECT paths, content fingerprints and large ingests across staging blocks."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pytest

from lvmgate.corpus import ChunkRecord, canonical_order
from lvmgate.errors import InputError
from lvmgate.stores import EmbeddedStore, open_store
from lvmgate.stores import embedded as embedded_mod


def _data(n_articles: int = 30, per: int = 7, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    recs = [
        ChunkRecord(f"a{a:03d}", c, f"text {a} {c}", f"T{a}", a % 5, a % 7, c % 11)
        for a in rng.permutation(n_articles)
        for c in rng.permutation(per)
    ]
    return recs, rng.standard_normal((len(recs), dim)).astype(np.float32)


def _canonical(recs, vecs):
    perm = canonical_order([r.article_id for r in recs], np.array([r.chunk_index for r in recs]))
    return [recs[i] for i in perm], vecs[perm]


def _vector_files(store: EmbeddedStore) -> list[str]:
    return sorted(p.name for p in store.vector_dir.iterdir())


def test_layout_files_and_cleanup(tmp_path):
    store = EmbeddedStore(tmp_path / "s")
    recs, vecs = _data()
    store.ingest("wiki", recs, vecs)
    assert (tmp_path / "s" / "lvmgate.sqlite").is_file()
    files = _vector_files(store)
    assert len(files) == 2 and {Path(f).suffix for f in files} == {".f32", ".npz"}
    f32 = next(store.vector_dir.glob("wiki-*.f32"))
    assert f32.stat().st_size == vecs.nbytes
    _, want_vec = _canonical(recs, vecs)
    assert np.fromfile(f32, np.float32).reshape(vecs.shape).tobytes() == want_vec.tobytes()

    store.ingest("wiki", recs[:10], vecs[:10], replace=True)
    assert len(_vector_files(store)) == 2 and _vector_files(store) != files  # old files gone
    bad = vecs[:10].copy()
    bad[3] = np.nan
    with pytest.raises(InputError):
        store.ingest("other", recs[:10], bad)
    assert len(_vector_files(store)) == 2  # nothing left behind by the failed ingest
    store.delete("wiki")
    assert _vector_files(store) == []


def test_sqlite_url_form_and_persistence(tmp_path):
    url = f"sqlite:///{tmp_path}/data/lvm.db"
    recs, vecs = _data()
    with open_store(url) as store:
        store.ingest("wiki", recs, vecs, encoder="enc", meta={"a": 1})
        info = store.info("wiki")
    assert (tmp_path / "data" / "lvm.db").is_file()
    assert list((tmp_path / "data" / "lvm.db.d" / "vectors").glob("wiki-*.f32"))
    reopened = open_store(url)
    assert reopened.info("wiki") == info
    vec = reopened.vectors("wiki")
    assert isinstance(vec, np.memmap) and not vec.flags.writeable  # memory-mapped, read-only
    np.testing.assert_array_equal(np.asarray(vec), _canonical(recs, vecs)[1])


def test_sqlite_urls_follow_sqlalchemy_relative_and_absolute(tmp_path, monkeypatch):
    # sqlite:///x.db is relative to the working directory, sqlite:////abs/x.db absolute (SQLAlchemy)
    monkeypatch.chdir(tmp_path)
    recs, vecs = _data()
    with open_store("sqlite:///rel/s.db") as store:
        store.ingest("wiki", recs, vecs)
    assert (tmp_path / "rel" / "s.db").is_file() and not Path("/rel/s.db").exists()
    with open_store(f"sqlite:////{tmp_path.relative_to('/')}/rel/s.db") as again:
        assert again.datasets() == ["wiki"]
    for bad in ("sqlite://", "sqlite:///", "sqlite://host/x.db"):
        with pytest.raises(InputError, match=r"sqlite:///relative/lvm\.db or sqlite:////absolute"):
            open_store(bad)


@pytest.mark.parametrize("source", ["memmap_npy", "float64", "strided", "identity_order"])
def test_vector_inputs_of_every_kind(tmp_path, source):
    recs, vecs = _data(dim=8)
    if source == "memmap_npy":
        np.save(tmp_path / "v.npy", vecs)
        given = np.load(tmp_path / "v.npy", mmap_mode="r")
    elif source == "float64":
        given = vecs.astype(np.float64)
    elif source == "strided":
        wide = np.zeros((len(vecs), 16), np.float32)
        wide[:, ::2] = vecs
        given = wide[:, ::2]
    else:
        recs, vecs = _canonical(recs, vecs)
        given = vecs
    store = EmbeddedStore(tmp_path / "s")
    store.ingest("d", recs, given)
    np.testing.assert_array_equal(np.asarray(store.vectors("d")), _canonical(recs, vecs)[1])


def test_vector_writer_blocks_and_unaligned_tail(tmp_path, monkeypatch):
    # 1024-row blocks of 64 B rows: 4 full blocks and a 904-row tail that is not 4096-aligned
    monkeypatch.setattr(embedded_mod, "_VECTOR_BLOCK_BYTES", 64 * 1024)
    recs = [ChunkRecord(f"x{i % 97:02d}", i, "t") for i in range(5000)]
    vecs = np.random.default_rng(1).standard_normal((5000, 16)).astype(np.float32)
    store = EmbeddedStore(tmp_path / "s")
    store.ingest("d", recs, vecs)
    f32 = next(store.vector_dir.glob("d-*.f32"))
    assert f32.stat().st_size == vecs.nbytes
    np.testing.assert_array_equal(np.asarray(store.vectors("d")), _canonical(recs, vecs)[1])


def test_direct_writer_falls_back_to_buffered_writes(tmp_path):
    """Where O_DIRECT refuses a write (here: a buffer that is not page-aligned; elsewhere: a file
    system without direct I/O) the writer reopens the file buffered and carries on."""
    import mmap

    raw = mmap.mmap(-1, 3 * 4096)
    raw[:] = bytes(range(256)) * 48
    misaligned = memoryview(raw)[1:]
    out = embedded_mod._DirectFile(tmp_path / "x.f32")
    out.write(misaligned, 5000)
    out.write(misaligned, 100)
    out.finish()
    out.close()
    assert out.direct is False
    data = (tmp_path / "x.f32").read_bytes()
    assert data == bytes(misaligned[:5000]) + bytes(misaligned[:100])
    misaligned.release()


def test_fingerprint_is_content_derived(tmp_path):
    recs, vecs = _data()
    a, b = EmbeddedStore(tmp_path / "a"), EmbeddedStore(tmp_path / "b")
    a.ingest("d", recs, vecs)
    b.ingest("d", recs, vecs)
    assert a.info("d").fingerprint == b.info("d").fingerprint
    changed = vecs.copy()
    changed[17, 3] += 1e-3
    b.ingest("d", recs, changed, replace=True)
    assert a.info("d").fingerprint != b.info("d").fingerprint
    b.ingest("d", recs, None, replace=True)
    assert a.info("d").fingerprint != b.info("d").fingerprint


def test_ingest_across_staging_blocks_and_gc_restored(tmp_path):
    n = embedded_mod._BLOCK * 2 + 123
    recs = [ChunkRecord(f"doc{(i * 7919) % 1000:04d}", i // 1000, f"t{i}") for i in range(n)]
    store = EmbeddedStore(tmp_path / "s")
    assert gc.isenabled()
    store.ingest("big", iter(recs))
    assert gc.isenabled()
    want, _ = _canonical(recs, np.zeros((n, 1), np.float32))
    got = [
        (str(b.article_id[i]), int(b.chunk_index[i]), b.text[i])
        for b in store.iter_batches("big")
        for i in range(len(b))
    ]
    assert got == [(r.article_id, r.chunk_index, r.text) for r in want]
    index = store.articles("big")
    assert index.n_articles == 1000 and index.n_rows == n

    def boom():
        yield recs[0]
        raise RuntimeError("upstream died")

    with pytest.raises(RuntimeError):
        store.ingest("broken", boom())
    assert gc.isenabled() and store.datasets() == ["big"]


def test_store_path_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot open embedded store"):
        EmbeddedStore(blocker / "store")
    assert os.path.isfile(blocker)
