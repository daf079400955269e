"""Gate 2.1 end to end: `lvmgate prepare` then `lvmgate gate phase2 --data ...` as a user runs them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from lvmgate.policy import criterion_ids
from lvmgate.stores import EmbeddedStore
from lvmgate.synth import synthesize
from lvmgate.testing.proof import expect


def lvmgate(*args):
    return subprocess.run(
        [sys.executable, "-m", "lvmgate", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("phase2")
    store = EmbeddedStore(root / "store")
    for fault in (None, "shuffled_order", "duplicate_chunks"):
        c = synthesize(120, fault=fault, seed=9)
        store.ingest(fault or "clean", c.records, c.vectors)
    store.close()
    return root


def prepare(work, dataset, *extra):
    out = work / "lvm" / f"{dataset}{''.join(extra).replace('-', '')}.npz"
    p = lvmgate(
        "prepare",
        "--store",
        work / "store",
        "--dataset",
        dataset,
        "--context-window",
        5,
        "--stride",
        2,
        "--val-split",
        0.1,
        "--output",
        out,
        *extra,
    )
    assert p.returncode == 0, p.stderr
    return out


def gate(work, dataset, data, name):
    p = lvmgate(
        "gate",
        "phase2",
        "--store",
        work / "store",
        "--dataset",
        dataset,
        "--data",
        data,
        "--report-dir",
        work / "reports" / name,
        "--no-html",
    )
    path = work / "reports" / name / "phase2.json"
    return p, json.loads(path.read_text()) if path.exists() else None


def failing(summary):
    return {c["id"] for c in summary["criteria"] if c["status"] == "fail"}


@pytest.mark.proves(go=list(criterion_ids("2.1")))
def test_clean_prepared_set_passes_2_1_and_phase_waits_for_training(work):
    p, summary = gate(work, "clean", prepare(work, "clean"), "clean")
    by_status = {}
    for c in summary["criteria"]:
        by_status.setdefault(c["status"], set()).add(c["id"])
    assert by_status["pass"] == set(criterion_ids("2.1"))
    for cid in criterion_ids("2.1"):
        expect(summary, cid, "pass")
    # without --lvm-model the model criteria (2.2-2.4) are recorded as not measured: WARN, never GO on data
    assert by_status["skip"] == {c for s in ("2.2", "2.3", "2.4") for c in criterion_ids(s)}
    assert set(summary["not_measured"]) == by_status["skip"]
    assert all("no --lvm-model given" in why for why in summary["not_measured"].values())
    assert p.returncode == 0 and summary["decision"] == "WARN", p.stdout


@pytest.mark.proves(stop=["2.1.order_margin"])
def test_lost_order_is_stop(work):
    p, summary = gate(work, "shuffled_order", prepare(work, "shuffled_order"), "shuffled")
    assert p.returncode == 1 and failing(summary) == {"2.1.order_margin"}
    expect(summary, "2.1.order_margin", "fail")


@pytest.mark.proves(stop=["2.1.repeated_vector_windows", "2.1.dropped_windows_pct"])
def test_duplicate_chunks_are_stop_whether_kept_or_dropped(work):
    data = prepare(work, "duplicate_chunks", "--keep-repeated")
    p, summary = gate(work, "duplicate_chunks", data, "dups")
    assert p.returncode == 1 and "2.1.repeated_vector_windows" in failing(summary)
    expect(summary, "2.1.repeated_vector_windows", "fail")
    # dropped by default: then what was dropped is counted and reported, and it is a STOP too
    p, summary = gate(work, "duplicate_chunks", prepare(work, "duplicate_chunks"), "dups_dropped")
    assert p.returncode == 1 and failing(summary) == {"2.1.dropped_windows_pct"}
    c = expect(summary, "2.1.dropped_windows_pct", "fail")
    assert "repeated vector (duplicated chunk)" in c["reason"]
    assert any("Prepare dropped" in f for f in summary["findings"])
    md = (work / "reports" / "dups_dropped" / "phase_2_report.md").read_text()
    assert "candidate windows" in md


def test_missing_or_tampered_data_is_exit_2(work):
    p = lvmgate("gate", "phase2", "--store", work / "store", "--dataset", "clean", "--report-dir", work / "r")
    assert p.returncode == 2 and "nothing was measured" in p.stderr and "no --data given" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    data = prepare(work, "clean")
    with np.load(data) as z:
        arrays = dict(z)
    arrays["target"] = arrays["target"][::-1].copy()  # a file edited after prepare
    np.savez(data, **arrays)
    p, _ = gate(work, "clean", data, "tampered")
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr
