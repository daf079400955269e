"""The plan's phase-1 validation tools: read a dataset from a store, compute one metric, and wrap it
as an artifact (result + provenance) that the gates read and that `--output` writes.

An artifact is cached by the gates under ARTIFACTS/<dataset>/<tool>.json and recomputed when its
provenance no longer matches (dataset fingerprint, sample, parameters or lvmgate version changed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lvmgate.corpus import ArticleIndex
from lvmgate.criteria import criteria_dict, read_criteria
from lvmgate.errors import InputError
from lvmgate.io import read_json, redact_url, write_json
from lvmgate.policy import Policy, default_policy
from lvmgate.results import Provenance, Result
from lvmgate.stores.base import Store


@dataclass(frozen=True)
class Sample:
    """The articles a tool looks at: a local ArticleIndex and the dataset positions of its rows."""

    index: ArticleIndex
    rows: np.ndarray | None  # (M,) canonical positions; None = every row, in order
    limit: int | None
    seed: int

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.index.n_rows) if self.rows is None else self.rows


SAMPLER = (
    "permutation-prefix/1"  # samples of one seed are nested: a larger limit keeps the smaller's articles
)


def sample_articles(store: Store, dataset: str, limit: int | None, seed: int) -> Sample:
    """All articles, or the first `limit` of a seeded permutation of them (kept in canonical order).
    Samples of one seed are nested, so sampling more (sequentially) only adds articles."""
    full = store.articles(dataset)
    if limit is None or limit >= full.n_articles:
        return Sample(full, None, None, seed)
    if limit < 1:
        raise InputError("--limit must be at least 1")
    chosen = np.sort(np.random.default_rng(seed).permutation(full.n_articles)[:limit])
    index, rows = full.subset(chosen)
    return Sample(index, rows, limit, seed)


@dataclass(frozen=True)
class Artifact(Result):
    """A phase-1 tool's output: the metric result, its criteria (unjudged) and where it came from."""

    tool: str
    provenance: Provenance
    result: Any  # a metric Result (or its dict, when loaded from JSON)
    criteria: dict[str, Any] = field(default_factory=dict)  # id -> Criterion dict (criteria_dict)

    def write(self, path: str | os.PathLike) -> Path:
        return write_json(path, self.to_dict())


def _artifact(tool: str, provenance: Provenance, result: Any) -> Artifact:
    return Artifact(tool, provenance, result, criteria_dict(result.criteria()))


def _provenance(store: Store, info, tool: str, limit: int | None, seed: int, policy: Policy) -> Provenance:
    """What an artifact of `tool` computed now from this dataset would record (used to spot stale ones)."""
    n_articles = info.n_articles if limit is None else min(limit, info.n_articles)
    return Provenance(
        tool=tool,
        dataset=info.name,
        store=redact_url(store.url),
        fingerprint=info.fingerprint,
        sample_size=n_articles,
        seed=seed,
        params={
            "limit": limit if limit is not None and limit < info.n_articles else None,
            "sampler": SAMPLER,
            **tool_params(tool, policy),
        },
        policy_digest=policy.digest,
    )


def tool_params(tool: str, policy: Policy) -> dict:
    """The policy parameters a tool's result depends on (recorded in its provenance)."""
    names = {
        "coherence": (
            "high_coherence_pair",
            "low_coherence_pair",
            "decay_max_lag",
            "order_lag",
            "null_pairs",
            "worst_pairs",
        ),
        "tmd": ("domain_present_pct",),
        "boundaries": ("short_chunk_chars", "long_chunk_chars", "boundary_examples"),
    }[tool]
    return {k: policy.params[k] for k in (*names, "bootstrap_resamples", "confidence")}


# -- 1.1 -----------------------------------------------------------------------------------------
def run_coherence(
    store: Store, dataset: str, *, limit: int | None = None, seed: int = 0, policy: Policy | None = None
) -> Artifact:
    """1.1 sequential coherence of a dataset (or `limit` sampled articles)."""
    from lvmgate.metrics.coherence import coherence

    policy = policy or default_policy()
    info = store.require(dataset)
    if info.dim is None:
        raise InputError(f"dataset {dataset!r} has no vectors: ingest it with --vectors or --encoder")
    sample = sample_articles(store, dataset, limit, seed)
    params = tool_params("coherence", policy)
    result = coherence(
        store.vectors(dataset),
        sample.index,
        rows=sample.rows,
        high_pair=params["high_coherence_pair"],
        low_pair=params["low_coherence_pair"],
        max_lag=params["decay_max_lag"],
        order_lag=params["order_lag"],
        null_pairs=params["null_pairs"],
        worst=params["worst_pairs"],
        resamples=params["bootstrap_resamples"],
        confidence=params["confidence"],
        seed=seed,
    )
    if result.worst_pairs:  # attach the text of the worst pairs, for "investigate outliers"
        import dataclasses

        wanted = [w.pos_a for w in result.worst_pairs] + [w.pos_b for w in result.worst_pairs]
        texts = dict(zip(wanted, store.texts(dataset, wanted)))
        worst = tuple(
            dataclasses.replace(w, text_a=texts[w.pos_a], text_b=texts[w.pos_b]) for w in result.worst_pairs
        )
        result = dataclasses.replace(result, worst_pairs=worst)
    result = replace(result, duplicates=_duplicates(store, dataset, sample, params, seed))
    return _artifact("coherence", _provenance(store, info, "coherence", limit, seed, policy), result)


def _duplicates(store: Store, dataset: str, sample: Sample, params: dict, seed: int):
    """Duplicate texts and vectors among the sampled rows (lvmgate.metrics.duplicates)."""
    from lvmgate.metrics.duplicates import duplicate_content

    texts: list[str] = []
    for batch in store.iter_batches(dataset, rows=sample.rows, vectors=False, tmd=False):
        texts.extend(batch.text or [])
    vectors = store.vectors(dataset)
    if sample.rows is not None:
        vectors = vectors[sample.rows]
    with np.errstate(invalid="ignore"):
        norms = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)
    valid = np.isfinite(norms) & (norms > 0)
    return duplicate_content(
        texts,
        vectors,
        sample.index.article_of_row(),
        sample.index.ids,
        positions=sample.positions,
        valid=valid,
        examples=params["worst_pairs"],
        resamples=params["bootstrap_resamples"],
        confidence=params["confidence"],
        seed=seed,
    )


# -- 1.2 -----------------------------------------------------------------------------------------
def run_tmd(
    store: Store, dataset: str, *, limit: int | None = None, seed: int = 0, policy: Policy | None = None
) -> Artifact:
    """1.2 TMD distribution; on a full run the store's own GROUP BY (the plan's SQL) must agree."""
    from lvmgate.metrics.tmd_distribution import tmd_distribution

    policy = policy or default_policy()
    info = store.require(dataset)
    if not info.has_tmd:
        raise InputError(f"dataset {dataset!r} has no TMD codes (domain_code is missing on every row)")
    sample = sample_articles(store, dataset, limit, seed)
    codes = np.concatenate(
        [b.domain_code for b in store.iter_batches(dataset, rows=sample.rows, text=False, vectors=False)]
    )
    params = tool_params("tmd", policy)
    result = tmd_distribution(
        codes,
        sample.index.article_of_row(),
        present_pct=params["domain_present_pct"],
        resamples=params["bootstrap_resamples"],
        confidence=params["confidence"],
        seed=seed,
    )
    if sample.rows is None:
        by_store = {(-1 if c is None else c): n for c, n in store.domain_counts(dataset)}
        ours = {(-1 if d.code is None else d.code): d.chunks for d in result.domains}
        if by_store != ours:
            raise RuntimeError(
                f"TMD counts disagree between the store's GROUP BY and the rows: {by_store} != {ours}"
            )
    return _artifact("tmd", _provenance(store, info, "tmd", limit, seed, policy), result)


# -- 1.3 -----------------------------------------------------------------------------------------
def run_boundaries(
    store: Store, dataset: str, *, limit: int | None = None, seed: int = 0, policy: Policy | None = None
) -> Artifact:
    """1.3 chunk boundaries of a dataset (or `limit` sampled articles)."""
    from lvmgate.metrics.boundaries import chunk_boundaries

    policy = policy or default_policy()
    info = store.require(dataset)
    sample = sample_articles(store, dataset, limit, seed)
    texts: list[str] = []
    for batch in store.iter_batches(dataset, rows=sample.rows, vectors=False, tmd=False):
        texts.extend(batch.text or [])
    params = tool_params("boundaries", policy)
    result = chunk_boundaries(
        texts,
        sample.index.article_of_row(),
        positions=sample.positions,
        article_ids=sample.index.ids,
        chunk_index=sample.index.chunk_index,
        short_chars=params["short_chunk_chars"],
        long_chars=params["long_chunk_chars"],
        examples=params["boundary_examples"],
        resamples=params["bootstrap_resamples"],
        confidence=params["confidence"],
        seed=seed,
    )
    return _artifact("boundaries", _provenance(store, info, "boundaries", limit, seed, policy), result)


TOOLS: dict[str, Callable[..., Artifact]] = {
    "coherence": run_coherence,
    "tmd": run_tmd,
    "boundaries": run_boundaries,
}


def _stored(path: Path) -> dict | None:
    """The artifact JSON at `path`, or None when there is none or it cannot be read."""
    if not path.is_file():
        return None
    with contextlib.suppress(InputError):
        art = read_json(path)
        return art if isinstance(art, dict) else None
    return None


def _made_by(art: dict, store: Store, dataset: str, tool: str, limit, seed: int, policy: Policy) -> bool:
    """True when `art` is what `tool` computed now on this dataset would be (same provenance)."""
    expected = _provenance(store, store.require(dataset), tool, limit, seed, policy)
    return art.get("tool") == tool and expected.matches(art.get("provenance") or {})


def cached_artifact(
    tool: str,
    store: Store,
    dataset: str,
    path: str | os.PathLike,
    *,
    limit: int | None,
    seed: int,
    policy: Policy,
    recompute: bool = False,
) -> tuple[dict, bool]:
    """(artifact dict, recomputed?) for `tool`: the cached JSON when its provenance still matches."""
    path = Path(path)
    cached = None if recompute else _stored(path)
    if cached is not None and _made_by(cached, store, dataset, tool, limit, seed, policy):
        return cached, False
    artifact = TOOLS[tool](store, dataset, limit=limit, seed=seed, policy=policy)
    artifact.write(path)
    return artifact.to_dict(), True


def sequential_artifact(
    tool: str,
    store: Store,
    dataset: str,
    path: str | os.PathLike,
    *,
    limit: int | None,
    seed: int,
    policy: Policy,
    recompute: bool = False,
    growth: int = 2,
) -> tuple[dict, bool]:
    """`cached_artifact`, but an undecided criterion (its interval's ends judged differently) never
    stands while more data exists: the sample grows by `growth` (nested, seeded) until every
    criterion decides or the dataset is exhausted. Undecided criteria left then say, in their
    reason, about how much data would decide them; `sampling` in the artifact records the steps."""
    path = Path(path)
    total = store.require(dataset).n_articles
    cached = None if recompute else _stored(path)
    sampling = (cached or {}).get("sampling") or {}
    same_request = "requested" in sampling and sampling["requested"] == limit  # grown as before
    if same_request and _made_by(cached, store, dataset, tool, sampling.get("used_limit"), seed, policy):
        return cached, False
    steps: list[dict[str, Any]] = []
    current, any_fresh = limit, False
    while True:
        art, fresh = cached_artifact(
            tool, store, dataset, path, limit=current, seed=seed, policy=policy, recompute=recompute
        )
        any_fresh |= fresh
        criteria = read_criteria(art)
        undecided = [c for c in criteria.values() if c.undecided(policy)]
        used = total if current is None else min(current, total)
        steps.append({"articles": used, "undecided": [c.id for c in undecided]})
        if not undecided or current is None or current >= total:
            break
        current = current * growth
        if current >= total:
            current = None
    for c in undecided:
        need = policy[c.id].units_to_decide(c.value)
        unit = "articles"
        where = f"undecided on all {total:,} articles of the dataset" + (
            f" (sampled from --limit {limit:,} until the data ran out)" if limit is not None else ""
        )
        if need == float("inf"):
            extra = f"{where}: the value sits on a threshold line, no sample size decides it"
        else:
            extra = f"{where}; about {need:,.0f} {unit} would decide it (ingest more batches)"
        art["criteria"][c.id] = c.with_reason(extra).to_dict()
    art["sampling"] = {
        "requested": limit,
        "used_limit": current,
        "used_articles": used,
        "total_articles": total,
        "steps": steps,
    }
    write_json(path, art)
    return art, any_fresh
