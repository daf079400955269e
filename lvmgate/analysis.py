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
is at least as close (a duplicate), so with it the overlap is a floor, and the answer says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.errors import InputError
from lvmgate.results import Estimate, Result
from lvmgate.stats import cluster_ratio_samples, cluster_sums, percentile_interval

FAILURE_K = 10
MIN_GROUP_ITEMS = 20
MIN_GROUP_ARTICLES = 5  # a group from fewer articles has no usable article-bootstrap interval
DECODER_BLEU = 0.15  # 1.4's BLEU-4 bar: below it the decoder did not give the text back
COSINE_BAR = 0.6  # 2.3's bar for the predicted vector's cosine with the true next vector
GROUPINGS = ("domain", "length", "position", "entities")
QUESTIONS = {
    "types": "What types of queries fail? (abstract concepts, named entities, etc.)",
    "consistency": "Are failures consistent across vec2text and LVM?",
    "domains": "Do certain domains have higher error rates?",
    "length": "Are long/short chunks harder to reconstruct?",
}
FORMAT = "lvmgate.failure-analysis/1"

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


# -- per-item features -----------------------------------------------------------------------------
def entity_tokens(text: str) -> tuple[int, int]:
    """(entity-like tokens, word tokens) of `text` by the capitalisation heuristic (module doc)."""
    entities = words = 0
    for sentence in _SENTENCE_END.split(text):
        for j, tok in enumerate(_WORD.findall(sentence)):
            words += 1
            number = tok[0].isdigit()
            acronym = len(tok) >= 2 and tok.isupper() and tok.isalpha()
            name = j > 0 and tok[0].isupper()  # capitalised, not the sentence's first word
            entities += number or acronym or name
    return entities, words


def entity_density(text: str) -> float:
    """Share of word tokens that look like named entities (0 for a text without words)."""
    e, w = entity_tokens(text)
    return e / w if w else 0.0


def tercile_groups(values: np.ndarray, names: Sequence[str], unit: str = "") -> tuple[np.ndarray, list[str]]:
    """(codes, labels): values split at their 1/3 and 2/3 quantiles into len(names) = 3 groups.
    Ties never split: a value sits in one group, so heavy ties leave fewer (non-empty) groups."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, [1 / 3, 2 / 3])) if len(values) else np.zeros(0)
    codes = np.searchsorted(edges, values, side="left")  # v <= edge[0] -> 0, ...
    labels = []
    for g in range(len(edges) + 1):
        sel = values[codes == g]
        lo, hi = (sel.min(), sel.max()) if sel.size else (np.nan, np.nan)
        labels.append(f"{names[min(g, len(names) - 1)]} ({lo:.3g}–{hi:.3g}{unit})")
    return codes, labels


def position_groups(relative: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Fixed thirds of the relative position in the article: beginning / middle / end."""
    rel = np.clip(np.asarray(relative, dtype=np.float64), 0.0, 1.0)
    codes = np.minimum((rel * 3).astype(np.int64), 2)
    return codes, ["beginning (first third)", "middle", "end (last third)"]


# -- inputs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FailureItems:
    """Per-item inputs of the analysis, aligned arrays (see module doc). Not serialised whole."""

    article: np.ndarray  # (n,) cluster id per item (article number)
    rank: np.ndarray  # (n,) rank of the true next chunk in the LVM's whole-bank ranking (0 = first)
    cosine: np.ndarray  # (n,) cos(prediction, true next vector)
    text: list[str]  # true next chunk's text
    domain: np.ndarray  # (n,) int TMD domain code, -1 when missing
    position: np.ndarray  # (n,) chunk_index / (article chunks - 1) of the true next chunk
    row: np.ndarray | None = None  # (n,) bank row of the true next chunk
    article_id: list[str] | None = None
    chunk_index: np.ndarray | None = None
    decoder: str | None = None  # decoder whose failures are compared ("nearest", "jxe", ...)
    decoder_bleu4: np.ndarray | None = (
        None  # (n,) sentence BLEU-4 of the decoded true vector, NaN = not decoded
    )
    decoded: list[str] | None = None
    bank_rows: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.rank)
        for name in ("article", "cosine", "domain", "position"):
            if len(getattr(self, name)) != n:
                raise InputError(
                    f"failure items: {name} has {len(getattr(self, name))} entries for {n} items"
                )
        if len(self.text) != n:
            raise InputError(f"failure items: {len(self.text)} texts for {n} items")

    def __len__(self) -> int:
        return len(self.rank)


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupStat(Result):
    """One group: size, failures, failure rate and its difference from all other items."""

    label: str
    n: int
    n_articles: int
    failures: int
    failure_rate: Estimate
    vs_rest: Estimate | None  # rate here minus rate of every other item (paired resamples)
    mean_cosine: float
    comparable: bool  # n >= min_group_items


@dataclass(frozen=True)
class Grouping(Result):
    """Failures split one way; `compared_groups` counts groups big enough to compare."""

    name: str
    definition: str
    groups: list[GroupStat]
    compared_groups: int
    contrast: Estimate | None  # ordered groupings: last group minus first group
    contrast_label: str
    answer: str


@dataclass(frozen=True)
class Overlap(Result):
    """LVM failures against decoder failures on the same items."""

    decoder: str
    definition: str
    n: int
    lvm_failures: int
    decoder_failures: int
    both: int
    jaccard: Estimate
    expected_jaccard: float  # if the two failure sets were independent, given their rates
    lift: Estimate | None  # P(decoder fails | LVM fails) - P(decoder fails | LVM succeeds)
    decoder_failure_rate: Estimate
    compared_groups: int  # LVM-fail and LVM-success groups with >= min items
    answer: str


@dataclass(frozen=True)
class FailureAnalysis(Result):
    """The 3.3 artifact body: failure definition, overall numbers, groupings, overlap, answers."""

    n_items: int
    n_articles: int
    bank_rows: int
    k: int
    failure_definition: str
    failures: int
    failure_rate: Estimate
    mean_cosine: Estimate
    cosine_bar: float
    below_cosine_bar: Estimate  # share of items whose predicted cosine is under the 2.3 bar
    min_group_items: int
    groupings: dict[str, Grouping]
    overlap: Overlap | None
    answers: dict[str, str]  # QUESTIONS key -> answer
    examples: list[dict[str, Any]] = field(default_factory=list)  # worst failures
    source: str = ""
    format: str = FORMAT


# -- statistics -----------------------------------------------------------------------------------------
def _cluster_table(article: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    """(A, m) per-article sums of each (n,) column."""
    return cluster_sums(np.stack([np.asarray(c, float) for c in columns], axis=1), article)[0]


def _group_rates(article, fail, codes, n_groups, *, resamples, seed, confidence=0.95, rest_confidence=0.95):
    """Per group: failure rate and rate minus the rest's, with percentile intervals over the same
    article resamples (`rest_confidence` for the differences, e.g. Bonferroni-adjusted).
    Returns (rates list[Estimate], vs_rest list[Estimate|None], samples (B, 2G))."""
    cols_s, cols_c = [], []
    for g in range(n_groups):
        inside = codes == g
        cols_s += [fail * inside, fail * ~inside]
        cols_c += [inside.astype(float), (~inside).astype(float)]
    sums, counts = _cluster_table(article, cols_s), _cluster_table(article, cols_c)
    k = len(sums)
    rng = np.random.default_rng([seed, 37])
    samples = (
        cluster_ratio_samples(sums, counts, resamples, rng)
        if resamples > 0 and k > 1
        else np.zeros((0, 2 * n_groups))
    )
    tot_s, tot_c = sums.sum(axis=0), counts.sum(axis=0)
    rates, vs_rest = [], []
    for g in range(n_groups):
        n_art = int((counts[:, 2 * g] > 0).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            point = tot_s[2 * g] / tot_c[2 * g]
            rest = tot_s[2 * g + 1] / tot_c[2 * g + 1]
        if len(samples):
            lo, hi = percentile_interval(samples[:, 2 * g], confidence)
            rates.append(Estimate(float(point), lo, hi, n_art))
        else:
            rates.append(Estimate(float(point), float(point), float(point), n_art, "point"))
        if tot_c[2 * g + 1] == 0 or tot_c[2 * g] == 0:
            vs_rest.append(None)
        elif len(samples):
            lo, hi = percentile_interval(samples[:, 2 * g] - samples[:, 2 * g + 1], rest_confidence)
            vs_rest.append(Estimate(float(point - rest), lo, hi, k))
        else:
            vs_rest.append(
                Estimate(float(point - rest), float(point - rest), float(point - rest), k, "point")
            )
    return rates, vs_rest, samples


def _fmt(e: Estimate | None, pct: bool = True) -> str:
    if e is None or e.value != e.value:
        return "n/a"
    s = 100.0 if pct else 1.0
    unit = "%" if pct else ""
    return f"{s * e.value:.1f}{unit} [{s * e.low:.1f}, {s * e.high:.1f}]"


def _pts(e: Estimate) -> str:
    return f"{100 * e.value:+.1f} points [{100 * e.low:+.1f}, {100 * e.high:+.1f}]"


def _direction(e: Estimate | None) -> int:
    """+1 when the interval is above 0, -1 below, 0 when it includes 0 (undecided)."""
    if e is None or e.low != e.low:
        return 0
    return 1 if e.low > 0 else -1 if e.high < 0 else 0


def grouping(
    name: str,
    definition: str,
    codes: np.ndarray,
    labels: list[str],
    items: FailureItems,
    fail: np.ndarray,
    *,
    ordered: bool,
    min_group_items: int,
    resamples: int,
    seed: int,
) -> Grouping:
    """Failure rates of each group (empty groups dropped) and, when ordered, last minus first.

    A group is comparable with at least `min_group_items` items from MIN_GROUP_ARTICLES articles.
    Unordered groupings compare every group with the rest, so those intervals are Bonferroni-adjusted
    (confidence 1 - 0.05 / groups); an ordered grouping's one contrast keeps 95%.
    """
    present = [g for g in range(len(labels)) if np.any(codes == g)]
    remap = np.full(len(labels), -1)
    remap[present] = np.arange(len(present))
    codes = remap[codes]
    labels = [labels[g] for g in present]
    rest_conf = 0.95 if ordered else 1.0 - 0.05 / max(1, len(labels))
    rates, vs_rest, samples = _group_rates(
        items.article,
        fail.astype(float),
        codes,
        len(labels),
        resamples=resamples,
        seed=seed,
        rest_confidence=rest_conf,
    )
    groups = []
    for g, label in enumerate(labels):
        inside = codes == g
        n_art = len(np.unique(items.article[inside]))
        groups.append(
            GroupStat(
                label=label,
                n=int(inside.sum()),
                n_articles=n_art,
                failures=int(fail[inside].sum()),
                failure_rate=rates[g],
                vs_rest=vs_rest[g],
                mean_cosine=float(np.mean(items.cosine[inside])),
                comparable=bool(inside.sum() >= min_group_items and n_art >= MIN_GROUP_ARTICLES),
            )
        )
    compared = sum(g.comparable for g in groups)
    contrast, contrast_label = None, ""
    comparable = [i for i, g in enumerate(groups) if g.comparable]
    if ordered and len(comparable) >= 2:
        a, b = comparable[0], comparable[-1]
        point = groups[b].failure_rate.value - groups[a].failure_rate.value
        if len(samples):
            lo, hi = percentile_interval(samples[:, 2 * b] - samples[:, 2 * a], 0.95)
            contrast = Estimate(point, lo, hi, len(np.unique(items.article)))
        else:
            contrast = Estimate(point, point, point, len(np.unique(items.article)), "point")
        contrast_label = f"{groups[b].label} minus {groups[a].label}"
    return Grouping(name, definition, groups, compared, contrast, contrast_label, "")


def _domain_codes(items: FailureItems, min_group_items: int) -> tuple[np.ndarray, list[str]]:
    """Codes and labels by domain, largest first; domains with too few items or articles pooled."""
    from lvmgate.tmd import domain_name

    dom = np.asarray(items.domain, dtype=np.int64)
    uniq, counts = np.unique(dom, return_counts=True)
    n_art = {int(d): len(np.unique(items.article[dom == d])) for d in uniq}
    big = [
        int(d)
        for d, c in sorted(zip(uniq, counts), key=lambda t: -t[1])
        if d >= 0 and c >= min_group_items and n_art[int(d)] >= MIN_GROUP_ARTICLES
    ]
    small = [int(d) for d in uniq if d >= 0 and int(d) not in big]
    labels = [domain_name(d) for d in big]
    codes = np.full(len(dom), -1, dtype=np.int64)
    for i, d in enumerate(big):
        codes[dom == d] = i
    if small:
        codes[np.isin(dom, small)] = len(labels)
        labels.append(
            f"other domains ({len(small)} with < {min_group_items} items or < {MIN_GROUP_ARTICLES} articles)"
        )
    if np.any(dom < 0):
        codes[dom < 0] = len(labels)
        labels.append("untagged (no domain code)")
    return codes, labels


def _answer_ordered(g: Grouping, what: str, worse_high: str, worse_low: str) -> str:
    if g.contrast is None:
        return f"Not answerable: fewer than two {what} groups have enough items."
    d = _direction(g.contrast)
    head = f"Failure rate {g.contrast_label}: {_pts(g.contrast)}"
    if d > 0:
        return f"{head}: {worse_high}."
    if d < 0:
        return f"{head}: {worse_low}."
    return f"{head}: no clear difference (the interval includes 0)."


def _answer_domains(g: Grouping) -> str:
    named = [x for x in g.groups if x.comparable and not x.label.startswith(("other", "untagged"))]
    if len(named) < 2:
        return "Not answerable: fewer than two domains have enough items."
    worse = [x for x in named if _direction(x.vs_rest) > 0]
    better = [x for x in named if _direction(x.vs_rest) < 0]
    parts = []
    if worse:
        parts.append(
            "higher error rates: "
            + "; ".join(f"{x.label} {_fmt(x.failure_rate)} ({_pts(x.vs_rest)} vs the rest)" for x in worse)
        )
    if better:
        parts.append(
            "lower: " + "; ".join(f"{x.label} {_fmt(x.failure_rate)} ({_pts(x.vs_rest)})" for x in better)
        )
    if not parts:
        spread = (
            max(named, key=lambda x: x.failure_rate.value),
            min(named, key=lambda x: x.failure_rate.value),
        )
        return (
            f"No: across {len(named)} domains with enough items none differs from the rest (every interval "
            f"includes 0); rates range from {_fmt(spread[1].failure_rate)} ({spread[1].label}) to "
            f"{_fmt(spread[0].failure_rate)} ({spread[0].label})."
        )
    return f"Yes, among {len(named)} domains with enough items: " + "; ".join(parts) + "."


# -- overlap --------------------------------------------------------------------------------------------
def decoder_overlap(
    items: FailureItems,
    fail: np.ndarray,
    *,
    bleu_bar: float = DECODER_BLEU,
    min_group_items: int = MIN_GROUP_ITEMS,
    resamples: int = 1000,
    seed: int = 0,
) -> Overlap | None:
    """LVM failures vs decoder failures on the items the decoder decoded (None without a decoder)."""
    if items.decoder_bleu4 is None:
        return None
    bleu = np.asarray(items.decoder_bleu4, dtype=np.float64)
    ok = np.isfinite(bleu)
    lvm, dec, art = fail[ok].astype(bool), bleu[ok] < bleu_bar, items.article[ok]
    n = int(ok.sum())
    both, either = lvm & dec, lvm | dec
    cols = [both, either, dec & lvm, lvm, dec & ~lvm, ~lvm, dec, np.ones(n)]
    table = _cluster_table(art, [c.astype(float) for c in cols]) if n else np.zeros((0, len(cols)))
    sums, counts = table[:, [0, 2, 4, 6]], table[:, [1, 3, 5, 7]]
    tot_s, tot_c = sums.sum(axis=0), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = tot_s / tot_c  # jaccard (0/0 when nobody fails), P(dec|lvm), P(dec|ok), P(dec)
    if n and not tot_c[0]:
        point[0] = 0.0  # no failures on either side: the sets are both empty
    k = len(table)
    samples = (
        cluster_ratio_samples(sums, counts, resamples, np.random.default_rng([seed, 41]))
        if resamples > 0 and k > 1
        else np.zeros((0, 4))
    )

    def est(col: np.ndarray, value: float) -> Estimate:
        if value != value:
            nan = float("nan")
            return Estimate(nan, nan, nan, k)
        if not len(samples):
            return Estimate(float(value), float(value), float(value), k, "point")
        lo, hi = percentile_interval(col, 0.95)
        if lo != lo:  # every replicate was 0/0 (no failures anywhere): exact
            lo = hi = float(value)
        return Estimate(float(value), lo, hi, k)

    jac_samples = np.where(np.isnan(samples[:, 0]), 0.0, samples[:, 0]) if len(samples) else samples
    jaccard = est(jac_samples if len(samples) else np.zeros(0), point[0])
    lift = None
    if tot_c[1] and tot_c[2]:
        lift = est(samples[:, 1] - samples[:, 2] if len(samples) else np.zeros(0), point[1] - point[2])
    p_l, p_d = lvm.mean() if n else np.nan, dec.mean() if n else np.nan
    inter = p_l * p_d
    expected = float(inter / (p_l + p_d - inter)) if n and (p_l + p_d - inter) > 0 else 0.0
    compared = int(lvm.sum() >= min_group_items) + int((~lvm).sum() >= min_group_items)
    name = items.decoder or "decoder"
    definition = (
        f"{name} decodes the true next vector; it fails when sentence BLEU-4 against the true text is below "
        f"{bleu_bar:g} (1.4's bar). LVM failure: true next chunk not in the top-{FAILURE_K} of the whole bank."
    )
    o = Overlap(
        decoder=name,
        definition=definition,
        n=n,
        lvm_failures=int(lvm.sum()),
        decoder_failures=int(dec.sum()),
        both=int(both.sum()),
        jaccard=jaccard,
        expected_jaccard=expected,
        lift=lift,
        decoder_failure_rate=est(samples[:, 3] if len(samples) else np.zeros(0), point[3]),
        compared_groups=compared,
        answer="",
    )
    return _with_overlap_answer(o)


def _with_overlap_answer(o: Overlap) -> Overlap:
    from dataclasses import replace

    floor = (
        " nearest gives a true vector its own text back unless another chunk is at least as close, so it is a "
        "floor for decoder failures; run with vec2text weights for the plan's comparison."
        if o.decoder == "nearest"
        else ""
    )
    if o.n == 0:
        text = "Not answerable: no item was decoded."
    elif o.decoder_failures == 0:
        text = (
            f"Not comparable: {o.decoder} failed on none of {o.n} items while the LVM failed on {o.lvm_failures} "
            f"(Jaccard 0)."
        )
    elif o.lift is None:
        text = f"Not answerable: the LVM failed on {'every' if o.lvm_failures == o.n else 'no'} item."
    else:
        d = _direction(o.lift)
        head = (
            f"Jaccard {o.jaccard.value:.3f} [{o.jaccard.low:.3f}, {o.jaccard.high:.3f}] vs {o.expected_jaccard:.3f} "
            f"if independent; {o.decoder} fails on {_pts(o.lift)} more of the LVM's failures than of its successes"
        )
        verdict = {
            1: "yes, partly: the decoder fails more often where the LVM fails (shared hard items)",
            -1: "no: the decoder fails less often where the LVM fails (different weaknesses)",
            0: "no evidence either way: the decoder's failure rate does not depend on the LVM's outcome",
        }[d]
        text = f"{head}: {verdict}."
    return replace(o, answer=text + floor)


# -- the analysis ---------------------------------------------------------------------------------------
def analyze_failures(
    items: FailureItems,
    *,
    k: int = FAILURE_K,
    min_group_items: int = MIN_GROUP_ITEMS,
    bleu_bar: float = DECODER_BLEU,
    cosine_bar: float = COSINE_BAR,
    resamples: int = 1000,
    seed: int = 0,
    examples: int = 10,
) -> FailureAnalysis:
    """Group the failures of `items` (see module doc) and answer the plan's four questions."""
    from dataclasses import replace

    from lvmgate.stats import cluster_bootstrap_ratio

    n = len(items)
    if n == 0:
        raise InputError("no test items to analyse")
    fail = np.asarray(items.rank) >= k
    kw = dict(min_group_items=min_group_items, resamples=resamples, seed=seed)

    def art_mean(values: np.ndarray) -> Estimate:
        t = _cluster_table(items.article, [values, np.ones(n)])
        return cluster_bootstrap_ratio(t[:, 0], t[:, 1], resamples=resamples, seed=seed)

    lengths = np.array([len(t) for t in items.text], dtype=np.float64)
    density = np.array([entity_density(t) for t in items.text])
    d_codes, d_labels = _domain_codes(items, min_group_items)
    l_codes, l_labels = tercile_groups(lengths, ("short", "medium", "long"), " chars")
    p_codes, p_labels = position_groups(items.position)
    e_codes, e_labels = tercile_groups(density, ("few entities", "some entities", "entity-dense"))
    groups = {
        "domain": replace(
            grouping(
                "domain",
                "TMD domain code of the true next chunk",
                d_codes,
                d_labels,
                items,
                fail,
                ordered=False,
                **kw,
            ),
            answer="",
        ),
        "length": grouping(
            "length",
            "characters of the true next chunk, terciles",
            l_codes,
            l_labels,
            items,
            fail,
            ordered=True,
            **kw,
        ),
        "position": grouping(
            "position",
            "chunk_index / (article chunks - 1) of the true next chunk, fixed thirds",
            p_codes,
            p_labels,
            items,
            fail,
            ordered=True,
            **kw,
        ),
        "entities": grouping(
            "entities",
            "share of word tokens that look like names (capitalised not at a sentence start, acronyms, numbers), "
            "terciles",
            e_codes,
            e_labels,
            items,
            fail,
            ordered=True,
            **kw,
        ),
    }
    groups["domain"] = replace(groups["domain"], answer=_answer_domains(groups["domain"]))
    groups["length"] = replace(
        groups["length"],
        answer=_answer_ordered(
            groups["length"], "length", "longer chunks are harder", "shorter chunks are harder"
        ),
    )
    groups["position"] = replace(
        groups["position"],
        answer=_answer_ordered(
            groups["position"],
            "position",
            "chunks late in an article are harder",
            "chunks early in an article are harder",
        ),
    )
    groups["entities"] = replace(
        groups["entities"],
        answer=_answer_ordered(
            groups["entities"],
            "entity-density",
            "entity-dense chunks (names, acronyms, numbers) are harder",
            "chunks with few names (more abstract text) are harder",
        ),
    )
    overlap = decoder_overlap(items, fail, bleu_bar=bleu_bar, **kw)
    rate = art_mean(fail.astype(float))
    answers = {
        "types": f"Named entities: {groups['entities'].answer} Position: {groups['position'].answer}",
        "consistency": overlap.answer if overlap else "Not answered: no decoder was run.",
        "domains": groups["domain"].answer,
        "length": groups["length"].answer,
    }
    worst = np.argsort(-np.asarray(items.rank, dtype=np.float64) - 1e-3 * (1 - items.cosine))[:examples]
    ex = [
        {
            "article_id": items.article_id[i] if items.article_id else str(items.article[i]),
            "chunk_index": int(items.chunk_index[i]) if items.chunk_index is not None else None,
            "row": int(items.row[i]) if items.row is not None else None,
            "rank": int(items.rank[i]),
            "cosine": float(items.cosine[i]),
            "text": items.text[i][:300],
            "decoded": items.decoded[i][:300] if items.decoded else None,
        }
        for i in worst
        if fail[i]
    ]
    return FailureAnalysis(
        n_items=n,
        n_articles=len(np.unique(items.article)),
        bank_rows=int(items.bank_rows),
        k=k,
        failure_definition=(
            f"the true next chunk is not among the LVM's top {k} rows of the whole bank ({items.bank_rows:,} rows; "
            "cosine with the predicted vector, the window's own context rows excluded)"
        ),
        failures=int(fail.sum()),
        failure_rate=rate,
        mean_cosine=art_mean(np.asarray(items.cosine, dtype=np.float64)),
        cosine_bar=cosine_bar,
        below_cosine_bar=art_mean((np.asarray(items.cosine) < cosine_bar).astype(float)),
        min_group_items=min_group_items,
        groupings=groups,
        overlap=overlap,
        answers=answers,
        examples=ex,
        source=items.source,
    )


# -- items from a test set ----------------------------------------------------------------------------
def _sample(n: int, size: int | None, seed: int) -> np.ndarray:
    if size is None or n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 43]).choice(n, size=size, replace=False))


def items_from_windows(
    bank: np.ndarray,
    index: Any,
    ctx_rows: np.ndarray,
    tgt_rows: np.ndarray,
    predictor: Any,
    *,
    texts: Callable[[np.ndarray], list[str]],
    domains: Callable[[np.ndarray], np.ndarray] | None = None,
    decoder: Any = None,
    batch_size: int = 256,
    source: str = "",
) -> FailureItems:
    """Score the predictor on (n, w) context rows -> target rows of `bank` and collect the features.

    `index` is the bank's ArticleIndex; `texts(rows)` gives texts of bank rows and `domains(rows)`
    their domain codes (-1 missing; None: no codes); `decoder` decodes the true next vectors.
    """
    from lvmgate.lvm.evaluate import TIE_TOLERANCE, full_bank_ranks, window_scores
    from lvmgate.lvm.predictor import as_predictor, check_prediction
    from lvmgate.metrics.reconstruction import bleu_statistics

    ctx_rows = np.asarray(ctx_rows, dtype=np.int64)
    tgt_rows = np.asarray(tgt_rows, dtype=np.int64)
    pred_fn = as_predictor(predictor)
    n, dim = len(tgt_rows), int(bank.shape[1])
    preds = np.empty((n, dim), dtype=np.float32)
    cosine = np.empty(n)
    ctx_above = np.zeros(n, dtype=np.int64)
    for lo in range(0, n, batch_size):
        sl = slice(lo, min(n, lo + batch_size))
        rows = np.concatenate([ctx_rows[sl].ravel(), tgt_rows[sl]])
        uniq, inv = np.unique(rows, return_inverse=True)
        vecs = np.asarray(bank[uniq], dtype=np.float32)
        b = sl.stop - sl.start
        ctx = vecs[inv[: b * ctx_rows.shape[1]]].reshape(b, ctx_rows.shape[1], dim)
        tgt = vecs[inv[b * ctx_rows.shape[1] :]]
        p = check_prediction(pred_fn.predict(ctx), b, dim, getattr(pred_fn, "name", "predictor"))
        preds[sl] = p
        cos, _ = window_scores(p, ctx, tgt)
        cosine[sl] = cos
        # context rows are excluded from the ranking (as in the 3.2 benchmark): count those above the target
        pu = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-30)
        cu = ctx / np.maximum(np.linalg.norm(ctx, axis=2, keepdims=True), 1e-30)
        tu = tgt / np.maximum(np.linalg.norm(tgt, axis=1, keepdims=True), 1e-30)
        s_ctx = np.einsum("bd,bwd->bw", pu, cu)
        s_tgt = np.einsum("bd,bd->b", pu, tu)
        ctx_above[sl] = (s_ctx > s_tgt[:, None] + TIE_TOLERANCE).sum(axis=1)
    ranks = full_bank_ranks(preds, tgt_rows, bank) - ctx_above
    art_of_row = index.article_of_row()
    article = art_of_row[tgt_rows]
    offsets = np.asarray(index.offsets)
    lengths = np.diff(offsets)[article]
    position = (tgt_rows - offsets[article]) / np.maximum(lengths - 1, 1)
    target_texts = list(texts(tgt_rows))
    decoded, bleu, dec_name = None, None, None
    if decoder is not None:
        uniq, inv = np.unique(tgt_rows, return_inverse=True)  # one sorted read of the bank
        out = decoder.decode(np.asarray(bank[uniq], dtype=np.float32)[inv])
        decoded = [d.text for d in out]
        bleu = np.full(n, np.nan)
        good = [i for i, d in enumerate(out) if d.ok]
        if good:
            scores, _ = bleu_statistics([decoded[i] for i in good], [target_texts[i] for i in good], 4)
            bleu[good] = scores
        dec_name = decoder.name
    return FailureItems(
        article=article,
        rank=ranks,
        cosine=cosine,
        text=target_texts,
        domain=np.full(n, -1) if domains is None else np.asarray(domains(tgt_rows), dtype=np.int64),
        position=position,
        row=tgt_rows,
        article_id=[str(x) for x in np.asarray(index.ids)[article]],
        chunk_index=np.asarray(index.chunk_index)[tgt_rows],
        decoder=dec_name,
        decoder_bleu4=bleu,
        decoded=decoded,
        bank_rows=int(bank.shape[0]),
        source=source,
    )


def store_domains(store: Any, dataset: str, rows: np.ndarray) -> np.ndarray:
    """Domain code of each of `rows` (-1 when missing), read without texts or vectors."""
    rows = np.asarray(rows, dtype=np.int64)
    uniq, inv = np.unique(rows, return_inverse=True)
    found = np.full(len(uniq), -1, dtype=np.int64)
    for batch in store.iter_batches(dataset, rows=uniq, text=False, vectors=False, tmd=True):
        if batch.domain_code is not None:
            found[np.searchsorted(uniq, batch.pos)] = batch.domain_code
    found[found < 0] = -1
    return found[inv]


def windows_from_records(
    path: str | os.PathLike, index: Any, context_window: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(context rows (n, w), target rows (n,), skipped) for a JSONL test set whose lines name target
    chunks by `article_id` and `chunk_index`: the context is the w chunks before each in the bank."""
    from lvmgate.io import iter_jsonl

    ids = {str(a): i for i, a in enumerate(np.asarray(index.ids))}
    offsets = np.asarray(index.offsets)
    ci = np.asarray(index.chunk_index)
    ctx, tgt, skipped = [], [], 0
    for lineno, obj in iter_jsonl(path):
        if "article_id" not in obj or "chunk_index" not in obj:
            raise InputError(f"{path}:{lineno}: a test item needs article_id and chunk_index")
        a = ids.get(str(obj["article_id"]))
        if a is None:
            skipped += 1
            continue
        lo, hi = offsets[a], offsets[a + 1]
        pos = lo + int(np.searchsorted(ci[lo:hi], int(obj["chunk_index"])))
        if pos >= hi or ci[pos] != int(obj["chunk_index"]) or pos - context_window < lo:
            skipped += 1
            continue
        rows = np.arange(pos - context_window, pos + 1)
        if np.any(np.diff(ci[rows]) != 1):  # a hole in chunk_index: not consecutive chunks
            skipped += 1
            continue
        ctx.append(rows[:-1])
        tgt.append(pos)
    if not tgt:
        raise InputError(
            f"{path}: no test item has {context_window} consecutive chunks before it in the bank"
        )
    return np.asarray(ctx, dtype=np.int64), np.asarray(tgt, dtype=np.int64), skipped


def make_decoder(
    name: str, store: Any, dataset: str, *, model_path: str | None = None, device: str | None = None
):
    """`auto`: vec2text jxe when its weights are found, else nearest over the whole bank."""
    from lvmgate.decoders import DECODER_NAMES, get_decoder

    if name == "none":
        return None
    if name == "auto":
        from lvmgate.decoders.vec2text import weights_available

        name = "jxe" if weights_available(model_path) else "nearest"
    if name not in DECODER_NAMES:
        raise InputError(f"unknown decoder {name!r} (auto, none, {', '.join(DECODER_NAMES)})")
    if name == "nearest":
        return get_decoder("nearest", store=store, dataset=dataset)
    return get_decoder(name, model_path=model_path, device=device)


def model_context_window(lvm_model: str) -> int | None:
    """The context window an lvmgate checkpoint was trained on (from the data it records), if known."""
    if not os.path.isfile(lvm_model):
        return None
    from lvmgate.lvm.checkpoint import read_checkpoint

    body = read_checkpoint(lvm_model)
    w = ((body.get("data") or {}).get("train") or {}).get("context_window")
    return int(w) if w else None


def run_failure_analysis(
    *,
    lvm_model: str,
    test_set: str | os.PathLike,
    output: str | os.PathLike | None = None,
    store: str | None = None,
    dataset: str | None = None,
    decoder: str | Any = "auto",
    model_path: str | None = None,
    device: str | None = None,
    sample_size: int | None = 1000,
    context_window: int | None = None,
    k: int = FAILURE_K,
    min_group_items: int = MIN_GROUP_ITEMS,
    bleu_bar: float = DECODER_BLEU,
    cosine_bar: float = COSINE_BAR,
    resamples: int = 1000,
    seed: int = 0,
    plots: bool = True,
) -> dict[str, Any]:
    """The whole 3.3 step: load, score, decode, analyse; returns the artifact and writes it (JSON,
    per-item JSONL and PNG plots beside it) when `output` is given.

    `test_set`: a prepared split (NAME_test.npz / NAME_val.npz; its meta names the store and
    dataset) or a JSONL file naming target chunks by article_id and chunk_index (needs `dataset`).
    """
    from lvmgate import __version__
    from lvmgate.io import file_sha256, portable_url
    from lvmgate.lvm.load import load_predictor
    from lvmgate.stores import open_store

    test_set = Path(test_set)
    if not test_set.is_file():
        raise InputError(f"{test_set}: no such test set")
    predictor = load_predictor(lvm_model)
    is_npz = test_set.suffix == ".npz"
    if is_npz:
        from lvmgate.sequences import SequenceSet

        split = SequenceSet.load(test_set, store=store)
        if split.split == "train":
            raise InputError(f"{test_set} is the training split: analyse held-out windows (NAME_test.npz)")
        dataset = dataset or split.meta["bank"]["dataset"]
        if dataset != split.meta["bank"]["dataset"]:
            raise InputError(f"{test_set} was prepared on {split.meta['bank']['dataset']!r}, not {dataset!r}")
        store = store or split.meta["bank"].get("store")
        want = context_window or model_context_window(lvm_model)
        if want and want != split.context_window:
            raise InputError(
                f"{lvm_model} was trained on windows of {want} chunks; {test_set} holds windows of {split.context_window}"
            )
    elif not dataset:
        raise InputError("a JSONL test set names chunks of a store dataset: give --dataset (and --store)")
    st = open_store(store)
    try:
        info = st.require(dataset)
        index = st.articles(dataset)
        bank = st.vectors(dataset)
        if is_npz:
            pick = _sample(len(split), sample_size, seed)
            ctx_rows, tgt_rows, skipped = split.context[pick], split.target[pick], 0
            where = f"{len(pick)} of {len(split)} windows of {test_set.name} ({split.split})"
        else:
            w = context_window or model_context_window(lvm_model) or 5
            ctx_rows, tgt_rows, skipped = windows_from_records(test_set, index, w)
            pick = _sample(len(tgt_rows), sample_size, seed)
            ctx_rows, tgt_rows = ctx_rows[pick], tgt_rows[pick]
            where = f"{len(pick)} items of {test_set.name} (context {w}; {skipped} skipped: no full context in {dataset})"
        dec = (
            make_decoder(decoder, st, dataset, model_path=model_path, device=device)
            if isinstance(decoder, str)
            else decoder
        )
        items = items_from_windows(
            bank,
            index,
            ctx_rows,
            tgt_rows,
            predictor,
            texts=lambda rows: st.texts(dataset, rows),
            domains=(lambda rows: store_domains(st, dataset, rows)) if info.has_tmd else None,
            decoder=dec,
            source=where,
        )
        url = st.url
    finally:
        st.close()
    analysis = analyze_failures(
        items,
        k=k,
        min_group_items=min_group_items,
        bleu_bar=bleu_bar,
        cosine_bar=cosine_bar,
        resamples=resamples,
        seed=seed,
    )
    art = {
        "format": FORMAT,
        "tool": "failure_analysis",
        "provenance": {
            "lvm_model": str(Path(lvm_model).resolve()) if os.path.exists(lvm_model) else lvm_model,
            "lvm_model_sha256": file_sha256(lvm_model) if os.path.isfile(lvm_model) else None,
            "test_set": str(test_set.resolve()),
            "test_set_sha256": file_sha256(test_set),
            "store": portable_url(url),
            "dataset": dataset,
            "fingerprint": info.fingerprint,
            "decoder": items.decoder,
            "sample_size": sample_size,
            "seed": seed,
            "lvmgate_version": __version__,
        },
        "result": analysis.to_dict(),
    }
    if output is not None:
        write_analysis(art, items, analysis, output, plots=plots)
    return art


def write_analysis(
    art: dict[str, Any], items: FailureItems, analysis: FailureAnalysis, output, *, plots: bool
) -> list[Path]:
    """OUTPUT (JSON), OUTPUT_items.jsonl (one line per item) and, with `plots`, OUTPUT_*.png."""
    import json

    from lvmgate.io import atomic_open, write_json

    out = Path(output)
    written = [write_json(out, art)]
    fail = np.asarray(items.rank) >= analysis.k
    items_path = out.with_name(out.stem + "_items.jsonl")
    with atomic_open(items_path, "w", encoding="utf-8") as fh:
        for i in range(len(items)):
            rec = {
                "article_id": items.article_id[i] if items.article_id else int(items.article[i]),
                "chunk_index": None if items.chunk_index is None else int(items.chunk_index[i]),
                "row": None if items.row is None else int(items.row[i]),
                "rank": int(items.rank[i]),
                "failed": bool(fail[i]),
                "cosine": round(float(items.cosine[i]), 6),
                "domain_code": int(items.domain[i]),
                "position": round(float(items.position[i]), 4),
                "length_chars": len(items.text[i]),
                "entity_density": round(entity_density(items.text[i]), 4),
                "decoder_bleu4": None
                if items.decoder_bleu4 is None or items.decoder_bleu4[i] != items.decoder_bleu4[i]
                else round(float(items.decoder_bleu4[i]), 4),
            }
            fh.write(json.dumps(rec) + "\n")
    written.append(items_path)
    if plots:
        from lvmgate.report.plots import PLOTS

        result = art["result"]
        for j, (_title, fn) in enumerate(PLOTS.get("failure_analysis", [])):
            png = out.with_name(f"{out.stem}_{j + 1}.png")
            with atomic_open(png, "wb") as fh:
                fh.write(fn(result))
            written.append(png)
    return written


def findings(r: dict[str, Any]) -> list[str]:
    """Key findings for the phase report from a FailureAnalysis dict: the plan's four questions."""
    fr = Estimate.from_dict(r["failure_rate"])
    out = [
        f"3.3 failures: {r['failures']:,} of {r['n_items']:,} test items ({_fmt(fr)}, {r['n_articles']:,} articles): "
        f"{r['failure_definition']}. Mean predicted cosine {Estimate.from_dict(r['mean_cosine']).value:.3f}; "
        f"{100 * Estimate.from_dict(r['below_cosine_bar']).value:.1f}% below {r['cosine_bar']:g}.",
    ]
    for key, q in QUESTIONS.items():
        out.append(f"Q: {q} A: {r['answers'].get(key, 'not answered')}")
    return out
