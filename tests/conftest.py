"""Fixtures shared by the test suite: the throwaway PostgreSQL server (started once per session), the
`proves` marker whose claims are checked when each test ends (lvmgate.testing.proof), and a small
corpus with tiny vec2text models trained to reconstruct it (built once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lvmgate.testing.pg import pg_db_url, pg_url  # noqa: F401
from lvmgate.testing.shared import shared_dir

pytest_plugins = ["lvmgate.testing.proof", "pytester"]

if os.environ.get("PYTEST_XDIST_WORKER"):  # one process per core: keep each (and its children) to one thread
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"


# the files that take longest (measured with --durations): scheduled first, so that with pytest-xdist
# (one file per process at a time) no long file is left to run alone at the end
LONG_FIRST = (  # seconds per file on 2 cores, measured with --durations (2026-12-08)
    "test_vec2text_proofs.py",  # 45 (builds the shared tiny vec2text models first)
    "test_phase1_gates.py",  # 88
    "test_demo_cli.py",  # 61
    "test_compare_reconstruction.py",  # 60 (builds the shared drift workspace)
    "test_phase4_gates.py",  # 60
    "test_phase3_gates.py",  # 57
    "test_phase2_training_gate.py",  # 41
    "test_trainer.py",  # 33
    "test_phase2_reconstruction_gate.py",  # 30
    "test_grid.py",  # 28
    "test_export.py",  # 22
    "test_phase2_data_gate.py",  # 21
    "test_phase1_postgres.py",  # 19
    "test_vec2text_adapter.py",  # 19
    "test_deployment_proofs.py",  # 18
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


TINY_V2T_STEPS = 300  # BLEU-4 ~0.6-0.8 here (measured; 200 steps was not enough), ~30 s
WORDS = (
    "river city king film team music school state world water light energy earth plants sea north south "
    "year century church island language species village party army war born"
).split()


@pytest.fixture(scope="session")
def memorised(tmp_path_factory) -> dict:
    """A 5-article, 30-chunk corpus of short sentences (hashing vectors, encoder declared), prepared
    (context 2, stride 1, test split of 2 articles), and tiny vec2text models (lvmgate.decoders.tiny,
    vec2text's own classes) trained on exactly these texts: a decoder that reconstructs this bank well
    (BLEU-4 ~0.6-0.9), so that the vec2text criteria can be shown to pass as well as to fail."""
    return _paths(shared_dir(tmp_path_factory, "memorised", _build_memorised))


def _build_memorised(root: Path) -> None:
    import torch

    from lvmgate.cli import main as cli
    from lvmgate.corpus import ChunkRecord
    from lvmgate.decoders.tiny import train_tiny_vec2text
    from lvmgate.encoders import get_encoder
    from lvmgate.stores import EmbeddedStore

    rng = np.random.default_rng(11)
    records = [
        ChunkRecord(f"short-{a}", i, " ".join(rng.choice(WORDS, 8)).capitalize() + ".", title=f"Short {a}",
                    domain_code=a + 1, task_code=1, modifier_code=1)
        for a in range(5)
        for i in range(6)
    ]  # fmt: skip
    enc = get_encoder("hashing")
    vectors = enc.encode([r.text for r in records])
    store = EmbeddedStore(root / "store")
    store.ingest("short", records, vectors, encoder=enc.spec)
    store.close()
    args = ["prepare", "--store", str(root / "store"), "--dataset", "short", "--context-window", "2"]
    args += ["--stride", "1", "--val-split", "0.2", "--test-split", "0.4", "--seed", "1"]
    assert cli([*args, "--output", str(root / "short.npz")]) == 0
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
        train_tiny_vec2text(
            root / "v2t", [r.text for r in records], vectors, steps=TINY_V2T_STEPS, d_model=64, seed=0
        )
    finally:
        torch.set_num_threads(threads)


def _paths(root: Path) -> dict:
    return {
        "root": root,
        "store": str(root / "store"),
        "dataset": "short",
        "data": root / "short.npz",
        "test": root / "short_test.npz",
        "models": root / "v2t",
    }
