"""Plan 3.3 on failure items: group the failures by domain, length, position and entity density,
compare the decoders, answer the plan's four questions.
"""

from __future__ import annotations

import numpy as np

from lvmgate.analysis.features import entity_density, position_groups, tercile_groups
from lvmgate.analysis.groups import (
    _answer_domains,
    _answer_ordered,
    _cluster_table,
    _domain_codes,
    decoder_overlap,
    grouping,
)
from lvmgate.analysis.result import (
    COSINE_BAR,
    DECODER_BLEU,
    FAILURE_K,
    MIN_GROUP_ITEMS,
    FailureAnalysis,
    FailureItems,
)
from lvmgate.errors import InputError
from lvmgate.results import Estimate


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
