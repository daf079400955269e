"""Held-out split choice and the leakage check (lvmgate.lvm.heldout): one precedence and one answer to
"which articles did this model see" for 2.3, 3.2, 3.3 and 4.3."""

from __future__ import annotations

import json

import pytest
import torch

from lvmgate.errors import InputError
from lvmgate.lvm.checkpoint import save_checkpoint
from lvmgate.lvm.heldout import held_out_split, shared_articles, trained_split, training_articles
from lvmgate.lvm.load import load_model
from lvmgate.lvm.mamba import LVM, LVMConfig
from lvmgate.sequences import PrepareParams, prepare_dataset, read_meta
from lvmgate.stores import EmbeddedStore
from lvmgate.synth import synthesize
from lvmgate.testing.models import install, uninstall

DIM = 32


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """A store and two prepared sets of one corpus: with a test split, and with val only."""
    root = tmp_path_factory.mktemp("heldout")
    corpus = synthesize(30, dim=DIM, seed=4)
    with EmbeddedStore(root / "store") as st:
        st.ingest("d", corpus.records, corpus.vectors)
    full = prepare_dataset(str(root / "store"), "d", root / "full.npz", PrepareParams(3, 1, 0.2, 0.2))
    val_only = prepare_dataset(str(root / "store"), "d", root / "val.npz", PrepareParams(3, 1, 0.2, 0.0))
    return root, full, val_only


def _checkpoint(root, train_file: str, name: str = "m"):
    """A tiny LVM checkpoint whose training log names `train_file` (path and sha256) as its training split."""
    model = LVM(LVMConfig(d_model=8, n_layers=1, d_state=4, dim=DIM))
    path = root / f"{name}.pt"
    save_checkpoint(path, {"config": model.cfg.to_dict(), "model": model.state_dict()})
    meta = read_meta(root / train_file.replace(".npz", "_meta.json"))
    log = {"data": {"train": {"path": str(root / train_file), "sha256": meta["splits"]["train"]["sha256"]}}}
    (root / f"{name}_training.json").write_text(json.dumps(log))
    return path, meta


def test_one_precedence_for_the_held_out_split(sets):
    root, _, _ = sets
    full, val = str(root / "full.npz"), str(root / "val.npz")
    assert held_out_split(test_set="t.npz", val_data="v.npz", data=full) == ("t.npz", "--test-set")
    assert held_out_split(val_data="v.npz", data=full) == ("v.npz", "--val-data")
    assert held_out_split(data=full)[0].endswith("full_test.npz")
    path, how = held_out_split(data=val)
    assert path.endswith("val_val.npz") and "val split" in how and "--test-split" in how
    assert held_out_split(test_set="held_out.jsonl", data=full)[0].endswith("full_test.npz")  # not a split
    ckpt, _ = _checkpoint(root, "full.npz")  # nothing given: the model's own prepared set
    assert held_out_split(model=load_model(ckpt))[0].endswith("full_test.npz")
    assert held_out_split(trained_on=val)[0].endswith("val_val.npz")
    assert trained_split(str(ckpt))["path"] == full and trained_split(str(root / "other.pt")) == {}
    with pytest.raises(InputError, match="no held-out windows"):
        held_out_split()
    with pytest.raises(InputError, match="is gone"):
        held_out_split(trained_on=str(root / "missing.npz"))


def test_training_articles_of_each_kind_of_model(sets, tmp_path):
    root, _, _ = sets
    assert training_articles(load_model("context_mean")) == (
        set(),
        "baseline context_mean: trained on nothing",
    )
    assert training_articles(load_model("preset:tiny"))[0] == set()
    ckpt, meta = _checkpoint(root, "full.npz")
    seen, where = training_articles(load_model(ckpt))
    assert seen == set(meta["splits"]["train"]["article_ids"]) and "train split" in where
    fn = load_model("lvmgate.lvm.baselines:copy_last")  # a function: nothing says what it saw
    assert training_articles(fn)[0] is None and "not an lvmgate checkpoint" in training_articles(fn)[1]
    module = torch.nn.Linear(DIM, DIM)
    module.training_articles = frozenset({"a1", "a2"})  # a module that declares what it learned from
    name = install("heldout_models", declared=module)
    try:
        assert training_articles(load_model(f"{name}:declared"))[0] == {"a1", "a2"}
    finally:
        uninstall(name)
    lost, _ = _checkpoint(root, "full.npz", name="lost")
    (root / "lost_training.json").unlink()
    assert training_articles(load_model(lost)) == (
        None,
        f"{lost} has no training log: the articles it was trained on are unknown",
    )


def test_the_leakage_check_names_what_was_seen(sets):
    root, _, _ = sets
    ckpt, meta = _checkpoint(root, "full.npz")
    seen, _ = training_articles(load_model(ckpt))
    assert shared_articles(meta["splits"]["test"]["article_ids"], seen) == []  # prepare splits by article
    leaked = shared_articles([*meta["splits"]["train"]["article_ids"][:3], "elsewhere"], seen)
    assert leaked == sorted(meta["splits"]["train"]["article_ids"][:3])
    assert shared_articles(["a"], None) is None  # unknown stays unknown, never "none shared"
