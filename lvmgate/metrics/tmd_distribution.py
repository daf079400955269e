"""1.2 TMD distribution: per-domain counts and shares, top-domain %, unknown %, domains above 5%.

Same semantics as the plan's SQL (GROUP BY domain_code, share of all rows), computed from the
per-row codes so that intervals can resample articles (a tagger's choice is per article, so rows of
one article are not independent). Rows with no code (NULL) are reported as "untagged" and count
as unknown together with code 0, the tagger's fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lvmgate.corpus import MISSING
from lvmgate.criteria import Criterion
from lvmgate.policy import criterion_ids
from lvmgate.results import Estimate, Result
from lvmgate.stats import from_samples
from lvmgate.tmd import N_DOMAINS, UNKNOWN_DOMAIN, domain_name


@dataclass(frozen=True)
class DomainShare(Result):
    code: int | None  # None: untagged rows
    name: str
    chunks: int
    pct: float


@dataclass(frozen=True)
class TmdResult(Result):
    n_chunks: int
    n_articles: int
    top_domain: int | None
    top_domain_pct: Estimate
    unknown_pct: Estimate  # code 0 plus untagged
    untagged_pct: float
    domains_over_5pct: Estimate
    present_pct: float  # the share a domain needs to count as represented
    invalid_codes: int  # rows with a code outside 0..15
    domains: tuple[DomainShare, ...] = field(repr=False, default=())

    _hidden_fields = ("domains",)

    def criteria(self) -> list[Criterion]:
        m = Criterion.measured
        if self.n_chunks == 0:
            return [Criterion.not_measured(c, "no chunks") for c in criterion_ids("1.2")]
        largest = self.domains[0].name if self.domains else "none"
        return [
            m("1.2.top_domain_pct", self.top_domain_pct, f"largest: {largest}"),
            m("1.2.unknown_pct", self.unknown_pct, f"untagged rows: {self.untagged_pct:.2f}%"),
            m("1.2.domains_over_5pct", self.domains_over_5pct, f"domains above {self.present_pct:g}%"),
        ]


def tmd_distribution(
    domain_codes: np.ndarray,
    article_of_row: np.ndarray,
    *,
    present_pct: float = 5.0,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> TmdResult:
    """Distribution of (N,) domain codes (MISSING = untagged); articles numbered by `article_of_row`."""
    codes = np.asarray(domain_codes, dtype=np.int64)
    article = np.asarray(article_of_row, dtype=np.int64)
    n = codes.size
    n_art = int(article.max()) + 1 if n else 0
    invalid = int(np.count_nonzero((codes != MISSING) & ((codes < 0) | (codes >= N_DOMAINS))))
    # column j < 16: domain j; column 16: untagged; column 17: out-of-range codes
    col = np.where(
        codes == MISSING, N_DOMAINS, np.where((codes >= 0) & (codes < N_DOMAINS), codes, N_DOMAINS + 1)
    )
    width = N_DOMAINS + 2
    per_article = np.bincount(article * width + col, minlength=n_art * width).reshape(n_art, width)  # (A, 18)
    totals = per_article.sum(axis=0)

    def stats(table: np.ndarray) -> np.ndarray:
        """(..., 18) counts -> (..., 3): top-domain %, unknown %, domains over present_pct."""
        total = table.sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = 100.0 * table / total
        dom = pct[..., :N_DOMAINS]
        return np.stack(
            [
                dom.max(axis=-1),
                dom[..., UNKNOWN_DOMAIN] + pct[..., N_DOMAINS],
                (dom > present_pct).sum(axis=-1),
            ],
            axis=-1,
        )

    point = stats(totals.astype(np.float64))
    rng = np.random.default_rng(seed)
    samples = []
    block = max(1, 2_000_000 // max(n_art, 1))
    for done in range(0, resamples, block):
        b = min(block, resamples - done)
        idx = rng.integers(0, n_art, size=(b, n_art))
        flat = (idx + np.arange(b)[:, None] * n_art).ravel()
        weights = np.bincount(flat, minlength=b * n_art).reshape(b, n_art).astype(np.float64)  # (b, A)
        samples.append(stats(weights @ per_article))
    samp = np.concatenate(samples) if samples else np.tile(point, (2, 1))
    top = int(np.argmax(totals[:N_DOMAINS])) if n else None
    shares = [
        DomainShare(c, domain_name(c), int(totals[c]), 100.0 * totals[c] / max(n, 1))
        for c in range(N_DOMAINS)
        if totals[c]
    ]
    if totals[N_DOMAINS]:
        shares.append(
            DomainShare(None, "untagged (NULL)", int(totals[N_DOMAINS]), 100.0 * totals[N_DOMAINS] / n)
        )
    shares.sort(key=lambda s: -s.chunks)

    def est(j: int) -> Estimate:
        return from_samples(float(point[j]), samp[:, j], n_art, confidence=confidence)

    return TmdResult(
        n_chunks=n,
        n_articles=n_art,
        top_domain=top,
        top_domain_pct=est(0),
        unknown_pct=est(1),
        untagged_pct=100.0 * totals[N_DOMAINS] / max(n, 1),
        domains_over_5pct=est(2),
        present_pct=present_pct,
        invalid_codes=invalid,
        domains=tuple(shares),
    )
