"""`lvmgate ingest` with bad input: exit code 2, one line on stderr, and the store unchanged,
for the embedded store and PostgreSQL."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from lvmgate.cli import main
from lvmgate.corpus import ChunkRecord, write_records
from lvmgate.stores import open_store
from lvmgate.testing.pg import pg_db_url, pg_url  # noqa: F401

DIM = 16


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    if request.param == "embedded":
        return str(tmp_path / "store")
    return request.getfixturevalue("pg_db_url")


def _write_inputs(folder, n: int = 12, dim: int = DIM) -> tuple[str, str]:
    records = [ChunkRecord(f"art-{i // 4}", i % 4, f"chunk {i}", "T", i % 3) for i in range(n)]
    chunks, vectors = folder / "chunks.jsonl", folder / "vectors.npy"
    write_records(chunks, records)
    np.save(vectors, np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32))
    return str(chunks), str(vectors)


def _state(url: str) -> dict:
    store = open_store(url)
    try:
        return {n: store.info(n).to_dict() for n in store.datasets()}
    finally:
        store.close()


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["ingest", *argv, "--no-progress"])
    err = capsys.readouterr().err
    return code, err


def _assert_one_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lvmgate ingest: error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


@pytest.fixture
def seeded(tmp_path, store_url, capsys) -> tuple[str, str, str, dict]:
    """A store holding dataset 'existing', plus good input files; returns (url, chunks, vectors, state)."""
    chunks, vectors = _write_inputs(tmp_path)
    code = main(
        [
            "ingest",
            chunks,
            "--vectors",
            vectors,
            "--dim",
            str(DIM),
            "--store",
            store_url,
            "--dataset",
            "existing",
            "--no-progress",
        ]
    )
    capsys.readouterr()
    assert code == 0
    return store_url, chunks, vectors, _state(store_url)


def test_malformed_jsonl_names_file_and_line(seeded, tmp_path, capsys):
    url, chunks, vectors, before = seeded
    bad = tmp_path / "bad.jsonl"
    lines = open(chunks).read().splitlines()
    lines[2] = '{"article_id": "x", "chunk_index": 0, "text": '  # truncated line 3
    bad.write_text("\n".join(lines) + "\n")
    code, err = _run(
        capsys, str(bad), "--vectors", vectors, "--dim", str(DIM), "--store", url, "--dataset", "new"
    )
    assert code == 2
    _assert_one_line(err, f"{bad}:3", "malformed JSON")
    assert _state(url) == before


def test_invalid_record_field_names_file_and_line(seeded, tmp_path, capsys):
    url, chunks, _vectors, before = seeded
    bad = tmp_path / "bad.jsonl"
    lines = open(chunks).read().splitlines()
    lines[5] = json.dumps({"article_id": "x", "chunk_index": -1, "text": "t"})
    bad.write_text("\n".join(lines) + "\n")
    code, err = _run(capsys, str(bad), "--store", url, "--dataset", "new")
    assert code == 2
    _assert_one_line(err, f"{bad}:6", "chunk_index")
    assert _state(url) == before


def test_vectors_rows_count_mismatch(seeded, tmp_path, capsys):
    url, chunks, _vectors, before = seeded
    short = tmp_path / "short.npy"
    np.save(short, np.ones((11, DIM), np.float32))
    code, err = _run(
        capsys, chunks, "--vectors", str(short), "--dim", str(DIM), "--store", url, "--dataset", "new"
    )
    assert code == 2
    _assert_one_line(err, "11 vectors for 12 records")
    assert _state(url) == before


def test_wrong_dimension(seeded, capsys):
    url, chunks, vectors, before = seeded
    code, err = _run(capsys, chunks, "--vectors", vectors, "--store", url, "--dataset", "new")
    assert code == 2
    _assert_one_line(err, f"{DIM}-D, expected 768")
    assert _state(url) == before


def test_the_declared_encoders_dimension_is_the_default(seeded, capsys):
    # --vectors-encoder names what made the vectors; its dimension is expected without --dim
    url, chunks, vectors, _ = seeded
    code, err = _run(capsys, chunks, "--vectors", vectors, "--vectors-encoder", f"hashing:dim={DIM}",
                     "--store", url, "--dataset", "declared")  # fmt: skip
    assert code == 0, err
    code, err = _run(capsys, chunks, "--vectors", vectors, "--vectors-encoder", "minilm:weights=abc",
                     "--store", url, "--dataset", "declared2")  # fmt: skip
    assert code == 2
    _assert_one_line(err, f"{DIM}-D, expected 384")  # minilm's, not 768


def test_nan_values_need_allow_invalid(seeded, tmp_path, capsys):
    url, chunks, _vectors, before = seeded
    nan = tmp_path / "nan.npy"
    arr = np.ones((12, DIM), np.float32)
    arr[4, 1] = np.nan
    np.save(nan, arr)
    args = [chunks, "--vectors", str(nan), "--dim", str(DIM), "--store", url, "--dataset", "new"]
    code, err = _run(capsys, *args)
    assert code == 2
    _assert_one_line(err, "NaN", "--allow-invalid")
    assert _state(url) == before
    code, err = _run(capsys, *args, "--allow-invalid")
    assert code == 0, err
    assert set(_state(url)) == {"existing", "new"}


def test_existing_dataset_needs_replace(seeded, tmp_path, capsys):
    url, _chunks, _vectors, before = seeded
    (tmp_path / "other").mkdir()
    other_chunks, other_vectors = _write_inputs(tmp_path / "other", n=8)
    args = [
        other_chunks,
        "--vectors",
        other_vectors,
        "--dim",
        str(DIM),
        "--store",
        url,
        "--dataset",
        "existing",
    ]
    code, err = _run(capsys, *args)
    assert code == 2
    _assert_one_line(err, "already exists", "--replace")
    assert _state(url) == before
    code, err = _run(capsys, *args, "--replace")
    assert code == 0, err
    assert _state(url)["existing"]["n_rows"] == 8


def test_unknown_store_scheme(tmp_path, capsys):
    chunks, _ = _write_inputs(tmp_path)
    code, err = _run(capsys, chunks, "--store", "ftp://example.org/store", "--dataset", "x")
    assert code == 2
    _assert_one_line(err, "unknown store scheme", "ftp")


def test_unreachable_database(tmp_path, capsys):
    chunks, _ = _write_inputs(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = _run(
        capsys, chunks, "--store", f"postgresql://lvm:pw@127.0.0.1:{port}/lnsp", "--dataset", "x"
    )
    assert code == 2
    _assert_one_line(err, "cannot connect to PostgreSQL", "lvm:***@")
