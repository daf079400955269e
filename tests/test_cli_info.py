"""`lvmgate info` and `lvmgate ingest --encoder`: what a user sees about a store and a dataset."""

import json

import numpy as np

from lvmgate.cli import main
from lvmgate.synth import synthesize, write_corpus


def test_ingest_with_encoder_and_info(tmp_path, capsys):
    corpus = synthesize(8, seed=2, fault="zero_vectors")
    write_corpus(corpus, tmp_path / "c")
    store = str(tmp_path / "store")
    assert (
        main(
            [
                "ingest",
                str(tmp_path / "c" / "chunks.jsonl"),
                "--encoder",
                "hashing:dim=64",
                "--store",
                store,
                "--dataset",
                "enc",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "ingest",
                str(tmp_path / "c" / "chunks.jsonl"),
                "--vectors",
                str(tmp_path / "c" / "vectors.npy"),
                "--store",
                store,
                "--dataset",
                "raw",
                "--allow-invalid",
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["info", "--store", store, "--dataset", "raw", "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    zero = int(np.sum(~corpus.vectors.any(axis=1)))
    assert (raw["chunks"], raw["dim"], raw["zero_rows"], raw["nan_rows"]) == (
        len(corpus.records),
        768,
        zero,
        0,
    )
    assert raw["encoder"] == corpus.meta["encoder"]  # declared by meta.json beside the vectors
    assert abs(raw["norms"]["mean"] - 1) < 1e-5
    assert main(["info", "--store", store, "--dataset", "enc", "--json"]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert enc["dim"] == 64 and enc["encoder"].startswith("hashing:dim=64")
    assert main(["info", "--store", store]) == 0
    listing = capsys.readouterr().out
    assert "enc" in listing and "raw" in listing and "2 dataset(s)" in listing
    assert main(["info", "--store", store, "--dataset", "missing"]) == 2
    assert "unknown dataset 'missing'" in capsys.readouterr().err


def test_status_ticks_boxes_from_phase_reports(tmp_path, capsys):
    (tmp_path / "phase1.json").write_text(
        json.dumps(
            {
                "phase": 1,
                "decision": "STOP",
                "criteria": [
                    {"id": "1.1.mean_similarity", "value": 0.42, "status": "pass"},
                    {"id": "1.1.order_margin", "value": 0.001, "status": "fail"},
                    {"id": "1.2.top_domain_pct", "value": 12.0, "status": "pass"},
                    {"id": "1.4.bleu4[jxe]", "value": float("nan"), "status": "skip"},
                ],
            }
        )
    )
    assert main(["status", "--report-dir", str(tmp_path), "--json"]) == 0
    boxes = {b["item"].split(" (")[0]: b for b in json.loads(capsys.readouterr().out)}
    assert boxes["Sequential coherence test"]["state"] == "fail"
    assert "1.1.order_margin 0.001 (fail)" in boxes["Sequential coherence test"]["evidence"]
    assert boxes["TMD distribution check"]["state"] == "done"
    assert boxes["Chunk boundary analysis"]["state"] == "todo"
    assert boxes["Vec2text baseline"]["state"] == "warn"
    assert boxes["Training data prepared"]["state"] == "todo"
    assert main(["status", "--report-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "[✗] Sequential coherence test" in text and "[x] TMD distribution check" in text
