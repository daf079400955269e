"""`lvmgate prepare` end to end on a synthetic dataset in an embedded store (no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lvmgate.cli import main
from lvmgate.metrics.sequence_checks import check_sequences
from lvmgate.sequences import PreparedSet, SequenceSet, set_paths
from lvmgate.stores import EmbeddedStore
from lvmgate.synth import synthesize

DIM = 48


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    st = EmbeddedStore(path)
    corpus = synthesize(80, dim=DIM, seed=2)
    st.ingest("wiki", corpus.records, corpus.vectors)
    nan = synthesize(20, dim=DIM, seed=3, fault="nan_vectors")
    st.ingest("wiki_nan", nan.records, nan.vectors, allow_invalid=True)
    st.close()
    return path


def prepare(store_dir, out, *extra: str) -> int:
    return main(
        [
            "prepare",
            "--store",
            str(store_dir),
            "--dataset",
            "wiki",
            "--context-window",
            "5",
            "--stride",
            "2",
            "--val-split",
            "0.1",
            "--output",
            str(out),
            *extra,
        ]
    )


def test_prepare_writes_a_complete_verifiable_set(store_dir, tmp_path, capsys):
    out = tmp_path / "artifacts" / "lvm" / "wiki_ctx5.npz"
    assert prepare(store_dir, out, "--limit", "60", "--seed", "3") == 0
    printed = capsys.readouterr().out
    assert "prepared" in printed and "wiki_ctx5_meta.json" in printed
    paths = set_paths(out)
    assert paths["train"].is_file() and paths["val"].is_file() and paths["meta"].is_file()
    assert not paths["test"].exists()
    meta = json.loads(paths["meta"].read_text())
    info = EmbeddedStore(store_dir).info("wiki")
    assert meta["bank"]["fingerprint"] == info.fingerprint and meta["bank"]["dim"] == DIM
    assert meta["bank"]["store"] == str(store_dir.resolve())
    assert meta["params"]["limit"] == 60 and meta["params"]["seed"] == 3
    c = meta["counts"]
    assert c["n_articles_selected"] == 60
    train_ids, val_ids = (set(meta["splits"][k]["article_ids"]) for k in ("train", "val"))
    assert not train_ids & val_ids
    assert len(train_ids | val_ids) + len(meta["skipped_article_ids"]) == 60
    assert meta["provenance"]["fingerprint"] == info.fingerprint
    with np.load(out, allow_pickle=False) as z:
        assert z["context"].shape == (c["windows"]["train"], 5) and z["context"].dtype == np.int64
        assert z["target"].dtype == np.int64 and z["article"].dtype == np.int64
    sets = PreparedSet.load(out)
    r = check_sequences(sets, resamples=100)
    assert r.shape == (c["windows"]["train"], 5, DIM)
    assert r.bad_windows == r.duplicate_sequences == r.shared_articles == r.shape_mismatch == 0
    assert r.split_fraction_error <= 0.05


def test_limit_is_nested_and_seeded(store_dir, tmp_path):
    chosen = {}
    for limit in (20, 40):
        out = tmp_path / f"l{limit}.npz"
        assert prepare(store_dir, out, "--limit", str(limit), "--seed", "9") == 0
        meta = json.loads(set_paths(out)["meta"].read_text())
        ids = set(meta["skipped_article_ids"])
        for split in meta["splits"].values():
            ids |= set(split["article_ids"])
        chosen[limit] = ids
    assert len(chosen[20]) == 20 and chosen[20] <= chosen[40]


def test_test_split_augment_and_rerun_without_test(store_dir, tmp_path):
    out = tmp_path / "aug.npz"
    assert prepare(store_dir, out, "--test-split", "0.1", "--augment") == 0
    paths = set_paths(out)
    assert paths["test"].is_file()
    meta = json.loads(paths["meta"].read_text())
    assert meta["augment"]["enabled"] and meta["augment"]["mask_frac"] == 0.1
    train = SequenceSet.load(out)
    assert train.augmentation() is not None and SequenceSet.load(paths["test"]).augmentation() is None
    ctx, tgt = next(train.batches(16))
    assert ctx.shape == (16, 5, DIM) and tgt.shape == (16, DIM)
    assert prepare(store_dir, out) == 0  # rewritten without a test split: the stale file goes
    assert not paths["test"].exists()
    assert "test" not in json.loads(paths["meta"].read_text())["splits"]
    assert prepare(store_dir, out, "--val-split", "0") == 0  # train only
    assert not paths["val"].exists() and list(PreparedSet.load(out).splits) == ["train"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--context-window", "0"], "context_window"),
        (["--stride", "0"], "stride"),
        (["--val-split", "0.6", "--test-split", "0.4"], "below 1"),
        (["--val-split", "1.5"], "--val-split"),
        (["--limit", "0"], "limit"),
        (["--dataset", "nope"], "unknown dataset"),
        (["--dataset", "wiki_nan"], "invalid vectors"),
        (["--context-window", "400"], "no windows"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(store_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "bad.npz"
    assert prepare(store_dir, out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_bad_output_name(store_dir, tmp_path, capsys):
    assert prepare(store_dir, tmp_path / "set.json") == 2
    assert ".npz" in capsys.readouterr().err


def test_skip_invalid_drops_windows_touching_nan_rows(store_dir, tmp_path):
    out = tmp_path / "nan.npz"
    code = main(
        [
            "prepare",
            "--store",
            str(store_dir),
            "--dataset",
            "wiki_nan",
            "--output",
            str(out),
            "--skip-invalid",
        ]
    )
    assert code == 0
    meta = json.loads(set_paths(out)["meta"].read_text())
    assert meta["counts"]["n_nonfinite_rows"] > 0 and meta["counts"]["n_dropped_invalid"] > 0
    sets = PreparedSet.load(out)
    for part in sets.splits.values():
        ctx, tgt = part.materialize()
        assert np.isfinite(ctx).all() and np.isfinite(tgt).all()


def test_recorded_store_urls_are_absolute_and_carry_no_password(tmp_path, monkeypatch):
    from lvmgate.io import portable_url

    monkeypatch.chdir(tmp_path)
    assert portable_url("artifacts/store") == str(tmp_path / "artifacts" / "store")
    assert portable_url("postgresql://lvm:s3cret@db.local:5433/lnsp") == "postgresql://lvm@db.local:5433/lnsp"
    assert portable_url("sqlite:///data/x.db") == f"sqlite:///{tmp_path}/data/x.db"  # SQLAlchemy: relative
    assert portable_url("sqlite:////srv/x.db") == "sqlite:////srv/x.db"  # already absolute
