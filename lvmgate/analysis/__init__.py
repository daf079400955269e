"""Plan 3.3: error analysis of the LVM's failures, grouped so that the plan's four questions get answers.

    items = items_from_split("artifacts/lvm/x_test.npz", load_predictor("models/best.pt"))
    result = analyze_failures(items)          # FailureAnalysis: groupings, decoder overlap, answers
    run_failure_analysis(lvm_model=..., test_set=..., output="artifacts/validation/failure_analysis.json")

An item is one test window: w context chunks of an article and the true next chunk. It is a
**failure** when the true next chunk is not among the LVM's top-k (k = 10) rows of the whole vector
bank, ranked by cosine with the predicted vector, the window's own context rows excluded (the 3.2
benchmark's `next` task and its hit@10, so 3.3 explains the failures 3.2 counts). The cosine
between prediction and true next vector is kept per item, with the share below the 2.3 bar.

Failures are grouped by
- domain: the TMD domain code of the true next chunk (domains with fewer than `min_group_items`
  items pooled as "other domains", missing codes as "untagged");
- length: the true next chunk's length in characters, in terciles (short / medium / long);
- position: where the true next chunk sits in its article, chunk_index / (chunks - 1), in fixed
  thirds (beginning / middle / end);
- named-entity density: the share of word tokens that look like names, in terciles. The heuristic
  (no tagger, no model): a token counts when it starts with a capital letter and is not the first
  word of a sentence, or is an all-capital acronym of 2+ letters; numbers count as entities too
  (dates, quantities); sentence starts are the text start and anything after `.`, `!` or `?`.
Each group gets its failure rate and its difference from the rest of the items, with 95% intervals
from resampling articles (items of one article are not independent); ordered groupings also compare
their last group with their first (long - short, end - beginning, dense - sparse).

Decoder overlap ("are failures consistent across vec2text and LVM?"): the decoder (vec2text jxe /
ielab when its weights exist, else `nearest`) decodes each item's **true** next vector; it fails on
the item when the decoded text's sentence BLEU-4 against the true text is below the 1.4 bar (0.15).
Reported: the Jaccard index of the two failure sets with the value expected if they were
independent, and the lift P(decoder fails | LVM fails) - P(decoder fails | LVM succeeds), both with
article-bootstrap intervals. `nearest` decodes a true vector back to its own text unless another row
is at least as close (a duplicate), so with it the overlap is a floor, and the answer says so."""

from lvmgate.analysis.analyze import analyze_failures
from lvmgate.analysis.features import entity_density, entity_tokens, position_groups, tercile_groups
from lvmgate.analysis.groups import decoder_overlap, grouping
from lvmgate.analysis.result import (
    COSINE_BAR,
    DECODER_BLEU,
    FAILURE_K,
    FORMAT,
    GROUPINGS,
    MIN_GROUP_ARTICLES,
    MIN_GROUP_ITEMS,
    QUESTIONS,
    FailureAnalysis,
    FailureItems,
    Grouping,
    GroupStat,
    Overlap,
)
from lvmgate.analysis.run import (
    findings,
    items_from_windows,
    make_decoder,
    model_context_window,
    run_failure_analysis,
    store_domains,
    windows_from_records,
    write_analysis,
)

__all__ = [
    "COSINE_BAR",
    "DECODER_BLEU",
    "FAILURE_K",
    "FORMAT",
    "GROUPINGS",
    "MIN_GROUP_ARTICLES",
    "MIN_GROUP_ITEMS",
    "QUESTIONS",
    "FailureAnalysis",
    "FailureItems",
    "GroupStat",
    "Grouping",
    "Overlap",
    "analyze_failures",
    "decoder_overlap",
    "entity_density",
    "entity_tokens",
    "findings",
    "grouping",
    "items_from_windows",
    "make_decoder",
    "model_context_window",
    "position_groups",
    "run_failure_analysis",
    "store_domains",
    "tercile_groups",
    "windows_from_records",
    "write_analysis",
]
