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

import numpy as np

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


def _tokenizer(words: tuple[str, ...] | list[str] = WORDS):
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


def _save_t5(
    folder: Path, d_model: int, *, encoder_only: bool, seed: int, words: tuple[str, ...] | list[str] = WORDS
) -> None:
    import torch
    import transformers

    tok = _tokenizer(words)
    cfg = transformers.T5Config(
        vocab_size=len(tok),
        d_model=d_model,
        d_kv=max(8, d_model // 4),
        d_ff=max(32, 2 * d_model),
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2 if d_model < 64 else 4,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(seed)
    model = (transformers.T5EncoderModel if encoder_only else transformers.T5ForConditionalGeneration)(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def build_tiny_vec2text(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    num_repeat_tokens: int = 4,
    words: tuple[str, ...] | list[str] = WORDS,
    d_model: int = 32,
    max_seq_length: int = 32,
    train: tuple[list[str], np.ndarray] | None = None,
    steps: int = 600,
) -> Path:
    """Write the four tiny model folders under `root` (see module docstring); returns `root`.

    With `train=(texts, vectors)` the inversion and corrector models are trained (vec2text's own
    forward passes and losses) to reconstruct those texts from those vectors, instead of being left
    random: a decoder that memorised a small bank, so that decoding quality differences between
    predictions show through vec2text's real classes (`train_tiny_vec2text` builds one)."""
    import torch

    vec2text = import_vec2text()
    from vec2text.models.config import InversionConfig

    root = Path(root)
    t5_dir, gtr_dir = root / "t5-base", root / "sentence-transformers" / "gtr-t5-base"
    with _quiet_loading():
        _save_t5(t5_dir, d_model, encoder_only=False, seed=seed, words=words)
        _save_t5(
            gtr_dir, 768, encoder_only=True, seed=seed + 1, words=words
        )  # vec2text's corrector assumes 768-D
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
            max_seq_length=max_seq_length,
            num_repeat_tokens=num_repeat_tokens,
            embedder_no_grad=True,
            corrector_ignore_hypothesis_embedding=False,
        )
        with _embedder_folders({"gtr_base": str(gtr_dir)}):
            torch.manual_seed(seed + 2)
            inversion = vec2text.models.InversionModel(InversionConfig(**common))
        torch.manual_seed(seed + 3)
        corrector = vec2text.models.CorrectorEncoderModel(InversionConfig(**common))
        if train is not None:
            _fit(inversion, corrector, *train, steps=steps, seed=seed)
        else:
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


def corpus_words(texts: list[str]) -> list[str]:
    """The word-level vocabulary of `texts` (split as the tiny tokenizer splits), in first-seen order."""
    from tokenizers import pre_tokenizers

    split = pre_tokenizers.Whitespace()
    seen: dict[str, None] = {}
    for t in texts:
        for w, _ in split.pre_tokenize_str(t):
            seen.setdefault(w, None)
    return list(seen)


def train_tiny_vec2text(
    root: str | os.PathLike,
    texts: list[str],
    vectors: np.ndarray,
    *,
    seed: int = 0,
    steps: int = 600,
    d_model: int = 64,
) -> Path:
    """Tiny vec2text models (real layout, real classes) trained to turn `vectors` (N, 768) back into
    `texts`: a decoder that knows this small bank. Decoding a vector of the bank gives its text;
    decoding anything else gives the text of whatever the models map it to."""
    texts = [str(t) for t in texts]
    n_tokens = max(len(_tokenizer(corpus_words(texts))(t)["input_ids"]) for t in texts)
    return build_tiny_vec2text(
        root,
        seed=seed,
        words=corpus_words(texts),
        d_model=d_model,
        max_seq_length=min(128, n_tokens),
        train=(texts, np.asarray(vectors, dtype=np.float32)),
        steps=steps,
    )


def _fit(inversion, corrector, texts: list[str], vectors: np.ndarray, *, steps: int, seed: int) -> None:
    """Train both models with vec2text's own forward passes and losses (teacher forcing):
    the inversion model maps a vector to its text; the corrector maps (vector, a hypothesis and its
    embedding) to the text, from perfect and from wrong hypotheses, so that correction keeps a right
    hypothesis and repairs a wrong one."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    tok = inversion.tokenizer
    enc = tok(
        texts,
        max_length=inversion.config.max_seq_length,
        truncation=True,
        padding="longest",
        return_tensors="pt",
    )
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)  # (N, L)
    emb = F.normalize(torch.from_numpy(vectors), dim=-1)  # (N, 768), as the decoder normalises
    # what the corrector sees as a hypothesis: decoder-style ids (start token, then the text)
    hyp_ids = torch.cat([torch.zeros_like(enc.input_ids[:, :1]), enc.input_ids], dim=1)  # (N, L + 1)
    inversion.eval()  # the embedder's noise (training only) is not configured in these models
    with torch.no_grad():
        hyp_emb = inversion.call_embedding_model(input_ids=enc.input_ids, attention_mask=enc.attention_mask)
    n = len(texts)
    params = [p for m in (inversion, corrector) for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)
    inversion.train()
    corrector.train()
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, n, (min(32, n),), generator=g)  # (b,)
        loss = inversion(
            embedder_input_ids=None,
            embedder_attention_mask=None,
            labels=labels[idx],
            frozen_embeddings=emb[idx],
        ).loss
        wrong = torch.randint(0, n, idx.shape, generator=g)
        hyp = torch.where(torch.rand(idx.shape, generator=g) < 0.5, idx, wrong)  # half right, half wrong
        loss = (
            loss
            + corrector(
                embedding=emb[idx],
                hypothesis_embedding=hyp_emb[hyp],
                hypothesis_input_ids=hyp_ids[hyp],
                hypothesis_attention_mask=(hyp_ids[hyp] != 0).int(),
                labels=labels[idx],
            ).loss
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    inversion.eval()
    corrector.eval()
