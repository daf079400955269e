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


def _row(cid, status="pass", value=1.0, state="measured", reason=""):
    return {"id": cid, "value": None if state != "measured" else value, "status": status if state == "measured"
            else "skip", "state": state, "status_detail": status if state == "measured" else state,
            "reason": reason}  # fmt: skip


def _report(tmp_path, phase, rows, facts=None):
    body = {"phase": phase, "decision": "GO", "criteria": rows, "facts": facts or {}}
    (tmp_path / f"phase{phase}.json").write_text(json.dumps(body))


def _status(tmp_path, capsys):
    assert main(["status", "--report-dir", str(tmp_path), "--json"]) == 0
    return {b["item"].split(" (")[0]: b for b in json.loads(capsys.readouterr().out)}


def test_status_ticks_boxes_from_phase_reports(tmp_path, capsys):
    from lvmgate.policy import criterion_ids

    rows = [_row(c) for c in criterion_ids("1.1") if c != "1.1.order_margin"]
    rows += [_row("1.1.order_margin", "fail", 0.001), *(_row(c) for c in criterion_ids("1.2"))]
    rows += [_row(c, state="not_measured", reason="backend not requested") for c in criterion_ids("1.4")]
    _report(tmp_path, 1, rows)
    boxes = _status(tmp_path, capsys)
    assert boxes["Sequential coherence test"]["state"] == "fail"
    assert "1.1.order_margin 0.001 (fail)" in boxes["Sequential coherence test"]["evidence"]
    assert boxes["TMD distribution check"]["state"] == "done"
    assert boxes["Chunk boundary analysis"]["state"] == "todo"  # not in the report at all
    assert boxes["Vec2text baseline"]["state"] == "todo"  # nothing of it measured
    assert boxes["Training data prepared"]["state"] == "todo"
    assert main(["status", "--report-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "[✗] Sequential coherence test" in text and "[x] TMD distribution check" in text


def test_status_never_ticks_a_box_whose_words_were_not_measured(tmp_path, capsys):
    """The defects of the prefix-ticking status: nearest's round trip ticked 'Vec2text baseline', the
    tiny preset ticked 'Small Mamba model', a two-run grid ticked '12 experiments'."""
    from lvmgate.policy import criterion_ids

    rows = [_row(c) for s in ("1.1", "1.2", "1.3") for c in criterion_ids(s)]
    rows += [_row("1.4.cosine[nearest]")]  # the vec2text backends did not run
    rows += [_row(c, state="not_measured", reason="backend not requested") for c in criterion_ids("1.4")
             if "nearest" not in c]  # fmt: skip
    _report(tmp_path, 1, rows)
    rows2 = [_row(c) for s in ("2.1", "2.2", "2.3") for c in criterion_ids(s)]
    rows2 += [_row(c, state="not_applicable", reason="hashing encoder") for c in criterion_ids("2.4")]
    _report(tmp_path, 2, rows2, {"training": {"preset": "tiny", "parameters": 275_712}})
    rows3 = [_row(c) for s in ("3.1", "3.2", "3.3") for c in criterion_ids(s)]
    _report(tmp_path, 3, rows3, {"grid_search": {"n_planned": 2, "n_completed": 2}})
    boxes = _status(tmp_path, capsys)
    for item in ("Sequential coherence test", "TMD distribution check", "Chunk boundary analysis",
                 "Training data prepared", "Reconstruction test", "Benchmark suite", "Error analysis completed",
                 "Best config identified"):  # fmt: skip
        assert boxes[item]["state"] == "done", (item, boxes[item])
    v2t = boxes["Vec2text baseline"]
    assert v2t["state"] == "warn" and "1.4.bleu4[jxe] not measured" in v2t["evidence"]
    small = boxes["Small Mamba model trained"]
    assert small["state"] == "warn" and "small preset; this one is tiny" in small["evidence"]
    grid = boxes["Hyperparameter grid search"]
    assert grid["state"] == "warn" and "needs 12 completed grid runs; 2 completed" in grid["evidence"]
    assert boxes["Vector arithmetic test"]["state"] == "na"
    # the same reports with what the boxes' words say: ticked
    rows[-4:] = [_row(c) for c in criterion_ids("1.4") if "nearest" not in c]
    _report(tmp_path, 1, rows)
    _report(tmp_path, 2, rows2, {"training": {"preset": "small", "parameters": 46_400_000}})
    _report(tmp_path, 3, rows3, {"grid_search": {"n_planned": 12, "n_completed": 12}})
    boxes = _status(tmp_path, capsys)
    assert {boxes[k]["state"] for k in ("Vec2text baseline", "Small Mamba model trained",
                                        "Hyperparameter grid search")} == {"done"}  # fmt: skip
    # a report that lacks a criterion of the box is never a tick
    _report(tmp_path, 3, rows3[1:], {"grid_search": {"n_planned": 12, "n_completed": 12}})
    grid = _status(tmp_path, capsys)["Hyperparameter grid search"]
    assert grid["state"] == "warn" and "3.1.completed_runs not in the report" in grid["evidence"]


def test_status_on_a_phase_1_only_run_ticks_only_what_phase_1_measured(tmp_path, capsys):
    from lvmgate.policy import criterion_ids

    rows = [_row(c) for s in ("1.1", "1.2", "1.3") for c in criterion_ids(s)]
    rows += [_row(c, state="not_measured", reason="weights missing") for c in criterion_ids("1.4")]
    _report(tmp_path, 1, rows)
    boxes = json.loads(
        (main(["status", "--report-dir", str(tmp_path), "--json"]), capsys.readouterr().out)[1]
    )
    ticked = {b["item"] for b in boxes if b["state"] == "done"}
    assert ticked == {b["item"] for b in boxes if b["phase"] == 1 and not b["item"].startswith("Vec2text")}
