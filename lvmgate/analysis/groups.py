"""3.3's statistics: failure rates per group with article-bootstrap intervals, each group against the
rest, and the plain-language answer to each of the plan's questions.
"""

from __future__ import annotations

import numpy as np

from lvmgate.analysis.result import (
    DECODER_BLEU,
    FAILURE_K,
    MIN_GROUP_ARTICLES,
    MIN_GROUP_ITEMS,
    FailureItems,
    Grouping,
    GroupStat,
    Overlap,
)
from lvmgate.results import Estimate
from lvmgate.stats import cluster_ratio_samples, cluster_sums, percentile_interval


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
