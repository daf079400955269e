"""ONNX export, INT8 quantisation and weight size on the real tiny Mamba LVM (plan 4.4).

The export is checked here independently of the library's own parity numbers: the test runs the
ONNX file in onnxruntime itself and compares with the PyTorch model.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file

from lvmgate.cli import main
from lvmgate.deploy import (
    EvalSet,
    check_onnx,
    export_onnx,
    quantize_report,
    quantize_torch,
    synthetic_eval,
    weights_size,
)
from lvmgate.deploy.quantize import compare
from lvmgate.errors import InputError
from lvmgate.lvm.load import load_model
from lvmgate.lvm.predictor import random_contexts
from lvmgate.stores import open_store
from lvmgate.synth import synthesize

WINDOW = 5


@pytest.fixture(scope="module")
def tiny():
    return load_model("preset:tiny", threads=1)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> str:
    corpus = synthesize(30, seed=5)
    path = str(tmp_path_factory.mktemp("deploy-store") / "store")
    open_store(path).ingest("demo", corpus.records, corpus.vectors, encoder=corpus.meta["encoder"])
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory, store_dir):
    """`lvmgate export --onnx` on the tiny preset with the default (dynamo) exporter, batch curve on."""
    out = tmp_path_factory.mktemp("export")
    onnx_path, report = out / "model.onnx", out / "export.json"
    code = main(
        [
            "export",
            "--onnx",
            "--lvm-model",
            "preset:tiny",
            "--output",
            str(onnx_path),
            "--report",
            str(report),
            "--batch-curve",
            "--batch-sizes",
            "1,4,16",
            "--store",
            store_dir,
            "--dataset",
            "demo",
        ]
    )
    assert code == 0
    return onnx_path, json.loads(report.read_text())


def test_onnx_file_matches_pytorch_in_onnxruntime_at_any_batch_size(exported, tiny):
    onnx_path, _ = exported
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value")  # symbolic batch axis
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for b in (1, 2, 5, 33):  # none of these is the batch size used to trace the export
        x = random_contexts(b, WINDOW, seed=100 + b)
        got = session.run(None, {name: x})[0]
        with torch.inference_mode():
            ref = tiny.module(torch.from_numpy(x)).numpy()
        assert got.shape == (b, 768)
        np.testing.assert_allclose(got, ref, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # the LVM's unit output


def test_onnx_refuses_a_context_of_another_length(exported):
    onnx_path, _ = exported
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match=r"(?i)dimension|shape|invalid"):
        session.run(None, {session.get_inputs()[0].name: random_contexts(2, WINDOW + 3)})


def test_export_report_records_parity_weights_and_batch_curve(exported):
    _, report = exported
    o = report["onnx"]
    assert o["passed"] and o["dynamic_batch"] and o["window_enforced"]
    assert o["exporter"] == "dynamo" and o["opset"] >= 17 and o["window"] == WINDOW
    assert 0 <= o["max_abs_diff"] <= o["tolerance"] == 1e-4
    assert [p["batch_size"] for p in o["parity"]] == [1, 3, 64]
    assert o["versions"]["onnxscript"] != "missing"
    w = report["weights"]
    assert w["params"] == report["model"]["params"] == load_model("preset:tiny").module.cfg.param_count()
    assert 0 < w["compressed_bytes"] < w["safetensors_bytes"] and w["under_limit"]
    curve = report["batch_curve"]
    assert curve["includes_search"] and curve["bank_rows"] > 0
    assert [p["batch_size"] for p in curve["points"]] == [1, 4, 16]
    assert all(p["sequences_per_s"] > 0 for p in curve["points"])
    assert curve["best_batch_size"] in (1, 4, 16)
    assert report["model"]["trained"] is False  # a preset is untrained, and the artifact says so
    assert report["provenance"]["params"]["lvm_model"] == "preset:tiny"


def test_parity_check_fails_for_a_model_that_is_not_the_exported_one(exported, tiny):
    onnx_path, _ = exported
    other = load_model("preset:tiny:7").module  # same shapes, other weights
    result = check_onnx(other, onnx_path, window=WINDOW, batch_sizes=(1, 4))
    assert not result.passed and result.max_abs_diff > 1e-2
    same = check_onnx(tiny.module, onnx_path, window=WINDOW, batch_sizes=(1, 4))
    assert same.passed


def test_torchscript_exporter_also_exports(tmp_path):
    model = load_model("context_mean").module
    result = export_onnx(model, tmp_path / "mean.onnx", window=3, exporter="torchscript", batch_sizes=(1, 6))
    assert result.passed and result.dynamic_batch and result.max_abs_diff < 1e-6


def test_export_refuses_bad_settings(tmp_path, tiny):
    with pytest.raises(InputError, match="opset"):
        export_onnx(tiny.module, tmp_path / "m.onnx", window=WINDOW, opset=13)
    with pytest.raises(InputError, match="exporter"):
        export_onnx(tiny.module, tmp_path / "m.onnx", window=WINDOW, exporter="tflite")
    assert not (tmp_path / "m.onnx").exists()


def test_int8_torch_and_onnxruntime_routes(exported, tiny, tmp_path):
    onnx_path, _ = exported
    report = quantize_report(
        tiny.module,
        synthetic_eval(WINDOW, n=96),
        window=WINDOW,
        onnx_path=onnx_path,
        out_dir=tmp_path,
        threads=1,
    )
    assert report.tested and [r.method for r in report.results] == [
        "torch-dynamic-int8",
        "onnxruntime-dynamic-int8",
    ]
    for r in report.results:
        assert r.int8_bytes < 0.5 * r.fp32_bytes  # weights stored in one byte instead of four
        assert 0.95 < r.cosine_to_fp32_mean <= 1.0 + 1e-6 and r.cosine_to_fp32_min > 0.9
        assert 0.0 <= r.top10_overlap <= 1.0 and r.speedup > 0
        assert r.recall_at_10_fp32 is None  # synthetic data: no true next rows
    assert (tmp_path / "model_int8.onnx").exists() and (tmp_path / "model_int8.pt").exists()
    qmodel = quantize_torch(tiny.module)
    kinds = {type(m).__module__ for m in qmodel.modules()}
    assert any("quantized" in k for k in kinds)
    assert all("quantized" not in type(m).__module__ for m in tiny.module.modules())  # original untouched


def test_recall_change_is_measured_against_the_true_next_rows():
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((500, 768)).astype(np.float32)
    targets = rng.choice(500, size=40, replace=False)
    ctx = np.stack([bank[rng.choice(500, size=3)] for _ in targets])  # (40, 3, 768)
    ctx[:, -1] = bank[targets]  # copy-last finds the target exactly

    def noise(x):
        return np.random.default_rng(1).standard_normal((len(x), 768)).astype(np.float32)

    m = compare(lambda x: x[:, -1], noise, EvalSet(ctx, bank, targets), batch_size=8)
    assert m["recall_at_10_fp32"] == 1.0
    assert m["recall_at_10_int8"] < 0.2 and m["recall_at_10_change"] < -0.8
    assert m["top10_overlap"] < 0.2


def test_quantize_cli_with_store_windows(exported, store_dir, tmp_path):
    onnx_path, _ = exported
    report_path = tmp_path / "q.json"
    code = main(
        [
            "quantize",
            "--lvm-model",
            "preset:tiny",
            "--onnx",
            str(onnx_path),
            "--store",
            store_dir,
            "--dataset",
            "demo",
            "--n",
            "64",
            "--report",
            str(report_path),
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["tested"] and len(report["results"]) == 2 and report["window"] == WINDOW
    for r in report["results"]:
        assert r["n_eval"] == 64
        assert 0.0 <= r["recall_at_10_fp32"] <= 1.0 and 0.0 <= r["recall_at_10_int8"] <= 1.0
        assert r["recall_at_10_change"] == pytest.approx(r["recall_at_10_int8"] - r["recall_at_10_fp32"])
    assert report["provenance"]["dataset"] == "demo" and report["provenance"]["sample_size"] == 64


def test_weights_size_round_trips_through_safetensors(tiny, tmp_path):
    path = tmp_path / "w" / "model.safetensors"
    result = weights_size(tiny.module, path, codec="gzip", keep_compressed=True)
    loaded = load_file(str(path))
    state = tiny.module.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    assert result.safetensors_bytes == path.stat().st_size
    assert result.compressed_bytes == (tmp_path / "w" / "model.safetensors.gzip").stat().st_size
    assert weights_size(tiny.module, limit_bytes=1000).under_limit is False
    half = weights_size(tiny.module, dtype="float16", codec="lzma")
    assert half.safetensors_bytes < 0.6 * result.safetensors_bytes


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "--lvm-model", "missing/model.pt"], "no such checkpoint"),
        (["export", "--lvm-model", "preset:huge"], "unknown model size"),
        (
            ["quantize", "--lvm-model", "copy_last", "--store", "nowhere-store", "--dataset", "x"],
            "unknown dataset",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "artifacts").exists()


def test_export_reads_a_trainer_checkpoint(tmp_path):
    from lvmgate.lvm.checkpoint import save_checkpoint
    from lvmgate.lvm.mamba import LVM, preset

    torch.manual_seed(3)
    model = LVM(preset("tiny"))
    ckpt = tmp_path / "lvm.pt"
    data = {"train": {"context_window": 7}, "val": {"context_window": 7}}
    save_checkpoint(
        ckpt,
        {
            "kind": "final",
            "config": model.cfg.to_dict(),
            "model": model.state_dict(),
            "epoch": 2,
            "preset": "tiny",
            "metrics": {"val_cosine": 0.41},
            "data": data,
        },
    )
    report = tmp_path / "export.json"
    code = main(
        [
            "export",
            "--onnx",
            "--exporter",
            "torchscript",
            "--lvm-model",
            str(ckpt),
            "--output",
            str(tmp_path / "lvm.onnx"),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    r = json.loads(report.read_text())
    assert r["model"]["kind"] == "checkpoint" and r["model"]["trained"] is True
    assert r["model"]["window"] == 7 and r["onnx"]["window"] == 7 and r["model"]["val_cosine"] == 0.41
    assert r["onnx"]["passed"] and r["onnx"]["exporter"] == "torchscript"
    x = random_contexts(3, 7)
    session = ort.InferenceSession(str(tmp_path / "lvm.onnx"), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], ref, atol=1e-5)
