"""A tiny, randomly initialised vec2text model set in the real folder layout, for tests and offline demos.

`build_tiny_vec2text(root)` writes what `locate_weights(root)` expects for the GTR-base pair:

    root/t5-base/                              tiny T5 seq2seq (d_model 32) + word-level tokenizer
    root/sentence-transformers/gtr-t5-base/    tiny T5 encoder with hidden size 768 + tokenizer
    root/jxm/gtr__nq__32/                      vec2text InversionModel (config names t5-base, gtr_base)
    root/jxm/gtr__nq__32__correct/             vec2text CorrectorEncoderModel

The models are vec2text's own classes; only their sizes and the vocabulary are small, and weights are
drawn N(0, 0.3^2) so that the output varies with the input. Their output is random text, so they exercise every code path but say nothing about reconstruction quality.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lvmgate.decoders.vec2text import (
    CORRECTOR_REPO,
    INVERSION_REPO,
    _embedder_folders,
    _quiet_loading,
    import_vec2text,
)

WORDS = (
    "the a of and in to is was for on with by as at from it that this an be are which first new city "
    "river war king born film team music school state world water light energy earth plants sea "
    "north south year century church island language species village party army"
).split()


def _tokenizer():
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


def _save_t5(folder: Path, d_model: int, *, encoder_only: bool, seed: int) -> None:
    import torch
    import transformers

    tok = _tokenizer()
    cfg = transformers.T5Config(
        vocab_size=len(tok),
        d_model=d_model,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(seed)
    model = (transformers.T5EncoderModel if encoder_only else transformers.T5ForConditionalGeneration)(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def build_tiny_vec2text(root: str | os.PathLike, *, seed: int = 0, num_repeat_tokens: int = 4) -> Path:
    """Write the four tiny model folders under `root` (see module docstring); returns `root`."""
    import torch

    vec2text = import_vec2text()
    from vec2text.models.config import InversionConfig

    root = Path(root)
    t5_dir, gtr_dir = root / "t5-base", root / "sentence-transformers" / "gtr-t5-base"
    with _quiet_loading():
        _save_t5(t5_dir, 32, encoder_only=False, seed=seed)
        _save_t5(gtr_dir, 768, encoder_only=True, seed=seed + 1)  # vec2text's corrector assumes 768-D
        common = dict(
            model_name_or_path=str(t5_dir),
            embedder_model_name="gtr_base",
            embedder_model_api=None,
            embedder_fake_with_zeros=False,
            use_frozen_embeddings_as_input=True,
            encoder_dropout_disabled=False,
            decoder_dropout_disabled=False,
            embeddings_from_layer_n=None,
            use_lora=False,
            embedder_torch_dtype="float32",
            max_seq_length=32,
            num_repeat_tokens=num_repeat_tokens,
            embedder_no_grad=True,
            corrector_ignore_hypothesis_embedding=False,
        )
        with _embedder_folders({"gtr_base": str(gtr_dir)}):
            torch.manual_seed(seed + 2)
            inversion = vec2text.models.InversionModel(InversionConfig(**common))
        torch.manual_seed(seed + 3)
        corrector = vec2text.models.CorrectorEncoderModel(InversionConfig(**common))
        # default initialisation makes every input decode to the same text; wider weights make the
        # output depend on the input, so that batching and ordering mistakes show in tests
        gen = torch.Generator().manual_seed(seed + 4)
        with torch.no_grad():
            for part in (
                inversion.encoder_decoder,
                inversion.embedding_transform,
                corrector.encoder_decoder,
                corrector.embedding_transform_1,
                corrector.embedding_transform_2,
                corrector.embedding_transform_3,
            ):
                for param in part.parameters():
                    if param.dim() > 1:
                        param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
        for model, repo in ((inversion, INVERSION_REPO), (corrector, CORRECTOR_REPO)):
            folder = root / repo
            model.save_pretrained(folder)
            cfg_path = folder / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["model_name_or_path"] = "t5-base"  # as in the published checkpoints
            cfg_path.write_text(json.dumps(cfg, indent=2))
    return root
