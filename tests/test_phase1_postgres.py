"""The same phase-1 gate against the embedded store and a real PostgreSQL gives identical results."""

import json
import subprocess
import sys

import pytest

from lvmgate.stores import EmbeddedStore, open_store
from lvmgate.synth import synthesize
from lvmgate.validation import run_boundaries, run_coherence, run_tmd

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def corpus():
    return synthesize(60, seed=21, fault="zero_vectors")  # invalid rows must agree too


def _strip(d):
    """JSON-normalised (tuples become lists, NaN becomes null) so results compare exactly."""
    return json.loads(json.dumps(d))


@pytest.mark.parametrize("mode", ["pgvector", "float4"])
def test_tools_identical_across_stores(pg_db_url, tmp_path, corpus, mode):
    embedded = EmbeddedStore(tmp_path / "store")
    sep = "&" if "?" in pg_db_url else "?"
    pg = open_store(f"{pg_db_url}{sep}lvmgate_vectors={mode}")
    for store in (embedded, pg):
        store.ingest("d", corpus.records, corpus.vectors, allow_invalid=True, encoder=corpus.meta["encoder"])
    for tool in (run_coherence, run_tmd, run_boundaries):
        for limit in (None, 25):
            a = tool(embedded, "d", limit=limit, seed=3).result.to_dict()
            b = tool(pg, "d", limit=limit, seed=3).result.to_dict()
            assert _strip(a) == _strip(b), (tool.__name__, limit)
    pg.close()
    embedded.close()


def test_gate_identical_across_stores(pg_db_url, tmp_path, corpus):
    urls = {"embedded": str(tmp_path / "store"), "postgres": pg_db_url}
    summaries = {}
    for name, url in urls.items():
        with open_store(url) as store:
            store.ingest(
                "d", corpus.records, corpus.vectors, allow_invalid=True, encoder=corpus.meta["encoder"]
            )
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "lvmgate",
                "gate",
                "phase1",
                "--store",
                url,
                "--dataset",
                "d",
                "--report-dir",
                str(tmp_path / name),
                "--artifacts-dir",
                str(tmp_path / f"art-{name}"),
                "--backends",
                "nearest",
                "--no-html",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert p.returncode == 1, p.stdout[-3000:]  # zero vectors: STOP on both
        summaries[name] = json.loads((tmp_path / name / "phase1.json").read_text())
    crit = {
        n: [(c["id"], c["value"], c["low"], c["high"], c["status"]) for c in s["criteria"]]
        for n, s in summaries.items()
    }
    assert crit["embedded"] == crit["postgres"]
    assert summaries["embedded"]["decision"] == summaries["postgres"]["decision"] == "STOP"
