"""One grammar for `--lvm-model` (lvmgate.lvm.load): every spec form, the digest that ties artifacts to
the weights, and one-line errors. Every phase resolves its model through this function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lvmgate.errors import InputError
from lvmgate.lvm.baselines import context_mean, copy_last
from lvmgate.lvm.checkpoint import save_checkpoint, weights_digest
from lvmgate.lvm.load import load_model, load_predictor
from lvmgate.lvm.mamba import LVM, preset
from lvmgate.lvm.predictor import module_bytes, random_contexts

CTX = random_contexts(4, 5, 768, seed=1)  # (4, 5, 768)


@pytest.mark.parametrize("name, fn", [("copy_last", copy_last), ("context_mean", context_mean)])
def test_baselines_have_one_numpy_and_one_torch_form_that_agree(name, fn):
    m = load_model(name)
    assert (m.kind, m.digest, m.memory_bytes(), m.trained) == ("baseline", f"baseline:{name}", 0, None)
    np.testing.assert_array_equal(m.predict(CTX), fn(CTX))
    torch_out = m.module(torch.from_numpy(CTX)).numpy()  # the exportable form computes the same
    np.testing.assert_allclose(torch_out, fn(CTX), atol=1e-6)


def test_presets_are_seeded_untrained_models():
    a, b, c = load_model("preset:tiny"), load_model("preset:tiny:0"), load_model("preset:tiny:3")
    assert (a.kind, a.trained, a.dim, a.info["seed"]) == ("preset", False, 768, 0)
    assert a.digest == b.digest != c.digest  # same seed, same weights; another seed, other weights
    assert a.memory_bytes() == module_bytes(a.module) > 0 and a.params > 0
    assert a.predict(CTX).shape == (4, 768)
    # the shorthand every phase uses (2.3, 2.4, 3.2, 3.3, 4.3) gives the same model
    np.testing.assert_array_equal(load_predictor("preset:tiny:3").predict(CTX), c.predict(CTX))


def test_checkpoint_digest_is_measured_and_the_window_read_from_the_file(tmp_path):
    torch.manual_seed(5)
    model = LVM(preset("tiny")).eval()
    path = tmp_path / "lvm.pt"
    data = {"train": {"context_window": 5}, "val": {"context_window": 5}}
    save_checkpoint(
        path, {"config": model.cfg.to_dict(), "model": model.state_dict(), "epoch": 3, "data": data}
    )
    m = load_model(path)
    assert (m.kind, m.trained, m.window, m.dim, m.info["epoch"]) == ("checkpoint", True, 5, 768, 3)
    assert m.digest == weights_digest(model.state_dict()) == m.info["weights_digest"]
    assert m.info["training_log"].endswith("lvm_training.json")
    with torch.no_grad():
        np.testing.assert_allclose(m.predict(CTX), model(torch.from_numpy(CTX)).numpy(), atol=1e-6)
    assert m.memory_bytes() == module_bytes(model)


def test_module_attribute_takes_classes_factories_modules_and_functions():
    cls = load_model("lvmgate.lvm.baselines:ContextMean")  # a class with predict
    np.testing.assert_array_equal(cls.predict(CTX), context_mean(CTX))
    assert cls.module is None and cls.digest is None
    fn = load_model("lvmgate.lvm.baselines:copy_last")  # a function of the contexts
    np.testing.assert_array_equal(fn.predict(CTX), copy_last(CTX))
    with pytest.raises(InputError, match="export needs the PyTorch model"):
        fn.require_module("export")
    slow = load_model("lvmgate.testing.models:slower_than_half_a_second")  # a factory of a torch module
    assert slow.module is not None and slow.digest == weights_digest(slow.module.state_dict())


def test_a_model_that_reads_tmd_codes_is_refused_at_load(tmp_path):
    model = LVM(preset("tiny", tmd_dim=16))
    path = tmp_path / "tmd.pt"
    save_checkpoint(path, {"config": model.cfg.to_dict(), "model": model.state_dict()})
    with pytest.raises(InputError, match="TMD-code input"):
        load_model(path)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nonsense", "unknown model 'nonsense'"),
        ("lvmgate.nope:thing", "cannot load model"),
        ("missing.pt", "no such checkpoint"),
        ("preset:tiny:x", "preset:NAME or preset:NAME:SEED"),
        ("preset:gigantic", "gigantic"),
    ],
)
def test_bad_specs_are_one_input_error(spec, message):
    with pytest.raises(InputError, match=message):
        load_model(spec)
