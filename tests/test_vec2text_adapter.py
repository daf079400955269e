"""The vec2text adapter through vec2text's own classes, with tiny random models built and saved here.

The models (lvmgate.decoders.tiny) use the published folder layout and config names (t5-base,
gtr_base), so loading goes through the same code as the real jxm/gtr__nq__32 checkpoints.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lvmgate.decoders import get_decoder
from lvmgate.decoders.tiny import build_tiny_vec2text
from lvmgate.decoders.vec2text import (
    CORRECTOR_REPO,
    INVERSION_REPO,
    PRESETS,
    Vec2TextDecoder,
    _build_corrector,
    fix_length_penalty,
    import_vec2text,
    locate_weights,
    offline_metric_loading,
    resolve_device,
    weights_available,
)
from lvmgate.errors import InputError, MissingWeightsError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids OpenMP oversubscription."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, one_thread) -> Path:
    return build_tiny_vec2text(tmp_path_factory.mktemp("vec2text"))


@pytest.fixture(scope="module")
def jxe(tiny_root) -> Vec2TextDecoder:
    return get_decoder("jxe", model_path=tiny_root, device="cpu")


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 768)).astype(np.float32)


# -- loading and decoding --------------------------------------------------------------------------
def test_loads_from_local_folder_and_decodes(jxe, tiny_root):
    assert jxe.dim == 768 and jxe.device == "cpu"
    assert jxe.files.inversion == str(tiny_root / INVERSION_REPO)
    assert jxe.files.base["t5-base"] == str(tiny_root / "t5-base")  # config says "t5-base"
    out = jxe.decode(_vectors(5))
    assert len(out) == 5
    assert all(d.ok and d.text and -1.0 <= d.score <= 1.0 for d in out)
    params = jxe.params()
    assert (params["num_steps"], params["sequence_beam_width"], params["seed"]) == (1, 1, 42)
    assert params["models"] == [INVERSION_REPO, CORRECTOR_REPO]


def test_output_is_vec2texts_own(jxe):
    """The adapter adds nothing to decoding: same text as vec2text.invert_embeddings on unit vectors."""
    import torch

    vec2text = import_vec2text()
    v = _vectors(3, seed=1)
    emb = torch.nn.functional.normalize(torch.from_numpy(v), dim=-1)
    with torch.no_grad():
        want = vec2text.invert_embeddings(emb, jxe.corrector, num_steps=1, sequence_beam_width=1)
    assert [d.text for d in jxe.decode(v)] == [t.strip() for t in want]


def test_batching_does_not_change_the_text(jxe):
    v = _vectors(6, seed=2)
    one_by_one = [d.text for d in jxe.decode(v, batch_size=1)]
    batched = [d.text for d in jxe.decode(v, batch_size=4)]
    assert batched == one_by_one
    assert len(set(batched)) > 1  # different inputs decode differently, so order mistakes would show


def test_nan_rows_are_skipped_without_disturbing_the_batch(jxe):
    v = _vectors(4, seed=3)
    clean = [d.text for d in jxe.decode(v)]
    v[1] = np.nan
    out = jxe.decode(v)
    assert out[1].error is not None and out[1].text == ""
    assert [out[i].text for i in (0, 2, 3)] == [clean[i] for i in (0, 2, 3)]


def test_wrong_dimension_is_an_input_error(jxe):
    with pytest.raises(InputError, match="expects 768-D"):
        jxe.decode(np.ones((2, 384), np.float32))


def test_presets_share_models_and_accept_overrides(jxe, tiny_root):
    assert (PRESETS["jxe"].num_steps, PRESETS["jxe"].sequence_beam_width) == (1, 1)
    assert (PRESETS["ielab"].num_steps, PRESETS["ielab"].sequence_beam_width) == (20, 2)
    ielab = get_decoder("ielab", model_path=tiny_root, device="cpu", num_steps=2)
    assert ielab.corrector is jxe.corrector  # one load for both presets
    assert (ielab.num_steps, ielab.sequence_beam_width, ielab.seed) == (2, 2, 123)
    out = ielab.decode(_vectors(2, seed=4))
    assert all(d.ok for d in out)
    hypothesis_only = get_decoder("jxe", model_path=tiny_root, device="cpu", num_steps=0)
    assert hypothesis_only.sequence_beam_width == 0 and len(hypothesis_only.decode(_vectors(2))) == 2
    with pytest.raises(InputError, match="sequence_beam_width"):
        get_decoder("jxe", model_path=tiny_root, device="cpu", sequence_beam_width=0)
    with pytest.raises(InputError, match=">= 0"):
        get_decoder("ielab", model_path=tiny_root, device="cpu", num_steps=-1)
    with pytest.raises(InputError, match="preset"):
        Vec2TextDecoder("gtr-large", model_path=tiny_root)


def test_path_from_environment(monkeypatch, tiny_root, jxe):
    monkeypatch.setenv("LVMGATE_VEC2TEXT_PATH", str(tiny_root))
    dec = get_decoder("jxe", device="cpu")
    assert dec.files.source == f"path:{tiny_root}" and dec.corrector is jxe.corrector


def test_hugging_face_cache_layout(monkeypatch, tmp_path, tiny_root):
    """A copied ~/.cache/huggingface/hub (models--org--name/snapshots/REV) works, as path or default."""
    cache = tmp_path / "hub"
    for repo, src in (
        (INVERSION_REPO, tiny_root / INVERSION_REPO),
        (CORRECTOR_REPO, tiny_root / CORRECTOR_REPO),
        ("google-t5/t5-base", tiny_root / "t5-base"),
        ("sentence-transformers/gtr-t5-base", tiny_root / "sentence-transformers" / "gtr-t5-base"),
    ):
        folder = cache / ("models--" + repo.replace("/", "--"))
        shutil.copytree(src, folder / "snapshots" / "0123abcd")
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text("0123abcd")
    files = locate_weights(cache)
    assert (
        files.base["t5-base"].endswith("snapshots/0123abcd") and "google-t5--t5-base" in files.base["t5-base"]
    )
    from huggingface_hub import constants

    monkeypatch.delenv("LVMGATE_VEC2TEXT_PATH", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    dec = get_decoder("jxe", device="cpu")
    assert dec.files.source == "hf-cache" and len(dec.decode(_vectors(1))) == 1


# -- missing and broken weights --------------------------------------------------------------------
def test_missing_weights_error_names_models_and_how_to_fetch(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("LVMGATE_VEC2TEXT_PATH", raising=False)
    with pytest.raises(MissingWeightsError) as err:
        get_decoder("jxe", model_path=tmp_path)
    msg = str(err.value)
    assert "jxm/gtr__nq__32," in msg and "jxm/gtr__nq__32__correct" in msg and "hf download" in msg
    assert "\n" not in msg  # one line for the CLI
    with pytest.raises(MissingWeightsError, match="does not exist"):
        get_decoder("ielab", model_path=tmp_path / "nowhere")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingWeightsError, match="Hugging Face cache"):
        locate_weights(None)
    assert weights_available(None) is False and weights_available(tmp_path) is False


def test_weights_available(tiny_root):
    assert weights_available(tiny_root) is True


def test_only_missing_models_are_named(tmp_path, tiny_root):
    shutil.copytree(tiny_root / "t5-base", tmp_path / "t5-base")
    shutil.copytree(tiny_root / INVERSION_REPO, tmp_path / INVERSION_REPO)
    with pytest.raises(MissingWeightsError) as err:
        locate_weights(tmp_path)
    msg = str(err.value).split(". ")[0]
    assert "jxm/gtr__nq__32__correct" in msg and "sentence-transformers/gtr-t5-base" in msg
    assert "jxm/gtr__nq__32," not in msg and "t5-base," not in msg


def test_missing_base_model_is_named(tmp_path, tiny_root):
    shutil.copytree(tiny_root / "jxm", tmp_path / "jxm")  # the two checkpoints without t5-base / gtr
    with pytest.raises(MissingWeightsError) as err:
        locate_weights(tmp_path)
    assert "google-t5/t5-base" in str(err.value) and "sentence-transformers/gtr-t5-base" in str(err.value)


def test_incomplete_checkpoint_is_refused(tmp_path, tiny_root):
    from safetensors.torch import load_file, save_file

    root = tmp_path / "broken"
    shutil.copytree(tiny_root, root)
    weights = root / INVERSION_REPO / "model.safetensors"
    state = load_file(str(weights))
    dropped = next(k for k in state if k.startswith("embedding_transform"))
    del state[dropped]
    save_file(state, str(weights))
    with pytest.raises(InputError, match="unset"):
        _build_corrector(locate_weights(root), "cpu")


def test_checkpoint_without_the_frozen_embedder_loads_it_from_gtr(tmp_path, tiny_root, jxe):
    """Published checkpoints may omit the frozen GTR embedder: it then comes from gtr-t5-base."""
    from safetensors.torch import load_file, save_file

    root = tmp_path / "no-embedder"
    shutil.copytree(tiny_root, root)
    weights = root / INVERSION_REPO / "model.safetensors"
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("embedder.")}
    save_file(state, str(weights))
    dec = Vec2TextDecoder("jxe", model_path=root, device="cpu")
    assert dec.corrector is not jxe.corrector
    v = _vectors(3, seed=5)
    assert [d.text for d in dec.decode(v)] == [d.text for d in jxe.decode(v)]


# -- device ----------------------------------------------------------------------------------------
def test_device_argument_environment_and_availability(monkeypatch, jxe):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("VEC2TEXT_DEVICE", raising=False)
    assert resolve_device(None) == "cpu"
    monkeypatch.setenv("VEC2TEXT_DEVICE", "cuda")
    assert resolve_device("cpu") == "cpu"  # the argument wins
    with pytest.raises(InputError, match="VEC2TEXT_DEVICE"):
        resolve_device(None)
    with pytest.raises(InputError, match="MPS"):
        resolve_device("mps")
    monkeypatch.setenv("VEC2TEXT_DEVICE", "tpu")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device(None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("VEC2TEXT_DEVICE")
    assert resolve_device("cuda") == "cuda" and resolve_device(None) == "cuda"
    assert next(jxe.corrector.model.parameters()).device.type == "cpu"
    assert next(jxe.corrector.inversion_trainer.model.parameters()).device.type == "cpu"


def test_unavailable_device_fails_before_loading(monkeypatch, tiny_root):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="cuda"):
        get_decoder("jxe", model_path=tiny_root, device="cuda")


# -- the two vec2text 0.0.13 + transformers 5 workarounds ------------------------------------------
def test_evaluate_load_is_neutralised_only_while_loading(monkeypatch, tmp_path, jxe, tiny_root):
    import evaluate

    vec2text = import_vec2text()

    def no_network(*args, **kwargs):
        raise ConnectionError("the hub is unreachable")

    monkeypatch.setattr(evaluate, "load", no_network)
    monkeypatch.chdir(tmp_path)  # vec2text's default trainer arguments create ./tmp_trainer
    inversion, corrector = jxe.corrector.inversion_trainer.model, jxe.corrector.model
    with pytest.raises(ConnectionError):  # without the workaround, building the corrector needs the hub
        vec2text.load_corrector(inversion, corrector)
    with offline_metric_loading():
        assert vec2text.load_corrector(inversion, corrector) is not None
    assert evaluate.load is no_network  # restored afterwards
    assert _build_corrector(locate_weights(tiny_root), "cpu") is not None  # the adapter applies it itself
    assert evaluate.load is no_network


def test_length_penalty_fix_is_needed_and_applied(jxe, tiny_root):
    import torch
    import transformers

    vec2text = import_vec2text()
    shipped = transformers.GenerationConfig.from_pretrained(tiny_root / "t5-base")
    assert shipped.length_penalty is None  # what transformers 5 leaves the corrector with
    gen = jxe.corrector.model.encoder_decoder.generation_config
    assert gen.length_penalty == 1.0  # set by the adapter
    emb = torch.nn.functional.normalize(torch.from_numpy(_vectors(2)), dim=-1)
    gen.length_penalty = None
    try:
        with pytest.raises(TypeError), torch.no_grad():
            vec2text.invert_embeddings(emb, jxe.corrector, num_steps=1, sequence_beam_width=1)
        assert fix_length_penalty(jxe.corrector) is True
        assert fix_length_penalty(jxe.corrector) is False
        with torch.no_grad():
            assert (
                len(vec2text.invert_embeddings(emb, jxe.corrector, num_steps=1, sequence_beam_width=1)) == 2
            )
    finally:
        gen.length_penalty = 1.0


def test_tiny_layout_matches_published_configs(tiny_root):
    cfg = json.loads((tiny_root / INVERSION_REPO / "config.json").read_text())
    assert cfg["model_name_or_path"] == "t5-base" and cfg["embedder_model_name"] == "gtr_base"
