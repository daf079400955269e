"""Plan 2.3: the LVM's predicted next vectors decoded to text and compared with the baselines.

    comp = compare_reconstruction("models/lvm.pt", "artifacts/lvm/x_test.npz", backends="jxe,ielab")
    comp.criteria["2.3.bleu4_margin_copy_last[nearest]"]          # paired, article bootstrap
    comp.write("artifacts/validation/reconstruction_lvm_vs_vec2text.json")

For every sampled held-out window, four vectors are decoded by every decoder:
- `lvm`: the model's prediction for the next chunk;
- `copy_last` / `context_mean`: the last context vector and the context average, the honest
  baselines (the real project's LVMs converged to copy-last, and on held-out articles the context
  mean beat them);
- `truth`: the true next vector (vec2text decoders only). This is the plan's "vec2text baseline":
  what 1.4 measured, on the same items here, so that the comparison is paired. It is a ceiling,
  not a competitor: a perfect prediction decodes exactly like it.
Decoders: `nearest` always (the whole bank; the window's own context rows are never an answer, so
a predictor cannot score by naming a chunk it was shown), `jxe` and `ielab` when their weights
exist (else recorded as unavailable, with the reason). Each decoded text is scored against the
true next chunk's text (BLEU-4, sacrebleu; token F1) and, with the dataset's encoder, re-encoded
and compared with the true next vector (text cosine, the 1.4 round-trip cosine's analogue). The
vector cosine cos(prediction, true next vector) needs no decoder.

Every comparison is paired: the same windows, resampled together by article (windows of one
article are correlated), so a margin's interval is the interval of the difference, not of two
separate numbers. Criteria (thresholds in lvmgate.policy, reasoning in docs/reconstruction.md):
2.3.shared_articles, 2.3.lvm_cosine, 2.3.cosine_margin_copy_last, 2.3.cosine_margin_context_mean,
2.3.bleu4_vs_vec2text[b], 2.3.cosine_vs_vec2text[b] (b in jxe, ielab; ratio LVM / truth),
2.3.bleu4_margin_copy_last[d], 2.3.bleu4_margin_context_mean[d] (d in nearest, jxe, ielab) and
2.3.latency_s (LVM forward time per single query). A failing criterion's message carries the
plan's diagnostics, measured: is the data sequential, is the model copying or collapsed, are the
vectors normalised and from the space the model was trained on.

The test set (`--test-set`) is a held-out split from `lvmgate prepare` (NAME_test.npz, or
NAME_val.npz) or a JSONL of chunk records (the corpus contract) naming held-out articles of the
bank's dataset; see `load_test_set`. Its articles are checked against the articles the model was
trained on (from the model's training log); any overlap is an InputError."""

from lvmgate.compare.diagnostics import diagnostics_text
from lvmgate.compare.inputs import load_test_set
from lvmgate.compare.result import CRITERIA, ReconstructionComparison
from lvmgate.compare.run import compare_reconstruction

# the public face; the constants and parts live in compare.result / compare.inputs / compare.decode
__all__ = [
    "CRITERIA",
    "ReconstructionComparison",
    "compare_reconstruction",
    "diagnostics_text",
    "load_test_set",
]
