"""2.4 artifact: semantic vector arithmetic in the encoder space and in the LVM's space.

What the plan's criterion can and cannot say. An LVM maps a sequence of chunk vectors to the next
chunk's vector; it has no word space of its own. `predictor_space` gives it one: each word's
encoder vector repeated w times as the context, the prediction as the word's image. Two facts
follow, and the gate is built on them:
- the LVM can only keep the analogy structure its input space has. So the encoder space is
  measured first, as the control. An encoder without word semantics (the hashing encoder gives
  every word an independent random direction) answers analogies at chance, and then the question
  does not arise: the criteria are skipped as not applicable (not recorded; the reason is printed
  and in the findings), never judged. An encoder that is undeclared or unavailable here, or one
  that fails the chance line itself, is different: something the plan asks was not measured, so
  those skips are recorded (the phase is at best WARN);
- copy-last maps every word to itself, so it scores exactly the encoder's numbers: a pass here is
  not evidence that the LVM learned anything about sequences (gates 2.2 and 2.3 judge that). The
  artifact records how close the LVM's images are to their inputs and says so when they are
  (nearly) the inputs.
Criteria: 2.4.top3_accuracy (the plan's >= 0.5, LVM space), 2.4.top3_above_chance (LVM top-3
minus the chance line 3/(V-3), > 0.10, the plan's "better than random (>10% for vocab of 1000)")
and 2.4.top3_retention (LVM top-3 / encoder top-3 over the same analogies, paired bootstrap: how
much of the available structure the LVM kept). The encoder is --encoder, else the encoder declared
by the bank the model was trained on (its training log's data), else --dataset's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.criteria import Criterion, criteria_dict, not_measured_all
from lvmgate.errors import InputError
from lvmgate.policy import criterion_ids
from lvmgate.results import Estimate

NO_WORD_SEMANTICS = {
    "hashing": "the hashing encoder gives every word an independent random direction (no word semantics)"
}
CRITERIA = criterion_ids("2.4")
IDENTITY_COSINE = 0.99  # images this close to their inputs: the LVM acts as copy-last here


def _training_bank(log: dict[str, Any] | None) -> tuple[dict[str, Any], int | None]:
    """The bank meta (dataset, encoder, ...) of the training data a run's log names, and its context window."""
    from lvmgate.sequences.loader import meta_path_for, read_meta

    if log is None:
        return {}, None
    train = ((log.get("data") or {}).get("train")) or {}
    w = train.get("context_window")
    try:
        bank = read_meta(meta_path_for(train["path"])).get("bank") or {}
    except (InputError, KeyError, TypeError):
        bank = {"dataset": train.get("dataset")}
    return bank, (int(w) if w else None)


def arithmetic_gate(
    model: str,
    *,
    encoder: str | None = None,
    dataset_encoder: str | None = None,
    context_window: int | None = None,
    vocab_size: int = 1000,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The 2.4 artifact for LVM `model` (checkpoint or predictor spec); see module docstring.

    `encoder` overrides; else the encoder of the model's training bank, else `dataset_encoder`.
    """
    from lvmgate.arithmetic.analogies import build_vocabulary, builtin_analogies
    from lvmgate.arithmetic.space import analogy_ranks, evaluate_space, predictor_space
    from lvmgate.encoders import get_encoder
    from lvmgate.lvm.checkpoint import read_training_log, stopped_run
    from lvmgate.lvm.load import load_model
    from lvmgate.metrics.reconstruction import cosine_rows
    from lvmgate.stats import bootstrap_statistic

    log = read_training_log(model)  # read once: the stopped-run check and the training bank
    stopped = stopped_run(model, log) if Path(model).suffix == ".pt" else None
    if stopped:
        return {
            "tool": "arithmetic",
            "provenance": _provenance({"lvm_model": model}, None, seed),
            "result": {"applicable": False, "reason": stopped},
            "criteria": criteria_dict(not_measured_all(CRITERIA, stopped)),
        }
    bank, w_log = _training_bank(log)
    spec = encoder or bank.get("encoder") or dataset_encoder
    w = int(context_window or w_log or 5)
    loaded = load_model(model)
    predictor, model_dim = loaded.predictor, loaded.dim
    prov_params = {
        "lvm_model": str(Path(model).resolve()) if Path(model).exists() else model,
        "encoder": spec,
        "encoder_from": "option" if encoder else "training bank" if bank.get("encoder") else "dataset",
        "context_window": w,
        "vocab_size": vocab_size,
        "resamples": resamples,
    }
    art: dict[str, Any] = {
        "tool": "arithmetic",
        "provenance": _provenance(prov_params, None, seed, dataset=bank.get("dataset")),
        "result": {"applicable": False, "reason": None, "encoder": spec, "context_window": w},
        "criteria": {},
    }

    def skip_all(reason: str) -> dict[str, Any]:
        """Not measured: the question could be asked of this model, but not here (see module doc)."""
        art["result"]["reason"] = reason
        art["criteria"] = criteria_dict(not_measured_all(CRITERIA, reason))
        return art

    if not spec:
        return skip_all(
            "no encoder: neither --encoder nor the model's training bank nor --dataset declares one, so "
            "words cannot be put into the LVM's input space"
        )
    try:
        enc = get_encoder(spec)
    except InputError as exc:
        return skip_all(f"encoder {spec!r} is not available here ({exc})")
    if model_dim is not None and getattr(enc, "dim", model_dim) != model_dim:
        raise InputError(f"encoder {spec!r} makes {enc.dim}-D vectors; {model} reads {model_dim}-D vectors")
    analogies = [a for a in builtin_analogies() if len({x.casefold() for x in a.words}) == 4]
    vocab = build_vocabulary(analogies, vocab_size)
    vectors = np.asarray(enc.encode(vocab, batch_size=256), dtype=np.float32)
    mapped = np.asarray(predictor_space(predictor, w)(vectors))
    spaces = {
        "encoder": evaluate_space(vectors, vocab, analogies, name="encoder", resamples=resamples, seed=seed),
        "lvm": evaluate_space(mapped, vocab, analogies, name="lvm", resamples=resamples, seed=seed),
    }
    pos = {x.casefold(): i for i, x in enumerate(vocab)}
    idx = np.array([[pos[x.casefold()] for x in a.words] for a in analogies])
    hit_enc = (analogy_ranks(vectors, idx)[0] <= 3).astype(np.float64)
    hit_lvm = (analogy_ranks(mapped, idx)[0] <= 3).astype(np.float64)
    retention = bootstrap_statistic(
        lambda a, b: a.mean() / b.mean() if b.mean() > 0 else float("nan"),
        hit_lvm,
        hit_enc,
        resamples=resamples,
        seed=seed + 7,
    )
    identity = float(np.mean(cosine_rows(mapped, vectors))) if mapped.shape == vectors.shape else float("nan")
    enc_r, lvm_r = spaces["encoder"], spaces["lvm"]
    chance = lvm_r.chance_top3

    def above(e: Estimate) -> Estimate:
        return Estimate(e.value - chance, e.low - chance, e.high - chance, e.n, e.method)

    art["result"] = {
        **art["result"],
        "encoder": str(getattr(enc, "spec", spec)),
        "n_analogies": len(analogies),
        "vocab_size": len(vocab),
        "context_window": w,
        "spaces": {k: v.to_dict() for k, v in spaces.items()},
        "identity_cosine": identity,
        "retention": retention.to_dict(),
    }
    line = (
        f"{len(analogies)} analogies, {len(vocab)} candidate words, encoder {spec.split(':')[0]}: LVM space "
        f"top-3 {lvm_r.top3.value:.3f} (top-1 {lvm_r.top1.value:.3f}), encoder space top-3 "
        f"{enc_r.top3.value:.3f}, chance {chance:.4f}; the LVM's word images have mean cosine "
        f"{identity:.3f} with their inputs (context: the word repeated {w} times)"
    )
    name = spec.split(":")[0]
    control = enc_r.top3.low - chance
    if name in NO_WORD_SEMANTICS:
        reason = (
            f"does not apply: {NO_WORD_SEMANTICS[name]}, so no space built on it can hold analogies "
            f"(encoder-space top-3 {enc_r.top3.value:.3f}, chance {chance:.3f}); 2.4 applies to vectors of "
            "an encoder with word semantics (minilm, gtr)"
        )
        art["result"]["reason"] = reason
        art["criteria"] = criteria_dict([Criterion.not_applicable(c, reason) for c in CRITERIA])
        return art
    if not control > 0.10:
        return skip_all(
            f"not measurable: the encoder space itself answers analogies no better than the plan's random "
            f"line ({line}), so the test cannot say anything about the LVM"
        )
    art["result"]["applicable"] = True
    if identity >= IDENTITY_COSINE:
        line += (
            ". The images are (nearly) the inputs: here the LVM acts like copy-last, which scores exactly the "
            "encoder's numbers, so a pass says nothing about next-chunk prediction (gates 2.2 and 2.3 judge that)"
        )
    art["provenance"]["sample_size"] = len(analogies)
    art["criteria"] = criteria_dict(
        [
            Criterion.measured("2.4.top3_accuracy", lvm_r.top3, line),
            Criterion.measured("2.4.top3_above_chance", above(lvm_r.top3), line),
            Criterion.measured("2.4.top3_retention", retention, line),
        ]
    )
    return art


def _provenance(
    params: dict[str, Any], sample_size: int | None, seed: int, dataset: str | None = None
) -> dict:
    from lvmgate.results import Provenance

    return Provenance(
        tool="arithmetic",
        dataset=dataset,
        store=None,
        fingerprint=None,
        sample_size=sample_size,
        seed=seed,
        params=params,
    ).to_dict()
