"""The policy: every threshold of the plan in one place, with direction and optional warn band.

Defaults are the plan's numbers. Override them in `lvmgate.toml` (top level) or in pyproject.toml
under `[tool.lvmgate]`:

    [tool.lvmgate.thresholds]
    "1.1.mean_similarity" = { pass = 0.35, fail = 0.25 }
    "1.3.sentence_complete_pct" = 75          # a bare number sets the pass value
    [tool.lvmgate.params]
    bootstrap_resamples = 2000

A criterion is judged on an Estimate (value + 95% interval), not a bare number:
pass when the whole interval is on the pass side, fail when the whole interval is beyond the fail
value, warn otherwise: inside the plan's warn band, or straddling a threshold ("undecided, sample
more"). Interval-free numbers (exact counts) have low == high == value.

Long on purpose: most of it is the threshold table, one entry per criterion of the plan, which
reads best as one list (`_THRESHOLDS`); the logic is the few classes and functions around it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmgate.criteria import FAIL, NOT_APPLICABLE, NOT_MEASURED, PASS, SKIP, WARN
from lvmgate.errors import InputError
from lvmgate.results import Estimate, Result

__all__ = ["FAIL", "NOT_APPLICABLE", "NOT_MEASURED", "PASS", "SKIP", "WARN"]
_OPS = (">=", ">", "<=", "<", "between")


@dataclass(frozen=True)
class Threshold(Result):
    """One criterion: `op` against `pass_at`; beyond `fail_at` it fails, in between it warns."""

    id: str
    op: str
    pass_at: float
    fail_at: float | None = None  # None: the pass value is also the fail value (no warn band)
    upper: float | None = None  # for op "between": the inclusive upper bound
    unit: str = ""
    title: str = ""
    fail_action: str = ""
    variants: tuple[str, ...] = ()  # ids judged with this threshold: 'id[variant]' (backends, groupings)
    plan: bool = True  # the plan names this criterion (False: a check beyond the plan)

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"{self.id}: unknown op {self.op!r}")
        if self.op == "between" and self.upper is None:
            raise ValueError(f"{self.id}: 'between' needs an upper bound")

    def describe(self) -> str:
        """The threshold as a short string, e.g. '>= 0.3 (STOP < 0.2)'."""
        if self.op == "between":
            return f"{self.pass_at:g}-{self.upper:g}{self.unit}"
        text = f"{self.op} {self.pass_at:g}{self.unit}"
        if self.fail_at is not None and self.fail_at != self.pass_at:
            worse = {">=": "<", ">": "<=", "<=": ">", "<": ">="}[self.op]
            text += f" (STOP {worse} {self.fail_at:g}{self.unit})"
        return text

    def lines(self) -> tuple[float, ...]:
        """The values where the verdict changes (pass line, fail line, upper bound)."""
        out = [self.pass_at]
        if self.fail_at is not None and self.fail_at != self.pass_at:
            out.append(self.fail_at)
        if self.upper is not None:
            out.append(self.upper)
        return tuple(out)

    def units_to_decide(self, est: Estimate) -> float:
        """About how many units (the estimate's n) would make an interval like this one decide, with
        the interval's half-width shrinking as 1/sqrt(n); inf when the value sits on a line."""
        half = (est.high - est.low) / 2.0
        inside = [x for x in self.lines() if est.low <= x <= est.high] or list(self.lines())
        gap = min(abs(est.value - x) for x in inside)
        if gap <= 0 or math.isnan(half):
            return float("inf")
        return max(float(est.n), est.n * (half / gap) ** 2)

    def judge(self, est: Estimate | float) -> str:
        """pass / warn / fail for an estimate (see module docstring)."""
        if not isinstance(est, Estimate):
            est = Estimate.exact(float(est), 1)
        lo, hi = est.low, est.high
        if any(x != x for x in (est.value, lo, hi)):  # NaN: nothing measurable is never a pass
            return FAIL
        if self.op == "between":
            if self.pass_at <= lo and hi <= self.upper:
                return PASS
            return FAIL if hi < self.pass_at or lo > self.upper else WARN
        fail_at = self.pass_at if self.fail_at is None else self.fail_at
        if self.op == ">=":
            return PASS if lo >= self.pass_at else FAIL if hi < fail_at else WARN
        if self.op == ">":
            return PASS if lo > self.pass_at else FAIL if hi <= fail_at else WARN
        if self.op == "<=":
            return PASS if hi <= self.pass_at else FAIL if lo > fail_at else WARN
        return PASS if hi < self.pass_at else FAIL if lo >= fail_at else WARN  # "<"


def _t(id: str, op: str, pass_at: float, fail_at: float | None = None, **kw: Any) -> Threshold:
    return Threshold(id, op, pass_at, fail_at, **kw)


_THRESHOLDS: tuple[Threshold, ...] = (
    # -- 1.1 sequential coherence --------------------------------------------------------------
    _t(
        "1.1.mean_similarity",
        ">=",
        0.3,
        0.2,
        title="Mean consecutive-chunk cosine",
        fail_action="STOP INGESTION, fix chunking strategy (0.2-0.3: acceptable, investigate outliers)",
    ),
    _t(
        "1.1.high_coherence_pct",
        ">=",
        60.0,
        unit="%",
        title="Pairs with high coherence",
        fail_action="Most consecutive pairs lack narrative flow: inspect the worst pairs and the chunker",
    ),
    _t(
        "1.1.low_coherence_pct",
        "<=",
        20.0,
        unit="%",
        title="Pairs with low coherence",
        fail_action="Too many disconnected consecutive pairs: inspect the worst pairs and the chunker",
    ),
    _t(
        "1.1.lift_over_random",
        ">=",
        0.10,
        title="Consecutive minus random-pair cosine",
        fail_action="Consecutive chunks are no more alike than random pairs: order or vectors are broken",
    ),
    _t(
        "1.1.order_margin",
        ">=",
        0.02,
        title="cos(lag 1) minus cos(lag k) inside articles",
        fail_action="Neighbours are no closer than chunks k apart: chunk order was lost inside articles",
    ),
    _t(
        "1.1.order_integrity_pct",
        "<=",
        0.0,
        0.5,
        unit="%",
        title="Rows with duplicate or missing chunk_index",
        fail_action="chunk_index repeats or skips inside articles: positions or article ids were lost at ingestion",
    ),
    _t(
        "1.1.invalid_vectors_pct",
        "<=",
        0.0,
        0.0,
        unit="%",
        title="Zero or NaN vector rows",
        fail_action="Failed embedding batches stored as zero/NaN vectors: re-embed those rows",
    ),
    _t(
        "1.1.duplicate_chunks_pct",
        "<=",
        1.0,
        5.0,
        unit="%",
        title="Rows whose text or vector repeats an earlier row (inside or across articles)",
        fail_action="Chunks were ingested twice or the chunker repeats itself: duplicates inflate coherence and "
        "teach copy-last; deduplicate before training",
    ),
    # -- 1.2 TMD distribution ------------------------------------------------------------------
    _t(
        "1.2.top_domain_pct",
        "<",
        50.0,
        70.0,
        unit="%",
        title="Share of the largest domain",
        fail_action="One domain > 70%: TMD is broken, investigate LLM prompts",
    ),
    _t(
        "1.2.unknown_pct",
        "<",
        30.0,
        50.0,
        unit="%",
        title="Share of domain code 0 (unknown)",
        fail_action="Unknown > 50%: hybrid mode falling back too often",
    ),
    _t(
        "1.2.domains_over_5pct",
        ">=",
        5,
        title="Domains with more than 5% of chunks",
        fail_action="Too few domains represented: check the tagger and the sample",
    ),
    # -- 1.3 chunk boundaries ------------------------------------------------------------------
    _t(
        "1.3.sentence_complete_pct",
        ">=",
        70.0,
        50.0,
        unit="%",
        title="Chunks ending on a sentence boundary",
        fail_action="< 50% sentence-complete: adjust semantic chunker settings",
    ),
    Threshold(
        "1.3.mean_length_chars",
        "between",
        250.0,
        upper=400.0,
        title="Average chunk length (chars)",
        fail_action="Chunks too short/long: re-tune chunk size parameters",
    ),
    _t(
        "1.3.short_chunks_pct",
        "<=",
        0.0,
        1.0,
        unit="%",
        title="Chunks under 50 characters",
        fail_action="Chunks too short: re-tune chunk size parameters",
    ),
    _t(
        "1.3.long_chunks_pct",
        "<=",
        0.0,
        1.0,
        unit="%",
        title="Chunks over 1000 characters",
        fail_action="Chunks too long: re-tune chunk size parameters",
    ),
    # -- 1.4 vec2text baseline -----------------------------------------------------------------
    _t(
        "1.4.bleu4",
        ">=",
        0.15,
        title="Vec2text BLEU-4 (baseline to beat)",
        fail_action="Reconstruction below the known vec2text level: check models and encoder",
    ),
    _t(
        "1.4.cosine",
        ">=",
        0.7,
        title="Round-trip cosine (re-encoded decoded text vs input)",
        fail_action="Vectors are not from the encoder the decoders expect: e.g. SentenceTransformer-normalised "
        "GTR instead of the mean-pooled GTR-T5 vec2text was trained on (cos ~0.05-0.08 that way vs ~0.9)",
    ),
    # -- 2.1 training data ---------------------------------------------------------------------
    _t(
        "2.1.shape_mismatch",
        "<=",
        0,
        title="Materialised shape differs from (N, context, D)",
        fail_action="Check NPZ shape: (N, context_window, 768)",
    ),
    _t(
        "2.1.bad_windows",
        "<=",
        0,
        title="Windows not consecutive chunks of one article",
        fail_action="Verify sequences are in-order (not shuffled across articles); rebuild windows",
    ),
    _t(
        "2.1.duplicate_sequences",
        "<=",
        0,
        title="Duplicate sequences",
        fail_action="Confirm no duplicate sequences",
    ),
    _t(
        "2.1.repeated_vector_windows",
        "<=",
        0,
        title="Windows holding the same vector twice",
        fail_action="Duplicated chunks teach copy-last: deduplicate the bank",
    ),
    _t(
        "2.1.invalid_vector_windows",
        "<=",
        0,
        title="Windows with zero/NaN vectors",
        fail_action="Re-embed or drop invalid rows before preparing",
    ),
    _t(
        "2.1.shared_articles",
        "<=",
        0,
        title="Articles shared between train/val/test",
        fail_action="Split by article: shared articles leak the validation set",
    ),
    _t("2.1.split_fraction_error", "<=", 0.02, title="Split fraction error vs requested"),
    _t(
        "2.1.order_margin",
        ">=",
        0.02,
        title="cos(target, previous) - cos(target, w back)",
        fail_action="Targets are no closer to their neighbour than to older context: order was lost",
    ),
    _t(
        "2.1.bank_mismatch",
        "<=",
        0,
        title="Vector bank differs from the one prepared against",
        fail_action="Re-run prepare: the dataset changed since",
    ),
    _t("2.1.train_windows", ">=", 1, title="Training windows"),
    _t(
        "2.1.dropped_windows_pct",
        "<=",
        1.0,
        5.0,
        unit="%",
        title="Candidate windows prepare dropped (invalid, repeated or duplicate vectors)",
        fail_action="Preparation hid a data problem by dropping windows: see the counts by reason, fix the bank "
        "(duplicate chunks, invalid vectors) and prepare again",
    ),
    # -- 2.2 training --------------------------------------------------------------------------
    _t(
        "2.2.nonfinite_loss",
        "<=",
        0,
        title="NaN/Inf loss or gradient events",
        fail_action="NaN/Inf in loss: gradient explosion, lower the learning rate",
    ),
    _t(
        "2.2.loss_decrease",
        ">=",
        0.05,
        0.01,
        title="Training loss decrease, first steps to last epoch (relative)",
        fail_action="Loss not decreasing after 1 epoch: STOP, check data format",
    ),
    _t(
        "2.2.val_train_gap",
        "<=",
        0.25,
        0.5,
        title="(val loss - train loss) / train loss, last epoch",
        fail_action="Validation loss does not track training loss: overfitting, reduce model size",
    ),
    _t(
        "2.2.val_rise",
        "<=",
        0.05,
        0.2,
        title="Last val loss above its best (relative)",
        fail_action="Validation loss diverging: overfitting, reduce model size (or epochs)",
    ),
    _t(
        "2.2.peak_memory_gib",
        "<",
        16.0,
        unit=" GiB",
        title="Peak training memory (one GPU)",
        fail_action="Reduce batch size or model size, or use gradient checkpointing",
    ),
    _t(
        "2.2.checkpoint_unrecorded",
        "<=",
        0,
        title="Checkpoint weights not recorded in the training log",
        fail_action="The checkpoint is not one the run saved and verified: find the right file or retrain",
    ),
    _t(
        "2.2.checkpoint_metric_error",
        "<=",
        0.001,
        title="|re-measured - logged| val cosine of the checkpoint",
        fail_action="The checkpoint does not measure what training logged: do not use it",
    ),
    _t(
        "2.2.shared_articles",
        "<=",
        0,
        title="Validation articles also in the training data",
        fail_action="Validate on article-disjoint data (lvmgate prepare splits by article)",
    ),
    _t(
        "2.2.cosine_margin_copy_last",
        ">",
        0.01,
        title="Model minus copy-last val cosine (held-out articles)",
        fail_action="The LVM does not beat copying the last chunk: do NOT scale up, investigate",
    ),
    _t(
        "2.2.cosine_margin_context_mean",
        ">",
        0.01,
        title="Model minus context-mean val cosine (held-out articles)",
        fail_action="The LVM does not beat averaging the context: do NOT scale up, investigate",
    ),
    _t(
        "2.2.hit10_margin_copy_last",
        ">",
        0.01,
        title="Model minus copy-last hit@10 (the plan's Recall@10) over the full bank",
        fail_action="Retrieval with the LVM's prediction is no better than with the last chunk",
    ),
    _t(
        "2.2.hit10_margin_context_mean",
        ">",
        0.01,
        title="Model minus context-mean hit@10 (the plan's Recall@10) over the full bank",
        fail_action="Retrieval with the LVM's prediction is no better than with the context mean",
    ),
    _t(
        "2.2.next_vs_context_margin",
        ">=",
        0.12,
        title="cos(pred, next) - max cos(pred, context)",
        fail_action="The model predicts a context vector (copying), not the next chunk",
    ),
    _t(
        "2.2.paraphrase_ratio",
        "<=",
        1.5,
        1.6,
        title="PAR: max cos(pred, context) / max cos(next, context), means (LCM paper 2.4.1)",
        fail_action="The model copies its context: its predictions sit nearer what it was shown than the "
        "truth does (copy-last: 1.69-1.76 on real text, 2.5 on synth --learnable); train longer, or check that "
        "targets are next chunks",
    ),
    # -- 2.3 reconstruction --------------------------------------------------------------------
    _t(
        "2.3.lvm_cosine",
        ">=",
        0.6,
        title="LVM predicted-vector cosine with the true next vector",
        fail_action="CRITICAL: is data sequential? architecture correct? vectors normalised?",
    ),
    _t(
        "2.3.shared_articles",
        "<=",
        0,
        title="Test articles also in the model's training data",
        fail_action="Test on held-out articles (lvmgate prepare --test-split splits by article)",
    ),
    _t(
        "2.3.cosine_margin_copy_last",
        ">",
        0.01,
        title="LVM minus copy-last cosine with the true next vector (test articles)",
        fail_action="LVM << copy-last: CRITICAL, do NOT proceed: is data sequential? architecture correct? "
        "vectors normalised?",
    ),
    _t(
        "2.3.cosine_margin_context_mean",
        ">",
        0.01,
        title="LVM minus context-mean cosine with the true next vector (test articles)",
        fail_action="LVM << context-mean: CRITICAL, do NOT proceed: is data sequential? architecture correct? "
        "vectors normalised?",
    ),
    _t(
        "2.3.bleu4_vs_vec2text",
        ">=",
        1.0,
        0.8,
        title="LVM BLEU-4 / vec2text BLEU-4 of the true next vector (same items)",
        fail_action="Below the vec2text baseline: within 5% acceptable (tune hyperparameters); > 20% below is a "
        "CRITICAL ISSUE, do NOT proceed: is data sequential? architecture correct? vectors normalised?",
    ),
    _t(
        "2.3.cosine_vs_vec2text",
        ">=",
        1.0,
        0.8,
        title="LVM text cosine / vec2text round-trip cosine of the true next vector (same items)",
        fail_action="Below the vec2text baseline: within 5% acceptable (tune hyperparameters); > 20% below is a "
        "CRITICAL ISSUE, do NOT proceed: is data sequential? architecture correct? vectors normalised?",
    ),
    _t(
        "2.3.bleu4_margin_copy_last",
        ">",
        0.01,
        title="LVM minus copy-last BLEU-4, decoded the same way",
        fail_action="Decoded, the LVM's prediction is no better than the last context chunk's: do NOT proceed",
    ),
    _t(
        "2.3.bleu4_margin_context_mean",
        ">",
        0.01,
        title="LVM minus context-mean BLEU-4, decoded the same way",
        fail_action="Decoded, the LVM's prediction is no better than the context average's: do NOT proceed",
    ),
    _t("2.3.latency_s", "<", 1.0, unit=" s", title="LVM inference time per query"),
    # -- 2.4 vector arithmetic -----------------------------------------------------------------
    _t(
        "2.4.top3_accuracy",
        ">=",
        0.5,
        title="Analogy top-3 accuracy in the LVM's space",
        fail_action="The LVM does not preserve analogies: compare with the encoder space's accuracy",
    ),
    _t(
        "2.4.top3_above_chance",
        ">",
        0.10,
        title="LVM-space top-3 accuracy minus the chance line 3/(V-3)",
        fail_action="Analogies in the LVM's space are at chance: its outputs lost the encoder's structure",
    ),
    _t(
        "2.4.top3_retention",
        ">=",
        0.9,
        0.5,
        title="LVM-space top-3 accuracy / encoder-space top-3 accuracy (same analogies)",
        fail_action="The LVM lost most of the analogy structure its input space has",
    ),
    # -- 3.1 grid search -----------------------------------------------------------------------
    _t(
        "3.1.completed_runs",
        ">=",
        2,
        1,
        title="Grid runs completed (model file verified against its log)",
        fail_action="No grid run completed: run `lvmgate grid` (it resumes) and check the failures listed",
    ),
    _t(
        "3.1.finished_pct",
        ">=",
        100.0,
        25.0,
        unit="%",
        title="Planned grid runs finished (completed, or failed and listed)",
        fail_action="The grid is unfinished: run `lvmgate grid` again to continue it",
    ),
    _t(
        "3.1.flagged_pct",
        "<=",
        0.0,
        50.0,
        unit="%",
        title="Finished grid runs that failed or raised red flags",
        fail_action="Runs failed (NaN loss, checkpoint mismatch) or raised red flags: see the runs listed; over "
        "half means the data or the setup is broken",
    ),
    _t(
        "3.1.best_margin_copy_last",
        ">",
        0.01,
        title="Best grid run minus copy-last val cosine (held-out articles)",
        fail_action="Phase 3 no improvement: the best configuration does not beat copying the last chunk; "
        "question if the LVM is the right approach",
    ),
    _t(
        "3.1.best_margin_context_mean",
        ">",
        0.01,
        title="Best grid run minus context-mean val cosine (held-out articles)",
        fail_action="Phase 3 no improvement: the best configuration does not beat averaging the context; "
        "question if the LVM is the right approach",
    ),
    # -- 3.2 retrieval -------------------------------------------------------------------------
    _t(
        "3.2.recall_gain",
        ">",
        0.05,
        title="LVM minus vec Recall@10 (hit@10: true next chunk in the top 10, whole bank, paired)",
        fail_action="Phase 3 no improvement (LVM ~= baseline after tuning): question if the LVM is the right "
        "approach for this data",
    ),
    _t(
        "3.2.recall_gain_context_mean",
        ">",
        0.01,
        title="LVM minus context-mean Recall@10 (hit@10, whole bank, paired)",
        fail_action="Averaging the context retrieves as well as the LVM: the model adds nothing a baseline "
        "does not; question if the LVM is the right approach",
    ),
    _t(
        "3.2.latency_ms",
        "<",
        500.0,
        unit=" ms",
        title="LVM latency p95, one query alone (prediction + whole-bank search)",
        fail_action="Too slow: if vec's search alone is near the limit, use an approximate index "
        "(--index ivf/hnsw); else shrink or export the model",
    ),
    _t(
        "3.2.memory_gib",
        "<",
        4.0,
        unit=" GiB",
        title="LVM memory: model parameters and buffers (fits on a consumer GPU)",
        fail_action="The model does not fit a consumer GPU: a smaller preset, bf16 or quantisation",
    ),
    # -- 3.3 error analysis --------------------------------------------------------------------
    _t(
        "3.3.items",
        ">=",
        100,
        30,
        title="Test items analysed",
        fail_action="Too few test items to say what fails: a bigger --test-set or --sample-size",
    ),
    _t(
        "3.3.compared_groups",
        ">=",
        2,
        title="Groups with enough items to compare (>= 20 items from >= 5 articles)",
        fail_action="This grouping cannot be compared: more test items, or a test set spanning more articles",
    ),
    # -- 4.1 production data -------------------------------------------------------------------
    _t(
        "4.1.augment_enabled",
        ">=",
        1,
        title="Augmentation recorded in the production set",
        fail_action="Prepare the production set with --augment (plan 4.1)",
    ),
    Threshold(
        "4.1.augment_mask_frac",
        "between",
        0.09,
        upper=0.11,
        title="Dropout: share of context vectors masked",
        fail_action="Plan 4.1: randomly mask 10% of context vectors (policy augment_mask_frac); prepare again",
    ),
    Threshold(
        "4.1.augment_noise_sigma",
        "between",
        0.009,
        upper=0.011,
        title="Noise injection: Gaussian sigma on context vectors",
        fail_action="Plan 4.1: Gaussian noise sigma 0.01 (policy augment_noise_sigma); prepare again",
    ),
    _t(
        "4.1.augment_shuffle_prob",
        ">",
        0.0,
        title="Within-context shuffling: share of windows shuffled",
        fail_action="Plan 4.1: shuffle within-context order (policy augment_shuffle); prepare again",
    ),
    Threshold(
        "4.1.val_fraction",
        "between",
        0.03,
        upper=0.07,
        title="Validation share of windows (plan --val-split 0.05)",
        fail_action="Prepare with --val-split 0.05",
    ),
    # the 2.1 checks again on the production set (same defaults as 2.1: override both together)
    *(
        _t(f"4.1.{name}", op, at, title=f"{title} (production set)", fail_action=action)
        for name, op, at, title, action in (
            ("shape_mismatch", "<=", 0, "Shape differs from (N, context, D)", "Check NPZ shape"),
            ("bad_windows", "<=", 0, "Windows not consecutive chunks of one article", "Rebuild windows"),
            ("duplicate_sequences", "<=", 0, "Duplicate sequences", "Deduplicate the sequences"),
            ("repeated_vector_windows", "<=", 0, "Windows holding one vector twice", "Deduplicate the bank"),
            ("invalid_vector_windows", "<=", 0, "Windows with zero/NaN vectors", "Re-embed invalid rows"),
            ("shared_articles", "<=", 0, "Articles shared between splits", "Split by article"),
            ("split_fraction_error", "<=", 0.02, "Split fraction error vs requested", "Prepare again"),
            ("order_margin", ">=", 0.02, "cos(target, previous) - cos(target, w back)", "Order was lost"),
            ("bank_mismatch", "<=", 0, "Bank differs from the one prepared against", "Prepare again"),
            ("train_windows", ">=", 1, "Training windows", "Nothing to train on"),
        )
    ),
    _t(
        "4.1.dropped_windows_pct",
        "<=",
        1.0,
        5.0,
        unit="%",
        title="Candidate windows prepare dropped (production set)",
        fail_action="Preparation dropped windows: fix the bank (duplicates, invalid vectors) and prepare again",
    ),
    # -- 4.2 large production model (the run itself is GPU work: this reads its checkpoint and log) ----
    Threshold(
        "4.2.d_model",
        "between",
        768.0,
        upper=768.0,
        title="Model width of the checkpoint (plan --d-model 768)",
        fail_action="Not the plan's production model: train with --model-size large --d-model 768",
    ),
    _t(
        "4.2.n_layers",
        ">=",
        24,
        title="Layers of the checkpoint (plan --n-layers 24)",
        fail_action="Not the plan's production model: train with --model-size large --n-layers 24",
    ),
    _t(
        "4.2.epochs",
        ">=",
        10,
        title="Epochs completed (plan --epochs 10)",
        fail_action="The run did not complete the plan's 10 epochs: resume it (lvmgate train resumes)",
    ),
    _t(
        "4.2.mixed_precision",
        ">=",
        1,
        title="Trained with mixed precision (plan --mixed-precision)",
        fail_action="Train with --mixed-precision (bf16 autocast)",
    ),
    _t(
        "4.2.gradient_checkpointing",
        ">=",
        1,
        title="Trained with gradient checkpointing (plan --gradient-checkpointing)",
        fail_action="Train with --gradient-checkpointing",
    ),
    _t(
        "4.2.best3_retention",
        ">=",
        1,
        title="The 3 best checkpoints by validation loss are kept, each one the log recorded",
        fail_action="Checkpointing strategy not followed: keep the best 3 by validation loss (--keep-best 3)",
    ),
    _t(
        "4.2.final_checkpoint",
        ">=",
        1,
        title="Final checkpoint saved after the last epoch and recorded in the log",
        fail_action="No final checkpoint: the run did not finish, or its file was replaced",
    ),
    _t(
        "4.2.checkpoint_unrecorded",
        "<=",
        0,
        title="--lvm-model's weights are not a checkpoint the training log recorded",
        fail_action="The model file is not one the production run saved and verified",
    ),
    _t(
        "4.2.nonfinite_loss",
        "<=",
        0,
        title="NaN/Inf loss or gradient events in the production run",
        fail_action="NaN/Inf in loss: gradient explosion, lower the learning rate",
    ),
    # -- 4.3 production ------------------------------------------------------------------------
    _t(
        "4.3.recall_at_10",
        ">",
        0.85,
        title="Recall@10: true next chunk in the top 10 (hit@10), whole bank, held-out",
        fail_action="Below production retrieval quality: keep training or tuning, or ship the vec2text baseline",
    ),
    _t(
        "4.3.precision_at_10",
        ">",
        0.70,
        title="Precision read as R-precision of the true next chunk (R = 1: it is ranked first); raw P@10 "
        "cannot exceed 0.1 with one right answer",
        fail_action="The true next chunk is not ranked first: ranking quality below production",
    ),
    _t(
        "4.3.latency_ms",
        "<",
        500.0,
        unit=" ms",
        title="Latency p95, one query (predict + whole-bank search)",
        fail_action="Too slow for production: export to ONNX, quantise, or shrink the model or the index",
    ),
    _t(
        "4.3.memory_gib",
        "<",
        8.0,
        unit=" GiB",
        title="Memory to serve: bank index + model",
        fail_action="Not deployable on a consumer GPU: quantise the model, compress or shard the index",
    ),
    _t(
        "4.3.shared_articles",
        "<=",
        0,
        title="Benchmarked articles the model was trained on (held-out test set)",
        fail_action="Not a held-out benchmark: use the test split of the model's own prepared set",
    ),
    # -- 4.4 deployment readiness --------------------------------------------------------------
    _t(
        "4.4.weights_gib",
        "<",
        4.0,
        unit=" GiB",
        title="Model weights, compressed safetensors",
        fail_action="Weights over 4 GiB compressed: quantise (INT8) or use a smaller model",
    ),
    _t(
        "4.4.onnx_max_abs_diff",
        "<=",
        1e-4,
        title="ONNX export: max abs difference onnxruntime vs PyTorch (dynamic batch, opset >= 17)",
        fail_action="The ONNX file does not compute what the model computes: export it again from this model",
    ),
    _t(
        "4.4.int8_cosine",
        ">=",
        0.95,
        title="INT8 tested: cosine of INT8 to float32 predictions (best route, mean)",
        fail_action="INT8 not tested or it changes the predictions: run lvmgate readiness / lvmgate quantize",
    ),
    _t(
        "4.4.batch_speedup",
        ">=",
        2.0,
        title="Batch inference: best throughput over batch-1 throughput",
        fail_action="Batching does not pay: check threads and the predictor's batch path",
    ),
    _t(
        "4.4.api_failures",
        "<=",
        0,
        title="API integration checks failed (health, predict parity, neighbours, 4xx)",
        fail_action="The HTTP API does not answer what the model predicts: see the failed checks",
    ),
    _t(
        "4.4.load_qps",
        ">=",
        1000.0,
        title="Load test: sustained QPS (2xx answers per second of the schedule)",
        fail_action="Does not sustain 1000 QPS: more workers or cores, ONNX + INT8, or a smaller model",
    ),
    _t(
        "4.4.load_p99_ms",
        "<",
        500.0,
        unit=" ms",
        title="Load test: p99 latency from the scheduled send time",
        fail_action="Tail latency under load above the limit: scale out or speed up the model",
    ),
    _t(
        "4.4.load_errors",
        "<=",
        0,
        title="Load test: errors (non-2xx, timeouts, connection errors)",
        fail_action="Requests failed under load: see the load test's errors by kind",
    ),
    _t(
        "4.4.load_duration_s",
        ">=",
        30.0,
        unit=" s",
        title="Load test: duration at the offered rate",
        fail_action="Run the load test for at least 30 s (lvmgate readiness --duration 30)",
    ),
    _t(
        "4.4.monitoring_failures",
        "<=",
        0,
        title="Monitoring/logging checks failed (/metrics, counters, JSON logs)",
        fail_action="Monitoring or logging is not working under load: see the failed checks",
    ),
    # -- final: the plan's Success Criteria (Final) --------------------------------------------
    *(
        _t(
            cid,
            op,
            at,
            unit=unit,
            title=title,
            fail_action="LVM is NOT production-ready: ship the vec2text baseline instead",
        )
        for cid, op, at, unit, title in (
            ("final.recall_at_10", ">", 0.85, "", "Recall@10 (high retrieval quality)"),
            ("final.bleu4", ">", 0.20, "", "BLEU-4 (better than vec2text)"),
            ("final.latency_ms", "<", 500.0, " ms", "Latency (acceptable speed)"),
            ("final.memory_gib", "<", 8.0, " GiB", "Memory (deployable)"),
            ("final.load_test", ">=", 1, "", "Passes load testing (1000 QPS)"),
        )
    ),
)

# criteria judged once per backend / grouping with one threshold: 'id[variant]'
VARIANTS: dict[str, tuple[str, ...]] = {
    "1.4.bleu4": ("jxe", "ielab"),
    "1.4.cosine": ("jxe", "ielab", "nearest"),
    "2.3.bleu4_vs_vec2text": ("jxe", "ielab"),
    "2.3.cosine_vs_vec2text": ("jxe", "ielab"),
    "2.3.bleu4_margin_copy_last": ("nearest", "jxe", "ielab"),
    "2.3.bleu4_margin_context_mean": ("nearest", "jxe", "ielab"),
    "3.3.compared_groups": ("domain", "length", "position", "entities", "decoder"),
}
# checks beyond the plan (everything else is a criterion the plan names)
BEYOND_PLAN = frozenset(
    {
        "1.1.lift_over_random",
        "1.1.order_margin",
        "1.1.order_integrity_pct",
        "1.1.invalid_vectors_pct",
        "1.1.duplicate_chunks_pct",
        *(
            f"{s}.{n}"
            for s in ("2.1", "4.1")
            for n in (
                "repeated_vector_windows",
                "invalid_vector_windows",
                "shared_articles",
                "split_fraction_error",
                "order_margin",
                "bank_mismatch",
                "train_windows",
                "dropped_windows_pct",
            )
        ),
        "2.2.checkpoint_unrecorded",
        "2.2.checkpoint_metric_error",
        "2.2.shared_articles",
        "2.2.cosine_margin_copy_last",
        "2.2.cosine_margin_context_mean",
        "2.2.hit10_margin_copy_last",
        "2.2.hit10_margin_context_mean",
        "2.2.next_vs_context_margin",
        "2.2.paraphrase_ratio",
        "2.3.shared_articles",
        "2.3.cosine_margin_copy_last",
        "2.3.cosine_margin_context_mean",
        "2.3.bleu4_margin_copy_last",
        "2.3.bleu4_margin_context_mean",
        "2.4.top3_retention",
        "3.1.flagged_pct",
        "3.2.recall_gain_context_mean",
        "4.2.checkpoint_unrecorded",
        "4.2.nonfinite_loss",
    }
)
DEFAULT_THRESHOLDS: tuple[Threshold, ...] = tuple(
    dataclasses.replace(t, variants=VARIANTS.get(t.id, ()), plan=t.id not in BEYOND_PLAN) for t in _THRESHOLDS
)


def criterion_ids(section: str | None = None) -> tuple[str, ...]:
    """The registry: every criterion id (variants expanded) in the plan's order, or one section's
    ('1.1', '2.3', 'final'). Gates parametrize over it, results must match it (tests check both)."""
    out = []
    for t in DEFAULT_THRESHOLDS:
        if section is not None and t.id.rsplit(".", 1)[0] != section:
            continue
        out += [f"{t.id}[{v}]" for v in t.variants] if t.variants else [t.id]
    if section is not None and not out:
        raise KeyError(f"no criteria in section {section!r}")
    return tuple(out)


def sections() -> tuple[str, ...]:
    """Plan sections that have criteria, in order ('1.1', ..., '4.4', 'final')."""
    return tuple(dict.fromkeys(t.id.rsplit(".", 1)[0] for t in DEFAULT_THRESHOLDS))


DEFAULT_PARAMS: dict[str, Any] = {
    "seed": 0,
    "confidence": 0.95,
    "bootstrap_resamples": 1000,
    # 1.1: a pair is "high coherence" at or above the plan's mean pass line and "low" below its
    # STOP line, so pair shares and the mean speak the same language.
    "high_coherence_pair": 0.3,
    "low_coherence_pair": 0.2,
    "null_pairs": 20000,
    "decay_max_lag": 5,
    "order_lag": 3,
    "worst_pairs": 10,
    # 1.2: a domain counts as represented above this share
    "domain_present_pct": 5.0,
    # 1.3 length bounds (characters)
    "short_chunk_chars": 50,
    "long_chunk_chars": 1000,
    "boundary_examples": 5,
    # 1.4: chunks decoded per backend (the plan's --sample-size)
    "reconstruction_sample_size": 500,
    # 2.1 / 4.1 augmentation (applied on the fly)
    "augment_mask_frac": 0.10,
    "augment_noise_sigma": 0.01,
    "augment_shuffle": True,
    "augment_shuffle_prob": 0.1,
    "split_tolerance": 0.02,
    # 2.2: Recall@k over the full bank uses at most this many validation windows (whole articles)
    "recall_max_windows": 5000,
    "checkpoint_metric_tolerance": 1e-3,
}


@dataclass(frozen=True)
class Policy(Result):
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    source: str = "defaults"

    def __getitem__(self, criterion_id: str) -> Threshold:
        """The threshold of a criterion; 'id[variant]' (e.g. '1.4.cosine[jxe]') uses the id's, and the
        variant must be one the registry names."""
        base, _, variant = criterion_id.partition("[")
        try:
            t = self.thresholds[base]
        except KeyError:
            raise KeyError(f"no threshold {criterion_id!r} in the policy") from None
        if variant and variant.rstrip("]") not in t.variants:
            raise KeyError(f"no criterion {criterion_id!r}: {base} has variants {list(t.variants)}")
        return t

    def changes(self) -> list[str]:
        """Every threshold and parameter that differs from the plan's defaults, one line each (for
        reports: a GO under a lowered policy must say what was lowered)."""
        base = default_policy()
        out = []
        for cid, t in self.thresholds.items():
            d = base.thresholds.get(cid)
            if d is not None and (t.op, t.pass_at, t.fail_at, t.upper) != (
                d.op,
                d.pass_at,
                d.fail_at,
                d.upper,
            ):
                out.append(f"{cid}: {d.describe()} -> {t.describe()}")
        for key, value in self.params.items():
            if base.params.get(key) != value:
                out.append(f"param {key}: {base.params.get(key)!r} -> {value!r}")
        return out

    def param(self, name: str) -> Any:
        return self.params[name]

    @property
    def digest(self) -> str:
        """Short hash of the effective thresholds and parameters (recorded in every artifact)."""
        body = json.dumps(
            {"t": {k: dataclasses.asdict(v) for k, v in sorted(self.thresholds.items())}, "p": self.params},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(body.encode()).hexdigest()[:12]


def default_policy() -> Policy:
    return Policy({t.id: t for t in DEFAULT_THRESHOLDS}, dict(DEFAULT_PARAMS))


def _find_config(start: Path) -> tuple[Path, dict] | None:
    for folder in (start, *start.parents):
        own = folder / "lvmgate.toml"
        if own.is_file():
            return own, _read_toml(own)
        project = folder / "pyproject.toml"
        if project.is_file():
            data = _read_toml(project).get("tool", {}).get("lvmgate")
            if data is not None:
                return project, data
    return None


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML ({exc})") from None


def load_policy(path: str | os.PathLike | None = None, *, start: str | os.PathLike | None = None) -> Policy:
    """Defaults overridden by `path` (a lvmgate.toml or pyproject.toml) or the nearest config found."""
    policy = default_policy()
    if path is not None:
        p = Path(path)
        data = _read_toml(p)
        if p.name == "pyproject.toml":
            data = data.get("tool", {}).get("lvmgate", {})
        found: tuple[Path, dict] | None = (p, data)
    else:
        found = _find_config(Path(start or os.getcwd()).resolve())
    if not found:
        return policy
    where, data = found
    thresholds = dict(policy.thresholds)
    for cid, override in (data.get("thresholds") or {}).items():
        if cid not in thresholds:
            raise InputError(f"{where}: unknown criterion {cid!r} in [thresholds]")
        base = thresholds[cid]
        if isinstance(override, (int, float)):
            thresholds[cid] = dataclasses.replace(base, pass_at=float(override))
            continue
        if not isinstance(override, dict):
            raise InputError(f"{where}: threshold {cid!r} must be a number or a table")
        changes = {}
        for key, attr in (("pass", "pass_at"), ("fail", "fail_at"), ("upper", "upper"), ("op", "op")):
            if key in override:
                changes[attr] = override[key] if key == "op" else float(override[key])
        unknown = set(override) - {"pass", "fail", "upper", "op"}
        if unknown:
            raise InputError(f"{where}: threshold {cid!r} has unknown keys {sorted(unknown)}")
        try:
            thresholds[cid] = dataclasses.replace(base, **changes)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    params = dict(policy.params)
    for key, value in (data.get("params") or {}).items():
        if key not in params:
            raise InputError(f"{where}: unknown parameter {key!r} in [params]")
        params[key] = value
    return Policy(thresholds, params, str(where))
