"""An undecided phase-1 criterion never passes silently: when the sample (--limit) leaves an interval
across a threshold and more data exists, the gate samples more articles (nested, seeded) until it
decides; only when the dataset is exhausted does it stay WARN, saying how much data would decide it."""

from __future__ import annotations

import numpy as np
import pytest

from lvmgate.corpus import ChunkRecord
from lvmgate.policy import default_policy
from lvmgate.stores import EmbeddedStore
from lvmgate.testing.proof import expect
from lvmgate.validation import sample_articles, sequential_artifact


def corpus(n_articles: int, pull: float, seed: int, chunks: int = 10):
    """Articles whose chunks scatter around a topic, some tighter than others: consecutive cosine
    p^2 / (p^2 + 1) with p drawn around `pull`, so that a few articles leave the mean uncertain."""
    rng = np.random.default_rng(seed)
    records, vectors = [], []
    for a in range(n_articles):
        topic = rng.standard_normal(768)
        topic /= np.linalg.norm(topic)
        p = pull * rng.uniform(0.3, 1.5)
        for i in range(chunks):
            v = p * topic + rng.standard_normal(768) / np.sqrt(768)
            vectors.append(v / np.linalg.norm(v))
            text = f"Article {a} chunk {i} says something of its own about topic number {a}."
            records.append(
                ChunkRecord(f"art-{a:03d}", i, text, domain_code=a % 8 + 1, task_code=1, modifier_code=1)
            )
    return records, np.asarray(vectors, dtype=np.float32)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("sequential")
    st = EmbeddedStore(root / "store")
    st.ingest("below", *corpus(120, pull=0.42, seed=1))  # consecutive cosine ~0.14: below the STOP line 0.2
    st.ingest("onthe", *corpus(6, pull=0.55, seed=1))  # ~0.2, and only 6 articles: cannot decide
    yield st
    st.close()

    root = EmbeddedStore.__module__


def test_an_undecided_mean_samples_more_until_it_decides(store, tmp_path):
    small = sample_articles(store, "below", 2, 0)
    large = sample_articles(store, "below", 16, 0)
    assert set(np.asarray(small.index.ids)) < set(np.asarray(large.index.ids))  # nested: more only adds
    art, _ = sequential_artifact(
        "coherence", store, "below", tmp_path / "c.json", limit=2, seed=0, policy=default_policy()
    )
    steps = art["sampling"]["steps"]
    assert steps[0]["articles"] == 2 and "1.1.mean_similarity" in steps[0]["undecided"]
    assert len(steps) > 1 and "1.1.mean_similarity" not in steps[-1]["undecided"]
    c = expect(art, "1.1.mean_similarity", "fail")  # decided: a STOP, not the WARN 2 articles gave
    assert c.value.high < 0.2 and art["sampling"]["used_articles"] < 120  # stopped once decided


def test_when_the_data_runs_out_it_says_how_much_would_decide(store, tmp_path):
    art, _ = sequential_artifact(
        "coherence", store, "onthe", tmp_path / "c.json", limit=2, seed=0, policy=default_policy()
    )
    assert art["sampling"]["used_articles"] == art["sampling"]["total_articles"] == 6
    c = expect(art, "1.1.mean_similarity", "warn")
    assert "undecided on all 6 articles" in c.reason
    assert "would decide it (ingest more batches)" in c.reason or "no sample size decides it" in c.reason
