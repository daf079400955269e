"""Phase-1 tools: artifacts with provenance, caching and staleness, sampling, the tool CLIs."""

import json

import numpy as np
import pytest

from lvmgate.cli import main
from lvmgate.errors import InputError
from lvmgate.policy import default_policy
from lvmgate.stores import EmbeddedStore
from lvmgate.synth import synthesize
from lvmgate.validation import cached_artifact, run_boundaries, run_coherence, run_tmd, sample_articles


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore(tmp_path / "store")
    c = synthesize(60, seed=3)
    s.ingest("d", c.records, c.vectors, encoder=c.meta["encoder"])
    yield s
    s.close()


def test_sampling_is_deterministic_and_keeps_whole_articles(store):
    a = sample_articles(store, "d", 10, seed=1)
    b = sample_articles(store, "d", 10, seed=1)
    c = sample_articles(store, "d", 10, seed=2)
    assert np.array_equal(a.rows, b.rows) and not np.array_equal(a.rows, c.rows)
    full = store.articles("d")
    starts = set(full.offsets[:-1].tolist())
    assert a.index.n_articles == 10 and set(a.rows[a.index.offsets[:-1]].tolist()) <= starts
    assert sample_articles(store, "d", 10_000, seed=1).rows is None  # limit above the count: everything


def test_artifacts_carry_provenance_and_worst_pair_text(store):
    art = run_coherence(store, "d", limit=20, seed=0)
    prov = art.provenance
    assert (prov.dataset, prov.sample_size, prov.seed, prov.params["limit"]) == ("d", 20, 0, 20)
    assert prov.fingerprint == store.info("d").fingerprint and prov.policy_digest == default_policy().digest
    worst = art.result.worst_pairs[0]
    assert worst.text_a == store.texts("d", [worst.pos_a])[0]
    body = json.loads(art.to_json())
    assert body["tool"] == "coherence" and body["result"]["mean"]["value"] == art.result.mean.value


def test_tmd_and_boundaries_tools(store):
    tmd = run_tmd(store, "d").result
    assert sum(d.chunks for d in tmd.domains) == store.info("d").n_rows
    b = run_boundaries(store, "d", limit=15).result
    assert b.n_articles == 15 and 0 <= b.sentence_complete_pct.value <= 100


def test_cache_is_reused_until_the_dataset_or_parameters_change(store, tmp_path):
    path = tmp_path / "a" / "coherence.json"
    policy = default_policy()
    first, fresh = cached_artifact("coherence", store, "d", path, limit=None, seed=0, policy=policy)
    assert fresh
    again, fresh = cached_artifact("coherence", store, "d", path, limit=None, seed=0, policy=policy)
    assert not fresh and again == first
    _, fresh = cached_artifact("coherence", store, "d", path, limit=20, seed=0, policy=policy)
    assert fresh  # sample changed
    _, fresh = cached_artifact("coherence", store, "d", path, limit=20, seed=0, policy=policy, recompute=True)
    assert fresh  # forced
    c = synthesize(60, seed=4)
    store.ingest("d", c.records, c.vectors, replace=True)
    _, fresh = cached_artifact("coherence", store, "d", path, limit=20, seed=0, policy=policy)
    assert fresh  # dataset content changed: fingerprint differs
    path.write_text("{ not json")
    _, fresh = cached_artifact("coherence", store, "d", path, limit=20, seed=0, policy=policy)
    assert fresh  # a corrupt cache is recomputed, not trusted


def test_missing_inputs_are_input_errors(store):
    c = synthesize(5, seed=1)
    store.ingest("novec", c.records, None)
    with pytest.raises(InputError, match="no vectors"):
        run_coherence(store, "novec")
    with pytest.raises(InputError, match="unknown dataset"):
        run_tmd(store, "missing")


def test_tool_cli_writes_the_plans_artifact(store, tmp_path, capsys):
    out = tmp_path / "artifacts" / "validation" / "coherence_batch1.json"
    code = main(["coherence", "--store", store.url, "--dataset", "d", "--limit", "30", "--output", str(out)])
    assert code == 0
    body = json.loads(out.read_text())
    assert body["provenance"]["sample_size"] == 30 and "mean" in body["result"]
    assert "wrote" in capsys.readouterr().out
    assert main(["tmd", "--store", store.url, "--dataset", "zzz", "--output", str(out)]) == 2
